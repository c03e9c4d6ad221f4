// PostgREST's shape: the request's identity becomes transaction-local settings, read by the
// database's own access views (see docs/architecture.md). `true` as set_config's third
// argument makes them local to the transaction, so a pooled connection never carries one
// request's identity into the next.
import type { Knex } from 'knex';
import type { Viewer } from '../server/auth/viewer';

export async function withViewer<T>(db: Knex, viewer: Viewer | undefined, work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  return db.transaction(async (trx) => {
    await trx.raw(
      "SELECT set_config('app.agency', ?, true), set_config('app.role', ?, true), set_config('app.subject', ?, true)",
      [viewer?.agency ?? '', viewer?.role ?? 'public', viewer?.subject ?? ''],
    );
    return work(trx);
  });
}
