import { expect } from 'chai';
import { VerifiedTokenCache } from '../server/auth/tokenCache';

describe('verified token cache', () => {
  const viewer = { agency: 'GEO', role: 'viewer' as const, subject: 's' };

  it('forgets a token at its expiry, even inside the cache lifetime', () => {
    const cache = new VerifiedTokenCache(10_000);
    cache.set('t', viewer, 1_000 + 2, 1_000_000);
    expect(cache.get('t', 1_001_000)).to.deep.equal(viewer);
    expect(cache.get('t', 1_002_000)).to.equal(undefined);
  });

  it('forgets a token after its lifetime, so a revoked key stops working', () => {
    const cache = new VerifiedTokenCache(10_000);
    cache.set('t', viewer, 1_000_000, 0);
    expect(cache.get('t', 9_999)).to.deep.equal(viewer);
    expect(cache.get('t', 10_000)).to.equal(undefined);
  });

  it('stays bounded', () => {
    const cache = new VerifiedTokenCache(10_000, 3);
    for (let n = 0; n < 10; n++) cache.set(`t${n}`, viewer, 1e9, 0);
    expect(['t0', 't6', 't7', 't8', 't9'].map((t) => cache.get(t, 1) !== undefined)).to.deep.equal([false, false, true, true, true]);
  });
});
