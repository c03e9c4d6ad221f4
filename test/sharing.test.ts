import { expect } from 'chai';
import { api, createHazardousArea, freshSquare, getHarness, tokenFor, share } from './harness';

const AREAS = '/collections/hazardous-areas/items';


describe('sharing agreements', () => {
  after(async () => {
    // Leave no agreement behind for the other suites, which assume nothing is shared.
    await getHarness().db('sharing_agreement').update({ level: 'none' });
  });

  it('footprint, summary, full: each level shows exactly its fields; revoking takes effect on the next request', async () => {
    const square = freshSquare(300, [47.9, 39.6]);
    const area = await createHazardousArea(tokenFor('GEO', 'editor'), { geometry: square, properties: { evidence: [{ nature: 'direct', kind: 'accident', reliability: 'high' }], estimatedDeviceCount: 12 } });
    const url = `${AREAS}/${area.body.id}`;
    const viewer = tokenFor('CHDE', 'viewer');
    expect((await api('GET', url, { token: viewer })).status).to.equal(404);

    await share('GEO', 'CHDE', 'hazardous-areas', 'footprint');
    const footprint = await api('GET', url, { token: viewer });
    expect(footprint.status).to.equal(200);
    expect(Object.keys(footprint.body.properties).sort()).to.deep.equal(['accessLevel', 'classification', 'generalised', 'ownerAgency']);
    expect(footprint.body.properties.generalised).to.equal(true);
    expect(footprint.body.geometry.type).to.equal('Polygon');
    expect(footprint.body.geometry.coordinates).to.not.deep.equal(area.body.geometry.coordinates);
    // The footprint covers the true polygon, and is snapped to the 0.001° grid.
    const covers = await getHarness().db.raw('SELECT ST_Covers(ST_SetSRID(ST_GeomFromGeoJSON(?), 4326), ST_SetSRID(ST_GeomFromGeoJSON(?), 4326)) AS ok', [JSON.stringify(footprint.body.geometry), JSON.stringify(square)]);
    expect(covers.rows[0].ok).to.equal(true);
    for (const [x, y] of footprint.body.geometry.coordinates[0]) {
      expect(Math.abs(x * 1000 - Math.round(x * 1000))).to.be.below(1e-6);
      expect(Math.abs(y * 1000 - Math.round(y * 1000))).to.be.below(1e-6);
    }
    const again = await api('GET', url, { token: viewer });
    expect(again.body.geometry).to.deep.equal(footprint.body.geometry);

    await share('GEO', 'CHDE', 'hazardous-areas', 'summary');
    const summary = await api('GET', url, { token: viewer });
    expect(summary.body.geometry).to.deep.equal(area.body.geometry);
    expect(summary.body.properties).to.include({ classification: 'CHA', status: 'open', accessLevel: 'summary' });
    expect(summary.body.properties).to.not.have.any.keys('evidence', 'estimatedDeviceCount', 'name', 'createdBy', 'inputGeometry', 'statusHistory', 'restricted', 'version', 'updatedAt');

    await share('GEO', 'CHDE', 'hazardous-areas', 'full');
    const full = await api('GET', url, { token: viewer });
    expect(full.body.properties.estimatedDeviceCount).to.equal(12);
    expect(full.body.properties.evidence).to.have.length(1);
    expect(full.body.properties).to.not.have.property('restricted');

    await share('GEO', 'CHDE', 'hazardous-areas', 'none');
    expect((await api('GET', url, { token: viewer })).status).to.equal(404);
  });

  it('a restricted record is seen by its owner only, whatever the agreements say', async () => {
    const owner = tokenFor('GEO', 'editor');
    const area = await createHazardousArea(owner);
    await share('GEO', 'LIAISON', 'hazardous-areas', 'full');
    const facilitator = tokenFor('LIAISON', 'facilitator');
    expect((await api('GET', `${AREAS}/${area.body.id}`, { token: facilitator })).status).to.equal(200);
    const restricted = await api('PUT', `${AREAS}/${area.body.id}/restriction`, { token: owner, body: { restricted: true }, headers: { 'content-type': 'application/json', 'if-match': '"1"' } });
    expect(restricted.status, restricted.text).to.equal(200);
    expect(restricted.body.properties.restricted).to.equal(true);
    expect((await api('GET', `${AREAS}/${area.body.id}`, { token: facilitator })).status).to.equal(404);
    expect((await api('GET', `${AREAS}/${area.body.id}`, { token: owner })).status).to.equal(200);
  });

  it('the facilitator lists every agreement but edits nothing; the public sees only what owners published', async () => {
    await share('GEO', 'CHDE', 'land-releases', 'summary');
    const facilitator = tokenFor('LIAISON', 'facilitator');
    const agreements = (await api('GET', '/sharing/agreements', { token: facilitator })).body.agreements;
    expect(agreements.some((a: any) => a.ownerAgency === 'GEO' && a.grantee === 'CHDE' && a.recordKind === 'land-releases')).to.equal(true);
    const anama = (await api('GET', '/sharing/agreements', { token: tokenFor('ANAMA', 'viewer') })).body.agreements;
    expect(anama.filter((a: any) => a.ownerAgency !== 'ANAMA' && a.grantee !== 'ANAMA')).to.deep.equal([]);
    const refused = await api('PUT', '/sharing/agreements/CHDE/hazardous-areas', { token: facilitator, body: { level: 'full' }, headers: { 'content-type': 'application/json', 'if-match': '"0"' } });
    expect(refused.status).to.equal(403);

    const before = (await api('GET', '/statistics/hazardous-areas')).body.figures;
    expect(before.filter((f: any) => f.ownerAgency === 'GEO')).to.deep.equal([]);
    await share('GEO', 'PUBLIC', 'hazardous-areas', 'summary');
    const after = (await api('GET', '/statistics/hazardous-areas')).body.figures;
    const geo = after.filter((f: any) => f.ownerAgency === 'GEO');
    expect(geo.length).to.be.greaterThan(0);
    const expected = await getHarness().db('hazardous_area').where({ owner_agency: 'GEO', restricted: false }).whereNull('retired_at').count({ n: '*' }).first();
    expect(geo.reduce((sum: number, f: any) => sum + f.areas, 0)).to.equal(Number(expected!.n));
    await share('GEO', 'PUBLIC', 'hazardous-areas', 'none');
  });

  it('keeps an append-only audit trail of writes that the application role cannot alter', async () => {
    const owner = tokenFor('GEO', 'editor', 'auditor-test');
    const area = await createHazardousArea(owner);
    await api('PATCH', `${AREAS}/${area.body.id}`, { token: owner, body: { properties: { priority: 'high' } }, headers: { 'if-match': '"1"' } });
    // Paged oldest first: read to the end, whatever other tests wrote before.
    const events: any[] = [];
    for (let after: number | null = 0; after !== null;) {
      const page: any = (await api('GET', `/audit?limit=1000&after=${after}`, { token: owner })).body;
      events.push(...page.events);
      after = page.next;
    }
    const trail = events.filter((e: any) => e.recordId === area.body.id);
    expect(trail.map((e: any) => [e.action, e.oldVersion, e.newVersion, e.actor])).to.deep.equal([
      ['create', null, 1, 'auditor-test'], ['update', 1, 2, 'auditor-test'],
    ]);
    expect((await api('GET', '/audit', { token: tokenFor('GEO', 'viewer') })).status).to.equal(403);
    const db = getHarness().db;
    for (const role of ['minefield_writer', 'minefield_reader']) {
      for (const statement of ['UPDATE audit_event SET action = ?', 'DELETE FROM audit_event WHERE action <> ?', 'TRUNCATE audit_event']) {
        const attempt = db.transaction(async (trx) => {
          await trx.raw(`SET LOCAL ROLE ${role}`);
          await trx.raw(statement, statement.includes('?') ? ['forged'] : []);
        });
        let failure: any;
        await attempt.catch((error) => { failure = error; });
        expect(failure?.message, `${role}: ${statement}`).to.match(/permission denied/);
      }
    }
    // Not even the owner of the table can rewrite the past.
    let failure: any;
    await db.raw('UPDATE audit_event SET action = ? WHERE id = (SELECT min(id) FROM audit_event)', ['forged']).catch((error) => { failure = error; });
    expect(failure?.message).to.match(/append-only/);
  });
});
