// `npm run bench:tiles [-- --scale 100000 --samples 20 --seconds 5 --database NAME --reuse]`: the
// cost of a vector tile. --reuse keeps the database NAME (default minefield_bench_tiles) when it
// already holds this fixture (same scale; the fixture is deterministic), skipping the import.
// On the synthetic fixture, per zoom 6–14, tiles where the data is (the tiles holding the first
// vertex of `--samples` evenly spaced ANAMA areas, de-duplicated) of layer `hazardous-areas`:
//   HTTP   an UNCACHED tile end to end (the tile cache is cleared before every request);
//   floor  the same tile SQL (tiles/renderTile.ts) in the same read transaction, no HTTP;
//   plain  a plain ST_AsMVT of the same features — every area in the tile with the layer's
//          attributes of the record (id, owner, classification, status, hazard types, remaining
//          area) — from the table as the database owner: no access view, no collapse fallback,
//          no overview cells (the yardstick a bare tile server such as pg_tileserv sets).
// For the owner ANAMA and for GEO, which sees ANAMA's areas at `summary` through an agreement.
// Targets: exact zooms (≥ 10) HTTP ≤ 1.3 × plain; overview zooms (< 10) plain ≥ 5 × HTTP;
// each measured tile by tile (the ratio of one tile's medians, the methods' samples of that
// tile interleaved), a zoom's ratio the geometric mean of its tiles'. A zoom's tiles differ up to
// 5× in size, and a ratio of the two pooled medians (the table's p50 columns) compares whichever
// samples of the mixture fall in the middle: run to run it moved 1.20–1.38 at zoom 10 while
// every tile's own ratio stayed within 0.8–1.3.

// every tile ≤ 500 KB; cached tiles ≥ 5,000 tiles/s with 16 keep-alive connections. The load
// client runs in a worker thread of this process, so it competes with the server (the main
// thread) and PostgreSQL for the machine's cores; the report says how busy each thread was, and
// puts beside it a bare node:http server answering the same responses to the same client (the
// ceiling on this machine at that moment: the figure means little without it on 2 shared cores).
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import type { Viewer } from '../server/auth/viewer';
import { renderTile, scopeOf } from '../tiles/renderTile';
import { EXACT_FROM_ZOOM } from '../tiles/tileSql';
import { generateFixtures } from '../fixtures/generate';
import { geometricMean, median, p95, startBenchService, table, importAreasThroughApi, tileOf, type Tile } from './support';

const LAYER = 'hazardous-areas';
const ZOOMS = [6, 7, 8, 9, 10, 11, 12, 13, 14];
const MAX_TILE_BYTES = 500 * 1000;
const EXACT_RATIO_TARGET = 1.3;
const OVERVIEW_SPEEDUP_TARGET = 5;
const THROUGHPUT_TARGET = 5000;
const CONCURRENCY = 16;
const FIXTURE_SEED = 11;
/** Timed samples wanted per zoom and method; fewer when a zoom's budget runs out. */
const MIN_SAMPLES = 40;
/** Timed samples wanted per tile and method: a tile's ratio is of its own medians. */
const MIN_ROUNDS = 9;

const PLAIN_SQL = `
SELECT ST_AsMVT(q, '${LAYER}', 4096, 'geom') AS tile FROM (
  SELECT id::text AS id, owner_agency AS "ownerAgency", classification, status,
    array_to_string(hazard_types, ',') AS "hazardTypes", remaining_area_m2 AS "remainingAreaM2",
    ST_AsMVTGeom(ST_Transform(remaining_geom, 3857), ST_TileEnvelope(?::integer, ?::integer, ?::integer), 4096, 64, true) AS geom
  FROM hazardous_area
  WHERE remaining_geom && ST_Transform(ST_TileEnvelope(?::integer, ?::integer, ?::integer), 4326)
) AS q`;

const ms = (value: number) => value.toFixed(value < 10 ? 2 : 1);

/**
 * CPU time so far of the database's server processes (ms), from /proc/<pid>/schedstat of every
 * backend whose title names the database; undefined where PostgreSQL runs elsewhere (or /proc
 * is not readable). A busy shared machine stretches wall times by ±30 %, CPU time far less: it
 * says what the SQL itself costs.
 */
function databaseCpuMs(database: string): number | undefined {
  let total = 0;
  let found = false;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    try {
      const title = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
      if (!title.startsWith('postgres: ') || !title.includes(` ${database} `)) continue;
      total += Number(readFileSync(`/proc/${pid}/schedstat`, 'latin1').split(' ')[0]) / 1e6;
      found = true;
    } catch {
      // A process that ended meanwhile.
    }
  }
  return found ? total : undefined;
}
const kb = (bytes: number) => (bytes / 1000).toFixed(1);

/** Features per layer in an MVT (a tile of one layer here): counts field-2 entries of layer field 3. */
function featureCount(tile: Buffer): number {
  let count = 0;
  let pos = 0;
  const varint = () => {
    let value = 0;
    let shift = 0;
    for (;;) {
      if (pos >= tile.length) throw new Error('truncated MVT');
      const byte = tile[pos++];
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
      shift += 7;
    }
  };
  const skip = (wire: number) => {
    if (wire === 0) varint();
    else if (wire === 1) pos += 8;
    else if (wire === 2) {
      const length = varint();
      pos += length;
    }
    else if (wire === 5) pos += 4;
  };
  while (pos < tile.length) {
    const key = varint();
    if (key >> 3 === 3 && (key & 7) === 2) {
      const end = varint() + pos;
      while (pos < end) {
        const inner = varint();
        if (inner >> 3 === 2 && (inner & 7) === 2) count++;
        skip(inner & 7);
      }
    } else skip(key & 7);
  }
  return count;
}

interface Fetched { status: number; bytes: number; ms: number }

function get(agent: Agent, url: string, headers: Record<string, string>): Promise<Fetched> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    request(url, { agent, headers }, (response) => {
      let bytes = 0;
      response.on('data', (chunk: Buffer) => (bytes += chunk.length));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, bytes, ms: performance.now() - started }));
      response.on('error', reject);
    }).on('error', reject).end();
  });
}

// The load client: CONCURRENCY loops over keep-alive connections, each asking for the next tile.
const LOAD_CLIENT = `
const { workerData, parentPort } = require('node:worker_threads');
const { Agent, request } = require('node:http');
const { performance } = require('node:perf_hooks');
const { urls, headers, concurrency, warmupMs, seconds } = workerData;
const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
let next = 0, counting = false, done = 0, bytes = 0, bad = 0;
const statuses = {};
const latencies = [];
function one() {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    request(urls[next++ % urls.length], { agent, headers }, (res) => {
      let n = 0;
      res.on('data', (c) => (n += c.length));
      res.on('end', () => {
        if (counting) {
          done++; bytes += n; statuses[res.statusCode] = (statuses[res.statusCode] || 0) + 1;
          if (res.statusCode !== 200) bad++;
          if (done % 7 === 0) latencies.push(performance.now() - started);
        }
        resolve();
      });
      res.on('error', reject);
    }).on('error', reject).end();
  });
}
(async () => {
  let stop = false;
  const loops = Array.from({ length: concurrency }, async () => { while (!stop) await one(); });
  await new Promise((r) => setTimeout(r, warmupMs));
  counting = true;
  const elu0 = performance.eventLoopUtilization();
  const started = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  counting = false;
  const elapsed = performance.now() - started;
  const elu = performance.eventLoopUtilization(elu0).utilization;
  stop = true;
  await Promise.all(loops);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  parentPort.postMessage({ done, bytes, bad, statuses, elapsedMs: elapsed, clientElu: elu,
    p50: latencies[Math.floor(latencies.length / 2)], p99: latencies[Math.ceil(latencies.length * 0.99) - 1] });
})().catch((e) => { throw e; });
`;

interface ClientResult { done: number; bytes: number; bad: number; statuses: Record<string, number>; elapsedMs: number; clientElu: number; p50: number; p99: number }
type LoadResult = ClientResult & { serverElu: number; cpuCores: number };

async function load(urls: string[], headers: Record<string, string>, seconds: number): Promise<LoadResult> {
  const worker = new Worker(LOAD_CLIENT, { eval: true, workerData: { urls, headers, concurrency: CONCURRENCY, warmupMs: 500, seconds } });
  // The server thread's busy share and the whole process's CPU (server + client threads) over the run.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const result: ClientResult = await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const elapsed = performance.now() - started;
  const cpu = process.cpuUsage(cpu0);
  await worker.terminate();
  return { ...result, serverElu: performance.eventLoopUtilization(elu0).utilization, cpuCores: (cpu.user + cpu.system) / 1000 / elapsed };
}

async function main() {
  const { values } = parseArgs({
    options: {
      scale: { type: 'string', default: '100000' },
      samples: { type: 'string', default: '20' },
      seconds: { type: 'string', default: '5' },
      'zoom-budget': { type: 'string', default: '8' },
      database: { type: 'string', default: 'minefield_bench_tiles' },
      reuse: { type: 'boolean', default: false },
    },
  });
  const scale = Number(values.scale);
  const seconds = Number(values.seconds);
  const zoomBudgetMs = Number(values['zoom-budget']) * 1000;
  const benchStarted = performance.now();
  const service = await startBenchService(values.database!, { keepDatabase: values.reuse });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    // The plain baseline reads the table as pg_tileserv would, through a GiST index of the
    // geometry it draws (the service itself searches by footprint and keeps no such index).
    // Made before the import, so it grows row by row as the footprint's does: built afterwards,
    // in one sorted pass, it was the tighter index, and the comparison not like for like.
    await service.db.raw('CREATE INDEX IF NOT EXISTS bench_plain_remaining_geom ON hazardous_area USING gist (remaining_geom)');
    const [{ count: present }] = await service.db('hazardous_area').count<{ count: string }[]>({ count: '*' });
    let fixtures: ReturnType<typeof generateFixtures>;
    let importNote: string;
    if (values.reuse && Number(present) === scale) {
      fixtures = generateFixtures({ hazardousAreas: scale, seed: FIXTURE_SEED });
      importNote = `fixture reused from database ${values.database}`;
    } else {
      if (Number(present) > 0) throw new Error(`database ${values.database} holds ${present} areas, not ${scale}: drop it or run without --reuse`);
      process.stderr.write(`importing ${scale} hazardous areas…\n`);
      fixtures = await importAreasThroughApi(service, scale, FIXTURE_SEED);
      await service.db.raw('ANALYZE');
      importNote = `import ${((performance.now() - benchStarted) / 1000).toFixed(0)} s`;
    }
    await service.db('sharing_agreement')
      .insert({ owner_agency: 'ANAMA', grantee: 'GEO', record_kind: 'hazardous_area', level: 'summary', updated_by: 'bench' })
      .onConflict(['owner_agency', 'grantee', 'record_kind']).ignore();

    // Tiles where ANAMA's data is: the tile of the first vertex of evenly spaced areas.
    const anama = fixtures.find((f) => f.agency === 'ANAMA')!.hazardousAreas;
    const samples = Number(values.samples);
    const tilesAt = new Map<number, Tile[]>();
    for (const z of ZOOMS) {
      const seen = new Map<string, Tile>();
      for (let n = 0; n < samples; n++) {
        const feature = anama[Math.floor(((n + 0.5) * anama.length) / samples)];
        const [lon, lat] = (feature.geometry as GeoJSON.Polygon).coordinates[0][0];
        const tile = tileOf(lon, lat, z);
        seen.set(`${tile.x}/${tile.y}`, tile);
      }
      tilesAt.set(z, [...seen.values()]);
    }

    const viewers: { label: string; viewer: Viewer }[] = [
      { label: 'ANAMA (owner)', viewer: { agency: 'ANAMA', role: 'viewer', subject: 'bench' } },
      { label: 'GEO (ANAMA at summary)', viewer: { agency: 'GEO', role: 'viewer', subject: 'bench' } },
    ];

    const plain = (t: Tile) => service.db.transaction(async (trx) => {
      // The same JIT setting as ours (renderTile turns it off), so the comparison is the SQL.
      await trx.raw('SET LOCAL jit = off');
      const result = await trx.raw(PLAIN_SQL, [t.z, t.x, t.y, t.z, t.x, t.y]);
      return (result.rows[0]?.tile as Buffer | null) ?? Buffer.alloc(0);
    });

    const loadBeforeUncached = loadavg()[0];
    const rows: Record<string, string | number>[] = [];
    const verdicts: { exact: number[]; overview: number[]; maxBytes: number; maxAt: string } = { exact: [], overview: [], maxBytes: 0, maxAt: '' };
    for (const { label, viewer } of viewers) {
      const headers = { authorization: `Bearer ${service.token(viewer.agency, 'viewer')}`, 'accept-encoding': 'gzip' };
      const scope = scopeOf(viewer);
      const http = async (t: Tile) => {
        service.tiles.cache.invalidateScope(scope);
        const fetched = await get(agent, `${service.baseUrl}/tiles/${LAYER}/${t.z}/${t.x}/${t.y}.mvt`, headers);
        if (fetched.status !== 200 && fetched.status !== 204) throw new Error(`tile ${t.z}/${t.x}/${t.y}: HTTP ${fetched.status}`);
        return fetched;
      };
      const floor = (t: Tile) => renderTile(service.db, viewer, [LAYER], t.z, t.x, t.y);
      for (const z of ZOOMS) {
        const tiles = tilesAt.get(z)!;
        process.stderr.write(`${label}: zoom ${z}, ${tiles.length} tiles…\n`);
        const times = { http: [] as number[], floor: [] as number[], plain: [] as number[] };
        // The same samples per tile: a zoom's tiles differ in size by up to 5×, so the ratio is
        // taken tile by tile (paired) rather than between two medians of the mixed sizes.
        const byTile = tiles.map(() => ({ http: [] as number[], floor: [] as number[], plain: [] as number[] }));
        const ours: number[] = [];
        const plainBytes: number[] = [];
        const wire: number[] = [];
        const features = { ours: [] as number[], plain: [] as number[] };
        // Warm-up round (untimed): buffers, plans, connections; it also sizes the zoom's rounds.
        const warmStarted = performance.now();
        for (const t of tiles) {
          const body = await floor(t);
          const plainBody = await plain(t);
          const fetched = await http(t);
          ours.push(body.length);
          plainBytes.push(plainBody.length);
          wire.push(fetched.bytes);
          features.ours.push(featureCount(body));
          features.plain.push(featureCount(plainBody));
          if (body.length > verdicts.maxBytes) {
            verdicts.maxBytes = body.length;
            verdicts.maxAt = `${label} ${t.z}/${t.x}/${t.y}`;
          }
        }
        const roundMs = performance.now() - warmStarted;
        const rounds = Math.max(1, Math.min(Math.max(MIN_ROUNDS, Math.ceil(MIN_SAMPLES / tiles.length)), Math.floor(zoomBudgetMs / roundMs)));
        const methods: [keyof typeof times, (t: Tile) => Promise<unknown>][] = [['http', http], ['floor', floor], ['plain', plain]];
        const databaseMs = { floor: [] as number[], plain: [] as number[] };
        for (let round = 0; round < rounds; round++) {
          for (const t of tiles) {
            // Rotate the order so that no method always runs right after another.
            for (let m = 0; m < methods.length; m++) {
              const [name, run] = methods[(m + round + t.x) % methods.length];
              // The database's CPU is read outside the timed span (scanning /proc takes a few ms).
              const cpuBefore = name === 'http' ? undefined : databaseCpuMs(values.database!);
              const started = performance.now();
              await run(t);
              const elapsed = performance.now() - started;
              times[name].push(elapsed);
              byTile[tiles.indexOf(t)][name].push(elapsed);
              const cpuAfter = cpuBefore === undefined ? undefined : databaseCpuMs(values.database!);
              if (cpuBefore !== undefined && cpuAfter !== undefined) databaseMs[name as 'floor' | 'plain'].push(cpuAfter - cpuBefore);
            }
          }
        }
        const exact = z >= EXACT_FROM_ZOOM;
        // Per tile, the ratio of its medians; the zoom's, their geometric mean.
        const tileRatios = byTile.map((b) => (exact ? median(b.http) / median(b.plain) : median(b.plain) / median(b.http)));
        const ratio = geometricMean(tileRatios);
        (exact ? verdicts.exact : verdicts.overview).push(ratio);
        rows.push({
          viewer: label, z, mode: exact ? 'exact' : 'overview', tiles: tiles.length, n: times.http.length,
          'feat ours': median(features.ours), 'feat plain': median(features.plain),
          'HTTP p50': ms(median(times.http)), 'HTTP p95': ms(p95(times.http)),
          'SQL p50': ms(median(times.floor)), 'SQL p95': ms(p95(times.floor)),
          'plain p50': ms(median(times.plain)), 'plain p95': ms(p95(times.plain)),
          'db CPU SQL/plain': databaseMs.plain.length ? `${ms(median(databaseMs.floor))}/${ms(median(databaseMs.plain))} = ${(median(databaseMs.floor) / median(databaseMs.plain)).toFixed(2)}` : 'n/a',
          'KB ours p50/max': `${kb(median(ours))}/${kb(Math.max(...ours))}`,
          'KB gz p50': kb(median(wire)),
          'KB plain p50/max': `${kb(median(plainBytes))}/${kb(Math.max(...plainBytes))}`,
          ratio: exact ? `HTTP/plain ${ratio.toFixed(2)}` : `plain/HTTP ${ratio.toFixed(2)}`,
          // What the service adds to its own SQL (HTTP, cache, ETag), tile by tile.
          'HTTP/SQL': geometricMean(byTile.map((b) => median(b.http) / median(b.floor))).toFixed(2),
          'per tile': tileRatios.length > 1 ? `${Math.min(...tileRatios).toFixed(2)}–${Math.max(...tileRatios).toFixed(2)}` : tileRatios[0].toFixed(2),
          target: exact ? (ratio <= EXACT_RATIO_TARGET ? 'met' : 'NOT met') : (ratio >= OVERVIEW_SPEEDUP_TARGET ? 'met' : 'NOT met'),
        });
      }
    }
    agent.destroy();

    // Cached throughput: ANAMA's tiles of every zoom, all in the cache.
    process.stderr.write('cached throughput…\n');
    const token = service.token('ANAMA', 'viewer');
    const headers = { authorization: `Bearer ${token}`, 'accept-encoding': 'gzip' };
    const urls: string[] = [];
    const primer = new Agent({ keepAlive: true, maxSockets: 1 });
    for (const z of ZOOMS) {
      for (const t of tilesAt.get(z)!) {
        const url = `${service.baseUrl}/tiles/${LAYER}/${t.z}/${t.x}/${t.y}.mvt`;
        // The first answer goes out as rendered, the second from the cache makes its gzip copy.
        await get(primer, url, headers);
        const fetched = await get(primer, url, headers);
        if (fetched.status === 200) urls.push(url);
      }
    }
    primer.destroy();
    const rate = (r: LoadResult) => (r.done / r.elapsedMs) * 1000;
    const cachedBefore = service.tiles.cache.stats.tiles;
    const load1min = loadavg()[0];
    // The ceiling beside it: a bare node:http server answering the very same responses (each
    // URL's cached gzip body, with the same headers) to the same client. Both run twice, in
    // turn, so that a change in the machine's load falls on both.
    const answers = new Map<string, { body: Buffer; headers: [string, string | number][] }>();
    for (const url of urls) {
      const [z, x, y] = url.slice(url.lastIndexOf(`/${LAYER}/`) + LAYER.length + 2, -'.mvt'.length).split('/').map(Number);
      const tile = service.tiles.cached(viewers[0].viewer, LAYER, z, x, y);
      if (!tile?.gzip) throw new Error(`tile ${z}/${x}/${y} has no cached gzip copy`);
      answers.set(new URL(url).pathname, {
        body: tile.gzip,
        headers: [['Cache-Control', 'private, no-cache'], ['Vary', 'Authorization, Accept-Encoding'], ['ETag', tile.etag],
          ['Content-Type', 'application/vnd.mapbox-vector-tile'], ['Content-Length', tile.gzip.length], ['Content-Encoding', 'gzip']],
      });
    }
    const bare = createServer((req, res) => {
      const answer = answers.get(req.url ?? '')!;
      res.writeHead(200, Object.fromEntries(answer.headers));
      res.end(answer.body);
    });
    await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
    const bareUrls = urls.map((url) => `http://127.0.0.1:${(bare.address() as AddressInfo).port}${new URL(url).pathname}`);
    const served: LoadResult[] = [];
    const ceiling: LoadResult[] = [];
    for (let run = 0; run < 2; run++) {
      served.push(await load(urls, headers, seconds));
      ceiling.push(await load(bareUrls, headers, seconds));
    }
    await new Promise((resolve) => bare.close(resolve));
    if (service.tiles.cache.stats.tiles < cachedBefore) throw new Error('tiles left the cache during the throughput run');

    console.log(`\nbench:tiles — ${scale} hazardous areas, layer ${LAYER}; ${importNote}`);
    console.log(`tiles: the tiles holding the first vertex of ${samples} evenly spaced ANAMA areas per zoom, de-duplicated`);
    console.log('times in ms (median p50, p95); HTTP = uncached tile through the service (cache cleared before each request),');
    console.log('SQL = renderTile in its read transaction (the floor), plain = bare ST_AsMVT as the database owner (jit off for both);');
    console.log('db CPU = the database processes\' CPU time per tile (median ms, /proc/<pid>/schedstat), SQL against plain: the cost of');
    console.log('the SQL itself, which load on a shared machine distorts far less than wall time;');
    console.log(`KB ours = raw MVT, KB gz = bytes on the wire (gzip), feat = features per tile (median);`);
    console.log(`1-min load average before these: ${loadBeforeUncached.toFixed(2)} on ${require('node:os').cpus().length} cores\n`);
    console.log(table(rows));
    const worstExact = Math.max(...verdicts.exact);
    const worstOverview = Math.min(...verdicts.overview);
    console.log(`\ncached throughput, ${CONCURRENCY} keep-alive connections, ${seconds} s per run, ${urls.length} distinct cached tiles (gzip), client in a worker thread;`);
    console.log('the ceiling is a bare node:http server answering the same bodies with the same headers (run in turn with the service):');
    const loadRows = [
      ...served.map((r, i) => ({ run: `service, run ${i + 1}`, r })),
      ...ceiling.map((r, i) => ({ run: `bare node:http, same responses, run ${i + 1}`, r })),
    ].map(({ run, r }) => ({
      run, 'tiles/s': rate(r).toFixed(0), 'non-200': r.bad, 'p50 ms': ms(r.p50), 'p99 ms': ms(r.p99),
      'server thread busy': `${(r.serverElu * 100).toFixed(0)} %`, 'server µs/tile': ((r.serverElu * r.elapsedMs * 1000) / r.done).toFixed(0),
      'client thread busy': `${(r.clientElu * 100).toFixed(0)} %`, 'process CPU (cores)': r.cpuCores.toFixed(2),
    }));
    console.log(table(loadRows));
    const servedRate = served.reduce((sum, r) => sum + rate(r), 0) / served.length;
    const ceilingRate = ceiling.reduce((sum, r) => sum + rate(r), 0) / ceiling.length;
    console.log(`service ${servedRate.toFixed(0)} tiles/s = ${((100 * servedRate) / ceilingRate).toFixed(0)} % of the bare ceiling ${ceilingRate.toFixed(0)}/s (means of the runs)`);
    console.log(`(1-min load average before the run: ${load1min.toFixed(2)} on ${require('node:os').cpus().length} cores)`);

    console.log('\ntargets:');
    console.log(`  exact zooms ≥ ${EXACT_FROM_ZOOM}: worst HTTP-uncached/plain = ${worstExact.toFixed(2)} (target ≤ ${EXACT_RATIO_TARGET}: ${worstExact <= EXACT_RATIO_TARGET ? 'met' : 'NOT met'})`);
    console.log(`  overview zooms < ${EXACT_FROM_ZOOM}: worst plain/HTTP-uncached = ${worstOverview.toFixed(2)}× (target ≥ ${OVERVIEW_SPEEDUP_TARGET}×: ${worstOverview >= OVERVIEW_SPEEDUP_TARGET ? 'met' : 'NOT met'})`);
    console.log(`  largest tile = ${kb(verdicts.maxBytes)} KB at ${verdicts.maxAt} (target ≤ ${MAX_TILE_BYTES / 1000} KB: ${verdicts.maxBytes <= MAX_TILE_BYTES ? 'met' : 'NOT met'})`);
    console.log(`  cached throughput = ${servedRate.toFixed(0)} tiles/s, ${((100 * servedRate) / ceilingRate).toFixed(0)} % of bare node:http's ${ceilingRate.toFixed(0)} (target ≥ ${THROUGHPUT_TARGET}: ${servedRate >= THROUGHPUT_TARGET ? 'met' : 'NOT met'})`);
    console.log(`\ntotal bench time ${((performance.now() - benchStarted) / 1000).toFixed(0)} s`);
  } finally {
    agent.destroy();
    await service.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
