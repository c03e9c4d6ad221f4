// Land release: cancelled (NTS), reduced (TS) or cleared land, each a polygon released from
// one hazardous area. A release must lie within what remains of the area (1 m tolerance);
// recording, revising or retiring one recomputes the area in the same transaction.
import type { Knex } from 'knex';
import { FieldProblem, forbidden, unprocessable } from '../server/problem';
import {
  CollectionDefinition, LockedRecord, WriteContext, enumFilter, textFilter,
} from './collection';
import type { FeatureInput } from './featureInput';
import { refreshHazardousArea } from './hazardousAreaStatus';
import { compileValidator, landReleaseSchema } from './schemas';
import { stageGeometries } from './stageGeometry';
import { checkLocalRefs, retireRecord, throwConflictsOrProblems } from './writeSupport';

const validateProperties = compileValidator(landReleaseSchema);
/** How far a released polygon may stray beyond the remaining polygon: survey-grade slack. */
export const RELEASE_TOLERANCE_M = 1;

function columnsOf(properties: Record<string, any>) {
  return {
    local_ref: properties.localRef,
    method: properties.method,
    activity: properties.activity,
    release_date: properties.releaseDate,
    operator: properties.operator,
    clearance_depth_cm: properties.clearanceDepthCm ?? null,
    devices_found: JSON.stringify(properties.devicesFound ?? []),
    handover: properties.handover ? JSON.stringify(properties.handover) : null,
  };
}

/** Locks the areas released from, in id order so that concurrent releases cannot deadlock. */
async function lockAreas(trx: Knex.Transaction, context: WriteContext, inputs: FeatureInput[], bulk: boolean): Promise<FieldProblem[]> {
  const ids = [...new Set(inputs.map((input) => input.properties.hazardousAreaId as string))].sort();
  const visible = await trx('visible_hazardous_area').select('id', 'owner_agency', 'retired_at').whereRaw('id = ANY(?::uuid[])', [ids]);
  await trx('hazardous_area').select('id').whereRaw('id = ANY(?::uuid[])', [ids]).orderBy('id').forUpdate();
  const byId = new Map(visible.map((row) => [row.id, row]));
  const problems: FieldProblem[] = [];
  for (const input of inputs) {
    const id = input.properties.hazardousAreaId;
    const area = byId.get(id);
    const at = { ...(bulk ? { feature: input.index } : {}), field: '/properties/hazardousAreaId' };
    if (!area) problems.push({ ...at, reason: `no hazardous area ${id} is visible to ${context.viewer.agency}` });
    else if (area.owner_agency !== context.viewer.agency) {
      if (!bulk) throw forbidden(`hazardous area ${id} belongs to ${area.owner_agency}; only the owner agency records land release on it`);
      problems.push({ ...at, reason: `belongs to ${area.owner_agency}; only the owner agency records land release on it` });
    } else if (area.retired_at) problems.push({ ...at, reason: `hazardous area ${id} is retired` });
  }
  return problems;
}

/** 422 unless the staged polygon lies within the area's remaining polygon, give or take the tolerance. */
async function checkWithinRemaining(trx: Knex.Transaction, input: FeatureInput, bulk: boolean, excludeRelease?: string): Promise<FieldProblem | undefined> {
  const result = await trx.raw(
    `WITH area AS (
       SELECT CASE WHEN ?::uuid IS NULL THEN remaining_geom ELSE hazardous_area_remaining(id, ?::uuid) END AS remaining
       FROM hazardous_area WHERE id = ?
     )
     SELECT a.remaining IS NULL AS closed,
       coalesce(ST_Area(ST_Difference(s.geom, a.remaining)::geography), ST_Area(s.geom::geography)) AS outside_m2,
       a.remaining IS NOT NULL AND ST_CoveredBy(s.geom, ST_Buffer(a.remaining::geography, ?)::geometry) AS within
     FROM staged_geometry s, area a WHERE s.idx = ?`,
    [excludeRelease ?? null, excludeRelease ?? null, input.properties.hazardousAreaId, RELEASE_TOLERANCE_M, input.index],
  );
  const row = result.rows[0];
  if (row.within) return undefined;
  const at = { ...(bulk ? { feature: input.index } : {}), field: '/geometry' };
  if (row.closed) return { ...at, reason: 'the hazardous area is closed: nothing remains to release' };
  const outside = Math.round(row.outside_m2 * 100) / 100;
  return { ...at, reason: `the released polygon extends ${outside} m² beyond the hazardous area's remaining polygon (tolerance ${RELEASE_TOLERANCE_M} m)`, outsideAreaM2: outside } as FieldProblem;
}

const releaseCause = (properties: Record<string, any>, actor: string, suffix = '') => ({
  reason: `land release ${properties.localRef} (${properties.method})${suffix}`,
  date: properties.releaseDate,
  actor,
  bumpVersion: true,
});

async function create(context: WriteContext, inputs: FeatureInput[], bulk: boolean): Promise<string[]> {
  const { trx, viewer, actor } = context;
  const problems = await lockAreas(trx, context, inputs, bulk);
  problems.push(...(await checkLocalRefs(trx, 'land_release', viewer.agency, inputs, bulk)));
  problems.push(...(await stageGeometries(trx, inputs, bulk)));
  throwConflictsOrProblems(problems, bulk, inputs.length);

  // One at a time: each release changes the remaining polygon the next one is checked against.
  const ids: string[] = [];
  for (const input of inputs) {
    const outside = await checkWithinRemaining(trx, input, bulk);
    if (outside) problems.push(outside);
    if (problems.length > 0) continue;
    const inserted = await trx.raw(
      `INSERT INTO land_release (owner_agency, hazardous_area_id, local_ref, method, activity, release_date, operator,
         clearance_depth_cm, devices_found, handover, geom, area_m2, input_crs, input_geometry, created_by, updated_by)
       SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?::jsonb, ST_Multi(s.geom), ST_Area(s.geom::geography), s.srid, s.input, ?, ?
       FROM staged_geometry s WHERE s.idx = ?
       RETURNING id`,
      [viewer.agency, input.properties.hazardousAreaId, ...Object.values(columnsOf(input.properties)), actor, actor, input.index],
    );
    ids.push(inserted.rows[0].id);
    await refreshHazardousArea(trx, input.properties.hazardousAreaId, releaseCause(input.properties, actor));
  }
  if (problems.length > 0) {
    if (!bulk) throw unprocessable(`${problems[0].field} ${problems[0].reason}`, problems, { outsideAreaM2: (problems[0] as any).outsideAreaM2 });
    throwConflictsOrProblems(problems, bulk, inputs.length);
  }
  return ids;
}

async function replace(context: WriteContext, current: LockedRecord, input: FeatureInput): Promise<void> {
  const { trx, actor } = context;
  const existing = await trx('land_release').select('hazardous_area_id').where('id', current.id).first();
  if (existing.hazardous_area_id !== input.properties.hazardousAreaId) {
    throw unprocessable('a land release cannot move to another hazardous area; retire it and record a new one', [
      { field: '/properties/hazardousAreaId', reason: `must stay ${existing.hazardous_area_id}` },
    ]);
  }
  await trx('hazardous_area').select('id').where('id', existing.hazardous_area_id).forUpdate();
  const problems = await checkLocalRefs(trx, 'land_release', current.owner_agency, [input], false, current.id);
  if (input.geometry) {
    problems.push(...(await stageGeometries(trx, [input], false)));
    if (problems.length === 0) {
      const outside = await checkWithinRemaining(trx, input, false, current.id);
      if (outside) throw unprocessable(`${outside.field} ${outside.reason}`, [outside], { outsideAreaM2: (outside as any).outsideAreaM2 });
    }
  }
  throwConflictsOrProblems(problems, false, 1);
  await trx('land_release').where('id', current.id).update({
    ...columnsOf(input.properties),
    version: trx.raw('version + 1'), updated_by: actor, updated_at: trx.fn.now(),
  });
  if (input.geometry) {
    await trx.raw(
      `UPDATE land_release r SET geom = ST_Multi(s.geom), area_m2 = ST_Area(s.geom::geography), input_crs = s.srid, input_geometry = s.input
       FROM staged_geometry s WHERE r.id = ? AND s.idx = 0`,
      [current.id],
    );
  }
  await refreshHazardousArea(trx, existing.hazardous_area_id, releaseCause(input.properties, actor, ' revised'));
}

async function retire(context: WriteContext, current: LockedRecord, reason: string): Promise<void> {
  const { trx, actor } = context;
  const release = await trx('land_release').select('hazardous_area_id', 'local_ref', 'method').where('id', current.id).first();
  await trx('hazardous_area').select('id').where('id', release.hazardous_area_id).forUpdate();
  await retireRecord(context, 'land_release', current, reason);
  await refreshHazardousArea(trx, release.hazardous_area_id, {
    reason: `land release ${release.local_ref} (${release.method}) retired: ${reason}`,
    date: new Date().toISOString().slice(0, 10),
    actor,
    bumpVersion: true,
  });
}

export const landReleases: CollectionDefinition = {
  id: 'land-releases',
  title: 'Land release',
  description: 'Land released from hazardous areas: cancelled by non-technical survey, reduced by technical survey, or cleared; with handover.',
  recordName: 'land release',
  table: 'land_release',
  view: 'visible_land_release',
  temporalColumn: 'release_date',
  temporalProperty: 'releaseDate',
  filters: [
    enumFilter('method', 'method', ['cancelled', 'reduced', 'cleared'], 'Release method.'),
    enumFilter('activity', 'activity', ['NTS', 'TS', 'clearance'], 'Activity that released the land.'),
    textFilter('hazardousAreaId', 'hazardous_area_id', 'The hazardous area released from.', 'uuid'),
    textFilter('ownerAgency', 'owner_agency', 'Owner agency code.'),
    textFilter('localRef', 'local_ref', "The owner agency's own reference."),
  ],
  propertySchema: landReleaseSchema,
  inputRules: (maxVertexGapM) => ({ validateProperties, geometryTypes: ['Polygon', 'MultiPolygon'], maxVertexGapM }),
  create,
  replace,
  retire,
};
