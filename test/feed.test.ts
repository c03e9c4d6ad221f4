import { expect } from 'chai';
import jsonPatch from 'fast-json-patch';
import { FeedService } from '../feed/feedService';
import type { Viewer } from '../server/auth/viewer';
import { api, createHazardousArea, freshRef, freshSquare, getHarness, tokenFor, share } from './harness';

async function feedFrom(token: string, cursor: string | undefined) {
  const events: any[] = [];
  let after = cursor;
  for (;;) {
    const page = await api('GET', `/feed?limit=50${after ? `&after=${after}` : ''}`, { token });
    expect(page.status, page.text).to.equal(200);
    events.push(...page.body.events);
    after = page.body.cursor;
    if (page.body.caughtUp) return { events, cursor: after! };
  }
}


/** Applies feed events to a mirror keyed by id, as a sync client does. */
function apply(mirror: Map<string, any>, events: any[]) {
  for (const event of events) {
    if (event.operation === 'create') mirror.set(event.id, structuredClone(event.feature));
    else if (event.operation === 'delete') mirror.delete(event.id);
    else {
      const feature = mirror.get(event.id);
      expect(feature, `update of unknown ${event.id}`).to.not.equal(undefined);
      feature.properties = jsonPatch.applyPatch(feature.properties, event.patch, true, false).newDocument;
      if (event.geometry) feature.geometry = event.geometry.current;
    }
  }
}

describe('change feed', () => {
  after(async () => { await getHarness().db('sharing_agreement').update({ level: 'none' }); });

  it('shows an owner its creates, updates (JSON Patch) and retirements in commit order', async () => {
    const token = tokenFor('CHDE', 'editor');
    const start = (await api('GET', '/feed/snapshot', { token })).body.cursor;
    const area = await createHazardousArea(token, { geometry: freshSquare(120, [44.1, 40.9]) });
    await api('PATCH', `/collections/hazardous-areas/items/${area.body.id}`, { token, body: { properties: { priority: 'high' } }, headers: { 'if-match': '"1"' } });
    await api('DELETE', `/collections/hazardous-areas/items/${area.body.id}?reason=duplicate`, { token, headers: { 'if-match': '"2"' } });
    const { events } = await feedFrom(token, start);
    const mine = events.filter((e) => e.id === area.body.id);
    expect(mine.map((e) => e.operation)).to.deep.equal(['create', 'update', 'delete']);
    expect(mine[0].feature.properties.localRef).to.equal(area.body.properties.localRef);
    expect(mine[1].patch).to.deep.include({ op: 'replace', path: '/priority', value: 'high' });
    expect(mine[1].version).to.equal(2);
    expect(mine[2]).to.not.have.property('feature');
    expect(mine[0].actingAgency).to.equal('CHDE');
  });

  it('turns sharing into creates, level changes into updates, and revoking or restricting into deletes', async () => {
    const owner = tokenFor('CHDE', 'editor');
    const viewer = tokenFor('GEO', 'viewer');
    const area = await createHazardousArea(owner, { geometry: freshSquare(150, [44.1, 40.9]) });
    const start = (await api('GET', '/feed/snapshot', { token: viewer })).body.cursor;
    await share('CHDE', 'GEO', 'hazardous-areas', 'footprint');
    await share('CHDE', 'GEO', 'hazardous-areas', 'summary');
    await api('PUT', `/collections/hazardous-areas/items/${area.body.id}/restriction`, { token: owner, body: { restricted: true }, headers: { 'content-type': 'application/json', 'if-match': '"1"' } });
    const { events } = await feedFrom(viewer, start);
    const mine = events.filter((e) => e.id === area.body.id);
    expect(mine.map((e) => e.operation)).to.deep.equal(['create', 'update', 'delete']);
    expect(mine[0].feature.properties).to.include({ accessLevel: 'footprint', generalised: true });
    expect(Object.keys(mine[0].feature.properties).sort()).to.deep.equal(['accessLevel', 'classification', 'generalised', 'ownerAgency']);
    expect(mine[1].geometry.addedM2).to.equal(0);
    expect(mine[1].geometry.removedM2).to.be.greaterThan(0);
    expect(mine[1].patch.map((op: any) => op.path)).to.include.members(['/accessLevel', '/generalised', '/status']);
  });

  it("a land release comes to the area's viewers as one replace per changed property, the remaining polygon among them, at each one's level", async () => {
    const owner = tokenFor('CHDE', 'editor');
    const partner = tokenFor('GEO', 'viewer');
    await share('CHDE', 'GEO', 'hazardous-areas', 'summary');
    const square = freshSquare(200, [44.3, 40.95]);
    const area = await createHazardousArea(owner, { geometry: square });
    const starts = await Promise.all([owner, partner].map(async (token) => (await api('GET', '/feed/snapshot', { token })).body.cursor));
    const [[x0, y0], [x1], , [, y1]] = square.coordinates[0];
    const half: GeoJSON.Polygon = { type: 'Polygon', coordinates: [[[x0, y0], [(x0 + x1) / 2, y0], [(x0 + x1) / 2, y1], [x0, y1], [x0, y0]]] };
    const released = await api('POST', '/collections/land-releases/items', { token: owner, body: { type: 'Feature', geometry: half, properties: {
      localRef: freshRef('LR'), hazardousAreaId: area.body.id, method: 'cleared', activity: 'clearance', releaseDate: '2025-08-01', operator: 'Synthetic Demining Team 1', clearanceDepthCm: 20 } } });
    expect(released.status, released.text).to.equal(201);
    const now = (await api('GET', `/collections/hazardous-areas/items/${area.body.id}`, { token: owner })).body.properties;
    for (const [n, token] of [owner, partner].entries()) {
      const update = (await feedFrom(token, starts[n])).events.find((e) => e.id === area.body.id);
      expect(update?.operation, `viewer ${n}`).to.equal('update');
      const ops = new Map<string, any>(update.patch.map((op: any) => [op.path, op]));
      expect([...ops.values()].every((op) => op.op === 'replace')).to.equal(true);
      expect(ops.get('/status').value).to.equal('worked-on');
      expect(ops.get('/remainingAreaM2').value).to.be.closeTo(now.remainingAreaM2, 1e-6);
      expect(ops.get('/remainingGeometry').value).to.deep.equal(now.remainingGeometry);
      // Only the owner's level shows the version and edit times.
      expect(ops.has('/version'), `viewer ${n}`).to.equal(n === 0);
      expect(ops.has('/updatedAt'), `viewer ${n}`).to.equal(n === 0);
      expect(update.version, `viewer ${n}`).to.equal(n === 0 ? now.version : null);
    }
  });

  it('a change to what the viewer cannot see produces nothing for it', async () => {
    const owner = tokenFor('CHDE', 'editor');
    const area = await createHazardousArea(owner, { geometry: freshSquare(150, [44.1, 40.9]) });
    await share('CHDE', 'LIAISON', 'hazardous-areas', 'footprint');
    const facilitator = tokenFor('LIAISON', 'facilitator');
    const start = (await api('GET', '/feed/snapshot', { token: facilitator })).body.cursor;
    await api('PATCH', `/collections/hazardous-areas/items/${area.body.id}`, { token: owner, body: { properties: { priority: 'low', estimatedDeviceCount: 3 } }, headers: { 'if-match': '"1"' } });
    const { events } = await feedFrom(facilitator, start);
    expect(events.filter((e) => e.id === area.body.id)).to.deep.equal([]);
  });

  it('snapshot at T0 plus the feed from T0 equals the snapshot at T1', async () => {
    const owner = tokenFor('CHDE', 'editor');
    const viewer = tokenFor('GEO', 'viewer');
    await share('CHDE', 'GEO', 'hazardous-areas', 'summary');
    const t0 = (await api('GET', '/feed/snapshot', { token: viewer })).body;
    const mirror = new Map<string, any>(t0.features.map((f: any) => [f.id, { type: 'Feature', id: f.id, geometry: f.geometry, properties: f.properties }]));
    const a = await createHazardousArea(owner, { geometry: freshSquare(150, [44.1, 40.9]) });
    const b = await createHazardousArea(owner, { geometry: freshSquare(150, [44.1, 40.9]) });
    await api('PATCH', `/collections/hazardous-areas/items/${a.body.id}`, { token: owner, body: { properties: { classification: 'SHA' } }, headers: { 'if-match': '"1"' } });
    await share('CHDE', 'GEO', 'hazardous-areas', 'footprint');
    await api('DELETE', `/collections/hazardous-areas/items/${b.body.id}?reason=x`, { token: owner, headers: { 'if-match': '"1"' } });
    await share('CHDE', 'GEO', 'hazardous-areas', 'full');
    const { events, cursor } = await feedFrom(viewer, t0.cursor);
    apply(mirror, events);
    const t1 = (await api('GET', '/feed/snapshot', { token: viewer })).body;
    expect(t1.cursor).to.equal(cursor);
    const expected = new Map<string, any>(t1.features.map((f: any) => [f.id, { type: 'Feature', id: f.id, geometry: f.geometry, properties: f.properties }]));
    expect([...mirror.keys()].sort()).to.deep.equal([...expected.keys()].sort());
    for (const [id, feature] of expected) {
      expect(mirror.get(id).properties, id).to.deep.equal(feature.properties);
      expect(mirror.get(id).geometry, id).to.deep.equal(feature.geometry);
    }
  });

  it('reading a page in many small ranges side by side, or with a scan bound, gives the same events and cursors as one read', async () => {
    const owner = tokenFor('CHDE', 'editor');
    const viewer: Viewer = { agency: 'GEO', role: 'viewer', subject: 'ranges-test' };
    await share('CHDE', 'GEO', 'hazardous-areas', 'summary');
    const start = (await api('GET', '/feed/snapshot', { token: tokenFor('GEO', 'viewer') })).body.cursor;
    const ids: string[] = [];
    for (let n = 0; n < 6; n++) ids.push((await createHazardousArea(owner, { geometry: freshSquare(120, [44.1, 40.9]) })).body.id);
    // Changes GEO sees (status) and does not see (priority), an agreement change (fan-out), a retirement.
    for (const [n, id] of ids.entries()) {
      const change = n % 2 ? { status: 'worked-on' } : { priority: 'low' };
      expect((await api('PATCH', `/collections/hazardous-areas/items/${id}`, { token: owner, body: { properties: change }, headers: { 'if-match': '"1"' } })).status).to.equal(200);
    }
    await share('CHDE', 'GEO', 'hazardous-areas', 'footprint');
    expect((await api('DELETE', `/collections/hazardous-areas/items/${ids[0]}?reason=x`, { token: owner, headers: { 'if-match': '"2"' } })).status).to.equal(204);
    await share('CHDE', 'GEO', 'hazardous-areas', 'none');

    const read = async (feed: FeedService, limit: number) => {
      const events: any[] = [];
      let cursor = start;
      for (let pages = 0; pages < 500; pages++) {
        const page = await feed.page(viewer, cursor, limit, 'http://localhost/feed/snapshot');
        expect(page.events.length).to.be.at.most(limit);
        events.push(...page.events);
        cursor = page.cursor;
        if (page.caughtUp) return { events, cursor };
      }
      throw new Error('never caught up');
    };
    const { db } = getHarness();
    const reference = await read(new FeedService(db, 2000, 50_000, 1), 1000);
    expect(reference.events.filter((e) => ids.includes(e.id)).length).to.be.at.least(6 + 3 + 6);
    // Ranges of 2 entries, two at a time; pages of 3 events; at most 5 entries read per page.
    expect(await read(new FeedService(db, 2, 50_000, 2), 3)).to.deep.equal(reference);
    expect(await read(new FeedService(db, 2, 5, 2), 1000)).to.deep.equal(reference);
    expect(await read(new FeedService(db, 3, 50_000, 2), 1)).to.deep.equal(reference);
  });
});
