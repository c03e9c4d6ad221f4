// An agency's own audit trail, newest last, paged by id.
import type { Knex } from 'knex';

export async function readAuditTrail(trx: Knex.Transaction, afterId: number, limit: number) {
  const rows = await trx('visible_audit_event').select('*').where('id', '>', afterId).orderBy('id').limit(limit);
  return rows.map((row: any) => ({
    id: Number(row.id), at: row.at, agency: row.agency, actor: row.actor, action: row.action,
    recordKind: row.record_kind, recordId: row.record_id, oldVersion: row.old_version, newVersion: row.new_version,
    ...(row.detail ? { detail: row.detail } : {}),
  }));
}
