// Reopening a hazardous area when residual contamination is found after it was released:
// the reopened polygon (by default the whole original area) is added back to what remains.
import { checkGeometry } from '../geo/checkGeometry';
import { FieldProblem } from '../server/problem';
import type { LockedRecord, WriteContext } from './collection';
import { declaredCrs } from './featureInput';
import { refreshHazardousArea } from './hazardousAreaStatus';
import { compileValidator } from './schemas';
import { stageGeometries } from './stageGeometry';
import { rejectIfAny } from './writeSupport';

export const reopeningSchema = {
  type: 'object',
  required: ['reason', 'date'],
  additionalProperties: false,
  properties: {
    reason: { type: 'string', minLength: 1, maxLength: 2000 },
    date: { type: 'string', format: 'date' },
    comment: { type: 'string', maxLength: 5000 },
    geometry: { type: 'object' },
    crs: { type: 'object' },
  },
} as const;
const validateReopening = compileValidator(reopeningSchema, '');

export async function reopenHazardousArea(context: WriteContext, current: LockedRecord, body: any, contentCrs: string | undefined): Promise<void> {
  const { trx, actor } = context;
  const problems: FieldProblem[] = validateReopening(body);
  const area = await trx('hazardous_area').select('status', 'information_date').where('id', current.id).first();
  if (area.status !== 'closed') {
    problems.push({ field: '/', reason: `only a closed hazardous area can be reopened; this one is ${area.status}` });
  }
  rejectIfAny(problems, false, 1);
  const srid = declaredCrs(contentCrs, body.crs, '/crs');
  if (body.geometry) {
    const issues = checkGeometry(body.geometry, { srid, allowedTypes: ['Polygon', 'MultiPolygon'], maxVertexGapM: context.maxVertexGapM });
    rejectIfAny(issues.map((issue) => ({ field: `/geometry${issue.pointer}`, reason: issue.reason })), false, 1);
    rejectIfAny(await stageGeometries(trx, [{ index: 0, properties: {}, geometry: body.geometry, srid }], false), false, 1);
    // Residual contamination is found within the area once recorded; anything beyond it is a
    // new hazardous area. Keeping it within also keeps the footprint covering what remains.
    const within = await trx.raw(
      `SELECT ST_CoveredBy(s.geom, ST_Buffer(h.original_geom::geography, 1)::geometry) AS ok
       FROM staged_geometry s, hazardous_area h WHERE s.idx = 0 AND h.id = ?`,
      [current.id],
    );
    if (!within.rows[0].ok) {
      rejectIfAny([{ field: '/geometry', reason: 'lies outside the area\'s original polygon: record contamination found beyond it as a new hazardous area' }], false, 1);
    }
  } else {
    await stageGeometries(trx, [], false);
  }
  // Without a polygon of its own, the reopening covers the whole original area.
  await trx.raw(
    `INSERT INTO hazardous_area_reopening (hazardous_area_id, geom, reason, reopened_on, comment, created_by)
     SELECT h.id, coalesce((SELECT ST_Multi(geom) FROM staged_geometry WHERE idx = 0), h.original_geom), ?, ?, ?, ?
     FROM hazardous_area h WHERE h.id = ?`,
    [body.reason, body.date, body.comment ?? null, actor, current.id],
  );
  await refreshHazardousArea(trx, current.id, { reason: `reopened: ${body.reason}`, date: body.date, comment: body.comment, actor, bumpVersion: true });
}
