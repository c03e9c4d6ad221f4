// `npm run token -- --agency ANAMA --role editor`: a demo bearer token, signed with the
// agency's demo key from DATA_DIR/keys (made by the first `npm start`).
import { parseArgs } from 'node:util';
import { DEMO_KID, readDemoKey } from '../server/auth/demoKeys';
import { issueToken } from '../server/auth/issueToken';
import { ROLES, Role } from '../server/auth/viewer';
import { loadConfig } from '../server/config';

const { values } = parseArgs({
  options: {
    agency: { type: 'string', default: 'ANAMA' },
    role: { type: 'string', default: 'editor' },
    subject: { type: 'string' },
    expires: { type: 'string', default: '12h' },
  },
});
const agency = values.agency!.toUpperCase();
const role = values.role as Role;
if (!ROLES.includes(role)) {
  console.error(`--role must be one of ${ROLES.join(', ')}`);
  process.exit(2);
}
if ((agency === 'LIAISON') !== (role === 'facilitator')) {
  console.error('the liaison mechanism (LIAISON) has facilitators; agencies have editors, viewers and admins');
  process.exit(2);
}
try {
  const privateKey = readDemoKey(loadConfig().dataDir, agency);
  process.stdout.write(issueToken({ agency, role, subject: values.subject, privateKey, kid: DEMO_KID, expiresIn: values.expires as never }) + '\n');
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}
