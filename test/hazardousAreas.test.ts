import { expect } from 'chai';
import { api, createHazardousArea, freshSquare, getHarness, hazardousAreaFeature, tokenFor } from './harness';

const ITEMS = '/collections/hazardous-areas/items';

async function geodesicArea(geometry: GeoJSON.Geometry): Promise<number> {
  const result = await getHarness().db.raw('SELECT ST_Area(ST_SetSRID(ST_GeomFromGeoJSON(?), 4326)::geography) AS m2', [JSON.stringify(geometry)]);
  return result.rows[0].m2;
}

describe('hazardous areas: life cycle', () => {
  const editor = () => tokenFor('ANAMA', 'editor', 'gis-officer-1');

  it('creates an area with 201, Location, ETag and server fields; areas are geodesic m²', async () => {
    const feature = hazardousAreaFeature({ geometry: freshSquare(250), properties: { hazardTypes: ['AP', 'UXO'], name: { en: 'Test field', ru: 'Тестовое поле' }, evidence: [{ nature: 'direct', kind: 'detonation', reliability: 'high' }] } });
    const response = await api('POST', ITEMS, { token: editor(), body: feature });
    expect(response.status, response.text).to.equal(201);
    expect(response.headers.get('location')).to.match(new RegExp(`^http://127\\.0\\.0\\.1:\\d+${ITEMS}/[0-9a-f-]{36}$`));
    expect(response.headers.get('etag')).to.equal('"1"');
    const properties = response.body.properties;
    expect(properties).to.include({ ownerAgency: 'ANAMA', status: 'open', classification: 'CHA', version: 1, createdBy: 'ANAMA/gis-officer-1', inputCrs: 'EPSG:4326' });
    expect(properties.hazardTypes).to.deep.equal(['AP', 'UXO']);
    expect(properties.name).to.deep.equal({ en: 'Test field', ru: 'Тестовое поле' });
    const expected = await geodesicArea(feature.geometry);
    expect(properties.originalAreaM2).to.be.closeTo(expected, 0.01);
    expect(properties.originalAreaM2).to.be.closeTo(62500, 700);
    expect(properties.remainingAreaM2).to.be.closeTo(expected, 0.01);
    expect(properties.releasedAreaM2).to.equal(0);
    expect(properties.statusHistory).to.have.length(1);
    expect(properties.statusHistory[0]).to.include({ from: null, to: 'open', reason: 'recorded', date: feature.properties.informationDate, by: 'ANAMA/gis-officer-1' });
    expect(properties.inputGeometry).to.deep.equal(feature.geometry);
  });

  it('reads one feature back with its ETag, and lists it', async () => {
    const created = await createHazardousArea(editor());
    const id = created.body.id;
    const one = await api('GET', `${ITEMS}/${id}`, { token: tokenFor('ANAMA', 'viewer') });
    expect(one.status).to.equal(200);
    expect(one.headers.get('content-type')).to.match(/application\/geo\+json/);
    expect(one.headers.get('etag')).to.equal('"1"');
    expect(one.body.id).to.equal(id);
    const list = await api('GET', `${ITEMS}?localRef=${created.body.properties.localRef}`, { token: editor() });
    expect(list.body.numberMatched).to.equal(1);
    expect(list.body.features[0].id).to.equal(id);
  });

  it('replaces with PUT and If-Match; a stale If-Match gets 412 and changes nothing', async () => {
    const created = await createHazardousArea(editor());
    const id = created.body.id;
    const url = `${ITEMS}/${id}`;
    const replacement = { type: 'Feature', geometry: created.body.geometry, properties: { ...created.body.properties, classification: 'SHA', priority: 'high' } };
    const put = await api('PUT', url, { token: editor(), body: replacement, headers: { 'if-match': '"1"' } });
    expect(put.status, put.text).to.equal(200);
    expect(put.headers.get('etag')).to.equal('"2"');
    expect(put.body.properties).to.include({ classification: 'SHA', priority: 'high', version: 2 });
    // A newer date of information does not redate the entry that recorded the area.
    const newer = await api('PUT', url, { token: editor(), body: { ...replacement, properties: { ...replacement.properties, informationDate: '2026-09-01' } }, headers: { 'if-match': '"2"' } });
    expect(newer.status, newer.text).to.equal(200);
    expect(newer.body.properties.informationDate).to.equal('2026-09-01');
    expect(newer.body.properties.statusHistory).to.have.length(1);
    expect(newer.body.properties.statusHistory[0]).to.include({ reason: 'recorded', date: created.body.properties.informationDate });

    const stale = await api('PUT', url, { token: tokenFor('ANAMA', 'editor', 'someone-else'), body: { ...replacement, properties: { ...replacement.properties, priority: 'low' } }, headers: { 'if-match': '"1"' } });
    expect(stale.status).to.equal(412);
    expect(stale.body.currentVersion).to.equal(3);
    const after = await api('GET', url, { token: editor() });
    expect(after.body.properties.priority).to.equal('high');
  });

  it('requires If-Match on PUT, PATCH and DELETE (428)', async () => {
    const created = await createHazardousArea(editor());
    const url = `${ITEMS}/${created.body.id}`;
    expect((await api('PUT', url, { token: editor(), body: created.body })).status).to.equal(428);
    expect((await api('PATCH', url, { token: editor(), body: { properties: { priority: 'low' } } })).status).to.equal(428);
    expect((await api('DELETE', `${url}?reason=test`, { token: editor() })).status).to.equal(428);
  });

  it('patches with a JSON merge patch, keeping the geometry and the raw input', async () => {
    const created = await createHazardousArea(editor());
    const url = `${ITEMS}/${created.body.id}`;
    const patch = await api('PATCH', url, {
      token: editor(), body: { properties: { marking: 'full', estimatedDeviceCount: 40, informationDate: '2025-07-01' } },
      headers: { 'if-match': '"1"', 'content-type': 'application/merge-patch+json' },
    });
    expect(patch.status, patch.text).to.equal(200);
    expect(patch.body.properties).to.include({ marking: 'full', estimatedDeviceCount: 40, informationDate: '2025-07-01', version: 2 });
    expect(patch.body.geometry).to.deep.equal(created.body.geometry);
    expect(patch.body.properties.inputGeometry).to.deep.equal(created.body.properties.inputGeometry);
  });

  it('refuses a form whose date of information is older than the current one (409)', async () => {
    const created = await createHazardousArea(editor(), { properties: { informationDate: '2025-06-01' } });
    const response = await api('PATCH', `${ITEMS}/${created.body.id}`, { token: editor(), body: { properties: { informationDate: '2024-01-01' } }, headers: { 'if-match': '"1"' } });
    expect(response.status).to.equal(409);
    expect(response.body.errors[0].field).to.equal('/properties/informationDate');
  });

  it('retires with DELETE and a reason: gone from lists, 410 on read, row kept', async () => {
    const created = await createHazardousArea(editor());
    const url = `${ITEMS}/${created.body.id}`;
    const noReason = await api('DELETE', url, { token: editor(), headers: { 'if-match': '"1"' } });
    expect(noReason.status).to.equal(400);
    expect(noReason.body.errors[0].field).to.equal('reason');
    const retired = await api('DELETE', `${url}?reason=${encodeURIComponent('entered twice')}`, { token: editor(), headers: { 'if-match': '"1"' } });
    expect(retired.status).to.equal(204);
    const read = await api('GET', url, { token: editor() });
    expect(read.status).to.equal(410);
    expect(read.body.retired.reason).to.equal('entered twice');
    const list = await api('GET', `${ITEMS}?localRef=${created.body.properties.localRef}`, { token: editor() });
    expect(list.body.numberMatched).to.equal(0);
    const row = await getHarness().db('hazardous_area').where('id', created.body.id).first();
    expect(row.retired_reason).to.equal('entered twice');
    expect(row.version).to.equal(2);
    const edit = await api('PATCH', url, { token: editor(), body: { properties: { priority: 'low' } }, headers: { 'if-match': '"2"' } });
    expect(edit.status).to.equal(409);
  });

  it('refuses writes by a viewer, a facilitator and another agency, with 403 and the reason', async () => {
    const created = await createHazardousArea(editor());
    const url = `${ITEMS}/${created.body.id}`;
    const asViewer = await api('POST', ITEMS, { token: tokenFor('ANAMA', 'viewer'), body: hazardousAreaFeature() });
    expect(asViewer.status).to.equal(403);
    expect(asViewer.body.detail).to.match(/role "viewer" may read but not edit/);
    const asFacilitator = await api('PATCH', url, { token: tokenFor('LIAISON', 'facilitator'), body: { properties: { priority: 'low' } }, headers: { 'if-match': '"1"' } });
    expect(asFacilitator.status).to.equal(403);
    expect(asFacilitator.body.detail).to.match(/facilitators .* edit no records/);
    // CHDE cannot see ANAMA's record (nothing is shared), so for CHDE it does not exist.
    const asOther = await api('PATCH', url, { token: tokenFor('CHDE', 'editor'), body: { properties: { priority: 'low' } }, headers: { 'if-match': '"1"' } });
    expect(asOther.status).to.equal(404);
    const unchanged = await getHarness().db('hazardous_area').where('id', created.body.id).first();
    expect(unchanged.version).to.equal(1);
  });

  it('an agency sees only its own records; the facilitator sees none (until sharing exists)', async () => {
    const created = await createHazardousArea(editor());
    const ref = created.body.properties.localRef;
    expect((await api('GET', `${ITEMS}?localRef=${ref}`, { token: tokenFor('CHDE', 'viewer') })).body.numberMatched).to.equal(0);
    expect((await api('GET', `${ITEMS}/${created.body.id}`, { token: tokenFor('GEO', 'editor') })).status).to.equal(404);
    expect((await api('GET', `${ITEMS}/${created.body.id}`, { token: tokenFor('LIAISON', 'facilitator') })).status).to.equal(404);
    expect((await api('GET', ITEMS, { token: tokenFor('LIAISON', 'facilitator') })).body.numberMatched).to.equal(0);
  });
});
