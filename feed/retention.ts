// The change log is kept for FEED_RETENTION_DAYS. Pruning removes a prefix (by commit order)
// and raises the horizon, so a cursor from before it gets 410 and a link to the snapshot.
import type { Knex } from 'knex';

export async function pruneChangeLog(db: Knex, retentionDays: number): Promise<number> {
  return db.transaction(async (trx) => {
    const result = await trx.raw(
      `WITH last AS (
         SELECT max(seq) AS seq FROM change_log WHERE seq IS NOT NULL AND committed_at < now() - make_interval(days => ?)
       ), gone AS (
         DELETE FROM change_log WHERE seq <= (SELECT seq FROM last) RETURNING seq
       )
       UPDATE change_log_horizon SET pruned_through = greatest(pruned_through, coalesce((SELECT max(seq) FROM gone), 0))
       RETURNING (SELECT count(*) FROM gone) AS pruned`,
      [retentionDays],
    );
    return Number(result.rows[0]?.pruned ?? 0);
  });
}
