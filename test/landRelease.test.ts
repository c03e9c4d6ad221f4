import { expect } from 'chai';
import { api, createHazardousArea, freshRef, freshSquare, getHarness, tokenFor } from './harness';

const AREAS = '/collections/hazardous-areas/items';
const RELEASES = '/collections/land-releases/items';

/** Part of a square polygon: the columns from fraction `from` to `to` of its width, optionally pushed out by `overshootDeg`. */
function strip(square: GeoJSON.Polygon, from: number, to: number, overshootDeg = 0): GeoJSON.Polygon {
  const [[x0, y0], [x1], [, y1]] = [square.coordinates[0][0], square.coordinates[0][1], square.coordinates[0][2]];
  const a = x0 + (x1 - x0) * from;
  const b = x0 + (x1 - x0) * to + overshootDeg;
  return { type: 'Polygon', coordinates: [[[a, y0], [b, y0], [b, y1], [a, y1], [a, y0]]] };
}

function release(areaId: string, geometry: GeoJSON.Geometry, properties: Record<string, unknown> = {}) {
  return {
    type: 'Feature',
    geometry,
    properties: { localRef: freshRef('LR'), hazardousAreaId: areaId, method: 'cleared', activity: 'clearance', releaseDate: '2025-08-01', operator: 'Synthetic Demining Team 1', clearanceDepthCm: 20, ...properties },
  };
}

async function areaGeodesic(geometry: GeoJSON.Geometry) {
  return (await getHarness().db.raw('SELECT ST_Area(ST_SetSRID(ST_GeomFromGeoJSON(?), 4326)::geography) AS m2', [JSON.stringify(geometry)])).rows[0].m2 as number;
}

describe('land release rules', () => {
  const editor = () => tokenFor('CHDE', 'editor');

  it('a release within the area makes it worked-on; remaining = original − released, in the same transaction', async () => {
    const square = freshSquare(200, [45.2, 40.2]);
    const area = await createHazardousArea(editor(), { geometry: square });
    const part = strip(square, 0, 0.5);
    const response = await api('POST', RELEASES, { token: editor(), body: release(area.body.id, part, { method: 'reduced', activity: 'TS', clearanceDepthCm: undefined }) });
    expect(response.status, response.text).to.equal(201);
    expect(response.body.properties.areaM2).to.be.closeTo(await areaGeodesic(part), 0.01);

    const after = await api('GET', `${AREAS}/${area.body.id}`, { token: editor() });
    const p = after.body.properties;
    expect(p.status).to.equal('worked-on');
    expect(p.version).to.equal(2);
    expect(p.releasedAreaM2).to.be.closeTo(await areaGeodesic(part), 0.01);
    expect(p.remainingAreaM2).to.be.closeTo(p.originalAreaM2 - p.releasedAreaM2, 0.5);
    expect(p.remainingAreaM2).to.be.closeTo(await areaGeodesic(strip(square, 0.5, 1)), 0.5);
    expect(p.statusHistory.map((c: any) => c.to)).to.deep.equal(['open', 'worked-on']);
    expect(p.statusHistory[1].reason).to.match(/land release .* \(reduced\)/);
    expect(p.statusHistory[1].date).to.equal('2025-08-01');
  });

  it('refuses a release reaching outside the remaining polygon with 422 naming the overlap in m²', async () => {
    const square = freshSquare(200, [45.2, 40.2]);
    const area = await createHazardousArea(editor(), { geometry: square });
    // 0.0005° of longitude ≈ 42 m beyond the east edge over 200 m of height ≈ 8,500 m².
    const outside = strip(square, 0.5, 1, 0.0005);
    const response = await api('POST', RELEASES, { token: editor(), body: release(area.body.id, outside) });
    expect(response.status).to.equal(422);
    const expected = await areaGeodesic(strip(square, 1, 1, 0.0005));
    expect(response.body.outsideAreaM2).to.be.closeTo(expected, 1);
    expect(response.body.errors[0].field).to.equal('/geometry');
    expect(response.body.errors[0].reason).to.match(/extends [\d.]+ m² beyond the hazardous area's remaining polygon/);
    const unchanged = await api('GET', `${AREAS}/${area.body.id}`, { token: editor() });
    expect(unchanged.body.properties.status).to.equal('open');
    expect(unchanged.body.properties.version).to.equal(1);
  });

  it('accepts a release that strays less than the 1 m tolerance, and closes the area when nothing remains', async () => {
    const square = freshSquare(200, [45.2, 40.2]);
    const area = await createHazardousArea(editor(), { geometry: square });
    // ≈ 0.4 m beyond the east edge.
    const whole = strip(square, 0, 1, 0.000005);
    const response = await api('POST', RELEASES, { token: editor(), body: release(area.body.id, whole) });
    expect(response.status, response.text).to.equal(201);
    const after = await api('GET', `${AREAS}/${area.body.id}`, { token: editor() });
    expect(after.body.properties).to.include({ status: 'closed', remainingAreaM2: 0, remainingGeometry: null });
    const again = await api('POST', RELEASES, { token: editor(), body: release(area.body.id, strip(square, 0, 0.2)) });
    expect(again.status).to.equal(422);
    expect(again.body.errors[0].reason).to.match(/closed: nothing remains/);
  });

  it('two releases that together cover the area close it; retiring one reopens the work (worked-on)', async () => {
    const square = freshSquare(200, [45.2, 40.2]);
    const area = await createHazardousArea(editor(), { geometry: square });
    const first = await api('POST', RELEASES, { token: editor(), body: release(area.body.id, strip(square, 0, 0.5), { method: 'cancelled', activity: 'NTS', clearanceDepthCm: undefined }) });
    expect(first.status, first.text).to.equal(201);
    const second = await api('POST', RELEASES, { token: editor(), body: release(area.body.id, strip(square, 0.5, 1)) });
    expect(second.status, second.text).to.equal(201);
    expect((await api('GET', `${AREAS}/${area.body.id}`, { token: editor() })).body.properties.status).to.equal('closed');

    const retired = await api('DELETE', `${RELEASES}/${second.body.id}?reason=wrong%20polygon`, { token: editor(), headers: { 'if-match': '"1"' } });
    expect(retired.status).to.equal(204);
    const after = (await api('GET', `${AREAS}/${area.body.id}`, { token: editor() })).body.properties;
    expect(after.status).to.equal('worked-on');
    expect(after.remainingAreaM2).to.be.closeTo(await areaGeodesic(strip(square, 0.5, 1)), 0.5);
    expect(after.statusHistory.map((c: any) => c.to)).to.deep.equal(['open', 'worked-on', 'closed', 'worked-on']);
  });

  it('reopens a closed area with a reason; a non-closed area cannot be reopened', async () => {
    const square = freshSquare(200, [45.2, 40.2]);
    const area = await createHazardousArea(editor(), { geometry: square });
    const early = await api('POST', `${AREAS}/${area.body.id}/reopen`, { token: editor(), body: { reason: 'x', date: '2025-09-01' }, headers: { 'if-match': '"1"', 'content-type': 'application/json' } });
    expect(early.status).to.equal(422);
    await api('POST', RELEASES, { token: editor(), body: release(area.body.id, square) });
    const closed = (await api('GET', `${AREAS}/${area.body.id}`, { token: editor() })).body;
    expect(closed.properties.status).to.equal('closed');
    const residual = strip(square, 0.25, 0.5);
    const reopened = await api('POST', `${AREAS}/${area.body.id}/reopen`, {
      token: editor(),
      body: { reason: 'AP mine found by a shepherd', date: '2026-03-02', comment: 'reported to the regional office', geometry: residual },
      headers: { 'if-match': `"${closed.properties.version}"`, 'content-type': 'application/json' },
    });
    expect(reopened.status, reopened.text).to.equal(200);
    const p = reopened.body.properties;
    expect(p.status).to.equal('open');
    expect(p.remainingAreaM2).to.be.closeTo(await areaGeodesic(residual), 0.5);
    expect(p.statusHistory.at(-1)).to.include({ from: 'closed', to: 'open', reason: 'reopened: AP mine found by a shepherd', date: '2026-03-02', comment: 'reported to the regional office' });
  });

  it('checks method against activity, and clearance depth for cleared land', async () => {
    const area = await createHazardousArea(editor());
    const mismatch = await api('POST', RELEASES, { token: editor(), body: release(area.body.id, area.body.geometry, { method: 'cancelled', activity: 'clearance' }) });
    expect(mismatch.status).to.equal(422);
    expect(mismatch.body.errors.map((e: any) => e.field)).to.include('/properties/activity');
    const noDepth = await api('POST', RELEASES, { token: editor(), body: release(area.body.id, area.body.geometry, { clearanceDepthCm: undefined }) });
    expect(noDepth.status).to.equal(422);
    expect(noDepth.body.errors.map((e: any) => e.field)).to.include('/properties/clearanceDepthCm');
  });

  it('records handover with the release, and another agency cannot release land from an area it cannot see', async () => {
    const area = await createHazardousArea(editor());
    const handover = { certificateRef: 'HC-2025-0042', date: '2025-09-15', recipient: 'Synthetic village council' };
    const response = await api('POST', RELEASES, { token: editor(), body: release(area.body.id, area.body.geometry, { handover }) });
    expect(response.status, response.text).to.equal(201);
    expect(response.body.properties.handover).to.deep.equal(handover);
    const foreign = await api('POST', RELEASES, { token: tokenFor('GEO', 'editor'), body: release(area.body.id, area.body.geometry) });
    expect(foreign.status).to.equal(422);
    expect(foreign.body.errors[0].reason).to.match(/no hazardous area .* is visible to GEO/);
  });
});
