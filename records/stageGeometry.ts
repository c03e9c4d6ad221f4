// Geometry checks that need PostGIS, done set-wise for a whole import: every input geometry
// goes into a transaction-local staging table in one statement per chunk, then validity
// (ST_IsValidReason, with its location), the transform to EPSG:4326 and the service-region
// check run once over all of them. Nothing is repaired: a problem is reported, not fixed.
import type { Knex } from 'knex';
import { SERVICE_REGION, crsLabel } from '../geo/crs';
import type { FieldProblem } from '../server/problem';
import type { FeatureInput } from './featureInput';

const CHUNK = 5000;

export async function stageGeometries(trx: Knex.Transaction, inputs: FeatureInput[], bulk: boolean): Promise<FieldProblem[]> {
  await trx.raw('DROP TABLE IF EXISTS staged_geometry');
  await trx.raw(`
    CREATE TEMP TABLE staged_geometry (
      idx integer PRIMARY KEY,
      srid integer NOT NULL,
      input jsonb NOT NULL,
      raw geometry NOT NULL,
      geom geometry
    ) ON COMMIT DROP`);
  const withGeometry = inputs.filter((input) => input.geometry !== null);
  for (let start = 0; start < withGeometry.length; start += CHUNK) {
    const chunk = withGeometry.slice(start, start + CHUNK).map((input) => ({ idx: input.index, srid: input.srid, geometry: input.geometry }));
    await trx.raw(
      `INSERT INTO staged_geometry (idx, srid, input, raw)
       SELECT r.idx, r.srid, r.geometry, ST_SetSRID(ST_GeomFromGeoJSON(r.geometry), r.srid)
       FROM json_to_recordset(?::json) AS r(idx integer, srid integer, geometry jsonb)`,
      [JSON.stringify(chunk)],
    );
  }
  const problems: FieldProblem[] = [];
  const where = (idx: number) => (bulk ? { feature: idx } : {});

  const invalid = await trx.raw(`
    SELECT idx, ST_IsValidReason(raw) AS reason, ST_X(location) AS x, ST_Y(location) AS y
    FROM staged_geometry, LATERAL (SELECT (ST_IsValidDetail(raw)).location) AS detail
    WHERE NOT ST_IsValid(raw) ORDER BY idx`);
  for (const row of invalid.rows) {
    problems.push({ ...where(row.idx), field: '/geometry', reason: `invalid geometry: ${row.reason}`, ...(row.x !== null ? { location: [row.x, row.y] as [number, number] } : {}) });
  }
  const invalidSet = new Set(invalid.rows.map((row: { idx: number }) => row.idx));

  await trx.raw(`UPDATE staged_geometry SET geom = CASE WHEN srid = 4326 THEN raw ELSE ST_Transform(raw, 4326) END`);
  const outside = await trx.raw(
    `SELECT idx, srid FROM staged_geometry WHERE NOT ST_CoveredBy(geom, ST_MakeEnvelope(?, ?, ?, ?, 4326)) ORDER BY idx`,
    [SERVICE_REGION.minLon, SERVICE_REGION.minLat, SERVICE_REGION.maxLon, SERVICE_REGION.maxLat],
  );
  for (const row of outside.rows) {
    if (invalidSet.has(row.idx)) continue;
    problems.push({
      ...where(row.idx),
      field: '/geometry',
      reason: `lies outside the service region (lon ${SERVICE_REGION.minLon}–${SERVICE_REGION.maxLon}, lat ${SERVICE_REGION.minLat}–${SERVICE_REGION.maxLat}) once transformed from ${crsLabel(row.srid)}: check the declared CRS and the axis order`,
    });
  }
  return problems;
}
