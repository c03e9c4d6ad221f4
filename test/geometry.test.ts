import { expect } from 'chai';
import { api, createHazardousArea, freshSquare, getHarness, hazardousAreaFeature, tokenFor } from './harness';

const ITEMS = '/collections/hazardous-areas/items';
const editor = () => tokenFor('GEO', 'editor');

async function post(geometry: unknown, headers: Record<string, string> = {}) {
  return api('POST', ITEMS, { token: editor(), body: { ...hazardousAreaFeature(), geometry }, headers });
}

async function projected(geometry: GeoJSON.Geometry, srid: number): Promise<GeoJSON.Polygon> {
  const result = await getHarness().db.raw('SELECT ST_AsGeoJSON(ST_Transform(ST_SetSRID(ST_GeomFromGeoJSON(?), 4326), ?::integer), 3)::json AS g', [JSON.stringify(geometry), srid]);
  return result.rows[0].g;
}

describe('geometry on the way in: rejected with the reason, never altered', () => {
  it('self-intersecting polygon (bow-tie): 422 with ST_IsValidReason and its location', async () => {
    const response = await post({ type: 'Polygon', coordinates: [[[46.0, 41.0], [46.01, 41.01], [46.01, 41.0], [46.0, 41.01], [46.0, 41.0]]] });
    expect(response.status).to.equal(422);
    const [error] = response.body.errors;
    expect(error.field).to.equal('/geometry');
    expect(error.reason).to.match(/Self-intersection/);
    expect(error.location[0]).to.be.closeTo(46.005, 1e-6);
    expect(error.location[1]).to.be.closeTo(41.005, 1e-6);
  });

  it('ring with fewer than three vertices', async () => {
    const response = await post({ type: 'Polygon', coordinates: [[[46.0, 41.0], [46.01, 41.01], [46.0, 41.0]]] });
    expect(response.status).to.equal(422);
    expect(response.text).to.match(/three/);
  });

  it('unclosed ring', async () => {
    const response = await post({ type: 'Polygon', coordinates: [[[46.0, 41.0], [46.01, 41.0], [46.01, 41.01], [46.0, 41.01]]] });
    expect(response.status).to.equal(422);
    expect(response.text).to.match(/not closed/);
  });

  it('consecutive vertices kilometres apart', async () => {
    const response = await post({ type: 'Polygon', coordinates: [[[46.0, 41.0], [46.01, 41.0], [46.4, 41.3], [46.0, 41.01], [46.0, 41.0]]] });
    expect(response.status).to.equal(422);
    expect(response.text).to.match(/km apart/);
  });

  it('swapped latitude and longitude', async () => {
    const response = await post({ type: 'Polygon', coordinates: [[[41.0, 46.0], [41.0, 46.01], [41.01, 46.01], [41.01, 46.0], [41.0, 46.0]]] });
    expect(response.status).to.equal(422);
    expect(response.text).to.match(/swapped/);
  });

  it('coordinates out of range', async () => {
    const response = await post({ type: 'Polygon', coordinates: [[[190, 41.0], [190.01, 41.0], [190.01, 41.01], [190, 41.0]]] });
    expect(response.status).to.equal(422);
    expect(response.text).to.match(/190/);
  });

  it('not GeoJSON, or the wrong geometry type', async () => {
    const bad = await post({ type: 'Polygon', coordinates: 'here' });
    expect(bad.status).to.equal(422);
    const line = await post({ type: 'LineString', coordinates: [[46, 41], [46.01, 41.01]] });
    expect(line.status).to.equal(422);
    expect(line.text).to.match(/LineString/);
  });

  it('a duplicated polygon (same owner), even with another starting vertex', async () => {
    const square = freshSquare();
    await createHazardousArea(editor(), { geometry: square });
    const ring = square.coordinates[0];
    const rotated = { type: 'Polygon', coordinates: [[ring[1], ring[2], ring[3], ring[0], ring[1]]] };
    const response = await post(rotated);
    expect(response.status).to.equal(409);
    expect(response.body.errors[0].reason).to.match(/duplicates the polygon of hazardous area/);
  });

  it('a duplicated local reference (409)', async () => {
    const first = await createHazardousArea(editor());
    const response = await api('POST', ITEMS, { token: editor(), body: hazardousAreaFeature({ properties: { localRef: first.body.properties.localRef } }) });
    expect(response.status).to.equal(409);
    expect(response.body.errors[0]).to.include({ field: '/properties/localRef' });
  });

  it('accepts UTM 38N (EPSG:32638) declared with Content-Crs, stores WGS 84 and keeps the raw input', async () => {
    const square = freshSquare(300, [47.5, 40.2]);
    const utm = await projected(square, 32638);
    const response = await post(utm, { 'content-crs': '<http://www.opengis.net/def/crs/EPSG/0/32638>' });
    expect(response.status, response.text).to.equal(201);
    expect(response.body.properties.inputCrs).to.equal('EPSG:32638');
    expect(response.body.properties.inputGeometry).to.deep.equal(utm);
    const stored = response.body.geometry.coordinates[0][0];
    square.coordinates[0].forEach((position, n) => {
      expect(stored[n][0]).to.be.closeTo(position[0], 1e-6);
      expect(stored[n][1]).to.be.closeTo(position[1], 1e-6);
    });
  });

  it('accepts Pulkovo 1942 / Gauss-Krüger zone 9 (EPSG:28409) through a GeoJSON crs member', async () => {
    const square = freshSquare(300, [49.2, 40.4]);
    const gk = await projected(square, 28409);
    const response = await api('POST', ITEMS, { token: editor(), body: { ...hazardousAreaFeature(), geometry: gk, crs: { type: 'name', properties: { name: 'urn:ogc:def:crs:EPSG::28409' } } } });
    expect(response.status, response.text).to.equal(201);
    expect(response.body.properties.inputCrs).to.equal('EPSG:28409');
    // Pulkovo 1942 differs from WGS 84 by a datum shift of up to ~100 m, handled by PROJ.
    expect(response.body.geometry.coordinates[0][0][0][0]).to.be.closeTo(square.coordinates[0][0][0], 0.002);
  });

  it('rejects a CRS it does not support, and UTM coordinates declared as WGS 84', async () => {
    const unsupported = await post(freshSquare(), { 'content-crs': '<http://www.opengis.net/def/crs/EPSG/0/3857>' });
    expect(unsupported.status).to.equal(400);
    expect(unsupported.body.detail).to.match(/3857/);
    const undeclared = await post(await projected(freshSquare(300, [47.5, 40.2]), 32638));
    expect(undeclared.status).to.equal(422);
  });
});
