// The viewer's change feed. The database decides what the viewer saw before and after each
// change (feed_entries, feed_agreement_fanout: the same projection as every other read path);
// this turns the pairs into events: create with the whole projection, delete with the id only,
// update with a JSON Patch of the properties and the geometry added and removed.
import { compare } from 'fast-json-patch';
import type { Knex } from 'knex';
import { withViewer } from '../db/viewerTransaction';
import type { Viewer } from '../server/auth/viewer';
import { Problem } from '../server/problem';
import { FeedPosition, decodeCursor, encodeCursor } from './cursor';

export const COLLECTION_OF_KIND: Record<string, string> = {
  hazardous_area: 'hazardous-areas',
  land_release: 'land-releases',
  minefield_record: 'minefield-records',
  testimony: 'testimonies',
};

interface Projection {
  properties: Record<string, unknown>;
  geometry: GeoJSON.Geometry | null;
}

export interface FeedEvent {
  cursor: string;
  time: string;
  operation: 'create' | 'update' | 'delete';
  recordKind: string;
  id: string;
  version: number | null;
  actingAgency: string | null;
  feature?: GeoJSON.Feature;
  patch?: unknown[];
  geometry?: { addedM2: number; removedM2: number; added: GeoJSON.Geometry | null; removed: GeoJSON.Geometry | null; current?: GeoJSON.Geometry | null };
}

export interface FeedPage {
  events: FeedEvent[];
  /** Where to continue from: after the last event, or past entries that held nothing for the viewer. */
  cursor: string;
  /** False when the page was cut by the limit. */
  caughtUp: boolean;
}

/** One change of what the viewer sees, or nothing when the change touched only what it cannot see. */
function toEvent(base: Omit<FeedEvent, 'operation' | 'feature' | 'patch' | 'geometry'>, before: Projection | null, after: Projection | null, geometryChange: FeedEvent['geometry'] | null): FeedEvent | undefined {
  if (!before && !after) return undefined;
  if (!before) {
    return { ...base, operation: 'create', feature: { type: 'Feature', id: base.id, geometry: after!.geometry as GeoJSON.Geometry, properties: after!.properties } };
  }
  if (!after) return { ...base, operation: 'delete' };
  const patch = compare(before.properties, after.properties);
  if (patch.length === 0 && !geometryChange) return undefined;
  // The parts added and removed say what changed; the resulting shape spares a mirror rebuilding it.
  return { ...base, operation: 'update', patch, ...(geometryChange ? { geometry: { ...geometryChange, current: after.geometry } } : {}) };
}

export class FeedService {
  constructor(private readonly db: Knex, private readonly batch = 500, private readonly maxScan = 20_000) {}

  async page(viewer: Viewer, cursor: string | undefined, limit: number, snapshotUrl: string): Promise<FeedPage> {
    const start = decodeCursor(cursor);
    return withViewer(this.db, viewer, async (trx) => {
      const horizon = Number((await trx.raw('SELECT feed_horizon() AS h')).rows[0].h);
      if (start.seq < horizon) {
        throw new Problem(410, 'Gone', `changes up to ${horizon} were pruned after the retention period; resynchronise from the snapshot`, {
          snapshot: snapshotUrl,
        });
      }
      return this.collect(trx, start, limit);
    });
  }

  private async collect(trx: Knex.Transaction, start: FeedPosition, limit: number): Promise<FeedPage> {
    const events: FeedEvent[] = [];
    let position = start;
    let scanned = 0;
    for (;;) {
      // An agreement change cut short by the previous page continues where it stopped.
      if (position.after !== null) {
        const done = await this.fanout(trx, position, limit - events.length, events);
        position = done;
        if (events.length >= limit) return { events, cursor: encodeCursor(position), caughtUp: false };
      }
      // A viewer that sees little of a long log must not hold one request for all of it.
      if (scanned >= this.maxScan) return { events, cursor: encodeCursor(position), caughtUp: false };
      // Read ahead a little more than the page needs, not a whole batch for a page of three.
      const readAhead = Math.min(this.batch, Math.max(50, (limit - events.length) * 2));
      const entries = (await trx.raw('SELECT * FROM feed_entries(?, ?)', [position.seq, readAhead])).rows;
      if (entries.length === 0) return { events, cursor: encodeCursor(position), caughtUp: true };
      scanned += entries.length;
      for (const entry of entries) {
        const seq = Number(entry.seq);
        if (entry.record_id) {
          const event = toEvent(
            {
              cursor: encodeCursor({ seq, after: null }), time: new Date(entry.committed_at).toISOString(),
              recordKind: COLLECTION_OF_KIND[entry.record_kind], id: entry.record_id, version: entry.version, actingAgency: entry.acting_agency,
            },
            entry.old_projection, entry.new_projection, entry.geometry_change,
          );
          position = { seq, after: null };
          if (event) events.push(event);
        } else if (entry.grantee) {
          position = await this.fanout(trx, { seq, after: null }, limit - events.length, events, entry);
        } else {
          position = { seq, after: null };
        }
        if (events.length >= limit) return { events, cursor: encodeCursor(position), caughtUp: false };
      }
    }
  }

  /** The events an agreement change makes for the viewer, after `position.after`, at most `room`. */
  private async fanout(trx: Knex.Transaction, position: FeedPosition, room: number, events: FeedEvent[], entry?: any): Promise<FeedPosition> {
    const header = entry ?? (await trx.raw('SELECT * FROM feed_entries(?, 1)', [position.seq - 1])).rows[0];
    let after = position.after;
    let remaining = room;
    for (;;) {
      const rows = (await trx.raw('SELECT * FROM feed_agreement_fanout(?, ?::uuid, ?)', [position.seq, after, this.batch])).rows;
      for (const row of rows) {
        after = row.record_id;
        const geometryChanged = row.old_projection && row.new_projection
          && JSON.stringify(row.old_projection.geometry) !== JSON.stringify(row.new_projection.geometry);
        const event = toEvent(
          {
            cursor: encodeCursor({ seq: position.seq, after }), time: new Date(header.committed_at).toISOString(),
            recordKind: COLLECTION_OF_KIND[header.target_kind], id: row.record_id, version: row.version, actingAgency: header.acting_agency,
          },
          row.old_projection, row.new_projection,
          geometryChanged
            ? (await trx.raw('SELECT feed_geometry_change(?::jsonb, ?::jsonb) AS g', [JSON.stringify(row.old_projection.geometry), JSON.stringify(row.new_projection.geometry)])).rows[0].g
            : null,
        );
        if (event) {
          events.push(event);
          if (--remaining <= 0) return { seq: position.seq, after };
        }
      }
      if (rows.length < this.batch) return { seq: position.seq, after: null };
    }
  }

  /** A consistent snapshot of the viewer's projection and the cursor to continue the feed from. */
  async snapshot(viewer: Viewer): Promise<{ cursor: string; features: (GeoJSON.Feature & { recordKind: string })[] }> {
    return withViewer(this.db, viewer, async (trx) => {
      const seq = Number((await trx.raw('SELECT feed_snapshot_cursor() AS c')).rows[0].c);
      const rows = (await trx.raw('SELECT * FROM feed_snapshot(?) ORDER BY record_kind, record_id', [seq])).rows;
      return {
        cursor: encodeCursor({ seq, after: null }),
        features: rows.map((row: any) => ({
          type: 'Feature' as const, id: row.record_id, recordKind: COLLECTION_OF_KIND[row.record_kind],
          geometry: row.projection.geometry, properties: row.projection.properties,
        })),
      };
    }, 'read', { snapshot: true });
  }
}
