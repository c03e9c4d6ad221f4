// Signing tokens: used by `npm run token` with the demo keys, and by the tests.
import jwt from 'jsonwebtoken';
import type { Role } from './viewer';

export interface TokenRequest {
  agency: string;
  role: Role;
  subject?: string;
  privateKey: string;
  kid: string;
  algorithm?: 'RS256' | 'ES256';
  expiresIn?: jwt.SignOptions['expiresIn'];
}

export function issueToken(request: TokenRequest): string {
  return jwt.sign({ agency: request.agency, role: request.role }, request.privateKey, {
    algorithm: request.algorithm ?? 'ES256',
    issuer: request.agency,
    subject: request.subject ?? `${request.role}@${request.agency.toLowerCase()}`,
    keyid: request.kid,
    expiresIn: request.expiresIn ?? '12h',
  });
}
