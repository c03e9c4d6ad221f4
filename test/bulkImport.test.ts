// The bulk import of hazardous areas (records/hazardousAreaImport.ts): the same rows, derived
// columns, history, audit and change log as single creates, every problem reported, nothing
// stored when anything is wrong. 250 features: enough for the checks to run beside the
// transaction on a server database (the embedded one runs them on the transaction's connection).
import { expect } from 'chai';
import { BinaryCopyRows } from '../records/copyIn';
import { geometrySpans } from '../records/geometrySpans';
import { api, freshSquare, getHarness, hazardousAreaFeature, tokenFor } from './harness';

const COUNT = 250;
const SELF_INTERSECTING = { type: 'Polygon', coordinates: [[[46.0, 41.0], [46.01, 41.01], [46.01, 41.0], [46.0, 41.01], [46.0, 41.0]]] } as GeoJSON.Polygon;

function collection(features: unknown[]) {
  return { type: 'FeatureCollection', features };
}

async function countByRefs(refs: string[]): Promise<number> {
  const row = await getHarness().db('hazardous_area').count({ n: '*' }).whereIn('local_ref', refs).first();
  return Number(row?.n);
}

describe('bulk import of hazardous areas', () => {
  it('writes a date that does not exist nowhere, rather than moving it to one that does', () => {
    for (const bad of ['2023-02-29', '2024-13-01', '2024-04-31', '24-01-01', '2024-1-1', '']) {
      expect(() => new BinaryCopyRows().date(bad), bad).to.throw(RangeError);
    }
    expect(() => new BinaryCopyRows().date('2024-02-29')).to.not.throw();
  });

  it('finds each feature\'s geometry text in the body, as JSON.parse reads it', () => {
    const body = '{ "type" : "FeatureCollection", "features" : [\n'
      + '  { "type": "Feature", "properties": { "geometry": "not this" }, "geometry" : {"type": "Point", "coordinates": [46.1000000000, 40.5]} },\n'
      + '  { "type": "Feature", "geometry": null },\n'
      + '  { "type": "Feature", "geo\\u006detry": {"type": "Point", "coordinates": [1, 2]}, "geometry": {"type": "Point", "coordinates": [3, "a\\"]}"]} },\n'
      + '  "not a feature",\n'
      + '  { "type": "Feature" }\n'
      + '] }';
    const bytes = Buffer.from(body);
    const spans = geometrySpans(bytes)!;
    const parsed = JSON.parse(body);
    expect(spans).to.have.length(5);
    spans.forEach((span, n) => {
      const geometry = parsed.features[n]?.geometry;
      if (span === undefined) expect(geometry, `feature ${n}`).to.equal(undefined);
      else expect(JSON.parse(bytes.toString('utf8', span[0], span[1])), `feature ${n}`).to.deep.equal(geometry);
    });
    expect(bytes.toString('utf8', spans[0]![0], spans[0]![1])).to.include('46.1000000000');
    expect(geometrySpans(Buffer.from('[1, 2]'))).to.equal(undefined);
    expect(geometrySpans(Buffer.from('{"features": {"a": 1}}'))).to.equal(undefined);
  });

  it('stores every area with its footprint, cells, area, history, audit and change log, and the geometry as sent', async () => {
    const token = tokenFor('GEO', 'editor', 'bulk-importer');
    // Every value each column can take, across the features: dates either side of the epochs
    // of JavaScript and PostgreSQL and on a leap day, counts and their absence, each array size.
    const DATES = ['2025-06-01', '2024-02-29', '1999-12-31', '2000-01-01', '1969-07-20', '2038-01-19'];
    const TYPES = [['AP'], ['AT', 'booby-trap'], ['CMR', 'UXO', 'AXO', 'IED']];
    const features = Array.from({ length: COUNT }, (_, n) => hazardousAreaFeature({ properties: {
      name: { en: 'Synthetic\tzone "7"\\', hy: `Գոտի ${n}` }, evidence: [{ nature: 'indirect', kind: 'records', reliability: 'low' }],
      informationDate: DATES[n % DATES.length], hazardTypes: TYPES[n % TYPES.length], classification: n % 2 ? 'SHA' : 'CHA',
      ...(n % 4 === 0 ? {} : { estimatedDeviceCount: n * 1000 }), marking: ['none', 'partial', 'full'][n % 3], priority: ['high', 'medium', 'low'][n % 3],
    } }));
    // One geometry in another CRS (UTM 38N), one sent pretty-printed with more digits than a double keeps.
    features[7] = hazardousAreaFeature({ geometry: { type: 'Polygon', coordinates: [[[500000, 4500000], [500100, 4500000], [500100, 4500100], [500000, 4500000]]] } as GeoJSON.Polygon });
    (features[7] as any).crs = { type: 'name', properties: { name: 'urn:ogc:def:crs:EPSG::32638' } };
    const refs = features.map((feature) => feature.properties.localRef as string);
    const square = freshSquare();
    const ring = square.coordinates[0].map(([x, y]) => `[${x}00000000000001, ${y}]`).join(',\n        ');
    const text = JSON.stringify(collection(features)).replace(/]}$/, `,{"type":"Feature","properties":${JSON.stringify(hazardousAreaFeature().properties)},\n    "geometry": {\n      "type": "Polygon", "coordinates": [[\n        ${ring}]]}}]}`);
    const response = await api('POST', '/collections/hazardous-areas/items', { token, body: text, headers: { 'content-crs': '<http://www.opengis.net/def/crs/OGC/1.3/CRS84>' } });
    expect(response.status, response.text).to.equal(201);
    expect(response.body.imported).to.equal(COUNT + 1);
    const ids: string[] = response.body.ids;
    expect(new Set(ids).size).to.equal(COUNT + 1);

    const { db } = getHarness();
    const stored = await db.raw(
      `SELECT h.id, h.local_ref, h.owner_agency, h.status, h.version, h.input_crs, h.name, h.evidence, h.input_geometry,
         h.information_date::text AS information_date, h.hazard_types, h.estimated_device_count, h.marking, h.priority, h.classification,
         ST_Equals(h.footprint_geom, footprint_of(h.original_geom)) AND ST_AsEWKB(h.footprint_geom) = ST_AsEWKB(footprint_of(h.original_geom)) AS footprint_ok,
         h.original_area_m2 = ST_Area(h.original_geom::geography) AS area_ok, h.remaining_area_m2 = h.original_area_m2 AS remaining_ok,
         ST_Equals(h.remaining_geom, h.original_geom) AS remaining_geom_ok, h.cell_x0 <= h.cell_x1 AND h.cell_y0 <= h.cell_y1 AS cells_ok,
         h.recorded_on = h.information_date AS recorded_ok,
         -- The polygon stored is the one sent (transformed where it was in another CRS), on whichever way it travelled.
         ST_AsEWKB(h.original_geom) = ST_AsEWKB(ST_Multi(ST_Transform(ST_SetSRID(ST_GeomFromGeoJSON(h.input_geometry::text), h.input_crs), 4326))) AS geometry_ok,
         (SELECT count(*) FROM hazardous_area_status_change s WHERE s.hazardous_area_id = h.id) AS later_changes,
         (SELECT count(*) FROM audit_event a WHERE a.record_id = h.id::text AND a.action = 'create' AND a.actor = 'bulk-importer') AS audit,
         (SELECT count(*) FROM change_log c WHERE c.record_id = h.id) AS changes
       FROM hazardous_area h WHERE h.id = ANY(?::uuid[])`,
      [ids],
    );
    expect(stored.rows).to.have.length(COUNT + 1);
    const byId = new Map(stored.rows.map((row: any) => [row.id, row]));
    ids.forEach((id, n) => {
      const row: any = byId.get(id);
      expect(row.local_ref, `feature ${n}: ids are in the order of the features`).to.equal(n < COUNT ? refs[n] : row.local_ref);
      expect(row, `feature ${n}`).to.include({ owner_agency: 'GEO', status: 'open', version: 1, footprint_ok: true, area_ok: true, remaining_ok: true, remaining_geom_ok: true, cells_ok: true, recorded_ok: true, geometry_ok: true, later_changes: 0, audit: 1, changes: 1 });
    });
    features.forEach((feature, n) => {
      const row: any = byId.get(ids[n]);
      const p = feature.properties as any;
      expect({ date: row.information_date, types: row.hazard_types, count: row.estimated_device_count, marking: row.marking, priority: row.priority, classification: row.classification }, `feature ${n}`)
        .to.deep.equal({ date: p.informationDate, types: p.hazardTypes, count: p.estimatedDeviceCount ?? null, marking: p.marking ?? 'none', priority: p.priority ?? 'medium', classification: p.classification });
      expect(row.name, `feature ${n}`).to.deep.equal(p.name ?? {});
    });
    expect((byId.get(ids[0]) as any).name).to.deep.equal({ en: 'Synthetic\tzone "7"\\', hy: 'Գոտի 0' });
    expect((byId.get(ids[0]) as any).evidence).to.deep.equal([{ nature: 'indirect', kind: 'records', reliability: 'low' }]);
    expect((byId.get(ids[7]) as any).input_crs).to.equal(32638);
    expect((byId.get(ids[7]) as any).input_geometry).to.deep.equal(features[7].geometry);
    // The geometry as sent: jsonb keeps the digits a JavaScript number would have dropped.
    const sent = await db.raw(`SELECT input_geometry::text AS text FROM hazardous_area WHERE id = ?`, [ids[COUNT]]);
    expect(sent.rows[0].text).to.include('00000000000001');

    // The import counts its rows' overview cells itself (the insert trigger leaves them to it):
    // every level's counts are still those of the records, recounted here from scratch.
    const cells = await db.raw(`
      WITH l8 AS (
        SELECT cx, cy, r.classification AS category, count(*) AS n, count(*) FILTER (WHERE NOT r.restricted) AS u
        FROM hazardous_area r
        CROSS JOIN LATERAL generate_series(r.cell_x0 >> 1, r.cell_x1 >> 1) AS cx
        CROSS JOIN LATERAL generate_series(r.cell_y0 >> 1, r.cell_y1 >> 1) AS cy
        WHERE r.owner_agency = 'GEO' AND r.retired_at IS NULL AND r.remaining_geom IS NOT NULL
        GROUP BY 1, 2, 3),
      expected AS (
        SELECT z, cx >> (8 - z) AS cx, cy >> (8 - z) AS cy, category, sum(n)::integer AS records, sum(u)::integer AS unrestricted
        FROM l8 CROSS JOIN generate_series(0, 8) AS z GROUP BY 1, 2, 3, 4),
      stored AS (
        SELECT z, cx, cy, category, records, unrestricted FROM tile_overview_cell
        WHERE record_kind = 'hazardous_area' AND owner_agency = 'GEO' AND (records <> 0 OR unrestricted <> 0))
      SELECT (SELECT count(*) FROM expected) AS expected,
        (SELECT count(*) FROM (SELECT * FROM expected EXCEPT SELECT * FROM stored) AS d) AS missing,
        (SELECT count(*) FROM (SELECT * FROM stored EXCEPT SELECT * FROM expected) AS d) AS extra`);
    expect(Number(cells.rows[0].expected)).to.be.above(COUNT / 4);
    expect(cells.rows[0]).to.include({ missing: 0, extra: 0 });

    const read = await api('GET', `/collections/hazardous-areas/items/${ids[3]}`, { token });
    expect(read.status).to.equal(200);
    expect(read.body.properties.localRef).to.equal(refs[3]);
    // The first entry of the status history comes with the record.
    expect(read.body.properties.statusHistory).to.have.length(1);
    expect(read.body.properties.statusHistory[0]).to.include({ from: null, to: 'open', reason: 'recorded', date: features[3].properties.informationDate, by: 'GEO/bulk-importer' });
  });

  it('reports the problems of every feature and stores nothing when any is wrong', async () => {
    const token = tokenFor('GEO', 'editor');
    const features: any[] = Array.from({ length: COUNT }, () => hazardousAreaFeature());
    features[10] = hazardousAreaFeature({ geometry: SELF_INTERSECTING });
    features[230] = { ...hazardousAreaFeature(), properties: { ...features[229].properties } };
    const refs = features.map((feature) => feature.properties.localRef as string);
    const response = await api('POST', '/collections/hazardous-areas/items', { token, body: collection(features) });
    expect(response.status, response.text).to.equal(422);
    expect(response.body.detail).to.equal(`2 of ${COUNT} features were rejected; nothing was imported`);
    const reasons = new Map<number, string>(response.body.errors.map((error: any) => [error.feature, error.reason]));
    expect([...reasons.keys()].sort((a, b) => a - b)).to.deep.equal([10, 230]);
    expect(reasons.get(10)).to.match(/invalid geometry: Self-intersection/);
    expect(response.body.errors.find((error: any) => error.feature === 10).location).to.have.length(2);
    expect(reasons.get(230)).to.match(/duplicates the localRef/);
    expect(await countByRefs(refs)).to.equal(0);
  });

  it('lists problems found in Node and by PostGIS together', async () => {
    const token = tokenFor('GEO', 'editor');
    const features: any[] = Array.from({ length: COUNT }, () => hazardousAreaFeature());
    features[10] = hazardousAreaFeature({ geometry: SELF_INTERSECTING });
    features[200] = hazardousAreaFeature({ properties: { classification: 'XHA' } });
    const refs = features.map((feature) => feature.properties.localRef as string);
    const response = await api('POST', '/collections/hazardous-areas/items', { token, body: collection(features) });
    expect(response.status, response.text).to.equal(422);
    expect([...new Set(response.body.errors.map((error: any) => error.feature))]).to.deep.equal([10, 200]);
    expect(await countByRefs(refs)).to.equal(0);
  });

  it('reads a body of several chunks as it goes: problems found in Node, by PostGIS and of local references in use are reported together', async function () {
    this.timeout(120_000);
    const token = tokenFor('GEO', 'editor');
    const existing = hazardousAreaFeature();
    expect((await api('POST', '/collections/hazardous-areas/items', { token, body: existing })).status).to.equal(201);
    // More than two chunks of 2,000, so the later features are read while the earlier ones are
    // checked (and, on a server, written); the agency has an active area, so local references
    // are looked up while the import's own connection is busy.
    const features: any[] = Array.from({ length: 4300 }, () => hazardousAreaFeature());
    features[5] = hazardousAreaFeature({ geometry: SELF_INTERSECTING });
    features[4100] = hazardousAreaFeature({ properties: { localRef: existing.properties.localRef } });
    features[4200] = hazardousAreaFeature({ properties: { classification: 'XHA' } });
    const refs = features.map((feature) => feature.properties.localRef as string);
    const response = await api('POST', '/collections/hazardous-areas/items', { token, body: collection(features) });
    expect(response.status, response.text).to.equal(422);
    expect(response.body.detail).to.equal('3 of 4300 features were rejected; nothing was imported');
    const byFeature = new Map(response.body.errors.map((error: any) => [error.feature, error.reason]));
    expect([...new Set(response.body.errors.map((error: any) => error.feature))]).to.deep.equal([5, 4100, 4200]);
    expect(byFeature.get(5)).to.match(/invalid geometry: Self-intersection/);
    expect(byFeature.get(4100)).to.match(/is already used by record/);
    expect(await countByRefs(refs.filter((_, n) => n !== 4100))).to.equal(0);
  });

  it('rejects polygons that duplicate one of the import or an active area, whatever their first vertex', async () => {
    const token = tokenFor('GEO', 'editor');
    const existing = hazardousAreaFeature();
    expect((await api('POST', '/collections/hazardous-areas/items', { token, body: existing })).status).to.equal(201);
    const features: any[] = Array.from({ length: COUNT }, () => hazardousAreaFeature());
    const ring = features[3].geometry.coordinates[0];
    const rotated = [...ring.slice(1), ring[1]];
    features[5] = hazardousAreaFeature({ geometry: { type: 'Polygon', coordinates: [rotated] } });
    features[240] = hazardousAreaFeature({ geometry: existing.geometry });
    const refs = features.map((feature) => feature.properties.localRef as string);
    const response = await api('POST', '/collections/hazardous-areas/items', { token, body: collection(features) });
    expect(response.status, response.text).to.equal(422);
    const byFeature = new Map(response.body.errors.map((error: any) => [error.feature, error.reason]));
    expect([...byFeature.keys()].sort((a: any, b: any) => a - b)).to.deep.equal([5, 240]);
    expect(byFeature.get(5)).to.equal('duplicates the polygon of feature 3 in this import');
    expect(byFeature.get(240)).to.match(new RegExp(`duplicates the polygon of hazardous area ${existing.properties.localRef} \\(`));
    expect(await countByRefs(refs)).to.equal(0);
  });
});

// Bodies of 1 MB and more are imported as they arrive (records/streamedCollection.ts): these
// check that such a body reads exactly as the same body read whole.
describe('bulk import of a large body, as it arrives', () => {
  /** Few features (this suite shares its database with the others) in a body made larger than the 1 MB from which the import streams by a member after them. */
  const LARGE = 100;
  const PADDING = 'x'.repeat(1_100_000);

  /** POSTs `body` in pieces of `piece` bytes with a pause between them, as a slow client would. */
  async function postInPieces(body: string, token: string, piece: number, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
    const { request } = await import('node:http');
    const bytes = Buffer.from(body);
    const url = new URL(`${getHarness().baseUrl}/collections/hazardous-areas/items`);
    return new Promise((resolve, reject) => {
      const req = request(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/geo+json', 'content-length': String(bytes.length), ...headers },
      }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (part: Buffer) => parts.push(part));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(parts).toString('utf8') || 'null') }));
      });
      req.on('error', reject);
      (async () => {
        for (let at = 0; at < bytes.length; at += piece) {
          req.write(bytes.subarray(at, at + piece));
          await new Promise((wait) => setTimeout(wait, 1));
        }
        req.end();
      })().catch(reject);
    });
  }

  it('imports the features in their order while the body is still arriving', async function () {
    this.timeout(120_000);
    const token = tokenFor('GEO', 'editor');
    const features = Array.from({ length: LARGE }, () => hazardousAreaFeature());
    const body = JSON.stringify({ type: 'FeatureCollection', name: 'slow upload', features, description: PADDING });
    expect(body.length).to.be.above(1 << 20);
    // Pieces that end inside features, member names and numbers.
    const response = await postInPieces(body, token, 1_021);
    expect(response.status, JSON.stringify(response.body).slice(0, 500)).to.equal(201);
    expect(response.body.imported).to.equal(LARGE);
    const stored = await getHarness().db('hazardous_area').select('id', 'local_ref').whereIn('id', response.body.ids);
    const refById = new Map(stored.map((row: { id: string; local_ref: string }) => [row.id, row.local_ref]));
    expect(response.body.ids.map((id: string) => refById.get(id))).to.deep.equal(features.map((feature) => feature.properties.localRef));
  });

  it('reads a crs member that follows the features as a whole body would: the import starts again, whole', async function () {
    this.timeout(120_000);
    const token = tokenFor('GEO', 'editor');
    // UTM 38N squares: read as longitude and latitude they would lie far outside the region.
    const features = Array.from({ length: LARGE }, (_, n) => {
      const x = 400_000 + (n % 100) * 300, y = 4_500_000 + Math.floor(n / 100) * 300;
      return hazardousAreaFeature({ geometry: { type: 'Polygon', coordinates: [[[x, y], [x + 100, y], [x + 100, y + 100], [x, y + 100], [x, y]]] } });
    });
    const body = JSON.stringify({ type: 'FeatureCollection', features, description: PADDING, crs: { type: 'name', properties: { name: 'urn:ogc:def:crs:EPSG::32638' } } });
    expect(body.length).to.be.above(1 << 20);
    const response = await postInPieces(body, token, 262_144);
    expect(response.status, JSON.stringify(response.body).slice(0, 500)).to.equal(201);
    expect(response.body.imported).to.equal(LARGE);
    const crs = await getHarness().db('hazardous_area').distinct('input_crs').whereIn('id', response.body.ids);
    expect(crs.map((row: { input_crs: number }) => row.input_crs)).to.deep.equal([32638]);
  });

  it('answers a body that is not JSON, or whose type follows the features, as it would the whole body', async function () {
    this.timeout(120_000);
    const token = tokenFor('GEO', 'editor');
    const features = Array.from({ length: LARGE }, () => hazardousAreaFeature());
    const typeLast = JSON.stringify({ features, description: PADDING, type: 'FeatureCollection' });
    expect(typeLast.length).to.be.above(1 << 20);
    const imported = await postInPieces(typeLast, token, 262_144);
    expect(imported.status, JSON.stringify(imported.body).slice(0, 500)).to.equal(201);
    expect(imported.body.imported).to.equal(LARGE);

    // One feature in the middle made invalid JSON.
    const more = Array.from({ length: LARGE }, () => hazardousAreaFeature());
    const whole = JSON.stringify({ type: 'FeatureCollection', features: more, description: PADDING });
    const at = whole.indexOf('"hazardTypes":["AP"]', whole.indexOf(more[LARGE / 2].properties.localRef));
    const broken = `${whole.slice(0, at)}"hazardTypes":[AP]${whole.slice(at + '"hazardTypes":["AP"]'.length)}`;
    for (const send of [(text: string) => postInPieces(text, token, 4_093), (text: string) => api('POST', '/collections/hazardous-areas/items', { token, body: text })]) {
      const rejected = await send(broken);
      expect(rejected.status).to.equal(400);
      expect(rejected.body.errors).to.have.length(1);
      expect(rejected.body.errors[0]).to.include({ feature: LARGE / 2, field: `/features/${LARGE / 2}` });
      expect(rejected.body.errors[0].reason).to.match(/^is not valid JSON/);
    }
    expect(await countByRefs(more.map((feature) => feature.properties.localRef))).to.equal(0);
  });
});
