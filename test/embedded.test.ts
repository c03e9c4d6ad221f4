// The embedded database (PGlite + PostGIS in a worker thread, behind pglite-socket): the whole
// schema migrates on it and its rules hold; a second process is refused the data directory;
// a process killed outright loses no committed row. Needs no PostgreSQL server of its own.
// One PGlite cold start (initdb + CREATE EXTENSION postgis) for the suite, then reopenings.
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import type { Knex } from 'knex';
import pg from 'pg';
import { createKnex, migrationsDirectory } from '../db/connection';
import { migrateToLatest } from '../db/migrate';
import { LOCK_FILE_NAME, lockDataDirectory } from '../embedded/dataDirLock';
import { EMBEDDED_POOL_SIZE, EmbeddedDatabase, startEmbeddedDatabase } from '../embedded/embeddedDatabase';
import { createApp } from '../server/app';
import { issueToken } from '../server/auth/issueToken';
import { loadConfig } from '../server/config';
import { hazardousAreaFeature } from './harness';

const root = path.resolve(__dirname, '..');
const embeddedModule = path.join(root, 'embedded', 'embeddedDatabase.ts');

/** A child `node --import tsx -e script`, with its output collected. */
function child(script: string) {
  const proc = spawn(process.execPath, ['--import', 'tsx', '-e', script], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  proc.stdout.setEncoding('utf8').on('data', (chunk: string) => { output.stdout += chunk; });
  proc.stderr.setEncoding('utf8').on('data', (chunk: string) => { output.stderr += chunk; });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, output, exited };
}

describe('embedded database (PGlite)', function () {
  this.timeout(180_000);
  let dataDir: string;
  let embedded: EmbeddedDatabase | undefined;
  let db: Knex | undefined;

  const inTransaction = <T>(role: 'minefield_reader' | 'minefield_writer', agency: string, work: (trx: Knex.Transaction) => Promise<T>) =>
    db!.transaction(async (trx) => {
      await trx.raw("SELECT set_config('app.agency', ?, true), set_config('app.role', 'editor', true), set_config('app.subject', 'test', true)", [agency]);
      await trx.raw(`SET LOCAL ROLE ${role}`);
      return work(trx);
    });

  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'minefield-embedded-'));
    const started = Date.now();
    // 3: the pool's connection, and a listener and a writer in the NOTIFY check.
    embedded = await startEmbeddedDatabase(dataDir, { maxConnections: 3 });
    console.log(`      cold start ${Date.now() - started} ms (${JSON.stringify(embedded.timings)}), rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB`);
    db = createKnex(embedded.url, EMBEDDED_POOL_SIZE);
  });

  after(async () => {
    await db?.destroy();
    await embedded?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('creates PostGIS with PROJ on first start', async () => {
    expect(embedded!.created).to.equal(true);
    const { rows: [row] } = await db!.raw(`SELECT current_setting('server_version_num')::int AS pg, postgis_lib_version() AS postgis,
      ST_AsText(ST_SnapToGrid(ST_Transform(ST_SetSRID(ST_MakePoint(500000, 4500000), 32638), 4326), 0.0001)) AS utm,
      ST_X(ST_Transform(ST_SetSRID(ST_MakePoint(8500000, 4500000), 28408), 4326)) AS pulkovo_lon`);
    expect(row.pg).to.be.at.least(180000);
    expect(row.postgis).to.match(/^3\.6/);
    expect(row.utm).to.equal('POINT(45 40.6509)');
    expect(row.pulkovo_lon).to.be.closeTo(45, 0.01);
  });

  it('runs every migration of the project', async () => {
    const started = Date.now();
    const applied = await migrateToLatest(db!);
    const files = fs.readdirSync(migrationsDirectory).filter((f) => /\.(ts|js)$/.test(f) && !f.endsWith('.d.ts')).sort();
    expect(applied).to.deep.equal(files);
    console.log(`      ${applied.length} migrations in ${Date.now() - started} ms`);
  });

  it('holds the schema rules: roles, grants, triggers with transition tables, deferred sequencing, generated footprints', async () => {
    const square = `ST_Multi(ST_GeomFromText('POLYGON((46.2 40.6,46.201 40.6,46.201 40.601,46.2 40.601,46.2 40.6))', 4326))`;
    const inserted = await inTransaction('minefield_writer', 'ANAMA', async (trx) => (await trx.raw(`
      INSERT INTO hazardous_area (owner_agency, local_ref, classification, hazard_types, information_date, recorded_on, original_geom,
        remaining_geom, original_area_m2, remaining_area_m2, input_crs, input_geometry, created_by, updated_by)
      VALUES ('ANAMA', 'EMB-1', 'CHA', ARRAY['AP'], '2025-01-01', '2025-01-01', ${square}, ${square}, 1, 1, 4326, '{}', 'test', 'test')
      RETURNING id, current_user AS role, ST_Covers(footprint_geom, original_geom) AS covered`)).rows[0]);
    expect(inserted.role).to.equal('minefield_writer');
    expect(inserted.covered).to.equal(true);

    // Statement trigger with a transition table (audit), and the deferred constraint trigger that
    // numbers the transaction's change-log entries under pg_advisory_xact_lock before commit.
    const { rows: [audit] } = await db!.raw('SELECT action, actor FROM audit_event WHERE record_id = ?', [inserted.id]);
    expect(audit).to.deep.equal({ action: 'create', actor: 'test' });
    const { rows: [entry] } = await db!.raw('SELECT seq, committed_at IS NOT NULL AS committed FROM change_log WHERE record_id = ?', [inserted.id]);
    expect(entry.seq).to.be.a('number');
    expect(entry.committed).to.equal(true);
    expect((await db!.raw('SELECT count(*) AS n FROM change_commit')).rows[0].n).to.equal(0);

    // Reads as minefield_reader: the views yes, the base tables no; SECURITY DEFINER functions run.
    const visible = await inTransaction('minefield_reader', 'ANAMA', async (trx) => (await trx.raw(
      'SELECT count(*) AS n FROM visible_hazardous_area WHERE id = ?', [inserted.id])).rows[0].n);
    expect(visible).to.equal(1);
    const hidden = await inTransaction('minefield_reader', 'CHDE', async (trx) => (await trx.raw(
      'SELECT count(*) AS n FROM visible_hazardous_area WHERE id = ?', [inserted.id])).rows[0].n);
    expect(hidden).to.equal(0);
    const feed = await inTransaction('minefield_reader', 'ANAMA', async (trx) => (await trx.raw('SELECT record_id FROM feed_entries(0, 100)')).rows);
    expect(feed.map((r: { record_id: string }) => r.record_id)).to.include(inserted.id);
    let denied: any;
    await inTransaction('minefield_reader', 'ANAMA', (trx) => trx.raw('SELECT count(*) FROM hazardous_area')).catch((e) => { denied = e; });
    expect(denied?.code).to.equal('42501');
    let appendOnly: any;
    await db!.raw("UPDATE audit_event SET actor = 'x'").catch((e) => { appendOnly = e; });
    expect(appendOnly?.message).to.match(/append-only/);

    // Transaction-local settings and role end with the transaction (PGlite is one session).
    const { rows: [after] } = await db!.raw("SELECT current_user AS role, coalesce(current_setting('app.agency', true), '') AS agency");
    expect(after).to.deep.equal({ role: 'postgres', agency: '' });

    // The testimony footprint: a generated column over a geography buffer.
    const { rows: [testimony] } = await db!.raw(`SELECT ST_Covers(footprint_of(ST_Buffer(p::geography, 50)::geometry), p) AS covered
      FROM (SELECT ST_SetSRID(ST_MakePoint(46.2, 40.6), 4326) AS p) AS x`);
    expect(testimony.covered).to.equal(true);
  });

  it('serves the API unchanged through the pg client', async () => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await db!('agency_key').insert({ agency_code: 'ANAMA', kid: 'embedded-test', algorithm: 'ES256',
      public_key: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString() });
    const token = issueToken({ agency: 'ANAMA', role: 'editor', kid: 'embedded-test', algorithm: 'ES256',
      privateKey: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() });
    const app = createApp({ db: db!, config: { ...loadConfig(), databaseUrl: embedded!.url } });
    const server = await new Promise<Server>((resolve) => { const s = app.listen(0, '127.0.0.1', () => resolve(s)); });
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/geo+json' };
      const created = await fetch(`${base}/collections/hazardous-areas/items`, { method: 'POST', headers, body: JSON.stringify(hazardousAreaFeature()) });
      expect(created.status, await created.clone().text()).to.equal(201);
      const id = (await created.json() as { id: string }).id;
      const read = await fetch(`${base}/collections/hazardous-areas/items/${id}`, { headers });
      expect(read.status).to.equal(200);
      const feature = await read.json() as { properties: { classification: string; originalAreaM2: number } };
      expect(feature.properties.classification).to.equal('CHA');
      expect(feature.properties.originalAreaM2).to.be.closeTo(10_000, 100);
    } finally {
      await app.locals.feedStream.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('known gaps: no ST_AsMVT (no protobuf); NOTIFY reaches the committing connection, not the listener', async () => {
    let mvt: any;
    await db!.raw(`SELECT ST_AsMVT(t) FROM (SELECT ST_AsMVTGeom(ST_MakeEnvelope(0, 0, 1, 1, 3857), ST_MakeEnvelope(0, 0, 10, 10, 3857)) AS g) AS t`)
      .catch((e) => { mvt = e; });
    expect(mvt?.message).to.match(/protobuf/);

    const listener = new pg.Client({ connectionString: embedded!.url });
    await listener.connect();
    const heard: string[] = [];
    listener.on('notification', (n) => heard.push(`listener ${n.payload}`));
    await listener.query('LISTEN minefield_changes');
    const writer = new pg.Client({ connectionString: embedded!.url });
    await writer.connect();
    writer.on('notification', (n) => heard.push(`writer ${n.payload}`));
    try {
      await writer.query("SELECT pg_notify('minefield_changes', 'probe')");
      await listener.query('SELECT 1');
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(heard).to.deep.equal(['writer probe']);
    } finally {
      await listener.end();
      await writer.end();
    }
  });

  it('a database error inside a transaction leaves the connection in step (extended protocol, as on a server)', async () => {
    for (let n = 0; n < 3; n++) {
      let failure: any;
      await inTransaction('minefield_reader', 'ANAMA', (trx) => trx.raw('UPDATE audit_event SET action = ?', ['forged'])).catch((error) => { failure = error; });
      expect(failure?.message).to.match(/permission denied/);
    }
    let refused: any;
    await db!.transaction(async (trx) => { await trx.raw('SELECT ?::integer', ['not a number']); }).catch((error) => { refused = error; });
    expect(refused?.message).to.match(/invalid input syntax/);
    // The same connection answers the next queries with their own results.
    expect((await db!.raw('SELECT ?::integer + 1 AS n', [41])).rows).to.deep.equal([{ n: 42 }]);
    expect((await inTransaction('minefield_reader', 'ANAMA', (trx) => trx.raw('SELECT current_user AS who'))).rows).to.deep.equal([{ who: 'minefield_reader' }]);
  });

  it('refuses the data directory to a second process with a clear error', async () => {
    const second = child(`
      require(${JSON.stringify(embeddedModule)}).startEmbeddedDatabase(${JSON.stringify(dataDir)})
        .then(async (db) => { console.log('OPENED'); await db.stop(); process.exit(0); })
        .catch((error) => { console.error(error.message); process.exit(3); });`);
    const code = await second.exited;
    expect(second.output.stdout).not.to.include('OPENED');
    expect(code).to.equal(3);
    expect(second.output.stderr).to.include(`the data directory ${dataDir} is in use by process ${process.pid}`);
  });

  it('takes over a stale lock (dead pid, or a pid reused by another process), never a live one', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'minefield-lock-'));
    const lockFile = path.join(dir, LOCK_FILE_NAME);
    try {
      const stale = (owner: object) => fs.writeFileSync(lockFile, JSON.stringify({ host: os.hostname(), bootId: null, token: 'old', createdAt: '', ...owner }));
      const dead = child('process.exit(0)');
      await dead.exited;
      for (const owner of [{ pid: dead.proc.pid, startTime: null }, { pid: process.pid, startTime: 'not-this-process' }]) {
        stale(owner);
        const lock = await lockDataDirectory(dir);
        expect(JSON.parse(fs.readFileSync(lockFile, 'utf8')).pid).to.equal(process.pid);
        let refused: any;
        await lockDataDirectory(dir).catch((e) => { refused = e; });
        expect(refused?.message).to.include(`is in use by process ${process.pid}`);
        lock.release();
        expect(fs.existsSync(lockFile)).to.equal(false);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('loses no committed row when the process holding it is killed -9 mid-burst, and reopens after the stale lock', async () => {
    await db!.destroy();
    db = undefined;
    await embedded!.stop();
    embedded = undefined;
    expect(fs.existsSync(path.join(dataDir, 'embedded.lock'))).to.equal(false);

    const burst = child(`
      const { startEmbeddedDatabase } = require(${JSON.stringify(embeddedModule)});
      const pg = require('pg');
      (async () => {
        const db = await startEmbeddedDatabase(${JSON.stringify(dataDir)});
        const client = new pg.Client({ connectionString: db.url });
        await client.connect();
        await client.query('CREATE TABLE burst (id integer PRIMARY KEY, payload text)');
        console.log('READY');
        for (let id = 1; ; id++) {
          await client.query('INSERT INTO burst VALUES ($1, repeat($2, 200))', [id, 'x']);
          process.stdout.write('committed ' + id + '\\n');
        }
      })().catch((error) => { console.error(error); process.exit(3); });`);
    const committed = await new Promise<number[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`burst did not start: ${burst.output.stderr}`)), 120_000);
      const check = () => {
        const ids = [...burst.output.stdout.matchAll(/^committed (\d+)$/gm)].map((m) => Number(m[1]));
        if (ids.length >= 300) {
          clearTimeout(timer);
          burst.proc.kill('SIGKILL');
          resolve(ids);
        }
      };
      burst.proc.stdout.on('data', check);
      void burst.exited.then(() => { clearTimeout(timer); reject(new Error(`burst exited early: ${burst.output.stderr}`)); });
    });
    await burst.exited;
    // Output read after the kill: every line the child wrote before dying counts as committed.
    const printed = [...burst.output.stdout.matchAll(/^committed (\d+)$/gm)].map((m) => Number(m[1]));
    expect(printed.length).to.be.at.least(committed.length);
    expect(fs.existsSync(path.join(dataDir, 'embedded.lock')), 'the killed process left its lock').to.equal(true);

    const started = Date.now();
    embedded = await startEmbeddedDatabase(dataDir);
    console.log(`      reopen after kill -9 ${Date.now() - started} ms (${JSON.stringify(embedded.timings)})`);
    expect(embedded.created).to.equal(false);
    db = createKnex(embedded.url, EMBEDDED_POOL_SIZE);
    const { rows } = await db.raw('SELECT id FROM burst');
    const stored = new Set(rows.map((r: { id: number }) => r.id));
    const lost = printed.filter((id) => !stored.has(id));
    expect(lost, `committed rows lost after kill -9 (${printed.length} printed, ${stored.size} stored)`).to.deep.equal([]);
    // The schema survived too.
    expect((await db.raw('SELECT count(*) AS n FROM hazardous_area')).rows[0].n).to.be.at.least(1);
  });
});
