// The land release rule, applied after anything that changes an area's history: the
// remaining polygon is recomputed by the database (hazardous_area_remaining), and from it
// the areas and the working status open → worked-on → closed; every status change is
// recorded with its reason, date and comment.
import type { Knex } from 'knex';

export interface StatusChangeCause {
  reason: string;
  date: string;
  comment?: string | null;
  actor: string;
  /** False when the caller already counted this change in the area's version. */
  bumpVersion: boolean;
}

export async function refreshHazardousArea(trx: Knex.Transaction, areaId: string, cause: StatusChangeCause): Promise<{ from: string; to: string }> {
  const result = await trx.raw(
    `WITH previous AS (SELECT status FROM hazardous_area WHERE id = ?),
     computed AS (SELECT hazardous_area_remaining(?::uuid) AS remaining),
     latest AS (
       SELECT is_release FROM (
         SELECT event_seq, true AS is_release FROM land_release WHERE hazardous_area_id = ? AND retired_at IS NULL
         UNION ALL
         SELECT event_seq, false FROM hazardous_area_reopening WHERE hazardous_area_id = ?
       ) AS events ORDER BY event_seq DESC LIMIT 1
     ),
     released AS (
       SELECT coalesce(ST_Area(ST_Union(geom)::geography), 0) AS m2 FROM land_release
       WHERE hazardous_area_id = ? AND retired_at IS NULL
     )
     UPDATE hazardous_area h SET
       remaining_geom = c.remaining,
       remaining_area_m2 = coalesce(ST_Area(c.remaining::geography), 0),
       released_area_m2 = r.m2,
       status = CASE WHEN c.remaining IS NULL THEN 'closed'
                     WHEN coalesce((SELECT is_release FROM latest), false) THEN 'worked-on'
                     ELSE 'open' END,
       version = h.version + CASE WHEN ? THEN 1 ELSE 0 END,
       updated_by = ?, updated_at = now()
     FROM computed c, released r, previous p
     WHERE h.id = ?
     RETURNING p.status AS from_status, h.status AS to_status`,
    [areaId, areaId, areaId, areaId, areaId, cause.bumpVersion, cause.actor, areaId],
  );
  const { from_status: from, to_status: to } = result.rows[0];
  if (from !== to) {
    await trx('hazardous_area_status_change').insert({
      hazardous_area_id: areaId, from_status: from, to_status: to, reason: cause.reason,
      status_date: cause.date, comment: cause.comment ?? null, changed_by: cause.actor,
    });
  }
  return { from, to };
}
