// Which tile encoder the database allows: ST_AsMVT where PostGIS was built with protobuf, else
// the SQL-plus-JavaScript one (tiles/jsEncoder.ts), e.g. on the embedded PGlite PostGIS.
import type { Knex } from 'knex';
import { TILE_LAYER_BY_ID } from './layers';
import { encodeLayers, jsTileSql, TileSpaceRow } from './jsEncoder';
import { EXACT_FROM_ZOOM, PreparedLayerSql, prepareLayerSql } from './tileSql';

export type TileEncoder = 'postgis' | 'javascript';

export async function detectEncoder(db: Knex): Promise<TileEncoder> {
  try {
    const { rows } = await db.raw('SELECT postgis_full_version() AS version');
    if (/protobuf/i.test(String(rows[0]?.version ?? ''))) return 'postgis';
  } catch {
    // No postgis_full_version (an older or trimmed PostGIS): the trial below decides.
  }
  // A failed statement aborts its transaction; db.transaction is a SAVEPOINT when db is one
  // already, so the trial never spoils the caller's transaction.
  try {
    await db.transaction(async (trx) => {
      await trx.raw('SELECT ST_AsMVT(q) FROM (SELECT 1 AS a, ST_MakePoint(0, 0) AS geom) AS q');
    });
    return 'postgis';
  } catch {
    return 'javascript';
  }
}

const postgisSql = new Map<string, PreparedLayerSql>();
const javascriptSql = new Map<string, PreparedLayerSql>();

function sqlFor(cache: Map<string, PreparedLayerSql>, id: string, prepare: (layer: NonNullable<ReturnType<typeof TILE_LAYER_BY_ID.get>>) => PreparedLayerSql): PreparedLayerSql {
  let sql = cache.get(id);
  if (!sql) {
    const layer = TILE_LAYER_BY_ID.get(id);
    if (!layer) throw new Error(`unknown tile layer ${id}`);
    sql = prepare(layer);
    cache.set(id, sql);
  }
  return sql;
}

/** A layer's statement for an encoder and mode; it binds z, x, y as knex's `?`. */
export function statementFor(encoder: TileEncoder, id: string, mode: 'exact' | 'overview'): string {
  const sql = encoder === 'postgis' ? sqlFor(postgisSql, id, prepareLayerSql) : sqlFor(javascriptSql, id, jsTileSql);
  return sql[mode];
}

/**
 * One tile of the given layers, in the caller's transaction (which sets the viewer), with the
 * given encoder. Both give the same features; ST_AsMVT's layers are concatenated as renderTile
 * always did, the JavaScript one writes them in one go.
 */
export async function renderTileWith(
  encoder: TileEncoder, trx: Knex | Knex.Transaction, layerIds: readonly string[], z: number, x: number, y: number,
): Promise<Buffer> {
  const mode = z >= EXACT_FROM_ZOOM ? 'exact' : 'overview';
  if (encoder === 'postgis') {
    const parts: Buffer[] = [];
    for (const id of layerIds) {
      const result = await trx.raw(statementFor(encoder, id, mode), [z, x, y]);
      // The layer's tile in parts, in order (tileSql.ts, inParts).
      for (const row of result.rows as { tile: Buffer | null }[]) if (row.tile && row.tile.length > 0) parts.push(row.tile);
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }
  const layers: { name: string; features: TileSpaceRow[] }[] = [];
  for (const id of layerIds) {
    const result = await trx.raw(statementFor(encoder, id, mode), [z, x, y]);
    layers.push({ name: id, features: result.rows });
  }
  return encodeLayers(layers);
}
