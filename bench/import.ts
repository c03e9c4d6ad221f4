// `npm run bench:import [-- --scale 100000] [--rounds 3] [--database minefield_bench_import]`:
// the bulk import of hazardous areas through the API (HTTP, JSON parse, validation, PostGIS
// checks, insert) beside `ogr2ogr -f PostgreSQL` loading the same GeoJSON files into the same
// database. Target: at least half ogr2ogr's rate.
//
// The machine's speed drifts by ±30 % from minute to minute, and it drifts for both loaders:
// each file is loaded by the API and then at once by ogr2ogr, so each pair meets the same
// conditions, and a round (a fresh database, every file) gives one ratio. The verdict is the
// median of the rounds' ratios.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { generateFixtures } from '../fixtures/generate';
import { startBenchService, table } from './support';

const execFileAsync = promisify(execFile);

interface Round {
  apiMs: number;
  ogrMs: number;
}

async function runRound(databaseName: string, files: { agency: string; file: string; count: number }[], round: number): Promise<Round> {
  const service = await startBenchService(databaseName);
  const pgUrl = new URL(service.databaseUrl);
  const pgConnection = `PG:host=${pgUrl.hostname} port=${pgUrl.port || 5432} user=${decodeURIComponent(pgUrl.username) || 'postgres'} dbname=${pgUrl.pathname.slice(1)}${pgUrl.password ? ` password=${decodeURIComponent(pgUrl.password)}` : ''}`;
  const result: Round = { apiMs: 0, ogrMs: 0 };
  try {
    for (const [n, { agency, file, count }] of files.entries()) {
      const started = performance.now();
      // The client is a process of its own (curl), as QGIS or a script would be: sending the
      // body from this process would put the client's copying and encoding on the service's
      // event loop, which a real client never shares.
      const { stdout } = await execFileAsync('curl', [
        '-sS', '-X', 'POST', `${service.baseUrl}/collections/hazardous-areas/items`,
        '-H', `authorization: Bearer ${service.token(agency, 'editor')}`, '-H', 'content-type: application/geo+json',
        '-H', 'expect:', '--data-binary', `@${file}`, '-w', '\n%{http_code}',
      ], { maxBuffer: 1 << 30 });
      const apiMs = performance.now() - started;
      const status = Number(stdout.slice(stdout.lastIndexOf('\n') + 1));
      const answer = JSON.parse(stdout.slice(0, stdout.lastIndexOf('\n'))) as { imported?: number };
      if (status !== 201 || answer.imported !== count) throw new Error(`import of ${agency} failed: ${status} ${JSON.stringify(answer).slice(0, 500)}`);

      const ogrStarted = performance.now();
      execFileSync('ogr2ogr', ['-f', 'PostgreSQL', pgConnection, file, '-nln', 'ogr_hazardous_area', ...(n === 0 ? ['-overwrite'] : ['-append']),
        '-nlt', 'PROMOTE_TO_MULTI', ...(n === 0 ? ['-lco', 'GEOMETRY_NAME=geom'] : [])], { stdio: ['ignore', 'ignore', 'inherit'] });
      const ogrMs = performance.now() - ogrStarted;

      result.apiMs += apiMs;
      result.ogrMs += ogrMs;
      process.stderr.write(`  round ${round} ${agency}: ${count} areas, API ${(apiMs / 1000).toFixed(1)} s, ogr2ogr ${(ogrMs / 1000).toFixed(1)} s\n`);
    }
  } finally {
    await service.stop();
  }
  return result;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

async function main() {
  const { values } = parseArgs({ options: {
    scale: { type: 'string', default: '100000' },
    rounds: { type: 'string', default: '3' },
    database: { type: 'string', default: 'minefield_bench_import' },
  } });
  const scale = Number(values.scale);
  const rounds = Math.max(1, Number(values.rounds));
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-import-'));
  try {
    process.stderr.write(`generating ${scale} hazardous areas…\n`);
    const files: { agency: string; file: string; count: number }[] = [];
    for (const fixture of generateFixtures({ hazardousAreas: scale, seed: 7 })) {
      const file = path.join(dir, `hazardous-areas.${fixture.agency}.geojson`);
      writeFileSync(file, JSON.stringify({ type: 'FeatureCollection', features: fixture.hazardousAreas }));
      files.push({ agency: fixture.agency, file, count: fixture.hazardousAreas.length });
    }
    const total = files.reduce((sum, f) => sum + f.count, 0);

    const results: Round[] = [];
    for (let round = 1; round <= rounds; round++) {
      process.stderr.write(`round ${round} of ${rounds}: each file through the API, then with ogr2ogr…\n`);
      results.push(await runRound(values.database!, files, round));
    }

    const rate = (ms: number) => Math.round(total / (ms / 1000));
    console.log(`\nbench:import — ${total} hazardous areas (${files.map((f) => `${f.agency} ${f.count}`).join(', ')}), ${rounds} round${rounds > 1 ? 's' : ''}\n`);
    console.log(table(results.map((r, n) => ({
      round: n + 1,
      'API s': (r.apiMs / 1000).toFixed(2),
      'API features/s': rate(r.apiMs),
      'ogr2ogr s': (r.ogrMs / 1000).toFixed(2),
      'ogr2ogr features/s': rate(r.ogrMs),
      'API / ogr2ogr': (r.ogrMs / r.apiMs).toFixed(2),
    }))));
    const ratio = median(results.map((r) => r.ogrMs / r.apiMs));
    console.log(`\nAPI rate / ogr2ogr rate, median of ${rounds} = ${ratio.toFixed(2)} (target ≥ 0.50: ${ratio >= 0.5 ? 'met' : 'NOT met'})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
