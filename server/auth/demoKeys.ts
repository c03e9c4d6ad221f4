// Demo mode: one ES256 key pair per agency, made at first start. The public half is
// registered in agency_key; the private half stays in DATA_DIR/keys for `npm run token`.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';

export const DEMO_KID = 'demo-1';

export const demoKeyPath = (dataDir: string, agency: string) => path.join(dataDir, 'keys', `${agency}.private.pem`);

export async function ensureDemoKeys(db: Knex, dataDir: string): Promise<void> {
  mkdirSync(path.join(dataDir, 'keys'), { recursive: true, mode: 0o700 });
  const agencies: { code: string }[] = await db('agency').select('code');
  for (const { code } of agencies) {
    const file = demoKeyPath(dataDir, code);
    const registered = await db('agency_key').where({ agency_code: code, kid: DEMO_KID }).first();
    if (registered && existsSync(file)) continue;
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    await db('agency_key')
      .insert({ agency_code: code, kid: DEMO_KID, algorithm: 'ES256', public_key: pem })
      .onConflict(['agency_code', 'kid']).merge(['public_key', 'algorithm']);
  }
}

export function readDemoKey(dataDir: string, agency: string): string {
  const file = demoKeyPath(dataDir, agency);
  if (!existsSync(file)) {
    throw new Error(`no demo key for ${agency} at ${file}: start the service once with \`npm start\` to create the demo keys`);
  }
  return readFileSync(file, 'utf8');
}
