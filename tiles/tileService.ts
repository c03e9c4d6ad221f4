// The tile source with its cache wrapped around it (Martin's shape): routes ask for a tile,
// writes report what they changed.
import { gzipSync } from 'node:zlib';
import type { Knex } from 'knex';
import type { Viewer } from '../server/auth/viewer';
import { renderTile, scopeOf } from './renderTile';
import { CachedTile, LonLatBox, TileCache, etagFor } from './tileCache';

export class TileService {
  readonly cache: TileCache;

  constructor(private readonly db: Knex, maxCacheBytes: number) {
    this.cache = new TileCache(maxCacheBytes);
  }

  /** A cached tile, or nothing: never renders. */
  cached(viewer: Viewer, layersPath: string, z: number, x: number, y: number): CachedTile | undefined {
    return this.cache.get(TileCache.key(layersPath, z, x, y, scopeOf(viewer)));
  }

  async tile(viewer: Viewer, layerIds: string[], z: number, x: number, y: number): Promise<CachedTile> {
    const scope = scopeOf(viewer);
    const key = TileCache.key(layerIds.join(','), z, x, y, scope);
    const cached = this.cache.get(key);
    if (cached) return cached;
    const generation = this.cache.currentGeneration();
    const body = await renderTile(this.db, viewer, layerIds, z, x, y);
    const tile: CachedTile = { body, gzip: undefined, etag: etagFor(body) };
    // The first answer goes out as rendered; the compressed copy is made when the cached tile
    // is asked for again (gzipOf), so a tile nobody asks for twice is never compressed.
    this.cache.set(key, scope, z, x, y, tile, generation);
    return tile;
  }

  /** The compressed body of a tile answered from the cache: made on its first such answer, and kept. */
  gzipOf(viewer: Viewer, layersPath: string, z: number, x: number, y: number, tile: CachedTile): Buffer | undefined {
    if (tile.gzip || tile.body.length === 0) return tile.gzip;
    const compressed = gzipSync(tile.body, { level: 6 });
    this.cache.attachGzip(TileCache.key(layersPath, z, x, y, scopeOf(viewer)), tile.etag, compressed);
    return compressed;
  }

  recordsChanged(boxes: LonLatBox[]): void {
    for (const box of boxes) this.cache.invalidateBox(box);
  }

  agreementChanged(grantee: string): void {
    // PUBLIC sees no tiles; every other grantee is one scope.
    this.cache.invalidateScope(grantee);
  }
}
