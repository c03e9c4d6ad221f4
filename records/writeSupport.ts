// Checks every record kind's write path shares.
import type { Knex } from 'knex';
import { FieldProblem, Problem, conflict, unprocessable } from '../server/problem';
import type { LockedRecord, WriteContext } from './collection';
import type { FeatureInput } from './featureInput';

/** All-or-nothing: any problem in any feature rejects the whole request with every problem listed. */
export function rejectIfAny(problems: FieldProblem[], bulk: boolean, total: number): void {
  if (problems.length === 0) return;
  const features = new Set(problems.map((problem) => problem.feature).filter((index) => index !== undefined));
  const detail = bulk
    ? `${features.size} of ${total} features were rejected; nothing was imported`
    : problems.length === 1 ? `${problems[0].field} ${problems[0].reason}` : `${problems.length} problems in the feature`;
  throw unprocessable(detail, problems);
}

/** Local references identify a record within its agency: duplicates are a classic national-database defect. */
export async function checkLocalRefs(
  trx: Knex.Transaction, table: string, owner: string, inputs: FeatureInput[], bulk: boolean, excludeId?: string,
): Promise<FieldProblem[]> {
  const problems: FieldProblem[] = [];
  const seen = new Map<string, number>();
  for (const input of inputs) {
    const ref = input.properties.localRef as string;
    const first = seen.get(ref);
    if (first !== undefined) {
      problems.push({ ...(bulk ? { feature: input.index } : {}), field: '/properties/localRef', reason: `duplicates the localRef "${ref}" of feature ${first} in this import` });
    } else {
      seen.set(ref, input.index);
    }
  }
  const existing = await trx(table)
    .select('id', 'local_ref')
    .where('owner_agency', owner)
    .whereNull('retired_at')
    // One array parameter: a bulk import can carry more references than a statement has parameters.
    .whereRaw('local_ref = ANY(?::text[])', [[...seen.keys()]])
    .modify((query) => { if (excludeId) query.whereNot('id', excludeId); });
  for (const row of existing) {
    problems.push({ ...(bulk ? { feature: seen.get(row.local_ref) } : {}), field: '/properties/localRef', reason: `"${row.local_ref}" is already used by record ${row.id}` });
  }
  return problems;
}

/** A duplicate localRef is a conflict with existing data rather than a malformed request. */
export function throwConflictsOrProblems(problems: FieldProblem[], bulk: boolean, total: number): void {
  if (problems.length === 0) return;
  if (!bulk && problems.every((problem) => /already used by|duplicates/.test(problem.reason))) {
    throw conflict(problems.map((problem) => problem.reason).join('; '), problems);
  }
  rejectIfAny(problems, bulk, total);
}

/**
 * Runs one statement per chunk, serialising the next chunk's parameters while the database works
 * on the current one: on a bulk import the JSON of the next chunk is otherwise dead time.
 */
export async function inChunks<T, R>(
  items: T[], size: number, serialise: (chunk: T[]) => string, run: (payload: string, chunk: T[]) => PromiseLike<R>,
): Promise<R[]> {
  const results: R[] = [];
  let chunk = items.slice(0, size);
  let payload = chunk.length > 0 ? serialise(chunk) : '';
  for (let start = 0; start < items.length; start += size) {
    const pending = Promise.resolve(run(payload, chunk));
    // Handled below; without this a failure while the next chunk is serialised would count as
    // an unhandled rejection.
    pending.catch(() => {});
    // Let the query reach the socket before the synchronous serialising starts.
    await new Promise((resolve) => setImmediate(resolve));
    chunk = items.slice(start + size, start + 2 * size);
    payload = chunk.length > 0 ? serialise(chunk) : '';
    results.push(await pending);
  }
  return results;
}

export function assertIsProblem(error: unknown): asserts error is Problem {
  if (!(error instanceof Problem)) throw error;
}

/** Retiring keeps the row: it leaves lists, answers 410, and its version moves on. */
export async function retireRecord(context: WriteContext, table: string, current: LockedRecord, reason: string): Promise<void> {
  const { trx, actor } = context;
  await trx(table).where('id', current.id).update({
    retired_at: trx.fn.now(), retired_by: actor, retired_reason: reason,
    version: trx.raw('version + 1'), updated_by: actor, updated_at: trx.fn.now(),
  });
}
