// Renders one tile for one viewer: each requested layer's SQL in one read transaction (so all
// layers see one snapshot, through the viewer's access views), the MVT layers concatenated.
import type { Knex } from 'knex';
import { withViewer } from '../db/viewerTransaction';
import type { Viewer } from '../server/auth/viewer';
import { TILE_LAYER_BY_ID, TileLayer } from './layers';
import { EXACT_FROM_ZOOM, PreparedLayerSql, prepareLayerSql } from './tileSql';

const prepared = new Map<string, PreparedLayerSql>();
function sqlOf(layer: TileLayer): PreparedLayerSql {
  let sql = prepared.get(layer.id);
  if (!sql) {
    sql = prepareLayerSql(layer);
    prepared.set(layer.id, sql);
  }
  return sql;
}

export async function renderTile(db: Knex, viewer: Viewer, layerIds: string[], z: number, x: number, y: number): Promise<Buffer> {
  return withViewer(db, viewer, async (trx) => {
    // JIT compilation costs more than it saves on tile-sized queries (measured 25–30 % at z6–10).
    await trx.raw("SELECT set_config('jit', 'off', true)");
    const parts: Buffer[] = [];
    for (const id of layerIds) {
      const sql = sqlOf(TILE_LAYER_BY_ID.get(id)!);
      const result = await trx.raw(z >= EXACT_FROM_ZOOM ? sql.exact : sql.overview, [z, x, y]);
      const tile: Buffer | null = result.rows[0]?.tile ?? null;
      if (tile && tile.length > 0) parts.push(tile);
    }
    return Buffer.concat(parts);
  });
}

/** The access scope a tile is cached under: everyone in it sees the same tiles. */
export function scopeOf(viewer: Viewer): string {
  return viewer.role === 'facilitator' ? 'LIAISON' : viewer.agency;
}
