// Feed cursors are opaque to clients: a position in the change log, and how many of the events
// an agreement change fans out into were already delivered.
import { badRequest } from '../server/problem';

export interface FeedPosition {
  seq: number;
  /** Events of the agreement change at `seq` already delivered; 0 when `seq` is complete. */
  delivered: number;
}

export const encodeCursor = (position: FeedPosition) =>
  Buffer.from(`v1:${position.seq}:${position.delivered}`).toString('base64url');

export function decodeCursor(cursor: string | undefined): FeedPosition {
  if (cursor === undefined || cursor === '') return { seq: 0, delivered: 0 };
  const match = /^v1:(\d+):(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!match) throw badRequest('the cursor is not one this service issued', [{ field: 'after', reason: 'unknown cursor' }]);
  return { seq: Number(match[1]), delivered: Number(match[2]) };
}
