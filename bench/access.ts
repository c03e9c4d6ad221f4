// `npm run bench:access [-- --scale 100000]`: the cost of the access projection. On the
// synthetic fixture, the same bbox queries run (1) as the owner agency, and (2) as another
// agency that sees the owner's areas at `summary` (ANAMA's zone) or `footprint` (CHDE's zone)
// through sharing agreements. Both go through the same access views; the target is the
// viewer within 1.2× of the owner's time. Timed in the database (the items query the API
// runs, with its count) and end to end through HTTP.
import { parseArgs } from 'node:util';
import { withViewer } from '../db/viewerTransaction';
import { itemsQuery } from '../records/query';
import { hazardousAreas } from '../records/hazardousArea';
import type { Viewer } from '../server/auth/viewer';
import { startBenchService, table, importAreasThroughApi } from './support';

const ROUNDS = 7;

function median(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function main() {
  const { values } = parseArgs({ options: { scale: { type: 'string', default: '100000' }, boxes: { type: 'string', default: '40' } } });
  const scale = Number(values.scale);
  const service = await startBenchService('minefield_bench_access');
  try {
    process.stderr.write(`importing ${scale} hazardous areas…\n`);
    const fixtures = await importAreasThroughApi(service, scale, 11);
    await service.db.raw('ANALYZE');
    for (const [owner, level] of [['ANAMA', 'summary'], ['CHDE', 'footprint']]) {
      await service.db('sharing_agreement').insert({ owner_agency: owner, grantee: 'GEO', record_kind: 'hazardous_area', level, updated_by: 'bench' });
    }

    // Boxes of about 2 × 2 km around areas of each owner: a map view at zoom ~14.
    const rows: Record<string, string | number>[] = [];
    for (const [owner, level] of [['ANAMA', 'summary'], ['CHDE', 'footprint']] as const) {
      const fixture = fixtures.find((f) => f.agency === owner)!;
      const boxes: [number, number, number, number][] = [];
      for (let n = 0; n < Number(values.boxes); n++) {
        const feature = fixture.hazardousAreas[Math.floor((n * fixture.hazardousAreas.length) / Number(values.boxes))];
        const [x, y] = (feature.geometry as GeoJSON.Polygon).coordinates[0][0];
        boxes.push([x - 0.012, y - 0.009, x + 0.012, y + 0.009]);
      }
      const ownerViewer: Viewer = { agency: owner, role: 'viewer', subject: 'bench' };
      const otherViewer: Viewer = { agency: 'GEO', role: 'viewer', subject: 'bench' };
      // Both count the zone owner's areas only, so the two sides return the same features.
      const filters = [{ name: 'ownerAgency', value: owner }];
      const timeSql = async (viewer: Viewer) => {
        const samples: number[] = [];
        let features = 0;
        for (let round = 0; round < ROUNDS; round++) {
          for (const bbox of boxes) {
            const started = performance.now();
            const found = await withViewer(service.db, viewer, async (trx) => {
              const query = itemsQuery(trx, hazardousAreas, { bbox, filters });
              await query.clone().count({ n: '*' });
              return query.select('id', 'properties', trx.raw('ST_AsGeoJSON(geom, 9) AS geometry')).limit(1000);
            });
            samples.push(performance.now() - started);
            if (round === 0) features += found.length;
          }
        }
        return { ms: median(samples), features };
      };
      const timeHttp = async (viewer: Viewer) => {
        const token = service.token(viewer.agency, 'viewer');
        const samples: number[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          for (const bbox of boxes) {
            const started = performance.now();
            const response = await fetch(`${service.baseUrl}/collections/hazardous-areas/items?limit=1000&ownerAgency=${owner}&bbox=${bbox.join(',')}`, { headers: { authorization: `Bearer ${token}` } });
            await response.arrayBuffer();
            samples.push(performance.now() - started);
          }
        }
        return median(samples);
      };
      // Warm both paths before timing.
      await timeSql(ownerViewer);
      await timeSql(otherViewer);
      const ownSql = await timeSql(ownerViewer);
      const otherSql = await timeSql(otherViewer);
      const ownHttp = await timeHttp(ownerViewer);
      const otherHttp = await timeHttp(otherViewer);
      // A footprint covers its area, so a footprint viewer's box can catch a few more areas than the owner's.
      const consistent = level === 'footprint' ? otherSql.features >= ownSql.features : otherSql.features === ownSql.features;
      if (!consistent) throw new Error(`viewer saw ${otherSql.features} features, owner ${ownSql.features}`);
      rows.push({
        'owner zone': owner, 'viewer level': level, 'owner features/box': (ownSql.features / boxes.length).toFixed(1),
        'viewer features/box': (otherSql.features / boxes.length).toFixed(1),
        'owner SQL ms': ownSql.ms.toFixed(2), 'viewer SQL ms': otherSql.ms.toFixed(2), 'SQL ratio': (otherSql.ms / ownSql.ms).toFixed(2),
        'owner HTTP ms': ownHttp.toFixed(2), 'viewer HTTP ms': otherHttp.toFixed(2), 'HTTP ratio': (otherHttp / ownHttp).toFixed(2),
      });
    }
    console.log(`\nbench:access — ${scale} hazardous areas, bbox ≈ 2 × 2 km, median of ${ROUNDS} × ${values.boxes} boxes\n`);
    console.log(table(rows));
    const worst = Math.max(...rows.map((row) => Number(row['SQL ratio'])), ...rows.map((row) => Number(row['HTTP ratio'])));
    console.log(`\nworst viewer/owner ratio = ${worst.toFixed(2)} (target ≤ 1.20: ${worst <= 1.2 ? 'met' : 'NOT met'})`);
  } finally {
    await service.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
