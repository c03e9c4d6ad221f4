// Renders one tile for one viewer: each requested layer's SQL in one read transaction (so all
// layers see one snapshot, through the viewer's access views), the MVT layers concatenated.
import type { Knex } from 'knex';
import { withViewer } from '../db/viewerTransaction';
import type { Viewer } from '../server/auth/viewer';
import { TileEncoder, detectEncoder, renderTileWith } from './encoder';

// ST_AsMVT where PostGIS has protobuf, else the SQL + vt-pbf encoder; asked once per database.
const encoders = new WeakMap<Knex, Promise<TileEncoder>>();
function encoderFor(db: Knex): Promise<TileEncoder> {
  let encoder = encoders.get(db);
  if (!encoder) {
    encoder = detectEncoder(db);
    encoders.set(db, encoder);
  }
  return encoder;
}

export async function renderTile(db: Knex, viewer: Viewer, layerIds: string[], z: number, x: number, y: number): Promise<Buffer> {
  const encoder = await encoderFor(db);
  // JIT compilation costs more than it saves on tile-sized queries (measured 25–30 % at z6–10).
  return withViewer(db, viewer, (trx) => renderTileWith(encoder, trx, layerIds, z, x, y), 'read', { settings: { jit: 'off' } });
}

/** The access scope a tile is cached under: everyone in it sees the same tiles. */
export function scopeOf(viewer: Viewer): string {
  return viewer.role === 'facilitator' ? 'LIAISON' : viewer.agency;
}
