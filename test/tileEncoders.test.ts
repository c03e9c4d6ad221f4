// The two tile encoders — PostGIS's ST_AsMVT and the SQL + vt-pbf one kept for a PostGIS built
// without protobuf (tiles/jsEncoder.ts) — give the same tiles: rendered in one read snapshot,
// every layer, zooms 0–16, for an owner and for a footprint-level grantee, decoded as a map
// client would, feature for feature.
//
// The fixture loads into the synthetic zones other suites use too (its localRefs and informant
// codes are renamed so they clash with no other load): exact-zoom comparisons keep to the
// fixture's own record ids. Overview cells carry no id and merge whatever lies there, so they
// are compared whole; both encoders read the same snapshot, so other suites' data is the same
// on both sides.
import { expect } from 'chai';
import { VectorTile } from '@mapbox/vector-tile';
// pbf 5.1 has no default export: the reader is PbfReader.
import { PbfReader } from 'pbf';
import { withViewer } from '../db/viewerTransaction';
import { generateFixtures, type AgencyFixture } from '../fixtures/generate';
import { loadAgencyFixture } from '../fixtures/loadDemo';
import type { Viewer } from '../server/auth/viewer';
import { renderTileWith, detectEncoder } from '../tiles/encoder';
import { EXACT_FROM_ZOOM, EXTENT } from '../tiles/tileSql';
import { ON_EMBEDDED_DATABASE, api, createHazardousArea, getHarness, tokenFor, share } from './harness';

const LAYERS = ['hazardous-areas', 'land-releases', 'minefield-records', 'testimonies'] as const;
const TABLES = ['hazardous_area', 'land_release', 'minefield_record', 'testimony'] as const;
const MARK = 'ENC';
const SAMPLES_PER_ZOOM = 20;
/**
 * Both encoders transform with the same factors, snap to the same integer grid and then clip to
 * the buffered tile, but where an edge is cut at the tile's buffer wagyu (inside ST_AsMVTGeom)
 * rounds the cut point its own way and ST_ClipByBox2D + ST_SnapToGrid another, and MakeValid
 * repairs a folded ring differently from wagyu. So a vertex may land one grid step away on
 * either axis: √2 units at most (1 unit is what is seen).
 */
const TOLERANCE = Math.SQRT2 + 1e-9;

type Pt = { x: number; y: number };
interface Feature { layer: string; type: number; props: Record<string, unknown>; rings: Pt[][] }

function decode(body: Buffer): Feature[] {
  if (body.length === 0) return [];
  const tile = new VectorTile(new PbfReader(body));
  const features: Feature[] = [];
  for (const [name, layer] of Object.entries(tile.layers)) {
    expect(layer.extent, name).to.equal(EXTENT);
    for (let i = 0; i < layer.length; i++) {
      const feature = layer.feature(i);
      features.push({ layer: name, type: feature.type, props: feature.properties, rings: feature.loadGeometry().map((ring) => ring.map(({ x, y }) => ({ x, y }))) });
    }
  }
  return features;
}

const segmentDistance = (p: Pt, a: Pt, b: Pt) => {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const t = dx === 0 && dy === 0 ? 0 : Math.max(0, Math.min(1, ((p.x - a.x) * dx + (p.y - a.y) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(p.x - (a.x + t * dx), p.y - (a.y + t * dy));
};

/** How far a vertex of `a` lies from `b`: from its points (type 1) or its outline (2, 3). */
function deviation(a: Feature, b: Feature): number {
  let worst = 0;
  for (const p of a.rings.flat()) {
    let nearest = Infinity;
    for (const ring of b.rings) {
      if (a.type === 1 || ring.length === 1) for (const q of ring) nearest = Math.min(nearest, Math.hypot(p.x - q.x, p.y - q.y));
      else for (let i = 1; i < ring.length; i++) nearest = Math.min(nearest, segmentDistance(p, ring[i - 1], ring[i]));
    }
    worst = Math.max(worst, nearest);
  }
  return worst;
}

/** Shoelace sum over the rings, positive for an MVT exterior (holes count negative). */
const signedArea = (rings: Pt[][]) => rings.reduce((sum, ring) => {
  let s = 0;
  for (let i = 1; i < ring.length; i++) s += ring[i - 1].x * ring[i].y - ring[i].x * ring[i - 1].y;
  return sum + s / 2;
}, 0);
const perimeter = (rings: Pt[][]) => rings.reduce((sum, ring) => sum + ring.slice(1).reduce((s, p, i) => s + Math.hypot(p.x - ring[i].x, p.y - ring[i].y), 0), 0);

const canonical = (props: Record<string, unknown>) => JSON.stringify(Object.keys(props).sort().map((k) => [k, props[k]]));

/** Renames the fixture's local references and informant codes, keeping every cross-reference. */
function renamed(fixture: AgencyFixture): AgencyFixture {
  return JSON.parse(JSON.stringify(fixture).replace(/"((?:ANAMA|CHDE|GEO)-(?:HA|LR|MFR|TST|INF))-/g, `"$1-${MARK}-`));
}

// Tile arithmetic (XYZ, spherical Mercator).
const lonToTileX = (lon: number, z: number) => ((lon + 180) / 360) * 2 ** z;
const latToTileY = (lat: number, z: number) => ((1 - Math.log(Math.tan(Math.PI / 4 + (lat * Math.PI) / 360)) / Math.PI) / 2) * 2 ** z;
const clampTile = (v: number, z: number) => Math.min(2 ** z - 1, Math.max(0, Math.floor(v)));


// The embedded database's PostGIS has no protobuf, so only the second encoder exists there: the
// comparison runs where both do (CI's PostgreSQL/PostGIS run), and the embedded run checks that
// the service picks the one it has (every other tile test then runs through it).
if (ON_EMBEDDED_DATABASE) describe('tile encoders on the embedded database', () => {
  it('has only the SQL + vt-pbf encoder: its PostGIS refuses ST_AsMVT for want of protobuf', async () => {
    const db = getHarness().db;
    let refused: any;
    await db.raw('SELECT ST_AsMVT(q) FROM (SELECT 1 AS a, ST_MakePoint(0, 0) AS geom) AS q').catch((error) => { refused = error; });
    expect(refused?.message).to.match(/protobuf/);
    expect(await detectEncoder(db)).to.equal('javascript');
  });
});
else describe('tile encoders: ST_AsMVT and SQL + vt-pbf give the same tiles', () => {
  const ids = new Set<string>();
  /** Per record, its footprint's box in lon/lat (the footprint covers the record). */
  const boxes: { id: string; box: [number, number, number, number] }[] = [];
  const tinyAreas: { id: string; box: [number, number, number, number] }[] = [];
  const owner: Viewer = { agency: 'ANAMA', role: 'viewer', subject: 'encoder-test' };
  const grantee: Viewer = { agency: 'CHDE', role: 'viewer', subject: 'encoder-test' };

  before(async function () {
    this.timeout(120000);
    const db = getHarness().db;
    for (const fixture of generateFixtures({ hazardousAreas: 120, seed: 4242 })) await loadAgencyFixture(db, renamed(fixture));
    for (const table of TABLES) {
      const { rows } = await db.raw(`
        SELECT id::text AS id, ST_XMin(footprint_geom) AS x0, ST_YMin(footprint_geom) AS y0, ST_XMax(footprint_geom) AS x1, ST_YMax(footprint_geom) AS y1
        FROM ${table} WHERE local_ref LIKE ? AND retired_at IS NULL ORDER BY local_ref`, [`%-${MARK}-%`]);
      for (const row of rows) {
        ids.add(row.id);
        boxes.push({ id: row.id, box: [row.x0, row.y0, row.x1, row.y1] });
      }
    }
    expect(boxes.length).to.be.above(120);
    // The fixture has nothing small enough to collapse below z16: a 3 m square, a 2 m × 300 m
    // sliver and a 1 m triangle, owned by ANAMA at a place no suite draws, are sampled at
    // every zoom besides.
    const [lon, lat] = [48.93, 40.07];
    const dLon = 1 / (111320 * Math.cos((lat * Math.PI) / 180));
    const dLat = 1 / 110574;
    const ring = (points: [number, number][]) => ({ type: 'Polygon' as const, coordinates: [[...points, points[0]].map(([x, y]) => [lon + x * dLon, lat + y * dLat])] });
    const tiny = [ring([[0, 0], [3, 0], [3, 3], [0, 3]]), ring([[100, 0], [400, 0], [400, 2], [100, 2]]), ring([[0, 100], [1, 100], [0.5, 101]])];
    const extra: typeof boxes = [];
    for (const geometry of tiny) {
      const id = (await createHazardousArea(tokenFor('ANAMA', 'editor'), { geometry })).body.id as string;
      const { rows } = await db.raw('SELECT ST_XMin(g) AS x0, ST_YMin(g) AS y0, ST_XMax(g) AS x1, ST_YMax(g) AS y1 FROM (SELECT original_geom AS g FROM hazardous_area WHERE id = ?) AS r', [id]);
      ids.add(id);
      extra.push({ id, box: [rows[0].x0, rows[0].y0, rows[0].x1, rows[0].y1] });
    }
    tinyAreas.push(...extra);
    // The grantee sees ANAMA's records at footprint, and its own (CHDE's) as their owner.
    for (const kind of LAYERS) await share('ANAMA', 'CHDE', kind, 'footprint');
  });

  after(async () => {
    for (const kind of LAYERS) await share('ANAMA', 'CHDE', kind, 'none');
  });

  it('the test database has both encoders', async () => {
    expect(await detectEncoder(getHarness().db)).to.equal('postgis');
  });

  it('agree feature for feature at zooms 0–16, for the owner and a footprint grantee, on every layer', async function () {
    this.timeout(600000);
    const db = getHarness().db;
    const stats = { tiles: 0, compared: 0, exact: 0, cells: 0, collapsed: 0, footprint: 0, maxDeviation: 0, moved: 0, vertexCountDiffers: 0, bytesPostgis: 0, bytesJs: 0 };
    const failures: string[] = [];
    for (let z = 0; z <= 16; z++) {
      // A different sample of records at each zoom, spread over the fixture.
      const step = boxes.length / SAMPLES_PER_ZOOM;
      const sample = Array.from({ length: SAMPLES_PER_ZOOM }, (_, i) => boxes[Math.floor(i * step + (z * step) / 17) % boxes.length]);
      const tiles = new Map<string, [number, number, number]>();
      for (const { box } of [...sample, ...tinyAreas]) {
        for (let x = clampTile(lonToTileX(box[0], z), z); x <= clampTile(lonToTileX(box[2], z), z); x++) {
          for (let y = clampTile(latToTileY(box[3], z), z); y <= clampTile(latToTileY(box[1], z), z); y++) tiles.set(`${z}/${x}/${y}`, [z, x, y]);
        }
      }
      for (const [address, [tz, tx, ty]] of tiles) {
        for (const viewer of [owner, grantee]) {
          stats.tiles++;
          const [fromPostgis, fromJs] = await withViewer(db, viewer, async (trx) => [
            await renderTileWith('postgis', trx, LAYERS, tz, tx, ty),
            await renderTileWith('javascript', trx, LAYERS, tz, tx, ty),
          ], 'read', { snapshot: true });
          stats.bytesPostgis += fromPostgis.length;
          stats.bytesJs += fromJs.length;
          const label = `${viewer.agency} ${address}`;
          const exact = tz >= EXACT_FROM_ZOOM;
          const keep = (f: Feature) => !exact || ids.has(f.props.id as string);
          const key = (f: Feature) => exact ? `${f.layer} ${f.props.id}` : `${f.layer} ${canonical(f.props)} ${JSON.stringify(f.rings)}`;
          const mvt = new Map(decode(fromPostgis).filter(keep).map((f) => [key(f), f]));
          const js = new Map(decode(fromJs).filter(keep).map((f) => [key(f), f]));
          const missing = [...mvt.keys()].filter((k) => !js.has(k));
          const extra = [...js.keys()].filter((k) => !mvt.has(k));
          if (missing.length || extra.length) failures.push(`${label}: only ST_AsMVT has ${missing.join('; ')}; only JS has ${extra.join('; ')}`);
          for (const [k, a] of mvt) {
            const b = js.get(k);
            if (!b) continue;
            stats.compared++;
            if (!exact) { stats.cells++; continue; }
            stats.exact++;
            if (a.props.collapsed === true) stats.collapsed++;
            if (a.props.generalised === true) stats.footprint++;
            if (canonical(a.props) !== canonical(b.props)) failures.push(`${label} ${k}: attributes ${canonical(a.props)} ≠ ${canonical(b.props)}`);
            if (a.type !== b.type) failures.push(`${label} ${k}: type ${a.type} ≠ ${b.type}`);
            const d = Math.max(deviation(a, b), deviation(b, a));
            stats.maxDeviation = Math.max(stats.maxDeviation, d);
            if (d > 0) stats.moved++;
            if (a.rings.flat().length !== b.rings.flat().length) stats.vertexCountDiffers++;
            if (d > TOLERANCE) failures.push(`${label} ${k}: a vertex ${d.toFixed(2)} units from the other encoder's shape`);
            if (a.type === 3) {
              // Same orientation (exteriors positive, so a hole is not read as an island) and
              // the same area, give or take a unit either side of the outline.
              const [areaA, areaB] = [signedArea(a.rings), signedArea(b.rings)];
              if (!(areaA > 0 && areaB > 0)) failures.push(`${label} ${k}: signed areas ${areaA}, ${areaB}`);
              if (Math.abs(areaA - areaB) > TOLERANCE * Math.max(perimeter(a.rings), perimeter(b.rings))) failures.push(`${label} ${k}: areas ${areaA} ≠ ${areaB}`);
            }
          }
        }
      }
    }
    console.log(`      ${JSON.stringify(stats)}`);
    expect(failures.slice(0, 20), `${failures.length} disagreements`).to.deep.equal([]);
    // The comparison covered something of each kind.
    expect(stats.exact).to.be.above(500);
    expect(stats.cells).to.be.above(100);
    expect(stats.footprint).to.be.above(50);
    expect(stats.collapsed).to.be.above(5);
  });
});
