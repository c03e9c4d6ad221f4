import { request } from 'node:http';
import { expect } from 'chai';
import { createHazardousArea, freshSquare, getHarness, tokenFor } from './harness';

interface Raw { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }

function get(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request(`${getHarness().baseUrl}${path}`, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Tile x, y at zoom z of a lon/lat position. */
function tileOf(lon: number, lat: number, z: number): [number, number] {
  const n = 2 ** z;
  const x = Math.floor(((lon + 180) / 360) * n);
  const rad = (lat * Math.PI) / 180;
  return [x, Math.floor(((1 - Math.log(Math.tan(rad) + 1 / Math.cos(rad)) / Math.PI) / 2) * n)];
}

describe('cached tiles served ahead of express', () => {
  it('answer exactly as the express route does, and never without a verified token', async () => {
    const token = tokenFor('GEO', 'viewer');
    const square = freshSquare(150, [44.05, 38.4]);
    await createHazardousArea(tokenFor('GEO', 'editor'), { geometry: square });
    const [lon, lat] = square.coordinates[0][0];
    const [x, y] = tileOf(lon + 0.0005, lat + 0.0005, 14);
    const path = `/tiles/hazardous-areas/14/${x}/${y}.mvt`;
    const auth = { authorization: `Bearer ${token}` };

    const first = await get(path, auth);
    expect(first.status).to.equal(200);
    expect(first.headers['x-request-id'], 'rendered by the express route').to.be.a('string');
    const second = await get(path, auth);
    expect(second.headers['x-request-id'], 'served from the cache ahead of express').to.equal(undefined);
    expect(second.status).to.equal(200);
    expect(second.body.equals(first.body)).to.equal(true);
    for (const header of ['etag', 'content-type', 'content-length', 'cache-control', 'vary']) {
      expect(second.headers[header], header).to.equal(first.headers[header]);
    }
    expect((await get(path, { ...auth, 'if-none-match': first.headers.etag as string })).status).to.equal(304);
    const head = await get(path, auth, 'HEAD');
    expect(head.status).to.equal(200);
    expect(head.body.length).to.equal(0);
    const gzip = await get(path, { ...auth, 'accept-encoding': 'gzip' });
    expect(gzip.headers['content-encoding']).to.equal('gzip');
    expect((await get(path, { ...auth, 'accept-encoding': 'gzip;q=0' })).headers['content-encoding']).to.equal(undefined);

    // A cached tile is no reason to skip authentication.
    expect((await get(path)).status).to.equal(401);
    expect((await get(path, { authorization: `Bearer ${token}x` })).status).to.equal(401);
    // Another scope's cache is never consulted.
    const other = await get(path, { authorization: `Bearer ${tokenFor('CHDE', 'viewer')}` });
    expect(other.headers['x-request-id']).to.be.a('string');
    expect(other.status).to.equal(204);
  });

  it('render a tile not yet cached for a verified token, as the express route would', async () => {
    const token = tokenFor('GEO', 'viewer');
    const auth = { authorization: `Bearer ${token}` };
    const square = freshSquare(120, [44.07, 38.42]);
    await createHazardousArea(tokenFor('GEO', 'editor'), { geometry: square });
    const [lon, lat] = square.coordinates[0][0];
    const [x, y] = tileOf(lon + 0.0005, lat + 0.0005, 15);
    // The token is verified (and remembered) by express on its first request.
    expect((await get(`/tiles/hazardous-areas/15/${x + 3}/${y + 3}.mvt`, auth)).headers['x-request-id']).to.be.a('string');

    const path = `/tiles/hazardous-areas/15/${x}/${y}.mvt`;
    const rendered = await get(path, auth);
    expect(rendered.headers['x-request-id'], 'rendered ahead of express').to.equal(undefined);
    expect(rendered.status).to.equal(200);
    // The same tile through express (its cache dropped, a token it has not seen yet).
    const { tiles } = getHarness().app.locals;
    tiles.cache.invalidateScope('GEO');
    const viaExpress = await get(path, { authorization: `Bearer ${tokenFor('GEO', 'viewer', 'someone-else')}` });
    expect(viaExpress.headers['x-request-id']).to.be.a('string');
    expect(viaExpress.body.equals(rendered.body)).to.equal(true);
    expect(viaExpress.headers.etag).to.equal(rendered.headers.etag);
    for (const header of ['content-type', 'content-length', 'cache-control', 'vary']) {
      expect(rendered.headers[header], header).to.equal(viaExpress.headers[header]);
    }
    // A repeated layer is the express route's 400, never rendered here.
    expect((await get(`/tiles/hazardous-areas,hazardous-areas/15/${x}/${y}.mvt`, auth)).status).to.equal(400);
  });
});
