import { generateKeyPairSync } from 'node:crypto';
import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import { api, getHarness, tokenFor } from './harness';

const ITEMS = '/collections/hazardous-areas/items';

function sign(agency: string, claims: Record<string, unknown>) {
  const key = getHarness().keys.get(agency)!;
  return jwt.sign({ agency, role: 'editor', exp: Math.floor(Date.now() / 1000) + 3600, ...claims }, key.privateKey, {
    algorithm: key.algorithm, issuer: agency, keyid: key.kid,
  });
}

async function expectRefused(token: string, reason: RegExp) {
  const response = await api('GET', ITEMS, { token });
  expect(response.status, response.text).to.equal(401);
  expect(response.headers.get('content-type')).to.match(/application\/problem\+json/);
  expect(response.body.detail).to.match(reason);
}

describe('identity: bearer tokens', () => {
  it('refuses a protected route without a token (401, problem+json)', async () => {
    const response = await api('GET', ITEMS);
    expect(response.status).to.equal(401);
    expect(response.headers.get('www-authenticate')).to.match(/^Bearer/);
    expect(response.body.detail).to.match(/needs a bearer token/);
  });

  it('accepts RS256 (ANAMA) and ES256 (CHDE) tokens signed by the agency key', async () => {
    expect((await api('GET', ITEMS, { token: tokenFor('ANAMA', 'viewer') })).status).to.equal(200);
    expect((await api('GET', ITEMS, { token: tokenFor('CHDE', 'viewer') })).status).to.equal(200);
  });

  it('refuses alg "none"', async () => {
    const unsigned = jwt.sign({ agency: 'ANAMA', role: 'editor', iss: 'ANAMA', exp: Math.floor(Date.now() / 1000) + 600 }, '', { algorithm: 'none' });
    await expectRefused(unsigned, /algorithm "none" is not accepted/);
  });

  it('refuses HS256 signed with the agency public key (algorithm confusion)', async () => {
    const publicKey = (await getHarness().db('agency_key').where({ agency_code: 'CHDE' }).first()).public_key;
    const forged = jwt.sign({ agency: 'CHDE', role: 'editor' }, publicKey, { algorithm: 'HS256', issuer: 'CHDE', expiresIn: '1h' });
    await expectRefused(forged, /algorithm "HS256" is not accepted/);
  });

  it('refuses an expired token', async () => {
    const expired = sign('CHDE', { exp: Math.floor(Date.now() / 1000) - 60 });
    await expectRefused(expired, /expired/);
  });

  it('refuses a token without expiry', async () => {
    const key = getHarness().keys.get('CHDE')!;
    const endless = jwt.sign({ agency: 'CHDE', role: 'editor' }, key.privateKey, { algorithm: 'ES256', issuer: 'CHDE', keyid: key.kid });
    await expectRefused(endless, /no expiry/);
  });

  it('refuses an unknown issuer', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const stranger = jwt.sign({ agency: 'NOBODY', role: 'editor' }, privateKey, { algorithm: 'ES256', issuer: 'NOBODY', expiresIn: '1h' });
    await expectRefused(stranger, /unknown issuer "NOBODY"/);
  });

  it('refuses a token claiming another agency than the one whose key signed it', async () => {
    await expectRefused(sign('CHDE', { agency: 'ANAMA' }), /claims agency "ANAMA" but is signed by "CHDE"/);
  });

  it('refuses a token that names an agency as issuer but is signed with another agency key', async () => {
    const geoKey = getHarness().keys.get('GEO')!;
    const forged = jwt.sign({ agency: 'CHDE', role: 'editor' }, geoKey.privateKey, { algorithm: 'ES256', issuer: 'CHDE', expiresIn: '1h' });
    await expectRefused(forged, /signature is not valid for issuer "CHDE"/);
  });

  it('refuses a tampered token', async () => {
    const token = tokenFor('CHDE', 'viewer');
    const [header, payload, signature] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    claims.role = 'editor';
    await expectRefused(`${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`, /signature is not valid/);
  });

  it('refuses a facilitator role outside the liaison mechanism, and other roles inside it', async () => {
    await expectRefused(sign('CHDE', { role: 'facilitator' }), /only the liaison mechanism has facilitators/);
    await expectRefused(sign('LIAISON', { role: 'editor' }), /acts only as facilitator/);
  });

  it('refuses an unknown role and a malformed header', async () => {
    await expectRefused(sign('GEO', { role: 'superuser' }), /role "superuser"/);
    const response = await api('GET', ITEMS, { headers: { authorization: 'Token abc' } });
    expect(response.status).to.equal(401);
    expect(response.body.detail).to.match(/Bearer <token>/);
  });
});
