// PostgREST's shape: the request's identity becomes transaction-local settings, read by the
// database's access views (db/migrations/*_sharing.ts). `true` as set_config's third argument
// makes them local to the transaction, so a pooled connection never carries one request's
// identity into the next. Reads run as minefield_reader, which may select from the access
// views and nothing else: a read path that reached for a base table would fail, not leak.
import type { Knex } from 'knex';
import type { Viewer } from '../server/auth/viewer';

export type TransactionMode = 'read' | 'write';

export async function withViewer<T>(
  db: Knex, viewer: Viewer | undefined, work: (trx: Knex.Transaction) => Promise<T>, mode: TransactionMode = 'read',
  options: { snapshot?: boolean; settings?: Record<string, string> } = {},
): Promise<T> {
  // A snapshot (several statements that must agree) reads in one REPEATABLE READ snapshot.
  const config = options.snapshot ? { isolationLevel: 'repeatable read' as const, readOnly: true } : undefined;
  const settings: [string, string][] = [
    ['app.agency', viewer?.agency ?? ''],
    ['app.role', viewer?.role ?? 'public'],
    ['app.subject', viewer?.subject ?? ''],
    // set_config('role') is SET LOCAL ROLE: one round trip for identity, role and any extra setting.
    ['role', mode === 'read' ? 'minefield_reader' : 'minefield_writer'],
    ...Object.entries(options.settings ?? {}),
  ];
  const statement = 'SELECT ' + settings.map(() => 'set_config(?, ?, true)').join(', ');
  return db.transaction(async (trx) => {
    await trx.raw(statement, settings.flat());
    return work(trx);
  }, config);
}
