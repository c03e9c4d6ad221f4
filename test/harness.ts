// One service for the whole suite: a fresh database per run, test keys for every agency, and
// helpers to call the API as any agency and role. The database is a PostgreSQL server when
// TEST_DATABASE_URL (or DATABASE_URL) is set, else the embedded one (PGlite) in a fresh
// directory — the same two kinds `npm start` runs on, so `npm test` passes on both.
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Knex } from 'knex';
import pg from 'pg';
import { expect } from 'chai';
import { startEmbeddedDatabase, EMBEDDED_POOL_SIZE } from '../embedded/embeddedDatabase';
import { createApp } from '../server/app';
import { issueToken } from '../server/auth/issueToken';
import type { Role } from '../server/auth/viewer';
import { loadConfig } from '../server/config';
import { openEmbeddedDatabase, startDatabase, type ServiceDatabase } from '../server/start';

/** The server database the suite runs on, or '' when it runs on the embedded database. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL?.replace(/\/[^/]*$/, '/minefield_test') || '';
export const ON_EMBEDDED_DATABASE = TEST_DATABASE_URL === '';
/** Connections a test may open at once in a pool of its own: the embedded database is one session. */
export const EXTRA_POOL_SIZE = ON_EMBEDDED_DATABASE ? EMBEDDED_POOL_SIZE : 20;

export interface Harness {
  app: import('express').Express;
  db: Knex;
  /** postgres:// URL of the suite's database (the embedded one's socket, on PGlite). */
  databaseUrl: string;
  database: ServiceDatabase;
  baseUrl: string;
  server: Server;
  keys: Map<string, { kid: string; privateKey: string; algorithm: 'ES256' | 'RS256' }>;
}

let harness: Harness | undefined;

async function recreateDatabase(url: string): Promise<void> {
  const admin = new pg.Client({ connectionString: url.replace(/\/[^/]*$/, '/postgres') });
  await admin.connect();
  const name = new URL(url).pathname.slice(1);
  try {
    await admin.query('DROP DATABASE IF EXISTS ' + admin.escapeIdentifier(name) + ' WITH (FORCE)');
    await admin.query('CREATE DATABASE ' + admin.escapeIdentifier(name));
  } finally {
    await admin.end();
  }
}

async function startTestDatabase(): Promise<ServiceDatabase> {
  if (ON_EMBEDDED_DATABASE) {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'minefield-test-pglite-'));
    // Room for a test's own pool beside the service's (EXTRA_POOL_SIZE) and a raw client or two.
    const database = await openEmbeddedDatabase(dataDir, { maxConnections: 4 });
    return { ...database, close: async () => { await database.close(); fs.rmSync(dataDir, { recursive: true, force: true }); } };
  }
  process.env.DATABASE_URL = TEST_DATABASE_URL;
  await recreateDatabase(TEST_DATABASE_URL);
  return startDatabase({ ...loadConfig(), databaseUrl: TEST_DATABASE_URL }, { create: true });
}

/**
 * A second, empty database with PostGIS, for tests that need one of their own (a sync target, a
 * service to restart): a database beside the suite's on the server, or another embedded one.
 */
export async function scratchDatabase(name: string): Promise<{ url: string; close(): Promise<void> }> {
  if (ON_EMBEDDED_DATABASE) {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `minefield-${name}-`));
    const embedded = await startEmbeddedDatabase(dataDir, { maxConnections: 4 });
    return { url: embedded.url, close: async () => { await embedded.stop(); fs.rmSync(dataDir, { recursive: true, force: true }); } };
  }
  const url = TEST_DATABASE_URL.replace(/\/([^/]*)$/, (_, base) => `/${base}_${name}`);
  await recreateDatabase(url);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('CREATE EXTENSION postgis');
  } finally {
    await client.end();
  }
  return { url, close: () => dropDatabase(url) };
}

async function dropDatabase(url: string): Promise<void> {
  const admin = new pg.Client({ connectionString: url.replace(/\/[^/]*$/, '/postgres') });
  await admin.connect();
  try {
    await admin.query('DROP DATABASE IF EXISTS ' + admin.escapeIdentifier(new URL(url).pathname.slice(1)) + ' WITH (FORCE)');
  } finally {
    await admin.end();
  }
}

export async function startHarness(): Promise<Harness> {
  if (harness) return harness;
  const database = await startTestDatabase();
  const { db } = database;
  const config = { ...loadConfig(), databaseUrl: database.url };
  const keys: Harness['keys'] = new Map();
  for (const agency of ['ANAMA', 'CHDE', 'GEO', 'LIAISON']) {
    // ANAMA signs with RSA, the others with EC, so both accepted algorithms are exercised.
    const algorithm = agency === 'ANAMA' ? 'RS256' : 'ES256';
    const pair = algorithm === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const kid = `test-${agency.toLowerCase()}`;
    await db('agency_key').insert({ agency_code: agency, kid, algorithm, public_key: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString() });
    keys.set(agency, { kid, algorithm, privateKey: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() });
  }
  const app = createApp({ db, config, changes: database.changes });
  const server = await new Promise<Server>((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  const { port } = server.address() as AddressInfo;
  harness = { app, db, databaseUrl: database.url, database, server, keys, baseUrl: `http://127.0.0.1:${port}` };
  return harness;
}

export async function stopHarness(): Promise<void> {
  if (!harness) return;
  await harness.app.locals.feedStream.close();
  harness.server.closeAllConnections();
  await new Promise((resolve) => harness!.server.close(resolve));
  await harness.database.close();
  harness = undefined;
}

export function getHarness(): Harness {
  if (!harness) throw new Error('harness not started (test/setup.ts)');
  return harness;
}

export function tokenFor(agency: string, role: Role, subject?: string): string {
  const key = getHarness().keys.get(agency)!;
  return issueToken({ agency, role, subject, privateKey: key.privateKey, kid: key.kid, algorithm: key.algorithm });
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

export async function api(method: string, path: string, options: { token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined && !headers['content-type']) headers['content-type'] = 'application/geo+json';
  const response = await fetch(`${getHarness().baseUrl}${path}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body),
  });
  const text = await response.text();
  let body: any = undefined;
  try { body = text ? JSON.parse(text) : undefined; } catch { body = undefined; }
  return { status: response.status, headers: response.headers, body, text };
}

let squareCounter = 0;

/** A square polygon of `sizeM` metres at a fresh place on a grid, so no two tests draw the same polygon. */
export function freshSquare(sizeM = 100, origin: [number, number] = [46.2, 40.6]): GeoJSON.Polygon {
  const n = squareCounter++;
  const lon = origin[0] + (n % 200) * 0.004;
  const lat = origin[1] + Math.floor(n / 200) * 0.004;
  const dLat = sizeM / 111320;
  const dLon = sizeM / (111320 * Math.cos((lat * Math.PI) / 180));
  return { type: 'Polygon', coordinates: [[[lon, lat], [lon + dLon, lat], [lon + dLon, lat + dLat], [lon, lat + dLat], [lon, lat]]] };
}

let refCounter = 0;
export const freshRef = (prefix = 'T') => `${prefix}-${process.pid}-${++refCounter}`;

export function hazardousAreaFeature(overrides: { geometry?: GeoJSON.Geometry; properties?: Record<string, unknown> } = {}) {
  return {
    type: 'Feature',
    geometry: overrides.geometry ?? freshSquare(),
    properties: {
      localRef: freshRef('HA'),
      classification: 'CHA',
      hazardTypes: ['AP'],
      informationDate: '2025-06-01',
      ...(overrides.properties ?? {}),
    },
  };
}

export async function createHazardousArea(token: string, overrides: Parameters<typeof hazardousAreaFeature>[0] = {}) {
  const response = await api('POST', '/collections/hazardous-areas/items', { token, body: hazardousAreaFeature(overrides) });
  if (response.status !== 201) throw new Error(`could not create hazardous area: ${response.status} ${response.text}`);
  return response;
}

/** Sets what `owner` shares with `grantee` for one record kind, through the API, as its editor. */
export async function share(owner: string, grantee: string, kind: string, level: string) {
  const token = tokenFor(owner, 'editor');
  const current = (await api('GET', '/sharing/agreements', { token })).body.agreements
    .find((a: any) => a.ownerAgency === owner && a.grantee === grantee && a.recordKind === kind);
  if ((current?.level ?? 'none') === level) return current;
  const response = await api('PUT', `/sharing/agreements/${grantee}/${kind}`, {
    token, body: { level }, headers: { 'content-type': 'application/json', 'if-match': `"${current?.version ?? 0}"` },
  });
  expect(response.status, response.text).to.equal(200);
  return response.body;
}
