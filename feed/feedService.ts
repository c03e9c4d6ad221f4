// The viewer's change feed. The database decides what the viewer saw before and after each
// change and what kind of event the pair makes (feed_entries, feed_agreement_fanout: the same
// projection as every other read path): create with the whole projection, delete with the id
// only, update with its JSON Patch and the geometry added and removed. The parts arrive as JSON
// text; this wraps them into events without parsing or re-encoding them, and pages through the log.
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

/** Receives a page's events as JSON text, in order; may wait (back-pressure). */
export interface FeedSink {
  /** Called once, after the cursor was checked and before the first event. */
  begin(): void;
  event(json: string): void | Promise<void>;
}

/** One row of feed_entries / feed_agreement_fanout. */
interface EntryRow {
  seq: number;
  time: string | null;
  record_kind: string | null;
  record_id: string | null;
  acting_agency: string | null;
  version: number | null;
  operation: 'create' | 'update' | 'delete' | 'agreement' | 'scanned';
  feature: string | null;
  /** An update's JSON Patch, as JSON text (made by the database). */
  patch: string | null;
  geometry: string | null;
  scanned: number | null;
  /** feed_entries' 'scanned' row: the last entry of the log in the snapshot read. */
  log_end?: number;
}

const ENTRY_COLUMNS = 'seq, "time", record_kind, record_id, acting_agency, version, operation, feature, patch, geometry, scanned';

/** The event as JSON text (the database's feature, patch and geometry change are JSON already). */
function eventJson(row: EntryRow, cursor: string): string {
  let body: string;
  if (row.operation === 'create') body = `,"feature":${row.feature}`;
  else if (row.operation === 'update') body = `,"patch":${row.patch}${row.geometry ? `,"geometry":${row.geometry}` : ''}`;
  else body = '';
  return `{"cursor":"${cursor}","time":${JSON.stringify(row.time)},"recordKind":${JSON.stringify(COLLECTION_OF_KIND[row.record_kind!])},`
    + `"id":"${row.record_id}","version":${row.version ?? 'null'},"actingAgency":${JSON.stringify(row.acting_agency)},"operation":"${row.operation}"${body}}`;
}

/** A range of the log being read: entries after `after` up to `through`, at most `size`. */
interface Range {
  after: number;
  through: number;
  size: number;
  rows: Promise<EntryRow[]>;
}

export class FeedService {
  private readonly readers: number;

  /**
   * @param batch entries (or records of an agreement change) read per query
   * @param maxScan entries one page may read: a viewer that sees little of a long log gets a
   *   short page with a cursor past what it read, rather than holding one request for all of it
   * @param readers ranges of the log read side by side, each in its own read transaction (on
   *   its own connection); 1 on a pool of one connection
   */
  constructor(private readonly db: Knex, private readonly batch = 2000, private readonly maxScan = 50_000, readers = 2) {
    const poolMax = Number((db.client as { config?: { pool?: { max?: number } } }).config?.pool?.max ?? 10);
    this.readers = Math.max(1, Math.min(readers, poolMax - 1));
  }

  /** A page of events as objects (the live stream, tests). */
  async page(viewer: Viewer, cursor: string | undefined, limit: number, snapshotUrl: string): Promise<FeedPage> {
    const events: FeedEvent[] = [];
    const end = await this.write(viewer, cursor, limit, snapshotUrl, { begin: () => undefined, event: (json) => { events.push(JSON.parse(json)); } });
    return { events, ...end };
  }

  /**
   * A page of events, each handed to `sink` as JSON text as soon as it is read: a large page is
   * never held whole. 410 (before `sink.begin`) when the cursor is older than the retention.
   */
  async write(viewer: Viewer, cursor: string | undefined, limit: number, snapshotUrl: string, sink: FeedSink): Promise<{ cursor: string; caughtUp: boolean }> {
    const start = decodeCursor(cursor);
    let begun = false;
    const events: FeedSink = {
      begin: () => { if (!begun) { begun = true; sink.begin(); } },
      event: (json) => { events.begin(); return sink.event(json); },
    };
    try {
      const end = await this.collect(viewer, start, limit, events);
      events.begin();
      return end;
    } catch (error) {
      // Raised by feed_entries, in the snapshot it reads: the entries after the cursor are gone.
      if ((error as { code?: string }).code === 'P0410' && !begun) {
        const horizon = Number((await withViewer(this.db, viewer, (trx) => trx.raw('SELECT feed_horizon() AS h'))).rows[0].h);
        throw new Problem(410, 'Gone', `changes up to ${horizon} were pruned after the retention period; resynchronise from the snapshot`, {
          snapshot: snapshotUrl,
        });
      }
      throw error;
    }
  }

  /**
   * Reads the log in ranges after the cursor, `readers` of them at a time, and hands out their
   * events in order. Every entry up to the last one visible is committed (numbering is in commit
   * order), so ranges read in separate transactions fit together: a range whose read saw the
   * log end inside it ends the page, and any range after it is dropped unread.
   */
  private async collect(viewer: Viewer, start: FeedPosition, limit: number, sink: FeedSink): Promise<{ cursor: string; caughtUp: boolean }> {
    let emitted = 0;
    let position = start;
    let scanned = 0;
    let planned = 0;
    const done = (caughtUp: boolean) => ({ cursor: encodeCursor(position), caughtUp });
    // An agreement change cut short by the previous page continues where it stopped.
    if (position.after !== null) {
      const horizon = Number((await withViewer(this.db, viewer, (trx) => trx.raw('SELECT feed_horizon() AS h'))).rows[0].h);
      if (position.seq <= horizon) throw Object.assign(new Error('pruned'), { code: 'P0410' });
      const fanned = await this.fanout(viewer, position, limit, sink);
      position = fanned.position;
      emitted += fanned.emitted;
      if (emitted >= limit) return done(false);
    }
    // Events per entry so far: sizes the ranges, so a dense page does not read entries it will
    // not deliver, and a sparse one does not take many small reads.
    const density = () => (scanned > 0 ? Math.max(emitted / scanned, 0.01) : 1);
    const ranges: Range[] = [];
    let next = position.seq;
    const plan = () => {
      while (ranges.length < this.readers && planned < this.maxScan) {
        const expected = ranges.reduce((n, range) => n + range.size * density(), 0);
        const wanted = limit - emitted - expected;
        if (ranges.length > 0 && wanted <= 0) return;
        const size = Math.min(this.batch, this.maxScan - planned, Math.max(100, Math.ceil((Math.max(wanted, 1) / density()) * 1.1)));
        const after = next;
        const rows = withViewer(this.db, viewer, async (trx) => (await trx.raw(
          `SELECT ${ENTRY_COLUMNS}, log_end FROM feed_entries(?, ?, ?)`, [after, size, after + size])).rows as EntryRow[]);
        rows.catch(() => undefined); // awaited below, or dropped once the page is complete
        ranges.push({ after, through: after + size, size, rows });
        next = after + size;
        planned += size;
      }
    };
    plan();
    while (ranges.length > 0) {
      const range = ranges.shift()!;
      const rows = await range.rows;
      plan();
      for (const row of rows) {
        if (row.operation === 'scanned') {
          scanned += row.scanned!;
          // Past everything in the range; where the log ends inside it, the page is complete.
          position = { seq: Math.max(range.after, Math.min(row.log_end!, range.through)), after: null };
          if (row.log_end! < range.through) return done(true);
          continue;
        }
        if (row.operation === 'agreement') {
          const fanned = await this.fanout(viewer, { seq: row.seq, after: null }, limit - emitted, sink);
          position = fanned.position;
          emitted += fanned.emitted;
        } else {
          position = { seq: row.seq, after: null };
          await sink.event(eventJson(row, encodeCursor(position)));
          emitted++;
        }
        if (emitted >= limit) return done(false);
      }
    }
    return done(false);
  }

  /** The events an agreement change makes for the viewer, after `position.after`, at most `room`. */
  private async fanout(viewer: Viewer, position: FeedPosition, room: number, sink: FeedSink): Promise<{ position: FeedPosition; emitted: number }> {
    let after = position.after;
    let emitted = 0;
    for (;;) {
      // Records read per query: what the room left needs, not a whole batch for a page of one.
      const size = Math.min(this.batch, Math.max(2 * (room - emitted), 50));
      const rows: EntryRow[] = (await withViewer(this.db, viewer, (trx) => trx.raw(
        `SELECT ${ENTRY_COLUMNS} FROM feed_agreement_fanout(?, ?::uuid, ?)`, [position.seq, after, size]))).rows;
      if (rows.length === 0) return { position: { seq: position.seq, after: null }, emitted };
      for (const row of rows) {
        after = row.record_id;
        if (row.operation === 'scanned') {
          if (row.scanned! < size) return { position: { seq: position.seq, after: null }, emitted };
          continue;
        }
        await sink.event(eventJson(row, encodeCursor({ seq: position.seq, after })));
        if (++emitted >= room) return { position: { seq: position.seq, after }, emitted };
      }
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
