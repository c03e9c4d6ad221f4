// Geometry checks that need PostGIS, done set-wise for a whole import: every input geometry
// goes into a transaction-local staging table in one statement per chunk, and that same
// statement parses it once, checks validity, transforms it to EPSG:4326 and checks the service
// region, returning only the rows with a problem. The reason and location of an invalid
// geometry (ST_IsValidReason, ST_IsValidDetail) are worked out afterwards for those rows only.
// Nothing is repaired: a problem is reported, not fixed.
import type { Knex } from 'knex';
import { SERVICE_REGION, crsLabel } from '../geo/crs';
import type { FieldProblem } from '../server/problem';
import type { FeatureInput } from './featureInput';
import { inChunks } from './writeSupport';

// Per statement: large enough that planning and round trips do not show on a bulk import, small
// enough that one request's JSON parameter stays a few megabytes.
const CHUNK = 10000;

export interface StageOptions {
  /**
   * Also keep what the hazardous-area import needs from each valid geometry, so no later
   * statement has to read it back and compute it again: the geodesic area (area_m2) and a key
   * (shape_key) that equal polygons always share, whatever their starting vertex.
   */
  areaAndShape?: boolean;
}

export async function stageGeometries(
  trx: Knex.Transaction, inputs: FeatureInput[], bulk: boolean, options: StageOptions = {},
): Promise<FieldProblem[]> {
  await trx.raw('DROP TABLE IF EXISTS staged_geometry');
  // raw (the geometry as entered, in its own CRS) is kept only for invalid geometries: it is
  // what their reason and location are reported in.
  await trx.raw(`
    CREATE TEMP TABLE staged_geometry (
      idx integer PRIMARY KEY,
      srid integer NOT NULL,
      input jsonb NOT NULL,
      raw geometry,
      geom geometry NOT NULL,
      valid boolean NOT NULL,
      inside boolean NOT NULL,
      area_m2 double precision,
      shape_key text
    ) ON COMMIT DROP`);
  const { minLon, minLat, maxLon, maxLat } = SERVICE_REGION;
  const extras = options.areaAndShape
    ? // Cheap and necessarily equal for equal polygons (same vertices, same box); the exact
      // comparison (normalised WKB) is left to the few rows that share one.
      `CASE WHEN valid THEN ST_Area(geom::geography) END, CASE WHEN valid THEN ST_NPoints(geom) || ' ' || box::text END`
    : 'NULL::double precision, NULL::text';
  const withGeometry = inputs.filter((input) => input.geometry !== null);
  const serialise = (chunk: FeatureInput[]) => JSON.stringify(chunk.map((input) => ({ idx: input.index, srid: input.srid, geometry: input.geometry })));
  // OFFSET 0 keeps each level a separate subquery, so the parse and the transform run once per
  // row rather than once per reference. The geometry arrives as JSON text: parsed once by
  // PostGIS and once into jsonb (input_geometry), not into jsonb and back out to text.
  // The region test compares the exact bounding box with the region, which for an axis-aligned
  // rectangle is the same question as ST_CoveredBy and needs no geometry engine.
  const results = await inChunks(withGeometry, CHUNK, serialise, (payload) => trx.raw(
    `WITH staged AS (
       INSERT INTO staged_geometry (idx, srid, input, raw, geom, valid, inside, area_m2, shape_key)
       SELECT idx, srid, input, CASE WHEN valid THEN NULL ELSE raw END, geom, valid,
         coalesce(ST_XMin(box) >= ? AND ST_XMax(box) <= ? AND ST_YMin(box) >= ? AND ST_YMax(box) <= ?, false),
         ${extras}
       FROM (
         SELECT idx, srid, input, raw, geom, valid, Box2D(geom) AS box
         FROM (
           SELECT idx, srid, input, raw, ST_IsValid(raw) AS valid,
             CASE WHEN srid = 4326 THEN raw ELSE ST_Transform(raw, 4326) END AS geom
           FROM (
             SELECT r.idx, r.srid, r.geometry::jsonb AS input, ST_SetSRID(ST_GeomFromGeoJSON(r.geometry), r.srid) AS raw
             FROM json_to_recordset(?::json) AS r(idx integer, srid integer, geometry text)
             OFFSET 0
           ) AS parsed
           OFFSET 0
         ) AS checked
         OFFSET 0
       ) AS boxed
       RETURNING idx, srid, valid, inside
     )
     SELECT idx, srid, valid, inside FROM staged WHERE NOT valid OR NOT inside`,
    [minLon, maxLon, minLat, maxLat, payload],
  ));
  const problemRows: { idx: number; srid: number; valid: boolean; inside: boolean }[] = results.flatMap((result) => result.rows);
  const problems: FieldProblem[] = [];
  if (problemRows.length === 0) return problems;
  const where = (idx: number) => (bulk ? { feature: idx } : {});
  problemRows.sort((a, b) => a.idx - b.idx);

  const invalid = problemRows.filter((row) => !row.valid).map((row) => row.idx);
  if (invalid.length > 0) {
    const detail = await trx.raw(`
      SELECT idx, ST_IsValidReason(raw) AS reason, ST_X(location) AS x, ST_Y(location) AS y
      FROM staged_geometry, LATERAL (SELECT (ST_IsValidDetail(raw)).location) AS detail
      WHERE idx = ANY(?::integer[]) ORDER BY idx`, [invalid]);
    for (const row of detail.rows) {
      problems.push({ ...where(row.idx), field: '/geometry', reason: `invalid geometry: ${row.reason}`, ...(row.x !== null ? { location: [row.x, row.y] as [number, number] } : {}) });
    }
  }
  for (const row of problemRows) {
    if (!row.valid || row.inside) continue;
    problems.push({
      ...where(row.idx),
      field: '/geometry',
      reason: `lies outside the service region (lon ${minLon}–${maxLon}, lat ${minLat}–${maxLat}) once transformed from ${crsLabel(row.srid)}: check the declared CRS and the axis order`,
    });
  }
  return problems;
}
