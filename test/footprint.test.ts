// The footprint (footprint_of, db/migrations/*_sharing.ts) is what a viewer at level
// `footprint` sees instead of a record's geometry, and the shape every spatial search filters
// on first. Whatever the geometry — a sliver along a diagonal, a polygon smaller than a grid
// cell, a long multipolygon, a point — it must be a valid polygon on the 0.001° grid, cover the
// geometry with a cell of margin, say nothing finer than eight directions, and be the same
// every time.
import { expect } from 'chai';
import fc from 'fast-check';
import { getHarness } from './harness';

const CELL = 0.001;

/** A simple polygon (a star-shaped ring around a centre) of 3–24 vertices, from metres to kilometres across. */
const polygonArb = fc.record({
  lon: fc.double({ min: 44, max: 50, noNaN: true }),
  lat: fc.double({ min: 38.5, max: 43, noNaN: true }),
  radius: fc.double({ min: 0.000005, max: 0.05, noNaN: true }),
  // Stretch and turn: slivers along any direction, diagonals included.
  stretch: fc.double({ min: 0.02, max: 1, noNaN: true }),
  turn: fc.double({ min: 0, max: Math.PI, noNaN: true }),
  radii: fc.array(fc.double({ min: 0.3, max: 1, noNaN: true }), { minLength: 3, maxLength: 24 }),
}).map(({ lon, lat, radius, stretch, turn, radii }) => {
  const ring = radii.map((r, i) => {
    const a = (2 * Math.PI * i) / radii.length;
    const u = Math.cos(a) * r * radius;
    const v = Math.sin(a) * r * radius * stretch;
    return [lon + u * Math.cos(turn) - v * Math.sin(turn), lat + u * Math.sin(turn) + v * Math.cos(turn)];
  });
  return { type: 'Polygon', coordinates: [[...ring, ring[0]]] };
});

const geometryArb = fc.oneof(
  polygonArb,
  fc.array(polygonArb, { minLength: 2, maxLength: 4 }).map((parts) => ({ type: 'MultiPolygon', coordinates: parts.map((p) => p.coordinates) })),
  fc.record({ lon: fc.double({ min: 44, max: 50, noNaN: true }), lat: fc.double({ min: 38.5, max: 43, noNaN: true }) })
    .map(({ lon, lat }) => ({ type: 'Point', coordinates: [lon, lat] })),
);

describe('footprint_of', () => {
  it('is a valid polygon of at most 8 vertices on the 0.001° grid, covering the geometry with a cell of margin and within two of its extent', async function () {
    this.timeout(120_000);
    const { db } = getHarness();
    let checked = 0;
    await fc.assert(fc.asyncProperty(fc.array(geometryArb, { minLength: 20, maxLength: 20 }), async (geometries) => {
      const { rows } = await db.raw(
        `SELECT n, ST_IsValid(f) AS valid, GeometryType(f) AS type, ST_NPoints(f) - 1 AS vertices,
           ST_Covers(f, ST_Buffer(g, ?)) AS covered,
           ST_XMin(f) >= ST_XMin(g) - ? AND ST_XMax(f) <= ST_XMax(g) + ? AND ST_YMin(f) >= ST_YMin(g) - ? AND ST_YMax(f) <= ST_YMax(g) + ? AS near,
           ST_AsEWKB(f) = ST_AsEWKB(footprint_of(g)) AS repeatable,
           ST_SRID(f) AS srid,
           (SELECT array_agg(c) FROM (SELECT unnest(ARRAY[ST_X(d.geom), ST_Y(d.geom)]) AS c FROM ST_DumpPoints(f) AS d) AS p) AS coordinates
         FROM (SELECT n, g, footprint_of(g) AS f
               FROM (SELECT n, ST_SetSRID(ST_GeomFromGeoJSON(j), 4326) AS g FROM unnest(?::text[]) WITH ORDINALITY AS t(j, n)) AS parsed) AS x`,
        // The margin is a cell less a hair: the buffer's arcs are drawn as chords.
        [CELL * 0.99, 2 * CELL + 1e-9, 2 * CELL + 1e-9, 2 * CELL + 1e-9, 2 * CELL + 1e-9, geometries.map((g) => JSON.stringify(g))],
      );
      for (const row of rows) {
        const label = JSON.stringify(geometries[row.n - 1]);
        expect(row.valid, label).to.equal(true);
        expect(row.type, label).to.equal('POLYGON');
        expect(row.srid, label).to.equal(4326);
        expect(row.vertices, label).to.be.within(4, 8);
        expect(row.covered, label).to.equal(true);
        expect(row.near, label).to.equal(true);
        expect(row.repeatable, label).to.equal(true);
        for (const c of row.coordinates as number[]) expect(Math.abs(c / CELL - Math.round(c / CELL)), `${label}: ${c} is off the grid`).to.be.below(1e-6);
        checked++;
      }
    }), { numRuns: 25 });
    expect(checked).to.equal(500);
  });

  it('cuts the corners of a diagonal sliver, where the bounding box would show a square', async () => {
    const { db } = getHarness();
    const { rows: [row] } = await db.raw(
      `SELECT ST_Area(footprint_of(g)) / ST_Area(ST_Expand(Box2D(g), ?)) AS share
       FROM (SELECT ST_GeomFromText('POLYGON((46 40, 46.1 40.1, 46.1005 40.0995, 46.0005 39.9995, 46 40))', 4326) AS g) AS x`,
      [CELL],
    );
    expect(row.share).to.be.below(0.15);
  });

  it('is null for no geometry', async () => {
    const { db } = getHarness();
    const { rows: [row] } = await db.raw(`SELECT footprint_of(NULL::geometry) AS none, footprint_of('POLYGON EMPTY'::geometry) AS empty`);
    expect(row).to.deep.equal({ none: null, empty: null });
  });
});
