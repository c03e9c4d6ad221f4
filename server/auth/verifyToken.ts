// Bearer JWT verification. A token is accepted only when it is signed (RS256/ES256) by a key
// registered for the agency it claims; the issuer is the agency code.
import jwt from 'jsonwebtoken';
import { unauthorized } from '../problem';
import type { AgencyKeyStore } from './keys';
import { ROLES, Role, Viewer } from './viewer';
import type { VerifiedTokenCache } from './tokenCache';

const ACCEPTED_ALGORITHMS = new Set(['RS256', 'ES256']);

export async function verifyToken(token: string, keys: AgencyKeyStore, cache?: VerifiedTokenCache): Promise<Viewer> {
  const remembered = cache?.get(token);
  if (remembered) return remembered;
  const decoded = jwt.decode(token, { complete: true });
  if (!decoded || typeof decoded.payload !== 'object') throw unauthorized('token is not a well-formed JWT');
  const { header, payload } = decoded;
  if (!ACCEPTED_ALGORITHMS.has(header.alg)) {
    throw unauthorized(`token algorithm "${header.alg}" is not accepted; use RS256 or ES256`);
  }
  const issuer = payload.iss;
  if (typeof issuer !== 'string') throw unauthorized('token has no issuer (iss)');
  const candidates = (await keys.keysOf(issuer)).filter(
    (key) => key.algorithm === header.alg && (header.kid === undefined || header.kid === key.kid),
  );
  if (candidates.length === 0) throw unauthorized(`unknown issuer "${issuer}" or no ${header.alg} key registered for it`);

  let verified: jwt.JwtPayload | undefined;
  let lastError: Error | undefined;
  for (const key of candidates) {
    try {
      verified = jwt.verify(token, key.publicKey, {
        algorithms: [key.algorithm],
        issuer,
      }) as jwt.JwtPayload;
      break;
    } catch (error) {
      lastError = error as Error;
      if (error instanceof jwt.TokenExpiredError) throw unauthorized('token has expired');
    }
  }
  if (!verified) throw unauthorized(`token signature is not valid for issuer "${issuer}": ${lastError?.message}`);
  if (typeof verified.exp !== 'number') throw unauthorized('token has no expiry (exp)');
  if (verified.agency !== issuer) {
    throw unauthorized(`token claims agency "${String(verified.agency)}" but is signed by "${issuer}"`);
  }
  const role = verified.role as Role;
  if (!ROLES.includes(role)) throw unauthorized(`token role "${String(verified.role)}" is not one of ${ROLES.join(', ')}`);
  const liaison = issuer === 'LIAISON';
  if (liaison !== (role === 'facilitator')) {
    throw unauthorized(liaison ? 'the liaison mechanism acts only as facilitator' : 'only the liaison mechanism has facilitators');
  }
  const viewer: Viewer = { agency: issuer, role, subject: typeof verified.sub === 'string' ? verified.sub : 'unknown' };
  cache?.set(token, viewer, verified.exp);
  return viewer;
}
