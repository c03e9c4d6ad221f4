// The feed's guarantees, checked from the outside:
//  1. snapshot(T0) + feed(T0→T1) = snapshot(T1), for every viewer, through random writes of
//     every kind, agreement changes and restrictions (fast-check, seeded);
//  2. concurrent writers with random delays inside their transactions: every committed change
//     exactly once, in commit order (validated against wall-clock commit intervals);
//  3. SSE: live delivery, resume with Last-Event-ID, heartbeats; 410 past the retention horizon;
//  4. kill -9 of the service during a burst of writes, and a restart.
// Records live in lon 49.5–50.5, lat 38.0–38.6, a region no other test uses.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { expect } from 'chai';
import express from 'express';
import fc from 'fast-check';
import jsonPatch from 'fast-json-patch';
import type { Knex } from 'knex';
import pg from 'pg';
import { createKnex } from '../db/connection';
import { withViewer } from '../db/viewerTransaction';
import { FeedService } from '../feed/feedService';
import { FeedStream } from '../feed/stream';
import { pruneChangeLog } from '../feed/retention';
import { issueToken } from '../server/auth/issueToken';
import type { Viewer } from '../server/auth/viewer';
import { loadConfig } from '../server/config';
import { openDatabase, openEmbeddedDatabase } from '../server/start';
import { EXTRA_POOL_SIZE, ON_EMBEDDED_DATABASE, api, getHarness, scratchDatabase, tokenFor, share } from './harness';

const AGENCIES = ['ANAMA', 'CHDE', 'GEO'] as const;
const GRANTEES = ['ANAMA', 'CHDE', 'GEO', 'LIAISON'] as const;
const COLLECTIONS = ['hazardous-areas', 'land-releases', 'minefield-records', 'testimonies'] as const;
type Collection = (typeof COLLECTIONS)[number];
const TABLE: Record<Collection, string> = {
  'hazardous-areas': 'hazardous_area', 'land-releases': 'land_release', 'minefield-records': 'minefield_record', testimonies: 'testimony',
};
const LEVELS = ['none', 'footprint', 'summary', 'full'] as const;
const JSON_BODY = { 'content-type': 'application/json' };

// ---------------------------------------------------------------------------------------------
// Places: a 0.004° grid from (49.5, 38.0); 200 columns, rows up to lat 38.6.
let cell = 0;
const round7 = (v: number) => Math.round(v * 1e7) / 1e7;
function freshCorner(): [number, number] {
  const n = cell++;
  const corner: [number, number] = [round7(49.5 + (n % 200) * 0.004), round7(38.0 + Math.floor(n / 200) * 0.004)];
  if (corner[1] > 38.59) throw new Error('out of grid cells in the test region');
  return corner;
}
function square(corner = freshCorner(), sizeM = 200): GeoJSON.Polygon {
  const [lon, lat] = corner;
  const dLat = round7(sizeM / 111320);
  const dLon = round7(sizeM / (111320 * Math.cos((lat * Math.PI) / 180)));
  return { type: 'Polygon', coordinates: [[[lon, lat], [lon + dLon, lat], [lon + dLon, lat + dLat], [lon, lat + dLat], [lon, lat]]] };
}
/** The columns from fraction `from` to `to` of a square's width. */
function strip(sq: GeoJSON.Polygon, from: number, to: number): GeoJSON.Polygon {
  const [[x0, y0], [x1], [, y1]] = [sq.coordinates[0][0], sq.coordinates[0][1], sq.coordinates[0][2]];
  const a = x0 + (x1 - x0) * from;
  const b = x0 + (x1 - x0) * to;
  return { type: 'Polygon', coordinates: [[[a, y0], [b, y0], [b, y1], [a, y1], [a, y0]]] };
}
let refs = 0;
const ref = (prefix: string) => `FG-${prefix}-${process.pid}-${++refs}`;

// ---------------------------------------------------------------------------------------------
// Feed client helpers.
async function feedFrom(token: string, cursor: string | undefined, limit = 50) {
  const events: any[] = [];
  let after = cursor;
  for (;;) {
    const page = await api('GET', `/feed?limit=${limit}${after ? `&after=${after}` : ''}`, { token });
    expect(page.status, page.text).to.equal(200);
    expect(page.body.events.length).to.be.at.most(limit);
    events.push(...page.body.events);
    after = page.body.cursor;
    if (page.body.caughtUp) return { events, cursor: after! };
  }
}


/** Every event's shape, by operation: create = a Feature, delete = the id only, update = a non-empty change. */
function checkShape(event: any) {
  expect(event.cursor, 'cursor').to.be.a('string').and.not.equal('');
  expect(COLLECTIONS as readonly string[]).to.include(event.recordKind);
  expect(event.id).to.match(/^[0-9a-f-]{36}$/);
  if (event.operation === 'create') {
    expect(event.feature, 'create carries the projection').to.be.an('object');
    expect(event.feature.type).to.equal('Feature');
    expect(event.feature.id).to.equal(event.id);
    expect(event.feature.properties).to.be.an('object');
    expect(event.feature).to.have.property('geometry');
    expect(event).to.not.have.any.keys('patch', 'geometry');
  } else if (event.operation === 'delete') {
    expect(event, 'a delete carries the id only').to.not.have.any.keys('feature', 'patch', 'geometry');
  } else {
    expect(event.operation).to.equal('update');
    expect(event).to.not.have.property('feature');
    expect(event.patch).to.be.an('array');
    // A change that touched nothing the viewer sees would be an empty update: it must not exist.
    expect(event.patch.length > 0 || event.geometry !== undefined, `empty update ${JSON.stringify(event)}`).to.equal(true);
    if (event.geometry) expect(event.geometry).to.include.keys('addedM2', 'removedM2', 'added', 'removed', 'current');
  }
}

type Mirror = Map<string, { recordKind: string; geometry: any; properties: any }>;

/** Applies feed events as a sync client does; strict: no create of a known id, no update/delete of an unknown one. */
function apply(mirror: Mirror, events: any[], label: string) {
  for (const event of events) {
    checkShape(event);
    if (event.operation === 'create') {
      expect(mirror.has(event.id), `${label}: create of ${event.id} already held (duplicate delivery?)`).to.equal(false);
      mirror.set(event.id, { recordKind: event.recordKind, geometry: structuredClone(event.feature.geometry), properties: structuredClone(event.feature.properties) });
    } else if (event.operation === 'delete') {
      expect(mirror.has(event.id), `${label}: delete of unknown ${event.id}`).to.equal(true);
      mirror.delete(event.id);
    } else {
      const feature = mirror.get(event.id);
      expect(feature, `${label}: update of unknown ${event.id}`).to.not.equal(undefined);
      feature!.properties = jsonPatch.applyPatch(feature!.properties, event.patch, true, false).newDocument;
      if (event.geometry) feature!.geometry = event.geometry.current;
    }
  }
}

async function snapshotOf(token: string): Promise<{ cursor: string; mirror: Mirror }> {
  const response = await api('GET', '/feed/snapshot', { token });
  expect(response.status, response.text).to.equal(200);
  const mirror: Mirror = new Map();
  for (const f of response.body.features) {
    expect(mirror.has(f.id), `snapshot lists ${f.id} twice`).to.equal(false);
    mirror.set(f.id, { recordKind: f.recordKind, geometry: f.geometry, properties: f.properties });
  }
  return { cursor: response.body.cursor, mirror };
}

function expectSameMirror(actual: Mirror, expected: Mirror, label: string) {
  expect([...actual.keys()].sort(), `${label}: ids`).to.deep.equal([...expected.keys()].sort());
  for (const [id, feature] of expected) {
    expect(actual.get(id), `${label}: ${id}`).to.deep.equal(feature);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
async function waitFor(what: string, predicate: () => boolean, timeoutMs = 10_000) {
  const until = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

// ---------------------------------------------------------------------------------------------
// A model of the records the property test writes: what to send back on PUT, and what may change.
interface ModelRecord {
  id: string;
  collection: Collection;
  owner: string;
  properties: Record<string, any>;
  geometry: GeoJSON.Geometry;
  /** Hazardous areas: the square, and how many tenths of it land release has taken. */
  square?: GeoJSON.Polygon;
  releasedTenths?: number;
  /** Land releases: the area released from. */
  areaId?: string;
}

function testimonyProperties(owner: string) {
  return {
    localRef: ref('TST'), informantCode: `FG-INF-${owner}`,
    interview: { date: '2025-04-12', place: 'village hall', language: 'en', interviewers: 'team 1' },
    narrative: { language: 'en', text: 'Mines were laid along the road edge.' },
    uncertaintyM: 150, sourceReliability: 'C', informationReliability: '3', devicesDescribed: [{ type: 'AP', count: 3 }],
  };
}
function minefieldProperties(corner: [number, number]) {
  return {
    localRef: ref('MFR'),
    referencePoints: [{ label: 'RP1', coordinates: [round7(corner[0] - 0.0005), corner[1]] }, { label: 'RP2', coordinates: [corner[0], round7(corner[1] - 0.0005)] }],
    mineTypes: [{ type: 'AP', model: 'PMN-2', count: 40 }], totalMines: 40, emplacingMethod: 'hand-laid',
    laidFrom: '1993-04-02T08:00:00.000Z',
  };
}
function perimeter([lon, lat]: [number, number]): GeoJSON.Polygon {
  return { type: 'Polygon', coordinates: [[[lon, lat], [round7(lon + 0.0014), round7(lat + 0.0001)], [round7(lon + 0.0012), round7(lat + 0.0008)], [round7(lon - 0.0001), round7(lat + 0.0007)], [lon, lat]]] };
}
const pointAt = ([lon, lat]: [number, number]): GeoJSON.Point => ({ type: 'Point', coordinates: [round7(lon + 0.001), round7(lat + 0.001)] });

class Model {
  readonly records: ModelRecord[] = [];
  readonly writes: Record<string, number> = {};

  count(what: string) { this.writes[what] = (this.writes[what] ?? 0) + 1; }

  async version(record: ModelRecord): Promise<number> {
    const row = await getHarness().db(TABLE[record.collection]).select('version').where('id', record.id).first();
    return row.version;
  }

  private async post(owner: string, collection: Collection, geometry: GeoJSON.Geometry, properties: Record<string, any>, extra: Partial<ModelRecord> = {}) {
    const response = await api('POST', `/collections/${collection}/items`, { token: tokenFor(owner, 'editor'), body: { type: 'Feature', geometry, properties } });
    expect(response.status, `create ${collection}: ${response.text}`).to.equal(201);
    const record: ModelRecord = { id: response.body.id, collection, owner, properties, geometry, ...extra };
    this.records.push(record);
    this.count(`create ${collection}`);
    return record;
  }

  async create(owner: string, collection: Collection): Promise<ModelRecord> {
    if (collection === 'land-releases') {
      const areas = this.records.filter((r) => r.collection === 'hazardous-areas' && r.owner === owner && r.releasedTenths! < 8);
      if (areas.length === 0) return this.create(owner, 'hazardous-areas');
      return this.release(areas[0]);
    }
    const corner = freshCorner();
    if (collection === 'hazardous-areas') {
      const sq = square(corner);
      return this.post(owner, collection, sq, { localRef: ref('HA'), classification: 'CHA', hazardTypes: ['AP'], informationDate: '2025-06-01', priority: 'medium' }, { square: sq, releasedTenths: 0 });
    }
    if (collection === 'minefield-records') return this.post(owner, collection, perimeter(corner), minefieldProperties(corner));
    return this.post(owner, collection, pointAt(corner), testimonyProperties(owner));
  }

  /** Land release of the next tenth of an area: changes the area's remaining polygon, status and version. */
  async release(area: ModelRecord) {
    const k = area.releasedTenths!;
    area.releasedTenths = k + 1;
    this.count('land release');
    return this.post(area.owner, 'land-releases', strip(area.square!, k / 10, (k + 1) / 10), {
      localRef: ref('LR'), hazardousAreaId: area.id, method: 'reduced', activity: 'TS', releaseDate: '2025-08-01', operator: 'Synthetic Team 1',
    }, { areaId: area.id });
  }

  /** A merge patch of properties; `variant` picks one visible at footprint, summary or full only. */
  async patch(record: ModelRecord, variant: number) {
    const n = variant % 3;
    const value = (refs++ % 90) + 1;
    const patches: Record<Collection, Record<string, any>[]> = {
      'hazardous-areas': [{ classification: record.properties.classification === 'CHA' ? 'SHA' : 'CHA' }, { hazardTypes: value % 2 ? ['AP', 'AT'] : ['UXO'] }, { priority: ['high', 'medium', 'low'][value % 3], estimatedDeviceCount: value }],
      'land-releases': [{ devicesFound: [{ type: 'AP', count: value }] }, { releaseDate: `2025-09-${String((value % 28) + 1).padStart(2, '0')}` }, { operator: `Synthetic Team ${value}` }],
      'minefield-records': [{ fuzeType: `pressure ${value}` }, { laidFrom: `1993-04-${String((value % 28) + 1).padStart(2, '0')}T08:00:00.000Z` }, { totalMines: value }],
      testimonies: [{ informationReliability: String((value % 6) + 1) }, { uncertaintyM: 100 + value }, { interview: { ...record.properties.interview, interviewers: `team ${value}` } }],
    };
    const change = patches[record.collection][n];
    const version = await this.version(record);
    const response = await api('PATCH', `/collections/${record.collection}/items/${record.id}`, { token: tokenFor(record.owner, 'editor'), body: { properties: change }, headers: { 'if-match': `"${version}"` } });
    expect(response.status, `PATCH ${record.collection}: ${response.text}`).to.equal(200);
    Object.assign(record.properties, change);
    this.count(`PATCH ${record.collection}`);
  }

  /** A whole replacement: new geometry where the kind allows it (not for an area with releases). */
  async put(record: ModelRecord, variant: number) {
    const properties = { ...record.properties };
    let geometry = record.geometry;
    const corner = freshCorner();
    if (record.collection === 'hazardous-areas') {
      properties.marking = ['none', 'partial', 'full'][variant % 3];
      if (record.releasedTenths === 0) { record.square = square(corner); geometry = record.square; }
    } else if (record.collection === 'minefield-records') {
      Object.assign(properties, { ...minefieldProperties(corner), localRef: properties.localRef });
      geometry = perimeter(corner);
    } else if (record.collection === 'testimonies') {
      properties.narrative = { language: 'en', text: `Revised account ${variant}.` };
      geometry = pointAt(corner);
    } else {
      properties.clearanceDepthCm = 10 + (variant % 50);
    }
    const version = await this.version(record);
    const response = await api('PUT', `/collections/${record.collection}/items/${record.id}`, { token: tokenFor(record.owner, 'editor'), body: { type: 'Feature', geometry, properties }, headers: { 'if-match': `"${version}"` } });
    expect(response.status, `PUT ${record.collection}: ${response.text}`).to.equal(200);
    record.properties = properties;
    record.geometry = geometry;
    this.count(`PUT ${record.collection}`);
  }

  async retire(record: ModelRecord) {
    const version = await this.version(record);
    const response = await api('DELETE', `/collections/${record.collection}/items/${record.id}?reason=property-test`, { token: tokenFor(record.owner, 'editor'), headers: { 'if-match': `"${version}"` } });
    expect(response.status, `DELETE ${record.collection}: ${response.text}`).to.equal(204);
    this.records.splice(this.records.indexOf(record), 1);
    this.count(`DELETE ${record.collection}`);
  }

  async restrict(record: ModelRecord, restricted: boolean) {
    const version = await this.version(record);
    const response = await api('PUT', `/collections/${record.collection}/items/${record.id}/restriction`, { token: tokenFor(record.owner, 'editor'), body: { restricted }, headers: { ...JSON_BODY, 'if-match': `"${version}"` } });
    expect(response.status, `restriction: ${response.text}`).to.equal(200);
    this.count(restricted ? 'restrict' : 'unrestrict');
  }
}

type Command =
  | { op: 'create'; owner: number; kind: number }
  | { op: 'patch' | 'put' | 'retire' | 'release' | 'restrict'; pick: number; variant: number }
  | { op: 'agreement'; owner: number; grantee: number; kind: number; level: number };

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('create' as const), owner: fc.nat(2), kind: fc.nat(3) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('patch' as const), pick: fc.nat(), variant: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('put' as const), pick: fc.nat(), variant: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('release' as const), pick: fc.nat(), variant: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('retire' as const), pick: fc.nat(), variant: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('restrict' as const), pick: fc.nat(), variant: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('agreement' as const), owner: fc.nat(2), grantee: fc.nat(2), kind: fc.nat(3), level: fc.nat(3) }) },
);

const VIEWERS = [
  { label: 'ANAMA viewer', token: () => tokenFor('ANAMA', 'viewer') },
  { label: 'CHDE viewer', token: () => tokenFor('CHDE', 'viewer') },
  { label: 'GEO viewer', token: () => tokenFor('GEO', 'viewer') },
  { label: 'LIAISON facilitator', token: () => tokenFor('LIAISON', 'facilitator') },
];

// ---------------------------------------------------------------------------------------------
// SSE: a small parser over fetch's body stream.
interface SseFrame { id?: string; event?: string; data?: string }
interface SseClient { frames: SseFrame[]; comments: string[]; retry?: number; status: number; close: () => void; done: Promise<void> }

async function openSse(url: string, headers: Record<string, string>): Promise<SseClient> {
  const controller = new AbortController();
  const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
  const client: SseClient = { frames: [], comments: [], status: response.status, close: () => controller.abort(), done: Promise.resolve() };
  if (response.status !== 200 || !response.body) {
    (client as any).body = await response.text();
    return client;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  client.done = (async () => {
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
          const frame: SseFrame = {};
          let isFrame = false;
          for (const line of block.split(/\r?\n/)) {
            if (line.startsWith(':')) { client.comments.push(line.slice(1).trim()); continue; }
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'retry') client.retry = Number(value);
            else if (field === 'id' || field === 'event') { frame[field] = value; isFrame = true; }
            else if (field === 'data') { frame.data = frame.data === undefined ? value : `${frame.data}\n${value}`; isFrame = true; }
          }
          if (isFrame) client.frames.push(frame);
        }
      }
    } catch (error) {
      if ((error as Error).name !== 'AbortError') throw error;
    }
  })();
  return client;
}
const sseEvents = (client: SseClient) => client.frames.filter((f) => f.event === 'change').map((f) => ({ ...JSON.parse(f.data!), sseId: f.id }));

// ---------------------------------------------------------------------------------------------
describe('feed guarantees', function () {
  this.timeout(120_000);

  before(async () => {
    // Each agency registers the informant its testimonies cite.
    for (const agency of AGENCIES) {
      const response = await api('POST', '/informants', { token: tokenFor(agency, 'editor'), body: { code: `FG-INF-${agency}`, fullName: `Synthetic Informant ${agency}` }, headers: JSON_BODY });
      expect([201, 409], response.text).to.include(response.status);
    }
  });

  after(async () => {
    // Leave no agreement behind for the other suites.
    await getHarness().db('sharing_agreement').update({ level: 'none' });
  });

  it('for every viewer, snapshot(T0) + feed(T0→T1) = snapshot(T1) through random writes, agreement changes and restrictions', async function () {
    this.timeout(120_000);
    const started = Date.now();
    const model = new Model();
    let runs = 0;
    let eventsApplied = 0;
    const operations: Record<string, number> = {};
    // Each run starts from what the previous ones left: snapshots are taken afresh.
    await fc.assert(
      fc.asyncProperty(fc.array(commandArb, { minLength: 18, maxLength: 30 }), fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 4, maxLength: 4 }), async (commands, limits) => {
        runs++;
        const t0 = await Promise.all(VIEWERS.map((viewer) => snapshotOf(viewer.token())));
        for (const command of commands) {
          const live = model.records;
          if (command.op === 'create') { await model.create(AGENCIES[command.owner], COLLECTIONS[command.kind]); continue; }
          if (command.op === 'agreement') {
            const owner = AGENCIES[command.owner];
            const grantee = GRANTEES.filter((g) => g !== owner)[command.grantee];
            await share(owner, grantee, COLLECTIONS[command.kind], LEVELS[command.level]);
            model.count(`agreement → ${LEVELS[command.level]}`);
            continue;
          }
          if (command.op === 'release') {
            const areas = live.filter((r) => r.collection === 'hazardous-areas' && r.releasedTenths! < 8);
            if (areas.length) await model.release(areas[command.pick % areas.length]);
            else await model.create(AGENCIES[command.variant % 3], 'hazardous-areas');
            continue;
          }
          if (live.length === 0) { await model.create(AGENCIES[command.variant % 3], COLLECTIONS[command.variant % 4]); continue; }
          const record = live[command.pick % live.length];
          if (command.op === 'patch') await model.patch(record, command.variant);
          else if (command.op === 'put') await model.put(record, command.variant);
          else if (command.op === 'retire') {
            // Retire land releases and areas without releases; an area with releases is patched instead.
            if (record.collection === 'hazardous-areas' && record.releasedTenths! > 0 && model.records.some((r) => r.areaId === record.id)) await model.patch(record, command.variant);
            else await model.retire(record);
          } else await model.restrict(record, command.variant % 3 !== 0);
        }
        const t1 = await Promise.all(VIEWERS.map((viewer) => snapshotOf(viewer.token())));
        for (const [n, viewer] of VIEWERS.entries()) {
          const { events, cursor } = await feedFrom(viewer.token(), t0[n].cursor, limits[n]);
          for (const e of events) operations[e.operation] = (operations[e.operation] ?? 0) + 1;
          eventsApplied += events.length;
          apply(t0[n].mirror, events, viewer.label);
          expectSameMirror(t0[n].mirror, t1[n].mirror, viewer.label);
          expect(cursor, `${viewer.label}: the feed ends where the T1 snapshot begins`).to.equal(t1[n].cursor);
        }
      }),
      { seed: 20261123, numRuns: 8, endOnFailure: true, interruptAfterTimeLimit: 50_000 },
    );
    console.log(`      property: ${runs} runs, ${Object.values(model.writes).reduce((a, b) => a + b, 0)} writes ${JSON.stringify(model.writes)}, ${eventsApplied} events applied ${JSON.stringify(operations)} in ${Date.now() - started} ms`);
    expect(runs).to.be.at.least(2);
  });

  it('a change only to what a viewer cannot see produces nothing for it (each kind, at footprint and summary)', async () => {
    const model = new Model();
    const owner = 'GEO';
    const records = await Promise.all(COLLECTIONS.filter((c) => c !== 'land-releases').map((c) => model.create(owner, c)));
    const area = records.find((r) => r.collection === 'hazardous-areas')!;
    records.push(await model.release(area));
    // Patch variant 2 of every kind touches a field shown at `full` only (priority, operator, totalMines, interviewers).
    for (const [level, viewerAgency] of [['footprint', 'ANAMA'], ['summary', 'CHDE']] as const) {
      for (const collection of COLLECTIONS) await share(owner, viewerAgency, collection, level);
    }
    const tokens = { ANAMA: tokenFor('ANAMA', 'viewer'), CHDE: tokenFor('CHDE', 'viewer'), GEO: tokenFor('GEO', 'viewer') };
    const starts = { ANAMA: (await snapshotOf(tokens.ANAMA)).cursor, CHDE: (await snapshotOf(tokens.CHDE)).cursor, GEO: (await snapshotOf(tokens.GEO)).cursor };
    for (const record of records) await model.patch(record, 2);
    const ids = new Set(records.map((r) => r.id));
    const footprint = (await feedFrom(tokens.ANAMA, starts.ANAMA)).events.filter((e) => ids.has(e.id));
    const summary = (await feedFrom(tokens.CHDE, starts.CHDE)).events.filter((e) => ids.has(e.id));
    const ownerEvents = (await feedFrom(tokens.GEO, starts.GEO)).events.filter((e) => ids.has(e.id));
    expect(footprint, 'footprint viewer').to.deep.equal([]);
    expect(summary, 'summary viewer').to.deep.equal([]);
    // The owner sees each of those changes (the land release's also touches its area), as updates.
    expect([...new Set(ownerEvents.map((e) => e.id))].sort()).to.deep.equal([...ids].sort());
    for (const event of ownerEvents) {
      checkShape(event);
      expect(event.operation).to.equal('update');
      expect(event).to.not.have.property('geometry');
    }
    for (const collection of COLLECTIONS) { await share(owner, 'ANAMA', collection, 'none'); await share(owner, 'CHDE', collection, 'none'); }
  });

  it('an agreement fanout paged across requests while the owner keeps creating records delivers each record once', async () => {
    // The fanout of an agreement change is paged by OFFSET over the owner's current records (feed_agreement_fanout);
    // records created between two pages must not shift it into a duplicate or a gap.
    const model = new Model();
    for (let n = 0; n < 12; n++) await model.create('CHDE', 'testimonies');
    await share('CHDE', 'GEO', 'testimonies', 'none');
    const viewer = tokenFor('GEO', 'viewer');
    const t0 = await snapshotOf(viewer);
    await share('CHDE', 'GEO', 'testimonies', 'summary');
    const events: any[] = [];
    let after = t0.cursor;
    let created = 0;
    let createdBefore = 0;
    let pagesWithInserts = 0;
    for (;;) {
      const page = await api('GET', `/feed?limit=2&after=${after}`, { token: viewer });
      expect(page.status, page.text).to.equal(200);
      events.push(...page.body.events);
      after = page.body.cursor;
      if (page.body.caughtUp) break;
      // Between the first pages, the owner records more testimony, until one sorts before the fanout's position.
      const lastFanout = page.body.events.filter((e: any) => e.operation === 'create').at(-1)?.id;
      // Ids are random: wait for a position in the upper three quarters of the id space, so that
      // one of the next 30 new ids sorts before it with near certainty (1 − 0.75³⁰).
      if (lastFanout && lastFanout >= '4' && pagesWithInserts++ < 2) {
        for (let n = 0; n < 30; n++) {
          const record = await model.create('CHDE', 'testimonies');
          created++;
          if (record.id < lastFanout) { createdBefore++; break; }
        }
      }
    }
    const t1 = await snapshotOf(viewer);
    await share('CHDE', 'GEO', 'testimonies', 'none');
    expect(createdBefore, 'records created before the fanout position').to.be.greaterThan(0);
    const decode = (cursor: string) => Buffer.from(cursor, 'base64url').toString();
    const twice = events.filter((e, i) => e.operation === 'create' && events.findIndex((o) => o.operation === 'create' && o.id === e.id) !== i);
    expect(twice.map((e) => `${e.id} delivered at ${events.filter((o) => o.id === e.id).map((o) => decode(o.cursor)).join(' and ')}`), 'no record created twice').to.deep.equal([]);
    apply(t0.mirror, events, 'GEO viewer (fanout under inserts)');
    expectSameMirror(t0.mirror, t1.mirror, 'GEO viewer (fanout under inserts)');
  });

  // -------------------------------------------------------------------------------------------
  describe('concurrent writers', () => {
    const OWNER: Viewer = { agency: 'ANAMA', role: 'editor', subject: 'concurrency-test' };
    let writerDb: Knex;
    before(() => { writerDb = createKnex(getHarness().databaseUrl, EXTRA_POOL_SIZE); });
    after(async () => { await writerDb.destroy(); });

    it('every committed change exactly once, in commit order, while a reader pages with small pages', async function () {
      this.timeout(150_000);
      const model = new Model();
      const records: ModelRecord[] = [];
      for (let n = 0; n < 24; n++) records.push(await model.create('ANAMA', 'hazardous-areas'));
      const ids = new Set(records.map((r) => r.id));
      const viewer = tokenFor('ANAMA', 'viewer');
      const start = (await snapshotOf(viewer)).cursor;

      interface Tx { writer: number; n: number; writes: { id: string; version: number; tag: number }[]; commitStart: number; commitEnd: number; committed: boolean }
      const transactions: Tx[] = [];
      let tagCounter = 1000;
      // mulberry32, seeded: reproducible delays and choices.
      let state = 20261123;
      const random = () => {
        state = (state + 0x6d2b79f5) | 0;
        let t = Math.imul(state ^ (state >>> 15), 1 | state);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      };
      const WRITERS = 8;
      const PER_WRITER = 30;
      let writing = true;
      let committedChanges = 0;
      let seenMine = 0;
      let readerAlive = true;

      const writer = async (w: number) => {
        for (let n = 0; n < PER_WRITER; n++) {
          const targets = [...new Set(Array.from({ length: random() < 0.3 ? 2 : 1 }, () => records[Math.floor(random() * records.length)].id))].sort();
          const rollback = random() < 0.1;
          const tx: Tx = { writer: w, n, writes: [], commitStart: 0, commitEnd: 0, committed: false };
          try {
            await withViewer(writerDb, OWNER, async (trx) => {
              // Delays before the first write, between writes and before commit: numbering happens at commit.
              await trx.raw('SELECT pg_sleep(?)', [random() * 0.05]);
              for (const id of targets) {
                const tag = tagCounter++;
                const row = (await trx.raw('UPDATE hazardous_area SET estimated_device_count = ?, version = version + 1, updated_at = clock_timestamp() WHERE id = ? RETURNING version', [tag, id])).rows[0];
                tx.writes.push({ id, version: row.version, tag });
                await trx.raw('SELECT pg_sleep(?)', [random() * 0.05]);
              }
              await trx.raw('SELECT pg_sleep(?)', [random() * 0.08]);
              if (rollback) throw new Error('rollback on purpose');
              tx.commitStart = performance.now();
            }, 'write');
            tx.commitEnd = performance.now();
            tx.committed = true;
          } catch (error) {
            if ((error as Error).message !== 'rollback on purpose') throw error;
          }
          transactions.push(tx);
          if (tx.committed) committedChanges += tx.writes.length;
          await sleep(random() * 300);
          // Back-pressure: a page costs the projection of up to a 500-entry batch however small the limit,
          // so a small-page reader far behind slows down quadratically; keep its backlog bounded.
          while (committedChanges - seenMine > 24 && readerAlive) await sleep(20);
        }
      };

      // The reader pages concurrently, 3 events at a time, until the writers are done and it is caught up.
      const seen: any[] = [];
      let pages = 0;
      const reader = async () => {
        let after = start;
        for (;;) {
          const stillWriting = writing;
          const page = await api('GET', `/feed?limit=4&after=${after}`, { token: viewer });
          expect(page.status, page.text).to.equal(200);
          pages++;
          seen.push(...page.body.events);
          seenMine += page.body.events.filter((e: any) => ids.has(e.id)).length;
          after = page.body.cursor;
          if (page.body.caughtUp && !stillWriting) return;
          if (page.body.caughtUp) await sleep(20);
        }
      };
      const readerDone = reader().finally(() => { readerAlive = false; });
      try {
        await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
      } finally {
        writing = false;
        await readerDone;
      }

      const committed = transactions.filter((t) => t.committed);
      const rolledBack = transactions.filter((t) => !t.committed);
      const mine = seen.filter((e) => ids.has(e.id));
      const key = (id: string, version: number) => `${id}@${version}`;
      // Exactly once: the delivered (id, version) pairs are exactly the committed writes.
      const delivered = mine.map((e) => key(e.id, e.version));
      expect(new Set(delivered).size, 'no change delivered twice').to.equal(delivered.length);
      const expected = committed.flatMap((t) => t.writes.map((w) => key(w.id, w.version)));
      expect([...delivered].sort(), 'every committed change delivered, nothing else').to.deep.equal([...expected].sort());
      for (const t of rolledBack) for (const w of t.writes) expect(mine.some((e) => e.id === w.id && e.patch.some((p: any) => p.value === w.tag)), 'rolled back write delivered').to.equal(false);
      // Each event carries its write's value.
      const tagOf = new Map(committed.flatMap((t) => t.writes.map((w) => [key(w.id, w.version), w.tag] as const)));
      for (const e of mine) {
        expect(e.operation).to.equal('update');
        expect(e.patch).to.deep.include({ op: 'replace', path: '/estimatedDeviceCount', value: tagOf.get(key(e.id, e.version)) });
      }
      // Per record: versions strictly increasing.
      const lastVersion = new Map<string, number>();
      for (const e of mine) {
        expect(e.version, `version order of ${e.id}`).to.be.greaterThan(lastVersion.get(e.id) ?? 1);
        lastVersion.set(e.id, e.version);
      }
      // Across records: a transaction whose commit returned before another's commit began comes first.
      const position = new Map(mine.map((e, i) => [key(e.id, e.version), i]));
      const span = (t: Tx) => t.writes.map((w) => position.get(key(w.id, w.version))!);
      let ordered = 0;
      for (const t of committed) {
        const s = span(t);
        // A transaction's entries are numbered together, so they are adjacent in the feed.
        expect(Math.max(...s) - Math.min(...s), 'one transaction, adjacent events').to.equal(s.length - 1);
      }
      for (const a of committed) {
        for (const b of committed) {
          if (a !== b && a.commitEnd < b.commitStart) {
            ordered++;
            expect(Math.max(...span(a)), `tx ${a.writer}/${a.n} committed before ${b.writer}/${b.n} began committing`).to.be.lessThan(Math.min(...span(b)));
          }
        }
      }
      // And the feed order is change_log.seq order.
      // Each record was created (entry 1, version 1) and then changed once per committed transaction: its n-th entry is version n.
      const seqs = (await getHarness().db.raw(
        `SELECT record_id::text AS id, row_number() OVER (PARTITION BY record_id ORDER BY seq) AS version, seq
           FROM change_log WHERE record_id = ANY(?::uuid[]) AND seq IS NOT NULL ORDER BY seq`, [[...ids]])).rows;
      const seqOf = new Map(seqs.map((row: any) => [key(row.id, row.version), Number(row.seq)]));
      const feedSeqs = mine.map((e) => seqOf.get(key(e.id, e.version))!);
      expect(feedSeqs.every((s, i) => i === 0 || s > feedSeqs[i - 1]), 'feed order = change_log.seq order').to.equal(true);
      console.log(`      concurrency: ${WRITERS} writers, ${committed.length} commits (${expected.length} changes), ${rolledBack.length} rollbacks, ${pages} reader pages, ${ordered} ordered pairs checked`);
      expect(expected.length).to.be.at.least(200);
    });

    // The embedded database is one session: a second transaction cannot even begin while one is
    // open, so a later writer cannot commit first. What it must show there is exactly that.
    if (ON_EMBEDDED_DATABASE) it('on the embedded database a second writer waits for the open transaction, so commit order is write order', async () => {
      const model = new Model();
      const [x, y] = [await model.create('ANAMA', 'hazardous-areas'), await model.create('ANAMA', 'hazardous-areas')];
      const viewer = tokenFor('ANAMA', 'viewer');
      const cursor = (await snapshotOf(viewer)).cursor;
      let releaseA!: () => void;
      const aMayCommit = new Promise<void>((resolve) => { releaseA = resolve; });
      let aWrote!: () => void;
      const aHasWritten = new Promise<void>((resolve) => { aWrote = resolve; });
      const a = withViewer(writerDb, OWNER, async (trx) => {
        await trx.raw('UPDATE hazardous_area SET estimated_device_count = 111, version = version + 1 WHERE id = ?', [x.id]);
        aWrote();
        await aMayCommit;
      }, 'write');
      await aHasWritten;
      let bDone = false;
      const b = withViewer(getHarness().db, OWNER, async (trx) => {
        await trx.raw('UPDATE hazardous_area SET estimated_device_count = 222, version = version + 1 WHERE id = ?', [y.id]);
      }, 'write').then(() => { bDone = true; });
      await sleep(500);
      expect(bDone, 'B committed while A was open').to.equal(false);
      releaseA();
      await Promise.all([a, b]);
      const events = (await feedFrom(viewer, cursor, 10)).events;
      expect(events.map((e) => [e.id, e.version])).to.deep.equal([[x.id, 2], [y.id, 2]]);
    });

    if (!ON_EMBEDDED_DATABASE) it('a transaction that wrote first but commits last is delivered after the earlier commits, and not skipped by a reader already past them', async () => {
      const model = new Model();
      const [x, y] = [await model.create('ANAMA', 'hazardous-areas'), await model.create('ANAMA', 'hazardous-areas')];
      const viewer = tokenFor('ANAMA', 'viewer');
      let cursor = (await snapshotOf(viewer)).cursor;
      let releaseA!: () => void;
      const aMayCommit = new Promise<void>((resolve) => { releaseA = resolve; });
      let aWrote!: () => void;
      const aHasWritten = new Promise<void>((resolve) => { aWrote = resolve; });
      // A writes X first and holds its transaction open…
      const a = withViewer(writerDb, OWNER, async (trx) => {
        await trx.raw('UPDATE hazardous_area SET estimated_device_count = 111, version = version + 1 WHERE id = ?', [x.id]);
        aWrote();
        await aMayCommit;
      }, 'write');
      await aHasWritten;
      // …B writes Y later and commits first.
      await withViewer(writerDb, OWNER, async (trx) => {
        await trx.raw('UPDATE hazardous_area SET estimated_device_count = 222, version = version + 1 WHERE id = ?', [y.id]);
      }, 'write');
      const first = await feedFrom(viewer, cursor, 1);
      expect(first.events.map((e) => e.id)).to.deep.equal([y.id]);
      cursor = first.cursor; // the reader is now past B's entry
      releaseA();
      await a;
      const second = await feedFrom(viewer, cursor, 1);
      expect(second.events.map((e) => [e.id, e.version])).to.deep.equal([[x.id, 2]]);
      expect(second.events[0].patch).to.deep.include({ op: 'replace', path: '/estimatedDeviceCount', value: 111 });
      // A wrote first (lower log id) but is numbered after B.
      const rows = (await getHarness().db('change_log').select('id', 'seq', 'record_id').whereIn('record_id', [x.id, y.id]).orderBy('seq', 'desc').limit(2)).reverse();
      expect(rows.map((row) => row.record_id)).to.deep.equal([y.id, x.id]);
      expect(Number(rows[1].id), 'A drew the lower log id').to.be.lessThan(Number(rows[0].id));
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('live stream and retention', () => {
    it('SSE: changes arrive as they commit; a reconnect with Last-Event-ID gets exactly the missed ones', async function () {
      // Its resumes read the agreement's whole fanout, every GEO area the other suites left:
      // 30–35 s on a server, 45–60 s on the embedded database on this 2-core machine.
      this.timeout(150_000);
      const owner = tokenFor('CHDE', 'editor');
      const viewer = tokenFor('CHDE', 'viewer');
      const model = new Model();
      const area = await model.create('CHDE', 'hazardous-areas');
      const start = (await snapshotOf(viewer)).cursor;
      const url = `${getHarness().baseUrl}/feed/stream`;
      const first = await openSse(`${url}?after=${start}`, { authorization: `Bearer ${viewer}` });
      expect(first.status).to.equal(200);
      await waitFor('retry line', () => first.retry !== undefined);
      expect(first.retry).to.equal(2000);
      await model.patch(area, 0);
      await model.release(area);
      const mfr = await model.create('CHDE', 'minefield-records');
      await waitFor('4 live events', () => sseEvents(first).length >= 4); // patch, release (LR create + area update), record create
      const live = sseEvents(first);
      await sleep(200);
      expect(sseEvents(first).map((e) => [e.operation, e.recordKind, e.id])).to.deep.equal([
        ['update', 'hazardous-areas', area.id], ['create', 'land-releases', live[1].id], ['update', 'hazardous-areas', area.id], ['create', 'minefield-records', mfr.id],
      ]);
      expect(live.every((e) => e.sseId === e.cursor)).to.equal(true);
      first.close();
      await first.done;
      const lastId = live[live.length - 1].sseId;

      // Missed while disconnected: updates, a retirement and a fanout of an agreement from GEO.
      await model.patch(mfr, 2);
      await model.retire(mfr);
      const geoModel = new Model();
      for (let n = 0; n < 3; n++) await geoModel.create('GEO', 'hazardous-areas');
      await share('GEO', 'CHDE', 'hazardous-areas', 'footprint');
      const expected = (await feedFrom(viewer, lastId, 1)).events;
      expect(expected.length).to.be.at.least(5);

      const second = await openSse(url, { authorization: `Bearer ${viewer}`, 'last-event-id': lastId });
      expect(second.status).to.equal(200);
      await waitFor('missed events', () => sseEvents(second).length >= expected.length);
      await sleep(300); // nothing more may come
      const missed = sseEvents(second);
      expect(missed.map(({ sseId, ...e }) => e)).to.deep.equal(expected);
      const seenBefore = new Set(live.map((e) => e.cursor));
      expect(missed.some((e) => seenBefore.has(e.cursor)), 'nothing twice').to.equal(false);
      // Resuming from any event id, including inside the agreement's fanout, continues exactly after it.
      // The fanout covers every GEO area other suites left (a bulk import leaves thousands), and each
      // resume reads to the end: every one of the first 12 events, then 24 spread over the rest, and the last.
      const stride = Math.max(1, Math.ceil((expected.length - 12) / 24));
      const resumeAt = [...new Set([...expected.keys()].filter((k) => k < 12 || (k - 12) % stride === 0 || k === expected.length - 1))];
      for (const k of resumeAt) {
        const rest = await feedFrom(viewer, expected[k].cursor, 2);
        expect(rest.events, `resume after event ${k}`).to.deep.equal(expected.slice(k + 1));
      }
      second.close();
      await second.done;
      await share('GEO', 'CHDE', 'hazardous-areas', 'none');
      void owner;
    });

    it('heartbeats are ": heartbeat" comments (FeedStream with heartbeatMs 150 on a tiny app)', async () => {
      const { db } = getHarness();
      const stream = new FeedStream(new FeedService(db), getHarness().database.changes, { heartbeatMs: 150, pollMs: 2000, pageSize: 50 });
      const app = express();
      const viewer: Viewer = { agency: 'CHDE', role: 'viewer', subject: 'heartbeat-test' };
      app.get('/stream', async (req, res) => { await stream.serve(viewer, (req.query.after as string) || undefined, res, 'http://localhost/feed/snapshot'); });
      const server = await new Promise<Server>((resolve) => { const s = app.listen(0, '127.0.0.1', () => resolve(s)); });
      try {
        const cursor = (await snapshotOf(tokenFor('CHDE', 'viewer'))).cursor;
        const client = await openSse(`http://127.0.0.1:${(server.address() as AddressInfo).port}/stream?after=${cursor}`, {});
        await waitFor('two heartbeats', () => client.comments.filter((c) => c === 'heartbeat').length >= 2, 3000);
        expect(client.retry).to.equal(2000);
        client.close();
        await client.done;
      } finally {
        await stream.close();
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    });

    it('a cursor older than the retention horizon gets 410 with a snapshot link; the snapshot and its cursor work', async () => {
      const viewer = tokenFor('ANAMA', 'viewer');
      const model = new Model();
      const area = await model.create('ANAMA', 'hazardous-areas');
      const old = (await snapshotOf(viewer)).cursor;
      await model.patch(area, 0);
      expect((await feedFrom(viewer, old)).events.length).to.be.at.least(1);
      const pruned = await pruneChangeLog(getHarness().db, 0);
      expect(pruned).to.be.at.least(1);
      try {
        await retentionChecks(viewer, model, area, old);
      } finally {
        // Later suites (e.g. the sync client) read the feed from the start: put the horizon back.
        await getHarness().db('change_log_horizon').update({ pruned_through: 0 });
      }
    });
  });

  // Continues the retention test above, right after the prune.
  async function retentionChecks(viewer: string, model: Model, area: ModelRecord, old: string) {

      const gone = await api('GET', `/feed?after=${old}&limit=10`, { token: viewer });
      expect(gone.status).to.equal(410);
      expect(gone.headers.get('content-type')).to.match(/application\/problem\+json/);
      expect(gone.body.snapshot).to.match(/\/feed\/snapshot$/);
      const streamGone = await openSse(`${getHarness().baseUrl}/feed/stream`, { authorization: `Bearer ${viewer}`, 'last-event-id': old });
      expect(streamGone.status).to.equal(410);

      // Right after pruning (nothing written since), the snapshot's cursor must continue the feed.
      const fresh = await api('GET', new URL(gone.body.snapshot).pathname, { token: viewer });
      expect(fresh.status).to.equal(200);
      const resumed = await api('GET', `/feed?after=${fresh.body.cursor}&limit=10`, { token: viewer });
      const afterPrune = { status: resumed.status, cursor: Buffer.from(fresh.body.cursor, 'base64url').toString(), body: resumed.body };
      // Then a write, and again.
      await model.patch(area, 1);
      const fresh2 = await snapshotOf(viewer);
      await model.patch(area, 0);
      const continued = await feedFrom(viewer, fresh2.cursor);
      expect(continued.events.map((e) => e.id)).to.deep.equal([area.id]);
      apply(fresh2.mirror, continued.events, 'after prune');
      expectSameMirror(fresh2.mirror, (await snapshotOf(viewer)).mirror, 'after prune');
      expect(afterPrune.status, `the snapshot taken right after pruning gave cursor ${afterPrune.cursor}, and /feed answered ${JSON.stringify(afterPrune.body)}`).to.equal(200);
  }

  // -------------------------------------------------------------------------------------------
  describe('restart during a burst', () => {
    // The service under test runs in a child process on a database of its own: beside the
    // suite's on a server, or its own embedded database in dataDir (which only the child may
    // open while it runs — so the checks below read through the child's API).
    let restartDb: { url: string; close(): Promise<void> } | undefined;
    let db: Knex | undefined;
    let child: ChildProcess | undefined;
    let dataDir: string | undefined;
    let key: { kid: string; privateKey: string };

    const freePort = () => new Promise<number>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => { const { port } = s.address() as AddressInfo; s.close(() => resolve(port)); });
    });
    const killChild = async () => {
      if (!child || child.exitCode !== null || child.signalCode !== null) { child = undefined; return; }
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* already gone */ }
      await exited;
      child = undefined;
    };
    const startChild = async (port: number) => {
      const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', DATA_DIR: dataDir, NODE_ENV: 'production', DEMO: 'false' };
      if (restartDb) env.DATABASE_URL = restartDb.url;
      else delete env.DATABASE_URL;
      child = spawn('npx', ['tsx', 'server/main.ts'], {
        cwd: path.resolve(__dirname, '..'),
        env,
        detached: true, // its own process group: kill -9 reaches npx, tsx and node alike
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr!.on('data', (chunk) => { stderr += chunk; });
      const until = Date.now() + (restartDb ? 40_000 : 150_000);
      for (;;) {
        if (child.exitCode !== null) throw new Error(`service exited: ${stderr}`);
        try { if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) return; } catch { /* not yet */ }
        if (Date.now() > until) throw new Error(`service did not start: ${stderr}`);
        await sleep(100);
      }
    };

    before(async function () {
      this.timeout(180_000);
      dataDir = mkdtempSync(path.join(os.tmpdir(), 'feed-restart-'));
      const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      key = { kid: 'restart-anama', privateKey: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
      const agencyKey = { agency_code: 'ANAMA', kid: key.kid, algorithm: 'ES256', public_key: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString() };
      if (ON_EMBEDDED_DATABASE) {
        const embedded = await openEmbeddedDatabase(path.join(dataDir, 'pglite'));
        try {
          await embedded.db('agency_key').insert(agencyKey);
        } finally {
          await embedded.close();
        }
      } else {
        restartDb = await scratchDatabase('restart');
        db = await openDatabase({ ...loadConfig(), databaseUrl: restartDb.url }, { create: false });
        await db('agency_key').insert(agencyKey);
      }
    });

    after(async function () {
      this.timeout(30_000);
      await killChild();
      await db?.destroy();
      await restartDb?.close();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    });

    it('kill -9 in the middle of concurrent writes: every acknowledged write in the feed once, unacknowledged ones once or not at all', async function () {
      this.timeout(400_000);
      const token = (role: 'editor' | 'viewer') => issueToken({ agency: 'ANAMA', role, privateKey: key.privateKey, kid: key.kid, algorithm: 'ES256' });
      let port = await freePort();
      await startChild(port);
      const call = async (method: string, p: string, body?: unknown, headers: Record<string, string> = {}) => {
        const response = await fetch(`http://127.0.0.1:${port}${p}`, {
          method, headers: { authorization: `Bearer ${token(method === 'GET' ? 'viewer' : 'editor')}`, ...(body ? { 'content-type': 'application/geo+json' } : {}), ...headers },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await response.text();
        return { status: response.status, body: text ? JSON.parse(text) : undefined };
      };
      const haBody = (localRef: string) => ({ type: 'Feature', geometry: square(), properties: { localRef, classification: 'CHA', hazardTypes: ['AP'], informationDate: '2025-06-01' } });
      const existing: string[] = [];
      for (let n = 0; n < 20; n++) {
        const created = await call('POST', '/collections/hazardous-areas/items', haBody(ref('RS')));
        expect(created.status).to.equal(201);
        existing.push(created.body.id);
      }

      interface Attempt { kind: 'create' | 'patch'; localRef?: string; id?: string; tag?: number; status?: number; error?: string; responseId?: string }
      const attempts: Attempt[] = [
        ...Array.from({ length: 50 }, () => ({ kind: 'create' as const, localRef: ref('BURST') })),
        ...existing.map((id, n) => ({ kind: 'patch' as const, id, tag: 5000 + n })),
      ];
      let responses = 0;
      let killed = false;
      const delays = fc.sample(fc.integer({ min: 0, max: 1200 }), { seed: 42, numRuns: attempts.length });
      const burst = Promise.all(attempts.map(async (attempt, n) => {
        await sleep(delays[n]);
        try {
          const response = attempt.kind === 'create'
            ? await call('POST', '/collections/hazardous-areas/items', haBody(attempt.localRef!))
            : await call('PATCH', `/collections/hazardous-areas/items/${attempt.id}`, { properties: { estimatedDeviceCount: attempt.tag } }, { 'if-match': '"1"' });
          attempt.status = response.status;
          attempt.responseId = response.body?.id;
          responses++;
        } catch (error) {
          attempt.error = String((error as Error).cause ?? error);
        }
      }));
      await waitFor('some acknowledged writes', () => responses >= 12, 30_000);
      await killChild();
      killed = true;
      await burst;
      // Connections the dead process held are rolled back by the database; give it a moment.
      await waitFor('the dead service\'s transactions to end', () => true);
      // On a server, a dead service's sessions end when the server notices; the embedded
      // database died with the process.
      for (let n = 0; db && n < 50; n++) {
        const open = (await db.raw(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'minefield-records' AND pid <> pg_backend_pid() AND state <> 'idle'`)).rows[0].n;
        if (Number(open) === 0) break;
        await sleep(100);
      }
      port = await freePort();
      await startChild(port);

      // The whole feed since the start of the database, in small pages.
      const events: any[] = [];
      let after = '';
      for (;;) {
        const page = await call('GET', `/feed?limit=7${after ? `&after=${after}` : ''}`);
        expect(page.status).to.equal(200);
        events.push(...page.body.events);
        after = page.body.cursor;
        if (page.body.caughtUp) break;
      }
      const pairs = events.map((e) => `${e.id}@${e.version}`);
      expect(new Set(pairs).size, 'nothing delivered twice').to.equal(pairs.length);
      const creates = events.filter((e) => e.operation === 'create');
      expect(new Set(creates.map((e) => e.id)).size).to.equal(creates.length);
      const createOf = new Map(creates.map((e) => [e.feature.properties.localRef, e]));
      let acked = 0;
      let unacked = 0;
      let unackedLanded = 0;
      for (const attempt of attempts) {
        const ok = attempt.status !== undefined && attempt.status >= 200 && attempt.status < 300;
        if (attempt.status !== undefined && !ok) throw new Error(`a write was refused: ${attempt.status}`);
        if (ok) acked++; else unacked++;
        if (attempt.kind === 'create') {
          const found = await call('GET', `/collections/hazardous-areas/items?localRef=${encodeURIComponent(attempt.localRef!)}`);
          expect(found.body.features.length).to.be.at.most(1);
          const row = found.body.features[0] as { id: string } | undefined;
          const matching = creates.filter((e) => e.feature.properties.localRef === attempt.localRef);
          if (ok) {
            expect(matching.map((e) => e.id), `acknowledged create ${attempt.localRef}`).to.deep.equal([attempt.responseId]);
          } else if (row) {
            unackedLanded++;
            expect(matching.map((e) => e.id), `unacknowledged create that committed ${attempt.localRef}`).to.deep.equal([row.id]);
          } else {
            expect(matching, `unacknowledged create that did not commit ${attempt.localRef}`).to.deep.equal([]);
          }
          void createOf;
        } else {
          const row = (await call('GET', `/collections/hazardous-areas/items/${attempt.id}`)).body.properties as { version: number };
          const updates = events.filter((e) => e.id === attempt.id && e.operation === 'update');
          if (ok || row.version === 2) {
            if (!ok) unackedLanded++;
            expect(row.version).to.equal(2);
            expect(updates.length, `patch of ${attempt.id}`).to.equal(1);
            expect(updates[0].version).to.equal(2);
            expect(updates[0].patch).to.deep.include({ op: 'replace', path: '/estimatedDeviceCount', value: attempt.tag });
          } else {
            expect(row.version).to.equal(1);
            expect(updates, `unacknowledged patch that did not commit ${attempt.id}`).to.deep.equal([]);
          }
        }
      }
      // And the feed rebuilds what the restarted service shows.
      const mirror: Mirror = new Map();
      apply(mirror, events, 'after restart');
      const snapshot = await call('GET', '/feed/snapshot');
      expectSameMirror(mirror, new Map(snapshot.body.features.map((f: any) => [f.id, { recordKind: f.recordKind, geometry: f.geometry, properties: f.properties }])), 'after restart');
      console.log(`      restart: ${attempts.length} writes in the burst, ${acked} acknowledged, ${unacked} without an answer (${unackedLanded} of which committed), ${events.length} events after restart`);
      expect(killed).to.equal(true);
      expect(acked).to.be.greaterThan(0);
      expect(unacked, 'the kill must interrupt part of the burst').to.be.greaterThan(0);
    });
  });
});
