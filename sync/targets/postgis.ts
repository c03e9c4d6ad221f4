// Mirror into PostGIS: schema `mirror` (or --schema) with one table per record kind and
// mirror.sync_state. Each page of events and its cursor commit in one transaction, which also
// checks that the saved cursor is still the one the page was fetched from — a crash, or a
// second sync of the same mirror, can neither lose nor double-apply a change.
import pg from 'pg';
import { FeedEvent, MirrorFeature, MirrorInconsistency, RECORD_KINDS, RecordKind, Snapshot, SnapshotFeature, Target, applyEvents, isRecordKind } from '../client';

export const tableOf = (kind: RecordKind) => kind.replace(/-/g, '_');

/** Another run moved the saved cursor under us: stop rather than apply twice. */
export class CursorConflict extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CursorConflict';
  }
}

const INSERT_BATCH = 1000;

export class PostgisTarget implements Target {
  readonly description: string;
  private client: pg.Client | undefined;
  private sourceUrl = '';
  private readonly schema: string;

  constructor(private readonly connectionString: string, schema = 'mirror') {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) throw new Error(`--schema must be a plain SQL identifier, not ${JSON.stringify(schema)}`);
    this.schema = schema;
    const url = new URL(connectionString);
    url.password = url.password ? '***' : '';
    this.description = `${url.toString()} (schema ${schema})`;
  }

  private get db(): pg.Client {
    if (!this.client) throw new Error('target not open');
    return this.client;
  }

  private table(kind: RecordKind | 'sync_state'): string {
    const name = kind === 'sync_state' ? kind : tableOf(kind);
    return `${this.db.escapeIdentifier(this.schema)}.${this.db.escapeIdentifier(name)}`;
  }

  async open(sourceUrl: string): Promise<void> {
    this.sourceUrl = sourceUrl;
    const client = new pg.Client({ connectionString: this.connectionString, application_name: 'minefield-records sync' });
    await client.connect();
    this.client = client;
    client.on('error', () => undefined);
    try {
      await client.query('CREATE EXTENSION IF NOT EXISTS postgis');
    } catch (error) {
      throw new Error(`the target database needs PostGIS, and CREATE EXTENSION postgis failed: ${(error as Error).message}`);
    }
    // One sync per mirror schema at a time; a second waits for nothing and stops.
    const lock = await client.query('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [`minefield-sync:${this.schema}`]);
    if (!lock.rows[0].ok) throw new CursorConflict(`another sync is running into schema ${this.schema} of this database`);
    await client.query('BEGIN');
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${client.escapeIdentifier(this.schema)}`);
      for (const kind of RECORD_KINDS) {
        await client.query(`CREATE TABLE IF NOT EXISTS ${this.table(kind)} (
          id uuid PRIMARY KEY,
          properties jsonb NOT NULL,
          geom geometry(Geometry, 4326),
          updated_at timestamptz NOT NULL DEFAULT now())`);
        await client.query(`CREATE INDEX IF NOT EXISTS ${client.escapeIdentifier(`${tableOf(kind)}_geom`)} ON ${this.table(kind)} USING gist (geom)`);
      }
      await client.query(`CREATE TABLE IF NOT EXISTS ${this.table('sync_state')} (
        source_url text PRIMARY KEY,
        cursor text,
        updated_at timestamptz NOT NULL DEFAULT now())`);
      const others = await client.query(`SELECT source_url FROM ${this.table('sync_state')} WHERE source_url <> $1`, [sourceUrl]);
      if (others.rows.length > 0) {
        throw new CursorConflict(`schema ${this.schema} mirrors ${others.rows[0].source_url}; use another --schema for ${sourceUrl}`);
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }

  async cursor(): Promise<string | undefined> {
    const result = await this.db.query(`SELECT cursor FROM ${this.table('sync_state')} WHERE source_url = $1`, [this.sourceUrl]);
    return result.rows[0]?.cursor ?? undefined;
  }

  private async transaction<T>(work: () => Promise<T>): Promise<T> {
    await this.db.query('BEGIN');
    try {
      const result = await work();
      await this.db.query('COMMIT');
      return result;
    } catch (error) {
      await this.db.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }

  /** Locks the state row and checks it still holds `expected`. */
  private async claim(expected: string | undefined): Promise<void> {
    const row = (await this.db.query(`SELECT cursor FROM ${this.table('sync_state')} WHERE source_url = $1 FOR UPDATE`, [this.sourceUrl])).rows[0];
    const saved = row?.cursor ?? undefined;
    if (saved !== expected) throw new CursorConflict(`the saved cursor moved while this page was fetched (expected ${expected ?? 'none'}, found ${saved ?? 'none'}): is another sync running?`);
  }

  private async saveCursor(cursor: string): Promise<void> {
    await this.db.query(
      `INSERT INTO ${this.table('sync_state')} (source_url, cursor, updated_at) VALUES ($1, $2, now())
       ON CONFLICT (source_url) DO UPDATE SET cursor = EXCLUDED.cursor, updated_at = EXCLUDED.updated_at`,
      [this.sourceUrl, cursor],
    );
  }

  private async upsert(kind: RecordKind, features: { id: string; properties: Record<string, unknown>; geometry: GeoJSON.Geometry | null | undefined }[]): Promise<void> {
    // Records whose geometry the events did not change keep the one the table holds.
    const withGeometry = features.filter((f) => f.geometry !== undefined);
    const propertiesOnly = features.filter((f) => f.geometry === undefined);
    for (let i = 0; i < withGeometry.length; i += INSERT_BATCH) {
      const rows = withGeometry.slice(i, i + INSERT_BATCH).map((f) => ({ id: f.id, properties: f.properties, geometry: f.geometry }));
      await this.db.query(
        `INSERT INTO ${this.table(kind)} (id, properties, geom, updated_at)
         SELECT (r->>'id')::uuid, r->'properties',
           CASE WHEN jsonb_typeof(r->'geometry') = 'object' THEN ST_SetSRID(ST_GeomFromGeoJSON(r->'geometry'), 4326) END, now()
         FROM jsonb_array_elements($1::jsonb) AS r
         ON CONFLICT (id) DO UPDATE SET properties = EXCLUDED.properties, geom = EXCLUDED.geom, updated_at = EXCLUDED.updated_at`,
        [JSON.stringify(rows)],
      );
    }
    for (let i = 0; i < propertiesOnly.length; i += INSERT_BATCH) {
      const rows = propertiesOnly.slice(i, i + INSERT_BATCH).map((f) => ({ id: f.id, properties: f.properties }));
      const result = await this.db.query(
        `UPDATE ${this.table(kind)} AS t SET properties = r->'properties', updated_at = now()
         FROM jsonb_array_elements($1::jsonb) AS r WHERE t.id = (r->>'id')::uuid`,
        [JSON.stringify(rows)],
      );
      if (result.rowCount !== rows.length) throw new MirrorInconsistency(`${kind}: ${rows.length - (result.rowCount ?? 0)} updated record(s) missing from the mirror`);
    }
  }

  async applyPage(events: FeedEvent[], from: string | undefined, to: string): Promise<void> {
    await this.transaction(async () => {
      await this.claim(from);
      // What the mirror holds of every record the page touches, read once per kind.
      const held = new Map<string, MirrorFeature>();
      const idsByKind = new Map<RecordKind, Set<string>>();
      for (const event of events) {
        if (!isRecordKind(event.recordKind)) throw new MirrorInconsistency(`event ${event.cursor}: unknown record kind ${JSON.stringify(event.recordKind)}`);
        if (!idsByKind.has(event.recordKind)) idsByKind.set(event.recordKind, new Set());
        idsByKind.get(event.recordKind)!.add(event.id);
      }
      for (const [kind, ids] of idsByKind) {
        const rows = (await this.db.query(`SELECT id, properties FROM ${this.table(kind)} WHERE id = ANY($1::uuid[]) FOR UPDATE`, [[...ids]])).rows;
        for (const row of rows) held.set(`${kind}\u0000${row.id}`, { id: row.id, recordKind: kind, properties: row.properties, geometry: undefined });
      }
      const changes = applyEvents(events, (kind, id) => held.get(`${kind}\u0000${id}`));
      for (const kind of RECORD_KINDS) {
        const mine = [...changes.values()].filter((c) => c.recordKind === kind);
        const gone = mine.filter((c) => c.feature === null).map((c) => c.id);
        if (gone.length > 0) await this.db.query(`DELETE FROM ${this.table(kind)} WHERE id = ANY($1::uuid[])`, [gone]);
        await this.upsert(kind, mine.filter((c) => c.feature !== null).map((c) => c.feature!));
      }
      if (to !== from) await this.saveCursor(to);
    });
  }

  async replace(snapshot: Snapshot): Promise<void> {
    const byKind = new Map<RecordKind, SnapshotFeature[]>(RECORD_KINDS.map((kind) => [kind, []]));
    for (const feature of snapshot.features) {
      if (!isRecordKind(feature.recordKind)) throw new MirrorInconsistency(`snapshot: unknown record kind ${JSON.stringify(feature.recordKind)}`);
      byKind.get(feature.recordKind)!.push(feature);
    }
    await this.transaction(async () => {
      // Lock the state row (and wait for any page in flight) before replacing everything.
      await this.db.query(`SELECT cursor FROM ${this.table('sync_state')} WHERE source_url = $1 FOR UPDATE`, [this.sourceUrl]);
      for (const [kind, features] of byKind) {
        await this.db.query(`DELETE FROM ${this.table(kind)}`);
        await this.upsert(kind, features.map((f) => ({ id: String(f.id), properties: f.properties ?? {}, geometry: f.geometry ?? null })));
      }
      await this.saveCursor(snapshot.cursor);
    });
  }

  async flush(): Promise<void> {
    // Every page committed in applyPage.
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}
