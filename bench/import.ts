// `npm run bench:import [-- --scale 100000] [--database minefield_bench_import]`: the bulk import of hazardous areas through the
// API (HTTP, JSON parse, validation, PostGIS checks, insert) beside `ogr2ogr -f PostgreSQL`
// loading the same GeoJSON files into the same database. Target: at least half ogr2ogr's rate.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';

const execFileAsync = promisify(execFile);
import { generateFixtures } from '../fixtures/generate';
import { startBenchService, table } from './support';

async function main() {
  const { values } = parseArgs({ options: { scale: { type: 'string', default: '100000' }, database: { type: 'string', default: 'minefield_bench_import' } } });
  const scale = Number(values.scale);
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-import-'));
  const service = await startBenchService(values.database!);
  try {
    process.stderr.write(`generating ${scale} hazardous areas…\n`);
    const files: { agency: string; file: string; count: number }[] = [];
    for (const fixture of generateFixtures({ hazardousAreas: scale, seed: 7 })) {
      const file = path.join(dir, `hazardous-areas.${fixture.agency}.geojson`);
      writeFileSync(file, JSON.stringify({ type: 'FeatureCollection', features: fixture.hazardousAreas }));
      files.push({ agency: fixture.agency, file, count: fixture.hazardousAreas.length });
    }
    const total = files.reduce((sum, f) => sum + f.count, 0);

    process.stderr.write('importing through the API…\n');
    let apiMs = 0;
    // The service's own timing starts once the body is read (the features are parsed as the
    // import goes): the difference to apiMs is the upload (about 1 KB per feature).
    let serverMs = 0;
    for (const { agency, file, count } of files) {
      const started = performance.now();
      // The client is a process of its own (curl), as QGIS or a script would be: sending the
      // body from this process would put the client's copying and encoding on the service's
      // event loop, which a real client never shares.
      const { stdout } = await execFileAsync('curl', [
        '-sS', '-X', 'POST', `${service.baseUrl}/collections/hazardous-areas/items`,
        '-H', `authorization: Bearer ${service.token(agency, 'editor')}`, '-H', 'content-type: application/geo+json',
        '-H', 'expect:', '--data-binary', `@${file}`, '-w', '\n%{http_code}',
      ], { maxBuffer: 1 << 30 });
      const elapsed = performance.now() - started;
      apiMs += elapsed;
      const status = Number(stdout.slice(stdout.lastIndexOf('\n') + 1));
      const answer = JSON.parse(stdout.slice(0, stdout.lastIndexOf('\n'))) as { imported?: number; detail?: string; ms?: number };
      if (status !== 201 || answer.imported !== count) throw new Error(`import of ${agency} failed: ${status} ${JSON.stringify(answer).slice(0, 500)}`);
      serverMs += answer.ms ?? elapsed;
      process.stderr.write(`  ${agency}: ${count} areas in ${(elapsed / 1000).toFixed(1)} s (${((answer.ms ?? elapsed) / 1000).toFixed(1)} s after the body was read)\n`);
    }

    process.stderr.write('loading the same files with ogr2ogr…\n');
    let ogrMs = 0;
    const pgUrl = new URL(service.databaseUrl);
    const pgConnection = `PG:host=${pgUrl.hostname} port=${pgUrl.port || 5432} user=${decodeURIComponent(pgUrl.username) || 'postgres'} dbname=${pgUrl.pathname.slice(1)}${pgUrl.password ? ` password=${decodeURIComponent(pgUrl.password)}` : ''}`;
    for (const [n, { file }] of files.entries()) {
      const started = performance.now();
      execFileSync('ogr2ogr', ['-f', 'PostgreSQL', pgConnection, file, '-nln', 'ogr_hazardous_area', ...(n === 0 ? ['-overwrite'] : ['-append']), '-nlt', 'PROMOTE_TO_MULTI', '-lco', 'GEOMETRY_NAME=geom'], { stdio: ['ignore', 'ignore', 'inherit'] });
      ogrMs += performance.now() - started;
    }
    const apiRate = total / (apiMs / 1000);
    const ogrRate = total / (ogrMs / 1000);
    console.log(`\nbench:import — ${total} hazardous areas (${files.map((f) => `${f.agency} ${f.count}`).join(', ')})\n`);
    console.log(table([
      { loader: 'API bulk import (validated)', seconds: (apiMs / 1000).toFixed(2), 'features/s': Math.round(apiRate) },
      { loader: '  of which after body read', seconds: (serverMs / 1000).toFixed(2), 'features/s': Math.round(total / (serverMs / 1000)) },
      { loader: 'ogr2ogr -f PostgreSQL', seconds: (ogrMs / 1000).toFixed(2), 'features/s': Math.round(ogrRate) },
    ]));
    const ratio = apiRate / ogrRate;
    console.log(`\nAPI rate / ogr2ogr rate = ${ratio.toFixed(2)} (target ≥ 0.50: ${ratio >= 0.5 ? 'met' : 'NOT met'})`);
  } finally {
    await service.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
