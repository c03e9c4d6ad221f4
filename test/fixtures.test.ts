// The synthetic fixture generator (fixtures/generate.ts), checked at demo scale, and a small
// fixture loaded through the demo loader and read back through the API.
import { expect } from 'chai';
import * as turf from '@turf/turf';
import { compileValidator, hazardousAreaSchema, landReleaseSchema, minefieldRecordSchema, testimonySchema } from '../records/schemas';
import { DEFECTS, GEOMETRY_EXAMPLES, VALID_PROJECTED, duplicatedLocalRef } from '../fixtures/defects';
import { AGENCIES, DEMO_SCALE, FIXTURE_BOUNDS, agencyCounts, generateFixtures, generateHazardousAreas, type AgencyFixture } from '../fixtures/generate';
import { loadAgencyFixture } from '../fixtures/loadDemo';
import { api, getHarness, tokenFor } from './harness';

const FAKE_UUID = '00000000-0000-4000-8000-000000000000';
const DEMO_SEED = 7;

function positionsOf(geometry: GeoJSON.Geometry): GeoJSON.Position[] {
  switch (geometry.type) {
    case 'Point': return [geometry.coordinates];
    case 'LineString': case 'MultiPoint': return geometry.coordinates;
    case 'Polygon': case 'MultiLineString': return geometry.coordinates.flat();
    case 'MultiPolygon': return geometry.coordinates.flat(2);
    default: throw new Error(`unexpected ${geometry.type}`);
  }
}

function ringsOf(geometry: GeoJSON.Geometry): GeoJSON.Position[][] {
  if (geometry.type === 'Polygon') return geometry.coordinates;
  if (geometry.type === 'MultiPolygon') return geometry.coordinates.flat();
  return [];
}

function signedArea(ring: GeoJSON.Position[]) {
  let s = 0;
  for (let i = 1; i < ring.length; i++) s += ring[i - 1][0] * ring[i][1] - ring[i][0] * ring[i - 1][1];
  return s / 2;
}

const allFeatures = (fixture: AgencyFixture): GeoJSON.Feature<GeoJSON.Geometry | null>[] =>
  [...fixture.hazardousAreas, ...fixture.landReleases, ...fixture.minefieldRecords, ...fixture.testimonies];

const inBounds = ([lon, lat]: GeoJSON.Position) =>
  lon >= FIXTURE_BOUNDS.minLon && lon <= FIXTURE_BOUNDS.maxLon && lat >= FIXTURE_BOUNDS.minLat && lat <= FIXTURE_BOUNDS.maxLat;

const ref = (feature: GeoJSON.Feature<any>) => feature.properties!.localRef as string;

describe('synthetic fixtures (demo scale)', () => {
  let demo: AgencyFixture[];
  before(() => { demo = generateFixtures({ hazardousAreas: DEMO_SCALE, seed: DEMO_SEED }); });

  it('is deterministic for a seed, differs between seeds, and streams the same areas', () => {
    const again = JSON.stringify(generateFixtures({ hazardousAreas: DEMO_SCALE, seed: DEMO_SEED }));
    expect(again === JSON.stringify(demo), 'same seed, same output').to.equal(true);
    expect(JSON.stringify(generateFixtures({ hazardousAreas: DEMO_SCALE, seed: DEMO_SEED + 1 })) === again, 'another seed, other output').to.equal(false);
    const streamed = [...generateHazardousAreas({ hazardousAreas: DEMO_SCALE, seed: DEMO_SEED })];
    expect(JSON.stringify(streamed) === JSON.stringify(demo.flatMap((f) => f.hazardousAreas)), 'streamed = in memory').to.equal(true);
  });

  it('splits areas per agency about 85 / 10 / 5 %, each agency with every record kind', () => {
    expect(demo.map((f) => f.agency)).to.deep.equal([...AGENCIES]);
    const counts = Object.fromEntries(demo.map((f) => [f.agency, f.hazardousAreas.length]));
    expect(counts).to.deep.equal(agencyCounts(DEMO_SCALE));
    expect(counts).to.deep.equal({ ANAMA: 255, CHDE: 30, GEO: 15 });
    for (const f of demo) {
      expect(f.landReleases, f.agency).not.to.be.empty;
      expect(f.minefieldRecords, f.agency).not.to.be.empty;
      expect(f.testimonies, f.agency).not.to.be.empty;
      expect(f.informants, f.agency).not.to.be.empty;
    }
    expect(demo.find((f) => f.agency === 'ANAMA')!.minefieldRecords.some((r) => r.geometry === null), 'ANAMA has a traverse-only record').to.equal(true);
    const small = agencyCounts(12);
    expect(small.CHDE).to.be.at.least(4);
    expect(small.GEO).to.be.at.least(4);
    expect(small.ANAMA + small.CHDE + small.GEO).to.equal(12);
    expect(agencyCounts(100_000)).to.deep.equal({ ANAMA: 85_000, CHDE: 10_000, GEO: 5_000 });
  });

  it('keeps every position inside the fixture bounds, and every ring closed, counter-clockwise and simple', () => {
    let rings = 0;
    for (const fixture of demo) {
      for (const feature of allFeatures(fixture)) {
        if (feature.geometry === null) continue;
        for (const position of positionsOf(feature.geometry)) expect(inBounds(position), `${ref(feature)} ${position}`).to.equal(true);
        for (const ring of ringsOf(feature.geometry)) {
          rings++;
          expect(ring.length, ref(feature)).to.be.at.least(4);
          expect(ring[ring.length - 1], `${ref(feature)} closed`).to.deep.equal(ring[0]);
          expect(signedArea(ring), `${ref(feature)} counter-clockwise`).to.be.greaterThan(0);
        }
        if (feature.geometry.type === 'Polygon') {
          expect(turf.kinks(feature as GeoJSON.Feature<GeoJSON.Polygon>).features, `${ref(feature)} self-intersects`).to.be.empty;
        }
      }
      for (const record of fixture.minefieldRecords) {
        for (const point of (record.properties as any).referencePoints as { coordinates: number[] }[]) {
          expect(inBounds(point.coordinates), `${ref(record)} reference point`).to.equal(true);
        }
      }
    }
    expect(rings).to.be.greaterThan(DEMO_SCALE);
  });

  it('gives polygons PostGIS finds valid, and no two areas of one agency intersect', async () => {
    const polygons = demo.flatMap((fixture) => allFeatures(fixture)
      .filter((f) => f.geometry !== null && ringsOf(f.geometry).length > 0)
      .map((f) => ({ agency: fixture.agency, ref: ref(f), kind: fixture.hazardousAreas.includes(f as GeoJSON.Feature) ? 'area' : 'other', geometry: JSON.stringify(f.geometry) })));
    const { rows } = await getHarness().db.raw(
      `WITH g AS (SELECT r.agency, r.ref, r.kind, ST_SetSRID(ST_GeomFromGeoJSON(r.geometry), 4326) AS geom
                  FROM json_to_recordset(?::json) AS r(agency text, ref text, kind text, geometry text))
       SELECT (SELECT count(*) FROM g)::int AS total,
              (SELECT coalesce(json_agg(ref || ': ' || ST_IsValidReason(geom)), '[]') FROM g WHERE NOT ST_IsValid(geom)) AS invalid,
              (SELECT coalesce(json_agg(a.ref || ' × ' || b.ref), '[]') FROM g a JOIN g b
                 ON a.agency = b.agency AND a.kind = 'area' AND b.kind = 'area' AND a.ref < b.ref AND ST_Intersects(a.geom, b.geom)) AS overlapping,
              (SELECT count(*) FROM g WHERE kind = 'area')::int AS areas`,
      [JSON.stringify(polygons)],
    );
    expect(rows[0].total).to.equal(polygons.length);
    expect(rows[0].areas).to.equal(DEMO_SCALE);
    expect(rows[0].invalid).to.deep.equal([]);
    expect(rows[0].overlapping).to.deep.equal([]);
  });

  it('has the intended sizes: mostly CHA, CHAs mostly 5,000–200,000 m², SHAs larger, a few tiny and thin areas', () => {
    const areas = demo.flatMap((f) => f.hazardousAreas);
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const cha = areas.filter((f) => f.properties!.classification === 'CHA').map((f) => turf.area(f));
    const sha = areas.filter((f) => f.properties!.classification === 'SHA').map((f) => turf.area(f));
    expect(cha.length / areas.length).to.be.within(0.6, 0.8);
    expect(cha.filter((a) => a >= 5_000 && a <= 200_000).length / cha.length).to.be.greaterThan(0.7);
    expect(median(sha)).to.be.greaterThan(median(cha));
    expect(Math.max(...sha)).to.be.below(5_000_000);
    const tiny = areas.filter((f) => turf.area(f) < 100).length;
    const thin = areas.filter((f) => {
      const b = turf.bbox(f);
      return turf.area(f) < 6_000 && (f.geometry as GeoJSON.Polygon).coordinates[0].length === 5 && b[2] - b[0] + b[3] - b[1] > 0.002;
    }).length;
    expect(tiny).to.be.at.least(3);
    expect(thin).to.be.at.least(3);
  });

  it('puts every land release inside its area, full releases cleared, partial ones 3 m clear of the edge, none overlapping', () => {
    let full = 0, partial = 0;
    for (const fixture of demo) {
      const byRef = new Map(fixture.hazardousAreas.map((a) => [ref(a), a as GeoJSON.Feature<GeoJSON.Polygon>]));
      const perArea = new Map<string, GeoJSON.Feature<GeoJSON.Polygon>[]>();
      for (const release of fixture.landReleases) {
        const area = byRef.get(release.properties.hazardousAreaLocalRef);
        expect(area, `${ref(release)} refers to a missing area`).not.to.equal(undefined);
        expect(release.properties).not.to.have.property('hazardousAreaId');
        const r = release as GeoJSON.Feature<GeoJSON.Polygon>;
        const outside = turf.difference(turf.featureCollection([r, area!]));
        expect(outside ? turf.area(outside) : 0, `${ref(release)} m² outside`).to.be.below(1);
        if (JSON.stringify(r.geometry.coordinates) === JSON.stringify(area!.geometry.coordinates)) {
          full++;
          expect((release.properties as any).method, ref(release)).to.equal('cleared');
        } else {
          partial++;
          const grown = turf.buffer(r, 3, { units: 'meters' }) as GeoJSON.Feature<GeoJSON.Polygon>;
          const grownOutside = turf.difference(turf.featureCollection([grown, area!]));
          expect(grownOutside ? turf.area(grownOutside) : 0, `${ref(release)} within 3 m of the edge`).to.be.below(1);
        }
        perArea.set(release.properties.hazardousAreaLocalRef, [...(perArea.get(release.properties.hazardousAreaLocalRef) ?? []), r]);
      }
      for (const [areaRef, list] of perArea) {
        for (let i = 0; i < list.length; i++) for (let j = i + 1; j < list.length; j++) {
          const overlap = turf.intersect(turf.featureCollection([list[i], list[j]]));
          expect(overlap ? turf.area(overlap) : 0, `releases of ${areaRef} overlap`).to.be.below(1);
        }
      }
      if (fixture.agency === 'ANAMA') expect(perArea.size / fixture.hazardousAreas.length).to.be.within(0.2, 0.45);
    }
    expect(full).to.be.greaterThan(0);
    expect(partial).to.be.greaterThan(0);
  });

  it('resolves every link and informant code, with unique localRefs and synthetic names', () => {
    for (const fixture of demo) {
      const refs = new Set(fixture.hazardousAreas.map(ref));
      const codes = new Set(fixture.informants.map((i) => i.code));
      expect(codes.size).to.equal(fixture.informants.length);
      for (const informant of fixture.informants) {
        expect(informant.fullName).to.match(/synthetic/i);
        expect(informant.contact).to.match(/\.invalid$/);
      }
      for (const record of fixture.minefieldRecords) for (const areaRef of record.properties.hazardousAreaLocalRefs) expect(refs.has(areaRef), areaRef).to.equal(true);
      for (const testimony of fixture.testimonies) {
        for (const link of testimony.properties.hazardousAreaLinkRefs) expect(refs.has(link.localRef), link.localRef).to.equal(true);
        expect(codes.has((testimony.properties as any).informantCode)).to.equal(true);
      }
      const localRefs = allFeatures(fixture).map(ref);
      expect(new Set(localRefs).size, `${fixture.agency} localRefs unique`).to.equal(localRefs.length);
      for (const area of fixture.hazardousAreas) expect((area.properties!.name as any).en).to.match(/^Synthetic /);
    }
    const narratives = demo.flatMap((f) => f.testimonies.map((t) => (t.properties as any).narrative as { language: string; text: string }));
    for (const [language, script] of [['ru', /[\u0400-\u04FF]/], ['hy', /[\u0530-\u058F]/], ['ka', /[\u10A0-\u10FF]/]] as const) {
      expect(narratives.some((n) => n.language === language && script.test(n.text)), `a ${language} narrative in its script`).to.equal(true);
    }
  });

  it('gives properties the API schemas accept once the loader has resolved the references', () => {
    const validators = {
      area: compileValidator(hazardousAreaSchema), release: compileValidator(landReleaseSchema),
      record: compileValidator(minefieldRecordSchema), testimony: compileValidator(testimonySchema),
    };
    let n = 0;
    for (const fixture of demo) {
      for (const f of fixture.hazardousAreas) { expect(validators.area(f.properties), ref(f)).to.deep.equal([]); n++; }
      for (const f of fixture.landReleases) {
        const { hazardousAreaLocalRef, ...rest } = f.properties;
        expect(validators.release({ ...rest, hazardousAreaId: FAKE_UUID }), ref(f)).to.deep.equal([]); n++;
      }
      for (const f of fixture.minefieldRecords) {
        const { hazardousAreaLocalRefs, ...rest } = f.properties;
        expect(validators.record({ ...rest, hazardousAreaIds: hazardousAreaLocalRefs.map(() => FAKE_UUID).slice(0, 1) }), ref(f)).to.deep.equal([]); n++;
      }
      for (const f of fixture.testimonies) {
        const { hazardousAreaLinkRefs, ...rest } = f.properties;
        expect(validators.testimony({ ...rest, hazardousAreaLinks: hazardousAreaLinkRefs.map((l) => ({ hazardousAreaId: FAKE_UUID, relation: l.relation })) }), ref(f)).to.deep.equal([]); n++;
      }
    }
    expect(n).to.equal(demo.reduce((s, f) => s + allFeatures(f).length, 0));
  });

  it('names each geometry defect once, and its projected examples match PostGIS transforms of their WGS 84 polygons', async () => {
    expect(new Set(GEOMETRY_EXAMPLES.map((d) => d.name)).size).to.equal(GEOMETRY_EXAMPLES.length);
    for (const d of GEOMETRY_EXAMPLES) if (d.expectedReason !== null) expect(() => new RegExp(d.expectedReason!, 'i')).not.to.throw();
    expect(DEFECTS.every((d) => d.expectedReason !== null)).to.equal(true);
    expect(VALID_PROJECTED.every((d) => d.expectedReason === null)).to.equal(true);
    const bowTie = DEFECTS.find((d) => d.name === 'self-intersecting-bow-tie')!;
    expect(turf.kinks(turf.polygon(bowTie.geometry.coordinates as GeoJSON.Position[][])).features).not.to.be.empty;
    for (const example of VALID_PROJECTED) {
      const ring = (example.geometry.coordinates as number[][][])[0];
      expect(ring.length).to.be.at.least(4);
      expect(ring[ring.length - 1]).to.deep.equal(ring[0]);
      expect(example.wgs84, example.name).not.to.equal(undefined);
      // The largest distance, in metres of the projected CRS, between the example and PostGIS's own transform.
      const { rows } = await getHarness().db.raw(
        'SELECT ST_HausdorffDistance(ST_Transform(ST_SetSRID(ST_GeomFromGeoJSON(?), 4326), ?::integer), ST_SetSRID(ST_GeomFromGeoJSON(?), ?::integer)) AS m',
        [JSON.stringify(example.wgs84), example.srid, JSON.stringify(example.geometry), example.srid],
      );
      // Snyder's series for UTM is exact to millimetres; the Pulkovo datum shift may differ by PROJ version.
      expect(rows[0].m, example.name).to.be.below(example.srid === 32638 ? 0.05 : 0.5);
    }
    expect(duplicatedLocalRef.features[0].properties!.localRef).to.equal(duplicatedLocalRef.features[1].properties!.localRef);
  });
});

describe('a small fixture loaded through the demo loader, read back through the API', () => {
  // Seed and scale used by no other test; localRefs look like ANAMA-HA-000001, informants ANAMA-INF-0001.
  const fixtures = generateFixtures({ hazardousAreas: 30, seed: 99 });
  const pattern = (agency: string, kind: string) => new RegExp(`^${agency}-${kind}-\\d{6}(-\\d+)?$`);

  async function itemsOf(collection: string, agency: string, kind: string) {
    const response = await api('GET', `/collections/${collection}/items?limit=10000`, { token: tokenFor(agency, 'viewer') });
    expect(response.status, response.text).to.equal(200);
    expect(response.body.numberReturned).to.equal(response.body.numberMatched);
    return (response.body.features as any[]).filter((f) => pattern(agency, kind).test(f.properties.localRef));
  }

  before(async function () {
    this.timeout(60000);
    for (const fixture of fixtures) await loadAgencyFixture(getHarness().db, fixture);
  });

  it('shows each agency exactly its own records of every kind, and no other agency\'s', async () => {
    for (const fixture of fixtures) {
      const { agency } = fixture;
      const sorted = (features: { properties: any }[]) => features.map((f) => f.properties.localRef as string).sort();
      expect(sorted(await itemsOf('hazardous-areas', agency, 'HA')), `${agency} areas`).to.deep.equal(sorted(fixture.hazardousAreas as any));
      expect(sorted(await itemsOf('land-releases', agency, 'LR')), `${agency} releases`).to.deep.equal(sorted(fixture.landReleases));
      expect(sorted(await itemsOf('minefield-records', agency, 'MFR')), `${agency} minefield records`).to.deep.equal(sorted(fixture.minefieldRecords));
      expect(sorted(await itemsOf('testimonies', agency, 'TST')), `${agency} testimonies`).to.deep.equal(sorted(fixture.testimonies));
      for (const other of AGENCIES.filter((a) => a !== agency)) {
        const seen = await api('GET', '/collections/hazardous-areas/items?limit=10000', { token: tokenFor(agency, 'viewer') });
        expect(seen.body.features.filter((f: any) => pattern(other, 'HA').test(f.properties.localRef)), `${agency} sees ${other}`).to.deep.equal([]);
      }
      const informants = await api('GET', '/informants', { token: tokenFor(agency, 'editor') });
      const codes = informants.body.informants.map((i: any) => i.code).filter((code: string) => code.startsWith(`${agency}-INF-`)).sort();
      expect(codes).to.deep.equal(fixture.informants.map((i) => i.code).sort());
    }
  });

  it('closes areas with a full release, marks partly released areas worked-on with less remaining, leaves the rest open', async () => {
    let full = 0, partial = 0, untouched = 0;
    for (const fixture of fixtures) {
      const areas = new Map((await itemsOf('hazardous-areas', fixture.agency, 'HA')).map((f) => [f.properties.localRef as string, f]));
      const releases = await itemsOf('land-releases', fixture.agency, 'LR');
      for (const area of fixture.hazardousAreas) {
        const served = areas.get(ref(area))!;
        const p = served.properties;
        const own = fixture.landReleases.filter((r) => r.properties.hazardousAreaLocalRef === ref(area));
        const isFull = own.some((r) => JSON.stringify(r.geometry) === JSON.stringify(area.geometry));
        const releasedM2 = releases.filter((r) => r.properties.hazardousAreaId === served.id).reduce((s, r) => s + r.properties.areaM2, 0);
        expect(releases.filter((r) => r.properties.hazardousAreaId === served.id).length, ref(area)).to.equal(own.length);
        if (isFull) {
          full++;
          expect(p.status, ref(area)).to.equal('closed');
          expect(p.remainingAreaM2, ref(area)).to.equal(0);
        } else if (own.length > 0) {
          partial++;
          expect(p.status, ref(area)).to.equal('worked-on');
          expect(p.remainingAreaM2, ref(area)).to.be.lessThan(p.originalAreaM2);
          expect(p.remainingAreaM2, ref(area)).to.be.closeTo(p.originalAreaM2 - releasedM2, 1);
        } else {
          untouched++;
          expect(p.status, ref(area)).to.equal('open');
          expect(p.remainingAreaM2, ref(area)).to.be.closeTo(p.originalAreaM2, 0.01);
        }
      }
    }
    // The fixture has each case, so none of the checks above was skipped.
    expect(full).to.be.greaterThan(0);
    expect(partial).to.be.greaterThan(0);
    expect(untouched).to.be.greaterThan(0);
  });

  it('resolves the loader\'s references: minefield records and testimonies link the areas named by localRef', async () => {
    for (const fixture of fixtures) {
      const idByRef = new Map((await itemsOf('hazardous-areas', fixture.agency, 'HA')).map((f) => [f.properties.localRef as string, f.id as string]));
      const records = new Map((await itemsOf('minefield-records', fixture.agency, 'MFR')).map((f) => [f.properties.localRef as string, f]));
      for (const record of fixture.minefieldRecords) {
        const served = records.get(ref(record))!;
        expect([...served.properties.hazardousAreaIds].sort(), ref(record)).to.deep.equal(record.properties.hazardousAreaLocalRefs.map((r) => idByRef.get(r)).sort());
        expect(served.geometry?.type, ref(record)).to.equal('Polygon');
        if (record.geometry === null) expect(served.properties.traverseMisclosureM, ref(record)).to.be.a('number');
      }
      const testimonies = new Map((await itemsOf('testimonies', fixture.agency, 'TST')).map((f) => [f.properties.localRef as string, f]));
      for (const testimony of fixture.testimonies) {
        const served = testimonies.get(ref(testimony))!;
        expect(served.properties.informantCode).to.equal((testimony.properties as any).informantCode);
        const expected = testimony.properties.hazardousAreaLinkRefs.map((l) => ({ hazardousAreaId: idByRef.get(l.localRef), relation: l.relation }));
        const byId = (a: any, b: any) => a.hazardousAreaId.localeCompare(b.hazardousAreaId);
        expect([...served.properties.hazardousAreaLinks].sort(byId), ref(testimony)).to.deep.equal(expected.sort(byId));
        for (const informant of fixture.informants) expect(JSON.stringify(served)).not.to.include(informant.fullName);
      }
    }
  });
});
