// Feed cursors are opaque to clients: a position in the change log and, inside the events an
// agreement change fans out into, the last record id already covered.
import { badRequest } from '../server/problem';

export interface FeedPosition {
  seq: number;
  /** Inside the fan-out of the agreement change at `seq`: the last record id covered; null when `seq` is complete. */
  after: string | null;
}

export const encodeCursor = (position: FeedPosition) =>
  Buffer.from(`v2:${position.seq}:${position.after ?? ''}`).toString('base64url');

export function decodeCursor(cursor: string | undefined): FeedPosition {
  if (cursor === undefined || cursor === '') return { seq: 0, after: null };
  const match = /^v2:(\d+):([0-9a-f-]{36})?$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!match) throw badRequest('the cursor is not one this service issued', [{ field: 'after', reason: 'unknown cursor' }]);
  return { seq: Number(match[1]), after: match[2] ?? null };
}
