// The sync client (sync/): mirrors a viewer's view into PostGIS and into a folder of GeoJSON,
// resumes from its cursor, resyncs from the snapshot after a 410, follows the live stream.
// Records live at lon 50.6–51.4, lat 38.0–38.6, where no other test draws.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { pruneChangeLog } from '../feed/retention';
import { runSync } from '../sync/cli';
import { FeedClient, RECORD_KINDS } from '../sync/client';
import { DirectoryTarget } from '../sync/targets/directory';
import { PostgisTarget, tableOf } from '../sync/targets/postgis';
import { scratchDatabase, api, createHazardousArea, freshRef, freshSquare, getHarness, tokenFor, share } from './harness';

const ORIGIN: [number, number] = [50.6, 38.0];
/** The mirror's own database (server/harness.ts scratchDatabase), set in before(). */
let TARGET_URL = '';
let target: { url: string; close(): Promise<void> } | undefined;
const ROOT = path.resolve(__dirname, '..');


async function patchArea(token: string, id: string, version: number, body: unknown) {
  const response = await api('PATCH', `/collections/hazardous-areas/items/${id}`, { token, body, headers: { 'if-match': `"${version}"` } });
  expect(response.status, response.text).to.equal(200);
}

async function retire(token: string, collection: string, id: string, version: number) {
  const response = await api('DELETE', `/collections/${collection}/items/${id}?reason=duplicate`, { token, headers: { 'if-match': `"${version}"` } });
  expect(response.status, response.text).to.be.oneOf([200, 204]);
}

async function restrict(token: string, id: string, version: number) {
  const response = await api('PUT', `/collections/hazardous-areas/items/${id}/restriction`, { token, body: { restricted: true }, headers: { 'content-type': 'application/json', 'if-match': `"${version}"` } });
  expect(response.status, response.text).to.equal(200);
}

async function createMinefieldRecord(token: string) {
  const [lon, lat] = freshSquare(50, ORIGIN).coordinates[0][0];
  const response = await api('POST', '/collections/minefield-records/items', {
    token,
    body: {
      type: 'Feature',
      geometry: { type: 'Polygon', coordinates: [[[lon, lat], [lon + 0.0014, lat + 0.0001], [lon + 0.0012, lat + 0.0008], [lon - 0.0001, lat + 0.0007], [lon, lat]]] },
      properties: {
        localRef: freshRef('MFR'),
        referencePoints: [{ label: 'RP1', coordinates: [lon, lat] }, { label: 'RP2', coordinates: [lon + 0.002, lat] }],
        mineTypes: [{ type: 'AP', model: 'PMN-2', count: 12 }],
        emplacingMethod: 'hand-laid',
      },
    },
  });
  expect(response.status, response.text).to.equal(201);
  return response;
}

const area = (token: string) => createHazardousArea(token, { geometry: freshSquare(120, ORIGIN) });

/** All events from `cursor` on, as the API pages them. */
async function eventsFrom(token: string, cursor: string | undefined): Promise<any[]> {
  const events: any[] = [];
  let after = cursor;
  for (;;) {
    const page = await api('GET', `/feed?limit=1000${after ? `&after=${after}` : ''}`, { token });
    expect(page.status, page.text).to.equal(200);
    events.push(...page.body.events);
    after = page.body.cursor;
    if (page.body.caughtUp) return events;
  }
}

async function snapshotOf(token: string) {
  const response = await api('GET', '/feed/snapshot', { token });
  expect(response.status, response.text).to.equal(200);
  return response.body as { cursor: string; features: any[] };
}

async function withTarget<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TARGET_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

const savedCursor = (schema = 'mirror') => withTarget(async (db) => (await db.query(`SELECT cursor FROM ${schema}.sync_state`)).rows[0]?.cursor as string | undefined);

/** The PostGIS mirror holds exactly the viewer's current view: same ids per kind, same properties, equal geometries. */
async function expectPostgisMirrorEqualsView(token: string, schema = 'mirror') {
  const snapshot = await snapshotOf(token);
  await withTarget(async (db) => {
    for (const kind of RECORD_KINDS) {
      const expected = snapshot.features.filter((f) => f.recordKind === kind).sort((a, b) => a.id.localeCompare(b.id));
      const rows = (await db.query(`SELECT id::text, properties FROM ${schema}.${tableOf(kind)} ORDER BY id::text`)).rows;
      expect(rows.map((r) => r.id), `${kind} ids`).to.deep.equal(expected.map((f) => f.id));
      const byId = new Map(rows.map((r) => [r.id, r.properties]));
      for (const feature of expected) expect(byId.get(feature.id), `${kind}/${feature.id}`).to.deep.equal(feature.properties);
      const unequal = (await db.query(
        `SELECT r->>'id' AS id FROM jsonb_array_elements($1::jsonb) AS r JOIN ${schema}.${tableOf(kind)} t ON t.id = (r->>'id')::uuid
         WHERE NOT coalesce(ST_Equals(t.geom, ST_SetSRID(ST_GeomFromGeoJSON(nullif(r->'geometry', 'null'::jsonb)), 4326)),
                            t.geom IS NULL AND r->'geometry' = 'null'::jsonb)`,
        [JSON.stringify(expected.map((f) => ({ id: f.id, geometry: f.geometry })))],
      )).rows;
      expect(unequal, `${kind}: geometries that differ`).to.deep.equal([]);
    }
  });
  expect(await savedCursor(schema)).to.equal(snapshot.cursor);
}

async function expectDirectoryMirrorEqualsView(token: string, dir: string) {
  const snapshot = await snapshotOf(token);
  for (const kind of RECORD_KINDS) {
    const collection = JSON.parse(await readFile(path.join(dir, `${kind}.geojson`), 'utf8'));
    expect(collection.type).to.equal('FeatureCollection');
    const expected = snapshot.features.filter((f) => f.recordKind === kind).sort((a, b) => (a.id < b.id ? -1 : 1))
      .map((f) => ({ type: 'Feature', id: f.id, geometry: f.geometry, properties: f.properties }));
    expect(collection.features, kind).to.deep.equal(expected);
  }
  const state = JSON.parse(await readFile(path.join(dir, 'sync-state.json'), 'utf8'));
  expect(state.cursor).to.equal(snapshot.cursor);
  expect(state).to.not.have.property('pending');
  expect((await readdir(dir)).filter((name) => name.endsWith('.tmp'))).to.deep.equal([]);
}

/** Runs `npx tsx sync/cli.ts …` and returns its exit code, the --json summary and stderr. */
function spawnSync(args: string[]): Promise<{ code: number | null; stats: any; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npx', ['tsx', 'sync/cli.ts', ...args], { cwd: ROOT, env: { ...process.env, SYNC_TOKEN: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => { stdout += chunk; });
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    child.on('error', reject);
    child.on('close', (code) => {
      let stats: any;
      try { stats = JSON.parse(stdout.trim().split('\n').pop() || 'null'); } catch { stats = undefined; }
      resolve({ code, stats, stderr });
    });
  });
}

async function syncInProcess(token: string, target: PostgisTarget | DirectoryTarget, options: { limit?: number; follow?: boolean; signal?: AbortSignal } = {}) {
  const client = new FeedClient({ url: getHarness().baseUrl, token, attempts: 2, baseDelayMs: 10 });
  await target.open(client.baseUrl);
  try {
    return await runSync({ client, target, ...options });
  } finally {
    await target.close();
  }
}

describe('sync client', () => {
  const owner = () => tokenFor('CHDE', 'editor');
  const viewer = () => tokenFor('GEO', 'viewer');
  const own: { id: string; version: number }[] = [];
  const shared: { id: string; version: number }[] = [];
  let hidden: { id: string; version: number };
  let dir: string;

  before(async function () {
    this.timeout(180_000); // an embedded target starts a database of its own
    target = await scratchDatabase('sync_target');
    TARGET_URL = target.url;
    dir = await mkdtemp(path.join(tmpdir(), 'minefield-sync-'));

    // GEO's own areas, CHDE's shared with GEO (summary) and a CHDE minefield record (footprint), ANAMA's not shared.
    for (let i = 0; i < 2; i++) own.push({ id: (await area(tokenFor('GEO', 'editor'))).body.id, version: 1 });
    for (let i = 0; i < 4; i++) shared.push({ id: (await area(owner())).body.id, version: 1 });
    await createMinefieldRecord(owner());
    hidden = { id: (await area(tokenFor('ANAMA', 'editor'))).body.id, version: 1 };
    await share('CHDE', 'GEO', 'hazardous-areas', 'summary');
    await share('CHDE', 'GEO', 'minefield-records', 'footprint');
  });

  after(async () => {
    await getHarness().db('sharing_agreement').update({ level: 'none' });
    if (dir) await rm(dir, { recursive: true, force: true });
    await target?.close();
  });

  it('mirrors the viewer\'s view into PostGIS from a snapshot (the command, spawned)', async () => {
    const run = await spawnSync(['--url', getHarness().baseUrl, '--token', viewer(), '--into', TARGET_URL, '--limit', '7', '--json']);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stats).to.include({ resyncs: 1, caughtUp: true });
    expect(run.stats.snapshotFeatures).to.be.greaterThan(0);
    expect(run.stderr).to.match(/starting from a snapshot/);
    await expectPostgisMirrorEqualsView(viewer());
    await withTarget(async (db) => {
      const ids = (await db.query('SELECT id::text FROM mirror.hazardous_areas')).rows.map((r) => r.id);
      expect(ids).to.include.members([...own, ...shared].map((a) => a.id));
      expect(ids).to.not.include(hidden.id);
      expect((await db.query('SELECT count(*)::int AS n FROM mirror.minefield_records')).rows[0].n).to.be.greaterThan(0);
      const columns = (await db.query(`SELECT table_name, column_name, udt_name FROM information_schema.columns WHERE table_schema = 'mirror' ORDER BY 1, ordinal_position`)).rows;
      expect(columns.filter((c) => c.table_name === 'hazardous_areas').map((c) => `${c.column_name}:${c.udt_name}`))
        .to.deep.equal(['id:uuid', 'properties:jsonb', 'geom:geometry', 'updated_at:timestamptz']);
      expect(columns.filter((c) => c.table_name === 'sync_state').map((c) => c.column_name)).to.deep.equal(['source_url', 'cursor', 'updated_at']);
    });
  });

  it('resumes from its cursor: creates, updates, retirements, agreement changes and restrictions, nothing re-read', async () => {
    const from = await savedCursor();
    const everything = (await eventsFrom(viewer(), undefined)).length;
    // A create, updates of properties and of geometry, a retirement.
    const added = (await area(owner())).body.id;
    await patchArea(owner(), shared[0].id, shared[0].version++, { properties: { classification: 'SHA', priority: 'high' } });
    await patchArea(tokenFor('GEO', 'editor'), own[0].id, own[0].version++, { geometry: freshSquare(90, ORIGIN) });
    await retire(owner(), 'hazardous-areas', shared[1].id, shared[1].version++);
    // Agreement changes: CHDE's areas become footprints (updates), ANAMA's appear (creates).
    await share('CHDE', 'GEO', 'hazardous-areas', 'footprint');
    await share('ANAMA', 'GEO', 'hazardous-areas', 'full');
    // A restriction takes a record out of the view (delete).
    await restrict(owner(), shared[2].id, shared[2].version++);
    const expected = await eventsFrom(viewer(), from);
    expect(expected.map((e) => e.operation)).to.include.members(['create', 'update', 'delete']);

    const stats = await syncInProcess(viewer(), new PostgisTarget(TARGET_URL), { limit: 3 });
    expect(stats.resyncs, 'resynced instead of resuming').to.equal(0);
    expect(stats.applied).to.equal(expected.length);
    expect(stats.applied).to.be.lessThan(everything + expected.length);
    await expectPostgisMirrorEqualsView(viewer());
    await withTarget(async (db) => {
      const ids = (await db.query('SELECT id::text FROM mirror.hazardous_areas')).rows.map((r) => r.id);
      expect(ids).to.include.members([added, hidden.id, shared[0].id]);
      expect(ids).to.not.include.members([shared[1].id]);
      expect(ids).to.not.include(shared[2].id);
    });

    // Caught up: a second run reads nothing.
    const again = await syncInProcess(viewer(), new PostgisTarget(TARGET_URL));
    expect(again).to.include({ applied: 0, resyncs: 0 });
  });

  it('hides records again when an agreement is revoked', async () => {
    await share('ANAMA', 'GEO', 'hazardous-areas', 'none');
    const stats = await syncInProcess(viewer(), new PostgisTarget(TARGET_URL), { limit: 2 });
    expect(stats.resyncs).to.equal(0);
    await expectPostgisMirrorEqualsView(viewer());
    await withTarget(async (db) => {
      expect((await db.query('SELECT 1 FROM mirror.hazardous_areas WHERE id = $1', [hidden.id])).rows).to.deep.equal([]);
    });
  });

  it('resyncs from the snapshot after a 410 and ends equal', async () => {
    await patchArea(owner(), shared[3].id, shared[3].version++, { properties: { priority: 'low' } });
    await area(owner());
    await pruneChangeLog(getHarness().db, 0);
    // Retention keeps recent entries in practice: a change after the prune (see the report on
    // a fully emptied change log below).
    await area(tokenFor('GEO', 'editor'));
    const stale = await savedCursor();
    expect((await api('GET', `/feed?after=${stale}`, { token: viewer() })).status).to.equal(410);
    const stats = await syncInProcess(viewer(), new PostgisTarget(TARGET_URL));
    expect(stats.resyncs).to.equal(1);
    await expectPostgisMirrorEqualsView(viewer());
  });

  it('stops with a clear error instead of looping when even a fresh snapshot\'s cursor is gone', async () => {
    // Pruning everything empties change_log; feed_snapshot_cursor() is max(seq) of change_log
    // (0 when empty) and ignores the pruned horizon, so the snapshot hands out a cursor that
    // the feed answers 410 to. A service that is fixed makes this run succeed instead.
    await area(owner());
    await pruneChangeLog(getHarness().db, 0);
    const snapshot = await snapshotOf(viewer());
    const followUp = await api('GET', `/feed?after=${snapshot.cursor}`, { token: viewer() });
    const run = await spawnSync(['--url', getHarness().baseUrl, '--token', viewer(), '--into', TARGET_URL, '--json']);
    if (followUp.status === 410) {
      expect(run.code, run.stderr).to.equal(1);
      expect(run.stderr).to.match(/cursor of a fresh snapshot is already gone/);
    } else {
      expect(run.code, run.stderr).to.equal(0);
      await expectPostgisMirrorEqualsView(viewer());
    }
    // Any later change gives the log a sequence number above the horizon again.
    await area(owner());
    const healed = await syncInProcess(viewer(), new PostgisTarget(TARGET_URL));
    expect(healed.caughtUp).to.equal(true);
    await expectPostgisMirrorEqualsView(viewer());
  });

  it('mirrors into a folder of GeoJSON, and resumes there too', async () => {
    const run = await spawnSync(['--url', getHarness().baseUrl, '--token', viewer(), '--into', dir, '--json']);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stats.resyncs).to.equal(1);
    await expectDirectoryMirrorEqualsView(viewer(), dir);

    const added = (await area(owner())).body.id;
    await patchArea(owner(), added, 1, { properties: { priority: 'high' } });
    await share('CHDE', 'GEO', 'hazardous-areas', 'full');
    const stats = await syncInProcess(viewer(), new DirectoryTarget(dir), { limit: 5 });
    expect(stats.resyncs).to.equal(0);
    expect(stats.applied).to.be.greaterThan(1);
    await expectDirectoryMirrorEqualsView(viewer(), dir);
  });

  it('follows the live stream after catching up (--follow), in its own schema', async () => {
    const controller = new AbortController();
    const target = new PostgisTarget(TARGET_URL, 'live_mirror');
    const running = syncInProcess(viewer(), target, { follow: true, signal: controller.signal });
    try {
      // Wait for the first (snapshot) commit, then change something and wait for it to arrive.
      const until = async (check: () => Promise<boolean>) => {
        for (let i = 0; i < 200 && !(await check()); i++) await new Promise((resolve) => setTimeout(resolve, 50));
        expect(await check()).to.equal(true);
      };
      await until(async () => Boolean(await savedCursor('live_mirror').catch(() => undefined)));
      const added = (await area(owner())).body.id;
      await until(async () => withTarget(async (db) => (await db.query('SELECT 1 FROM live_mirror.hazardous_areas WHERE id = $1', [added])).rows.length === 1));
    } finally {
      controller.abort();
    }
    const stats = await running;
    expect(stats.applied).to.be.greaterThan(0);
    await expectPostgisMirrorEqualsView(viewer(), 'live_mirror');
  });

  it('exits 2 with a clear message on bad arguments and 3 on a rejected token', async () => {
    const usage = await spawnSync(['--url', getHarness().baseUrl, '--into', dir]);
    expect(usage.code).to.equal(2);
    expect(usage.stderr).to.match(/--token \(or SYNC_TOKEN\) is required/);
    const rejected = await spawnSync(['--url', getHarness().baseUrl, '--token', 'not-a-token', '--into', path.join(dir, 'other')]);
    expect(rejected.code, rejected.stderr).to.equal(3);
    expect(rejected.stderr).to.match(/401/);
  });
});
