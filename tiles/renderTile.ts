// Renders one tile for one viewer: each requested layer's SQL in one read transaction (so all
// layers see one snapshot, through the viewer's access views), the MVT layers concatenated.
//
// With ST_AsMVT (PostGIS with protobuf) a tile costs one round trip: the transaction — BEGIN,
// the viewer's settings, each layer's statement, COMMIT — is pipelined on a connection of a
// small pool of its own, and each layer's statement is prepared once per connection (planning
// the access views costs more than running a small tile). The settings statement is exactly
// the one db/viewerTransaction.ts makes (taken from withViewer itself), so identity and role
// (minefield_reader) are set in one place. Elsewhere (the embedded database, where knex's pool
// is one connection) tiles render in a knex transaction through withViewer.
import type { Knex } from 'knex';
import pg from 'pg';
import { withViewer } from '../db/viewerTransaction';
import type { Viewer } from '../server/auth/viewer';
import { TileEncoder, detectEncoder, renderTileWith, statementFor } from './encoder';
import { EXACT_FROM_ZOOM } from './tileSql';

// JIT compilation costs more than it saves on tile-sized queries (measured 25–30 % at z6–10).
const READ_SETTINGS = { settings: { jit: 'off' } };
// Prepared statements use the generic plan from the first execution: the same plan serves every
// tile (an index scan of the box), and a custom plan of the access views costs more to make
// (10–20 ms) than a small tile does to run; by default each connection would make five first.
const PIPELINED_SETTINGS = { settings: { jit: 'off', plan_cache_mode: 'force_generic_plan' } };

/** Connections of the pipelined tile pool (beside knex's own pool). */
const TILE_POOL_SIZE = 4;

interface TileSource {
  encoder: TileEncoder;
  pool?: pg.Pool;
}

// Asked once per database.
const sources = new WeakMap<Knex, Promise<TileSource>>();
function sourceFor(db: Knex): Promise<TileSource> {
  let source = sources.get(db);
  if (!source) {
    source = detectEncoder(db).then((encoder) => ({ encoder, pool: encoder === 'postgis' ? tilePoolFor(db) : undefined }));
    sources.set(db, source);
  }
  return source;
}

function tilePoolFor(db: Knex): pg.Pool | undefined {
  const connection = (db.client as { config?: { connection?: unknown } }).config?.connection;
  const connectionString = typeof connection === 'string' ? connection
    : (connection as { connectionString?: string } | undefined)?.connectionString;
  if (!connectionString) return undefined;
  const pool = new pg.Pool({
    connectionString, application_name: 'minefield-records-tiles', max: TILE_POOL_SIZE, pipeline: true,
    idleTimeoutMillis: 300_000, allowExitOnIdle: true,
  } as pg.PoolConfig);
  // An idle connection that the server ends (restart, dropped database) is replaced on demand.
  pool.on('error', () => undefined);
  return pool;
}

/** The statement withViewer opens a read transaction with, and its values. */
async function viewerSettings(viewer: Viewer): Promise<{ text: string; values: unknown[] }> {
  let captured: { text: string; values: unknown[] } | undefined;
  const recorder = {
    transaction: async (work: (trx: unknown) => Promise<unknown>) => work({
      raw: async (sql: string, bindings: unknown[]) => { captured = { text: numbered(sql), values: bindings }; },
    }),
  } as unknown as Knex;
  await withViewer(recorder, viewer, async () => undefined, 'read', PIPELINED_SETTINGS);
  if (!captured) throw new Error('withViewer set no viewer settings');
  return captured;
}

function tileQuery(id: string, mode: 'exact' | 'overview', z: number, x: number, y: number): pg.QueryConfig {
  return { name: `tile:${id}:${mode}`, text: numbered(statementFor('postgis', id, mode)), values: [z, x, y] };
}

/** knex's `?` placeholders as PostgreSQL's $1, $2, … (the statements here have no other `?`). */
const numberedCache = new Map<string, string>();
function numbered(sql: string): string {
  let text = numberedCache.get(sql);
  if (text === undefined) {
    let n = 0;
    text = sql.replace(/\?/g, () => `$${++n}`);
    numberedCache.set(sql, text);
  }
  return text;
}

async function renderPipelined(pool: pg.Pool, viewer: Viewer, layerIds: string[], z: number, x: number, y: number): Promise<Buffer> {
  const settings = await viewerSettings(viewer);
  const mode = z >= EXACT_FROM_ZOOM ? 'exact' : 'overview';
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    // All on the wire at once; the server runs them in order. A failure aborts the transaction,
    // so the statements after it fail too and COMMIT rolls back.
    const results = await Promise.allSettled([
      client.query('BEGIN'),
      client.query(settings.text, settings.values),
      ...layerIds.map((id) => client.query(tileQuery(id, mode, z, x, y))),
      client.query('COMMIT'),
    ]);
    const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed) {
      broken = failed.reason as Error;
      throw broken;
    }
    const parts: Buffer[] = [];
    for (const result of results.slice(2, -1) as PromiseFulfilledResult<pg.QueryResult>[]) {
      // Each layer's tile arrives in parts (tileSql.ts, inParts), in order.
      for (const row of result.value.rows) if (row.tile && row.tile.length > 0) parts.push(row.tile);
    }
    // A tile of one part is the buffer as received: no second copy of it.
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  } finally {
    // A connection whose transaction failed is not reused (it may be mid-transaction).
    client.release(broken);
  }
}

export async function renderTile(db: Knex, viewer: Viewer, layerIds: string[], z: number, x: number, y: number): Promise<Buffer> {
  const { encoder, pool } = await sourceFor(db);
  if (pool) return renderPipelined(pool, viewer, layerIds, z, x, y);
  return withViewer(db, viewer, (trx) => renderTileWith(encoder, trx, layerIds, z, x, y), 'read', READ_SETTINGS);
}

/** The access scope a tile is cached under: everyone in it sees the same tiles. */
export function scopeOf(viewer: Viewer): string {
  return viewer.role === 'facilitator' ? 'LIAISON' : viewer.agency;
}
