import type { Knex } from 'knex';

// Footprints without the checks and the fallback: the construction now guarantees what
// 20261123_04 had to verify per row (ST_IsValid, ST_Covers, else an envelope), and that
// verification was most of the cost of inserting a hazardous area (a bulk import spent about
// half its time in footprint_of).
//
// Every vertex of the convex hull is moved 1.5 cells down-left, down-right, up-right and
// up-left and then rounded to the nearest 0.001° grid point. Rounding moves a coordinate by at
// most half a cell, so each of the four lands at least one whole cell (and at most two) from
// the vertex along both axes: the vertex lies inside the square they span, with a margin of a
// cell. The footprint is the convex hull of all those grid points, so it covers the hull of the
// geometry grown by that square, hence the geometry with at least a 0.001° margin everywhere
// (floating-point error is ~1e-14°, nowhere near the margin). Its vertices are a subset of
// those grid points, so it is on the grid exactly. Each vertex contributes a square of positive
// area, so the hull is always a valid polygon. Same geometry, same footprint: deterministic.
//
// plpgsql, not SQL: the hull's vertices are needed four times, and a SQL function that names a
// value four times is either evaluated four times or, with a FROM clause, run through the SQL
// function executor per row; both measured slower.
const FOOTPRINT_FUNCTION = `
  CREATE OR REPLACE FUNCTION footprint_of(g geometry) RETURNS geometry LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
  DECLARE
    corners geometry;
  BEGIN
    IF g IS NULL THEN RETURN NULL; END IF;
    corners := ST_Points(ST_Force2D(ST_ConvexHull(g)));
    RETURN ST_ConvexHull(ST_Collect(ARRAY[
      ST_SnapToGrid(ST_Translate(corners, -0.0015, -0.0015), 0.001),
      ST_SnapToGrid(ST_Translate(corners,  0.0015, -0.0015), 0.001),
      ST_SnapToGrid(ST_Translate(corners,  0.0015,  0.0015), 0.001),
      ST_SnapToGrid(ST_Translate(corners, -0.0015,  0.0015), 0.001)]));
  END $$;
`;

// A stored generated column keeps the value computed when the row was written: recompute the
// existing rows so that one geometry never has two footprints (old and new construction) side
// by side. Touching the source column is what makes PostgreSQL recompute it; the version does
// not change, so the audit trigger records nothing.
const FOOTPRINT_SOURCES: Record<string, string> = {
  hazardous_area: 'original_geom',
  land_release: 'geom',
  minefield_record: 'perimeter_geom',
  testimony: 'described_geom',
};

async function recomputeFootprints(knex: Knex): Promise<void> {
  for (const [table, column] of Object.entries(FOOTPRINT_SOURCES)) {
    await knex.raw(`UPDATE ${table} SET ${column} = ${column}`);
  }
}

export async function up(knex: Knex): Promise<void> {
  await knex.raw(FOOTPRINT_FUNCTION);
  await recomputeFootprints(knex);
}

export async function down(knex: Knex): Promise<void> {
  // Back to the function as 20261123_04_sharing.ts created it.
  await knex.raw(`
    CREATE OR REPLACE FUNCTION footprint_of(g geometry) RETURNS geometry LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN g IS NULL THEN NULL
        WHEN ST_IsValid(s) AND ST_GeometryType(s) = 'ST_Polygon' AND ST_Covers(s, g) THEN s
        ELSE ST_MakeEnvelope(floor(ST_XMin(g) / 0.001) * 0.001 - 0.001, floor(ST_YMin(g) / 0.001) * 0.001 - 0.001,
                             ceil(ST_XMax(g) / 0.001) * 0.001 + 0.001, ceil(ST_YMax(g) / 0.001) * 0.001 + 0.001, 4326)
      END
      FROM (SELECT ST_SnapToGrid(ST_Buffer(ST_ConvexHull(g), 0.001, 'quad_segs=1'), 0.001) AS s) AS snapped
    $$;
  `);
  await recomputeFootprints(knex);
}
