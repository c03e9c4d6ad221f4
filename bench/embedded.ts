// `npm run bench:embedded [-- --scale 20000 --samples 12 --repeat 3]`: the embedded database
// (PGlite in a worker thread, server/start.ts) beside the PostgreSQL server on the same fixture:
//   start-up   fresh data directory (initdb, PostGIS, migrations) and reopening it;
//   memory     resident memory of this process (the service and the PGlite worker) after start
//              and at its peak; for the server, PostgreSQL's proportional share (PSS) of the
//              cluster's processes (the Node service's own memory comes on top on both);
//   import     the fixture's hazardous areas through the bulk import API;
//   tiles      uncached `hazardous-areas` tiles (cache size 0) per zoom 6–14, median and p95,
//              at the same tiles on both: the tiles holding the first vertex of `--samples`
//              evenly spaced ANAMA areas. The embedded database encodes with the JS encoder
//              (its PostGIS has no protobuf), the server with ST_AsMVT.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { generateFixtures } from '../fixtures/generate';
import { logger } from '../server/logger';
import { importAreasThroughApi, median, p95, startBenchService, table, tileOf, type BenchService, type Tile } from './support';

const ZOOMS = [6, 7, 8, 9, 10, 11, 12, 13, 14];
const SEED = 11;

const mib = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MiB`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Proportional resident memory of every PostgreSQL server process (shared buffers counted once). */
function postgresPss(): number | undefined {
  let total = 0;
  let found = false;
  for (const pid of fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'postgres') continue;
      const pss = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
      if (pss) { total += Number(pss[1]) * 1024; found = true; }
    } catch { /* gone, or not ours to read */ }
  }
  return found ? total : undefined;
}

async function timeTiles(service: BenchService, tiles: Tile[], repeat: number): Promise<Map<number, { times: number[]; bytes: number }>> {
  const token = service.token('ANAMA', 'viewer');
  const byZoom = new Map<number, { times: number[]; bytes: number }>();
  for (const { z, x, y } of tiles) {
    const entry = byZoom.get(z) ?? { times: [], bytes: 0 };
    byZoom.set(z, entry);
    for (let n = 0; n < repeat; n++) {
      const started = performance.now();
      const response = await fetch(`${service.baseUrl}/tiles/hazardous-areas/${z}/${x}/${y}.mvt`, { headers: { authorization: `Bearer ${token}` } });
      const body = Buffer.from(await response.arrayBuffer());
      entry.times.push(performance.now() - started);
      if (response.status !== 200 && response.status !== 204) throw new Error(`tile ${z}/${x}/${y}: ${response.status} ${body.toString().slice(0, 200)}`);
      entry.bytes = Math.max(entry.bytes, body.length);
    }
  }
  return byZoom;
}

async function main() {
  const { values } = parseArgs({
    options: {
      scale: { type: 'string', default: '20000' },
      samples: { type: 'string', default: '12' },
      repeat: { type: 'string', default: '3' },
    },
  });
  const scale = Number(values.scale);
  const samples = Number(values.samples);
  const repeat = Number(values.repeat);
  logger.level = 'warn';
  const say = (line: string) => process.stderr.write(`${line}\n`);

  const anama = generateFixtures({ hazardousAreas: scale, seed: SEED }).find((fixture) => fixture.agency === 'ANAMA')!;
  const step = Math.max(1, Math.floor(anama.hazardousAreas.length / samples));
  const anchors = anama.hazardousAreas.filter((_, n) => n % step === 0).slice(0, samples)
    .map((feature) => {
      const geometry = feature.geometry as GeoJSON.Polygon | GeoJSON.MultiPolygon;
      const first = geometry.type === 'Polygon' ? geometry.coordinates[0][0] : geometry.coordinates[0][0][0];
      return first as [number, number];
    });
  const tiles: Tile[] = [];
  for (const z of ZOOMS) {
    const seen = new Set<string>();
    for (const [lon, lat] of anchors) {
      const tile = tileOf(lon, lat, z);
      const key = `${tile.x}/${tile.y}`;
      if (!seen.has(key)) { seen.add(key); tiles.push(tile); }
    }
  }

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-embedded-'));
  const rssBefore = process.memoryUsage().rss;
  try {
    // Embedded: fresh directory, load, then reopen.
    say('embedded: starting on a fresh data directory…');
    let started = performance.now();
    let embedded = await startBenchService('', { embeddedDataDir: dataDir, tileCacheBytes: 0 });
    const embeddedFreshMs = performance.now() - started;
    const embeddedRssStarted = process.memoryUsage().rss;
    say(`embedded: importing ${scale} hazardous areas…`);
    started = performance.now();
    await importAreasThroughApi(embedded, scale, SEED);
    const embeddedImportMs = performance.now() - started;
    await embedded.stop();
    say('embedded: reopening…');
    started = performance.now();
    embedded = await startBenchService('', { embeddedDataDir: dataDir, tileCacheBytes: 0 });
    const embeddedReopenMs = performance.now() - started;
    say(`embedded: ${tiles.length} tiles × ${repeat}…`);
    const embeddedTiles = await timeTiles(embedded, tiles, repeat);
    const embeddedRssEnd = process.memoryUsage().rss;
    await embedded.stop();
    const peakRss = process.resourceUsage().maxRSS * 1024;

    // Server: a fresh database, the same fixture and tiles.
    say('server: starting on a fresh database…');
    started = performance.now();
    const server = await startBenchService('minefield_bench_embedded', { tileCacheBytes: 0 });
    const serverFreshMs = performance.now() - started;
    let serverTiles: Awaited<ReturnType<typeof timeTiles>>;
    let serverImportMs: number;
    let serverPss: number | undefined;
    try {
      say(`server: importing ${scale} hazardous areas…`);
      started = performance.now();
      await importAreasThroughApi(server, scale, SEED);
      serverImportMs = performance.now() - started;
      say(`server: ${tiles.length} tiles × ${repeat}…`);
      serverTiles = await timeTiles(server, tiles, repeat);
      serverPss = postgresPss();
    } finally {
      await server.stop();
    }

    console.log(`\nbench:embedded — ${scale} hazardous areas (seed ${SEED}), ${tiles.length} tiles, ${repeat} uncached requests each\n`);
    console.log(table([
      { '': 'start-up, fresh (initdb, PostGIS, migrations)', embedded: seconds(embeddedFreshMs), server: `${seconds(serverFreshMs)} (database exists as a cluster already)` },
      { '': 'start-up, reopening the data', embedded: seconds(embeddedReopenMs), server: '—' },
      { '': `import of ${scale} areas (API)`, embedded: `${seconds(embeddedImportMs)} (${Math.round(scale / (embeddedImportMs / 1000))}/s)`, server: `${seconds(serverImportMs)} (${Math.round(scale / (serverImportMs / 1000))}/s)` },
      { '': 'resident memory after start', embedded: `${mib(embeddedRssStarted)} (process; ${mib(rssBefore)} before)`, server: '—' },
      { '': 'resident memory after tiles / peak', embedded: `${mib(embeddedRssEnd)} / ${mib(peakRss)}`, server: `PostgreSQL PSS ${serverPss === undefined ? 'unreadable' : mib(serverPss)} (+ the Node service)` },
    ]));
    console.log('\nuncached tile latency, ms (median / p95), largest tile:\n');
    console.log(table(ZOOMS.map((z) => {
      const e = embeddedTiles.get(z)!;
      const s = serverTiles.get(z)!;
      return {
        zoom: z,
        tiles: e.times.length / repeat,
        'embedded median': median(e.times).toFixed(1),
        'embedded p95': p95(e.times).toFixed(1),
        'server median': median(s.times).toFixed(1),
        'server p95': p95(s.times).toFixed(1),
        'embedded / server': (median(e.times) / median(s.times)).toFixed(2),
        'largest KB (embedded / server)': `${(e.bytes / 1000).toFixed(1)} / ${(s.bytes / 1000).toFixed(1)}`,
      };
    })));
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (error) => {
  console.error(error);
  process.exit(1);
});
