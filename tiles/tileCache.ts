// Rendered tiles per (layers, z, x, y, access scope), bounded in bytes, least recently used
// first out. A record change drops exactly the cached tiles its old and new extent touch, in
// every scope; an agreement change drops the grantee's scope. A render that began before an
// invalidation is not stored, so a write is on the very next tile request.
import { createHash } from 'node:crypto';
import { BUFFER, EXTENT } from './tileSql';

export interface CachedTile {
  body: Buffer;
  gzip: Buffer | undefined;
  etag: string;
}

interface Entry extends CachedTile {
  scope: string;
  z: number;
  x: number;
  y: number;
  bytes: number;
}

export type LonLatBox = [number, number, number, number];

/** A tile's extent in longitude/latitude, with its buffer, for invalidation. */
export function tileBounds(z: number, x: number, y: number): LonLatBox {
  const n = 2 ** z;
  const pad = BUFFER / EXTENT;
  const lon = (col: number) => (col / n) * 360 - 180;
  const lat = (row: number) => (Math.atan(Math.sinh(Math.PI * (1 - (2 * row) / n))) * 180) / Math.PI;
  return [lon(x - pad), lat(y + 1 + pad), lon(x + 1 + pad), lat(y - pad)];
}

const intersects = (a: LonLatBox, b: LonLatBox) => a[0] <= b[2] && b[0] <= a[2] && a[1] <= b[3] && b[1] <= a[3];

export const etagFor = (body: Buffer) => `"${createHash('sha1').update(body).digest('base64url').slice(0, 22)}"`;

export class TileCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  /** Bumped by every invalidation; a render stores its tile only if none happened meanwhile. */
  private generation = 0;

  constructor(private readonly maxBytes: number) {}

  static key(layers: string, z: number, x: number, y: number, scope: string): string {
    return `${scope}|${layers}|${z}/${x}/${y}`;
  }

  get stats() {
    return { tiles: this.entries.size, bytes: this.bytes, maxBytes: this.maxBytes, generation: this.generation };
  }

  currentGeneration(): number {
    return this.generation;
  }

  get(key: string): CachedTile | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry;
  }

  /** Stores a rendered tile; false when it is not stored (an invalidation since, or too big). */
  set(key: string, scope: string, z: number, x: number, y: number, tile: CachedTile, renderedAtGeneration: number): boolean {
    if (renderedAtGeneration !== this.generation) return false;
    const bytes = tile.body.length + (tile.gzip?.length ?? 0) + key.length + 64;
    if (bytes > this.maxBytes) return false;
    this.remove(key);
    this.entries.set(key, { ...tile, scope, z, x, y, bytes });
    this.bytes += bytes;
    this.evict();
    return true;
  }

  /** Adds the compressed copy of a cached tile, if that very tile (by ETag) is still cached. */
  attachGzip(key: string, etag: string, gzip: Buffer): void {
    const entry = this.entries.get(key);
    if (!entry || entry.etag !== etag || entry.gzip) return;
    entry.gzip = gzip;
    entry.bytes += gzip.length;
    this.bytes += gzip.length;
    this.evict();
  }

  private evict(): void {
    for (const [oldest] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.remove(oldest);
    }
  }

  /** Drops every cached tile, in every scope, that a change within `box` could alter. */
  invalidateBox(box: LonLatBox): number {
    this.generation++;
    let dropped = 0;
    for (const [key, entry] of this.entries) {
      if (intersects(tileBounds(entry.z, entry.x, entry.y), box)) {
        this.remove(key);
        dropped++;
      }
    }
    return dropped;
  }

  invalidateScope(scope: string): number {
    this.generation++;
    let dropped = 0;
    for (const [key, entry] of this.entries) {
      if (entry.scope === scope) {
        this.remove(key);
        dropped++;
      }
    }
    return dropped;
  }

  private remove(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.bytes -= entry.bytes;
  }
}
