// Shared by the benchmarks: a fresh database, a running service and tokens for it.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Knex } from 'knex';
import pg from 'pg';
import { generateFixtures } from '../fixtures/generate';
import type { FeedStream } from '../feed/stream';
import { createApp } from '../server/app';
import { issueToken } from '../server/auth/issueToken';
import type { Role } from '../server/auth/viewer';
import { loadConfig } from '../server/config';
import { openEmbeddedDatabase, startDatabase, type ServiceDatabase } from '../server/start';
import type { TileService } from '../tiles/tileService';

export interface BenchService {
  db: Knex;
  databaseUrl: string;
  baseUrl: string;
  /** The running app's tile service (app.locals.tiles), e.g. to clear its cache between requests. */
  tiles: TileService;
  /** The running app's feed stream (app.locals.feedStream): closed on stop, so its LISTEN connection ends. */
  feedStream: FeedStream;
  token(agency: string, role: Role): string;
  stop(): Promise<void>;
}

export interface BenchServiceOptions {
  /** Run on the embedded database in this (fresh) directory instead of the PostgreSQL server. */
  embeddedDataDir?: string;
  /** Tile cache size; 0 renders every tile. */
  tileCacheBytes?: number;
  /** Keep the server database if it exists (migrated to latest), e.g. a fixture imported by an earlier run. */
  keepDatabase?: boolean;
}

/** A fresh database `databaseName` on the server at DATABASE_URL (default local), migrated; kept when asked and there. */
async function freshServerDatabase(databaseName: string, keep = false): Promise<ServiceDatabase> {
  const base = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/minefield';
  const databaseUrl = base.replace(/\/[^/]*$/, `/${databaseName}`);
  const admin = new pg.Client({ connectionString: base.replace(/\/[^/]*$/, '/postgres') });
  await admin.connect();
  const exists = (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [databaseName])).rowCount === 1;
  if (!(keep && exists)) {
    await admin.query('DROP DATABASE IF EXISTS ' + admin.escapeIdentifier(databaseName) + ' WITH (FORCE)');
    await admin.query('CREATE DATABASE ' + admin.escapeIdentifier(databaseName));
  }
  await admin.end();
  return startDatabase({ ...loadConfig(), databaseUrl }, { create: true });
}

export async function startBenchService(databaseName: string, options: BenchServiceOptions = {}): Promise<BenchService> {
  const database = options.embeddedDataDir ? await openEmbeddedDatabase(options.embeddedDataDir) : await freshServerDatabase(databaseName, options.keepDatabase);
  const { db, url: databaseUrl } = database;
  const config = { ...loadConfig(), databaseUrl, logLevel: 'warn', ...(options.tileCacheBytes === undefined ? {} : { tileCacheBytes: options.tileCacheBytes }) };
  const keys = new Map<string, string>();
  // A fresh key id per start: a reopened embedded database keeps the keys of the last one.
  const kid = `bench-${randomUUID().slice(0, 8)}`;
  for (const agency of ['ANAMA', 'CHDE', 'GEO', 'LIAISON']) {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await db('agency_key').insert({ agency_code: agency, kid, algorithm: 'ES256', public_key: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString() });
    keys.set(agency, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  }
  const app = createApp({ db, config, changes: database.changes });
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  return {
    db,
    databaseUrl,
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    tiles: app.locals.tiles as TileService,
    feedStream: app.locals.feedStream as FeedStream,
    token: (agency, role) => issueToken({ agency, role, privateKey: keys.get(agency)!, kid, expiresIn: '2h' }),
    stop: async () => {
      await (app.locals.feedStream as FeedStream | undefined)?.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await database.close();
    },
  };
}

export function table(rows: Record<string, string | number>[]): string {
  const columns = Object.keys(rows[0]);
  const widths = columns.map((column) => Math.max(column.length, ...rows.map((row) => String(row[column]).length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padStart(widths[i])).join('  ');
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...rows.map((row) => line(columns.map((c) => String(row[c]))))].join('\n');
}

/** Synthetic areas through the bulk import, one FeatureCollection per agency. */
export async function importAreasThroughApi(service: BenchService, areas: number, seed: number) {
  const fixtures = generateFixtures({ hazardousAreas: areas, seed });
  for (const fixture of fixtures) {
    const response = await fetch(`${service.baseUrl}/collections/hazardous-areas/items`, {
      method: 'POST',
      headers: { authorization: `Bearer ${service.token(fixture.agency, 'editor')}`, 'content-type': 'application/geo+json' },
      body: JSON.stringify({ type: 'FeatureCollection', features: fixture.hazardousAreas }),
    });
    if (response.status !== 201) throw new Error(`import failed: ${response.status} ${(await response.text()).slice(0, 300)}`);
  }
  return fixtures;
}

export type Tile = { z: number; x: number; y: number };

/** The tile of zoom z holding a point (Web Mercator, clamped to the grid). */
export function tileOf(lon: number, lat: number, z: number): Tile {
  const n = 2 ** z;
  const x = Math.floor(((lon + 180) / 360) * n);
  const r = (lat * Math.PI) / 180;
  const y = Math.floor(((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * n);
  return { z, x: Math.min(n - 1, Math.max(0, x)), y: Math.min(n - 1, Math.max(0, y)) };
}

const sorted = (values: number[]) => [...values].sort((a, b) => a - b);
export const median = (values: number[]) => sorted(values)[Math.floor(values.length / 2)];
export const p95 = (values: number[]) => sorted(values)[Math.max(0, Math.ceil(values.length * 0.95) - 1)];
/** The mean of ratios on a log scale: a tile twice as slow and one twice as fast even out. */
export const geometricMean = (values: number[]) => Math.exp(values.reduce((sum, value) => sum + Math.log(value), 0) / values.length);
