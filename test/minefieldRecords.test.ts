import { expect } from 'chai';
import { api, createHazardousArea, freshRef, getHarness, tokenFor } from './harness';

const RECORDS = '/collections/minefield-records/items';
const UTM38N = '<http://www.opengis.net/def/crs/EPSG/0/32638>';

let placeCounter = 0;
/** A fresh place for each record (0.01° apart), well away from other tests' grids. */
function freshPlace(): [number, number] {
  const n = placeCounter++;
  return [45.3 + (n % 50) * 0.01, 40.95 + Math.floor(n / 50) * 0.01];
}

/** An irregular quadrilateral near `[lon, lat]`, roughly 120 m × 90 m. */
function drawnPerimeter([lon, lat]: [number, number]): GeoJSON.Polygon {
  return {
    type: 'Polygon',
    coordinates: [[[lon, lat], [lon + 0.0014, lat + 0.0001], [lon + 0.0012, lat + 0.0008], [lon - 0.0001, lat + 0.0007], [lon, lat]]],
  };
}

function recordFeature(geometry: GeoJSON.Geometry | null, properties: Record<string, unknown>) {
  return {
    type: 'Feature',
    geometry,
    properties: {
      localRef: freshRef('MFR'),
      mineTypes: [{ type: 'AP', model: 'PMN-2', count: 120 }, { type: 'AT', model: 'TM-62M', count: 14 }],
      emplacingMethod: 'hand-laid',
      ...properties,
    },
  };
}

async function sql<T = any>(query: string, bindings: unknown[]): Promise<T> {
  return (await getHarness().db.raw(query, bindings as any)).rows[0] as T;
}

const geodesicArea = async (geometry: GeoJSON.Geometry) =>
  (await sql<{ m2: number }>('SELECT ST_Area(ST_SetSRID(ST_GeomFromGeoJSON(?), 4326)::geography) AS m2', [JSON.stringify(geometry)])).m2;

/** Metres between two lon/lat positions, geodesic, by PostGIS. */
const metresBetween = async (a: number[], b: number[]) =>
  (await sql<{ m: number }>('SELECT ST_Distance(ST_SetSRID(ST_MakePoint(?, ?), 4326)::geography, ST_SetSRID(ST_MakePoint(?, ?), 4326)::geography) AS m', [a[0], a[1], b[0], b[1]])).m;

/** Where a geodesic walk of `distance` metres on `bearing` from `from` ends, by PostGIS (spheroid). */
const projected = async (from: number[], distance: number, bearing: number) => {
  const row = await sql<{ x: number; y: number }>(
    'SELECT ST_X(p::geometry) AS x, ST_Y(p::geometry) AS y FROM ST_Project(ST_SetSRID(ST_MakePoint(?, ?), 4326)::geography, ?::float8, radians(?)) AS p',
    [from[0], from[1], distance, bearing],
  );
  return [row.x, row.y];
};

const toUtm38 = async ([lon, lat]: number[]) => {
  const row = await sql<{ x: number; y: number }>('SELECT ST_X(p) AS x, ST_Y(p) AS y FROM ST_Transform(ST_SetSRID(ST_MakePoint(?, ?), 4326), 32638) AS p', [lon, lat]);
  return [row.x, row.y];
};

const squareTraverse = (from: string) => ({
  from,
  approachLegs: 1,
  legs: [{ bearing: 45, distance: 60 }, { bearing: 0, distance: 100 }, { bearing: 90, distance: 100 }, { bearing: 180, distance: 100 }, { bearing: 270, distance: 100 }],
});

describe('minefield records (Amended Protocol II)', () => {
  const editor = () => tokenFor('GEO', 'editor');

  it('creates a record with a drawn perimeter and two reference points; every field round-trips', async () => {
    const place = freshPlace();
    const perimeter = drawnPerimeter(place);
    const properties = {
      name: { en: 'North slope record', ru: 'Северный склон', ka: 'ჩრდილოეთის ფერდობი' },
      referencePoints: [
        { label: 'RP1', description: 'concrete post at the road junction', coordinates: [place[0] - 0.002, place[1] - 0.001] },
        { label: 'RP2', coordinates: [place[0] + 0.003, place[1] - 0.0015] },
      ],
      mineTypes: [{ type: 'AP', model: 'PMN-2', count: 120 }, { type: 'AT', model: 'TM-62M', count: 14 }],
      totalMines: 134,
      emplacingMethod: 'mechanical',
      fuzeType: 'pressure/tripwire',
      laidFrom: '1993-04-02T08:00:00Z',
      laidTo: '1993-04-09T17:00:00Z',
      antiHandling: { present: true, description: 'anti-lift devices under some AT mines' },
      rows: [{ label: 'A', mineCount: 70, spacingM: 3 }, { label: 'B', mineCount: 64, spacingM: 4.5 }],
      accuracyAssessment: { grade: 'approximate', estimatedAccuracyPct: 30, assessedBy: 'GEO survey team 2', date: '2024-05-10', comment: 'perimeter roughly matches' },
      source: { party: 'handing-over party', handoverDate: '2022-03-01', document: 'map sheet 12/3' },
    };
    const created = await api('POST', RECORDS, { token: editor(), body: recordFeature(perimeter, properties) });
    expect(created.status, created.text).to.equal(201);
    expect(created.headers.get('etag')).to.equal('"1"');
    expect(created.headers.get('location')).to.match(new RegExp(`${RECORDS}/${created.body.id}$`));
    const expectedArea = await geodesicArea(perimeter);
    expect(expectedArea).to.be.greaterThan(5000);
    expect(created.body.properties.areaM2).to.be.closeTo(expectedArea, 0.01);

    const read = await api('GET', `${RECORDS}/${created.body.id}`, { token: editor() });
    expect(read.status).to.equal(200);
    const p = read.body.properties;
    for (const key of ['name', 'referencePoints', 'mineTypes', 'totalMines', 'emplacingMethod', 'fuzeType', 'antiHandling', 'rows', 'accuracyAssessment', 'source'] as const) {
      expect(p[key], key).to.deep.equal(properties[key]);
    }
    expect(new Date(p.laidFrom).toISOString()).to.equal(new Date(properties.laidFrom).toISOString());
    expect(new Date(p.laidTo).toISOString()).to.equal(new Date(properties.laidTo).toISOString());
    expect(p).to.include({ ownerAgency: 'GEO', version: 1, inputCrs: 'EPSG:4326', traverse: null, traverseMisclosureM: null });
    expect(p.hazardousAreaIds).to.deep.equal([]);
    expect(p.inputGeometry).to.deep.equal(perimeter);
    expect(read.body.geometry.type).to.equal('Polygon');
    expect(await geodesicArea(read.body.geometry)).to.be.closeTo(expectedArea, 0.01);
  });

  it('defaults the accuracy grade to unassessed', async () => {
    const place = freshPlace();
    const created = await api('POST', RECORDS, {
      token: editor(),
      body: recordFeature(drawnPerimeter(place), { referencePoints: [{ label: 'A', coordinates: place }, { label: 'B', coordinates: [place[0] + 0.002, place[1]] }] }),
    });
    expect(created.status, created.text).to.equal(201);
    expect(created.body.properties.accuracyAssessment).to.deep.equal({ grade: 'unassessed' });
  });

  it('computes the perimeter from a traverse when geometry is null: a 100 m square after one approach leg', async () => {
    const rp1 = freshPlace();
    const created = await api('POST', RECORDS, {
      token: editor(),
      body: recordFeature(null, {
        referencePoints: [{ label: 'RP1', coordinates: rp1 }, { label: 'RP2', coordinates: [rp1[0] + 0.003, rp1[1] + 0.001] }],
        traverse: squareTraverse('RP1'),
      }),
    });
    expect(created.status, created.text).to.equal(201);
    const p = created.body.properties;
    expect(p.areaM2).to.be.closeTo(10_000, 100);
    expect(p.traverseMisclosureM).to.be.a('number').and.to.be.at.least(0).and.below(0.5);
    expect(p.traverse).to.deep.equal(squareTraverse('RP1'));

    const ring: number[][] = created.body.geometry.coordinates[0];
    expect(created.body.geometry.type).to.equal('Polygon');
    expect(ring).to.have.length(5);
    expect(ring[0]).to.deep.equal(ring[4]);
    expect(await geodesicArea(created.body.geometry)).to.be.closeTo(p.areaM2, 0.01);
    // TP1 is where the approach leg ends: 60 m on bearing 45° from RP1.
    const tp1 = await projected(rp1, 60, 45);
    expect(await metresBetween(ring[0], tp1)).to.be.below(0.5);
    expect(await metresBetween(ring[0], rp1)).to.be.closeTo(60, 0.5);
    // Then north 100 m, east 100 m, south 100 m.
    expect(await metresBetween(ring[1], await projected(tp1, 100, 0))).to.be.below(0.5);
    expect(ring[1][1]).to.be.greaterThan(ring[0][1]);
    expect(ring[2][0]).to.be.greaterThan(ring[1][0]);
    expect(ring[3][1]).to.be.lessThan(ring[2][1]);
    for (let i = 0; i < 4; i++) expect(await metresBetween(ring[i], ring[i + 1]), `side ${i + 1}`).to.be.closeTo(100, 0.5);
  });

  it('reports the misclosure of a traverse that does not close', async () => {
    const rp1 = freshPlace();
    const traverse = { from: 'RP1', approachLegs: 0, legs: [{ bearing: 0, distance: 100 }, { bearing: 90, distance: 100 }, { bearing: 180, distance: 100 }, { bearing: 270, distance: 90 }] };
    const created = await api('POST', RECORDS, {
      token: editor(),
      body: recordFeature(null, { referencePoints: [{ label: 'RP1', coordinates: rp1 }, { label: 'RP2', coordinates: [rp1[0] - 0.002, rp1[1]] }], traverse }),
    });
    expect(created.status, created.text).to.equal(201);
    expect(created.body.properties.traverseMisclosureM).to.be.closeTo(10, 0.2);
    // With no approach leg the perimeter starts on the reference point itself.
    expect(await metresBetween(created.body.geometry.coordinates[0][0], rp1)).to.be.below(0.01);
  });

  it('reference points in UTM 38N (Content-Crs) give the same perimeter as the same points in EPSG:4326', async () => {
    const rp1 = freshPlace();
    const rp2: [number, number] = [rp1[0] + 0.004, rp1[1] - 0.002];
    const [utm1, utm2] = [await toUtm38(rp1), await toUtm38(rp2)];
    expect(utm1[0]).to.be.within(100_000, 900_000);

    const inWgs84 = await api('POST', RECORDS, {
      token: editor(),
      body: recordFeature(null, { referencePoints: [{ label: 'RP1', coordinates: rp1 }, { label: 'RP2', coordinates: rp2 }], traverse: squareTraverse('RP1') }),
    });
    expect(inWgs84.status, inWgs84.text).to.equal(201);
    const inUtm = await api('POST', RECORDS, {
      token: editor(),
      headers: { 'content-crs': UTM38N },
      body: recordFeature(null, { referencePoints: [{ label: 'RP1', coordinates: utm1 }, { label: 'RP2', coordinates: utm2 }], traverse: squareTraverse('RP1') }),
    });
    expect(inUtm.status, inUtm.text).to.equal(201);
    expect(inUtm.body.properties.inputCrs).to.equal('EPSG:32638');
    expect(inUtm.body.properties.referencePoints.map((point: any) => point.coordinates)).to.deep.equal([utm1, utm2]);

    const a: number[][] = inWgs84.body.geometry.coordinates[0];
    const b: number[][] = inUtm.body.geometry.coordinates[0];
    expect(b).to.have.length(a.length);
    for (let i = 0; i < a.length; i++) expect(await metresBetween(a[i], b[i]), `vertex ${i}`).to.be.below(0.01);
    expect(inUtm.body.properties.areaM2).to.be.closeTo(inWgs84.body.properties.areaM2, 0.01);
    // Not a coincidence of both being wrong: TP1 is 60 m from RP1.
    expect(await metresBetween(b[0], rp1)).to.be.closeTo(60, 0.5);
  });

  it('a drawn perimeter in UTM 38N is stored as the same polygon as its EPSG:4326 form', async () => {
    const place = freshPlace();
    const perimeter = drawnPerimeter(place);
    const utmRing = [];
    for (const position of perimeter.coordinates[0]) utmRing.push(await toUtm38(position));
    const utmPoints = [await toUtm38([place[0] - 0.002, place[1]]), await toUtm38([place[0] + 0.003, place[1]])];
    const created = await api('POST', RECORDS, {
      token: editor(),
      headers: { 'content-crs': UTM38N },
      body: recordFeature({ type: 'Polygon', coordinates: [utmRing] }, { referencePoints: [{ label: 'W', coordinates: utmPoints[0] }, { label: 'E', coordinates: utmPoints[1] }] }),
    });
    expect(created.status, created.text).to.equal(201);
    expect(created.body.properties.inputGeometry).to.deep.equal({ type: 'Polygon', coordinates: [utmRing] });
    const ring: number[][] = created.body.geometry.coordinates[0];
    for (let i = 0; i < ring.length; i++) expect(await metresBetween(ring[i], perimeter.coordinates[0][i]), `vertex ${i}`).to.be.below(0.01);
    expect(created.body.properties.areaM2).to.be.closeTo(await geodesicArea(perimeter), 0.5);
  });

  it('refuses fewer than two reference points, naming /properties/referencePoints', async () => {
    const place = freshPlace();
    const body = recordFeature(drawnPerimeter(place), { referencePoints: [{ label: 'RP1', coordinates: place }] });
    const response = await api('POST', RECORDS, { token: editor(), body });
    expect(response.status).to.equal(422);
    expect(response.headers.get('content-type')).to.match(/application\/problem\+json/);
    expect(response.body.errors.map((e: any) => e.field)).to.include('/properties/referencePoints');
    const stored = await api('GET', `${RECORDS}?localRef=${encodeURIComponent(body.properties.localRef)}`, { token: editor() });
    expect(stored.body.numberMatched).to.equal(0);
  });

  it('refuses a traverse from an unknown reference point, and a record with neither geometry nor traverse', async () => {
    const place = freshPlace();
    const referencePoints = [{ label: 'RP1', coordinates: place }, { label: 'RP2', coordinates: [place[0] + 0.002, place[1]] }];
    const unknown = await api('POST', RECORDS, { token: editor(), body: recordFeature(null, { referencePoints, traverse: squareTraverse('RP9') }) });
    expect(unknown.status).to.equal(422);
    expect(unknown.body.errors).to.have.length(1);
    expect(unknown.body.errors[0].field).to.equal('/properties/traverse/from');
    expect(unknown.body.errors[0].reason).to.include('RP1').and.include('RP2');

    const neither = await api('POST', RECORDS, { token: editor(), body: recordFeature(null, { referencePoints }) });
    expect(neither.status).to.equal(422);
    expect(neither.body.errors.map((e: any) => e.field)).to.deep.equal(['/geometry']);
  });

  it('links to hazardous areas of its own agency round-trip; an area of another agency is refused as not visible', async () => {
    const own = [await createHazardousArea(editor()), await createHazardousArea(editor())].map((r) => r.body.id as string);
    const foreign = (await createHazardousArea(tokenFor('CHDE', 'editor'))).body.id as string;
    const place = freshPlace();
    const referencePoints = [{ label: 'RP1', coordinates: place }, { label: 'RP2', coordinates: [place[0] + 0.002, place[1]] }];

    const linked = await api('POST', RECORDS, { token: editor(), body: recordFeature(drawnPerimeter(place), { referencePoints, hazardousAreaIds: own }) });
    expect(linked.status, linked.text).to.equal(201);
    expect([...linked.body.properties.hazardousAreaIds].sort()).to.deep.equal([...own].sort());
    const listed = await api('GET', `${RECORDS}?localRef=${encodeURIComponent(linked.body.properties.localRef)}`, { token: editor() });
    expect([...listed.body.features[0].properties.hazardousAreaIds].sort()).to.deep.equal([...own].sort());

    const body = recordFeature(drawnPerimeter(freshPlace()), { referencePoints, hazardousAreaIds: [own[0], foreign] });
    const refused = await api('POST', RECORDS, { token: editor(), body });
    expect(refused.status).to.equal(422);
    expect(refused.body.errors).to.have.length(1);
    expect(refused.body.errors[0].field).to.equal('/properties/hazardousAreaIds/1');
    expect(refused.body.errors[0].reason).to.include(foreign).and.match(/not? .*visible/);
    const stored = await api('GET', `${RECORDS}?localRef=${encodeURIComponent(body.properties.localRef)}`, { token: editor() });
    expect(stored.body.numberMatched).to.equal(0);
  });

  it('replaces with PUT and If-Match (version +1); a stale If-Match gets 412 and changes nothing', async () => {
    const place = freshPlace();
    const referencePoints = [{ label: 'RP1', coordinates: place }, { label: 'RP2', coordinates: [place[0] + 0.002, place[1]] }];
    const created = await api('POST', RECORDS, { token: editor(), body: recordFeature(drawnPerimeter(place), { referencePoints }) });
    expect(created.status, created.text).to.equal(201);
    const url = `${RECORDS}/${created.body.id}`;
    const replacement = recordFeature(null, {
      localRef: created.body.properties.localRef, referencePoints, traverse: squareTraverse('RP2'),
      accuracyAssessment: { grade: 'verified', estimatedAccuracyPct: 90 },
    });

    const missing = await api('PUT', url, { token: editor(), body: replacement });
    expect(missing.status).to.equal(428);
    const put = await api('PUT', url, { token: editor(), body: replacement, headers: { 'if-match': '"1"' } });
    expect(put.status, put.text).to.equal(200);
    expect(put.headers.get('etag')).to.equal('"2"');
    expect(put.body.properties.version).to.equal(2);
    expect(put.body.properties.accuracyAssessment).to.deep.equal({ grade: 'verified', estimatedAccuracyPct: 90 });
    expect(put.body.properties.areaM2).to.be.closeTo(10_000, 100);
    expect(put.body.properties.traverseMisclosureM).to.be.below(0.5);

    const stale = await api('PUT', url, { token: editor(), body: { ...replacement, properties: { ...replacement.properties, emplacingMethod: 'mechanical' } }, headers: { 'if-match': '"1"' } });
    expect(stale.status).to.equal(412);
    const after = await api('GET', url, { token: editor() });
    expect(after.body.properties.version).to.equal(2);
    expect(after.body.properties.emplacingMethod).to.equal('hand-laid');
  });

  it('retires with DELETE: 410 afterwards, gone from the list; another agency cannot even see it', async () => {
    const place = freshPlace();
    const created = await api('POST', RECORDS, {
      token: editor(),
      body: recordFeature(drawnPerimeter(place), { referencePoints: [{ label: 'RP1', coordinates: place }, { label: 'RP2', coordinates: [place[0] + 0.002, place[1]] }] }),
    });
    expect(created.status, created.text).to.equal(201);
    const url = `${RECORDS}/${created.body.id}`;
    const foreign = await api('GET', url, { token: tokenFor('ANAMA', 'editor') });
    expect(foreign.status).to.equal(404);
    const stale = await api('DELETE', `${url}?reason=duplicate`, { token: editor(), headers: { 'if-match': '"7"' } });
    expect(stale.status).to.equal(412);
    const retired = await api('DELETE', `${url}?reason=${encodeURIComponent('entered twice')}`, { token: editor(), headers: { 'if-match': '"1"' } });
    expect(retired.status).to.equal(204);
    const read = await api('GET', url, { token: editor() });
    expect(read.status).to.equal(410);
    expect(read.body.retired.reason).to.equal('entered twice');
    const listed = await api('GET', `${RECORDS}?localRef=${encodeURIComponent(created.body.properties.localRef)}`, { token: editor() });
    expect(listed.body.numberMatched).to.equal(0);
  });
});
