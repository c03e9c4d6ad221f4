// Every setting comes from the environment, with defaults that run a local demo.
import path from 'node:path';

export interface Config {
  /** A PostgreSQL server with PostGIS; unset, the service runs on the embedded database. */
  databaseUrl: string | undefined;
  /** Where the embedded database keeps its files (used only without databaseUrl). */
  embeddedDataDir: string;
  port: number;
  host: string;
  /** Absolute base URL used in `links` (OGC clients need absolute next links). */
  publicUrl: string | undefined;
  dataDir: string;
  logLevel: string;
  bodyLimit: string;
  importBodyLimit: string;
  maxItemsLimit: number;
  shutdownGraceMs: number;
  maxVertexGapM: number;
  tileCacheBytes: number;
  feedRetentionDays: number;
}

function intFrom(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error(`environment variable ${name} must be a number, got "${raw}"`);
  return value;
}

export function loadConfig(): Config {
  return {
    databaseUrl: process.env.DATABASE_URL || undefined,
    embeddedDataDir: path.resolve(process.env.EMBEDDED_DATA_DIR || path.join(process.env.DATA_DIR || 'data', 'pglite')),
    port: intFrom('PORT', 3000),
    host: process.env.HOST || '0.0.0.0',
    publicUrl: process.env.PUBLIC_URL || undefined,
    dataDir: path.resolve(process.env.DATA_DIR || 'data'),
    logLevel: process.env.LOG_LEVEL || 'info',
    bodyLimit: process.env.BODY_LIMIT || '2mb',
    importBodyLimit: process.env.IMPORT_BODY_LIMIT || '512mb',
    maxItemsLimit: intFrom('MAX_ITEMS_LIMIT', 10000),
    shutdownGraceMs: intFrom('SHUTDOWN_GRACE_MS', 10000),
    maxVertexGapM: intFrom('MAX_VERTEX_GAP_M', 25000),
    tileCacheBytes: intFrom('TILE_CACHE_MB', 256) * 1024 * 1024,
    feedRetentionDays: intFrom('FEED_RETENTION_DAYS', 90),
  };
}
