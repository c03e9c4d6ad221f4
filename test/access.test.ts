// Access control, end to end, against an INDEPENDENT model of the sharing rules.
//
// The rules (issue text): an owner agency grants a grantee — another agency (ANAMA, CHDE, GEO),
// the liaison mechanism (LIAISON, role 'facilitator') or PUBLIC — a level per record kind:
//   none (default) / footprint (generalised covering shape on the 0.001° grid, plus classification
//   for areas and method for releases, `generalised: true`) / summary / full (every field,
//   informant identity never). A restricted record is seen by its owner only. Facilitators see
//   what was shared with LIAISON and edit nothing. No token: aggregate statistics of what was
//   shared with PUBLIC only. Lowering or revoking takes effect on the very next request.
//
// The oracle below is plain JS over the scenario this file builds (and the base tables for
// anything else): it never reads the visible_* views or viewer_access.
import { expect } from 'chai';
import fc from 'fast-check';
import { withViewer } from '../db/viewerTransaction';
import { collectionById } from '../records';
import { itemsQuery } from '../records/query';
import { api, freshRef, getHarness, tokenFor } from './harness';

const AGENCIES = ['ANAMA', 'CHDE', 'GEO'] as const;
const GRANTEES = ['ANAMA', 'CHDE', 'GEO', 'LIAISON', 'PUBLIC'] as const;
const LEVELS = ['none', 'footprint', 'summary', 'full'] as const;
type Agency = (typeof AGENCIES)[number];
type Level = (typeof LEVELS)[number] | 'owner';
type Kind = 'hazardous_area' | 'land_release' | 'minefield_record' | 'testimony';
const KINDS: Kind[] = ['hazardous_area', 'land_release', 'minefield_record', 'testimony'];
const COLLECTION: Record<Kind, string> = {
  hazardous_area: 'hazardous-areas', land_release: 'land-releases', minefield_record: 'minefield-records', testimony: 'testimonies',
};
const GEOM_COLUMN: Record<Kind, string> = {
  hazardous_area: 'original_geom', land_release: 'geom', minefield_record: 'perimeter_geom', testimony: 'described_geom',
};
const TEMPORAL_COLUMN: Record<Kind, string> = {
  hazardous_area: 'information_date', land_release: 'release_date', minefield_record: 'laid_from', testimony: 'interview_date',
};
const JSON_HEADERS = { 'content-type': 'application/json' };
const SERVICE_REGION_BBOX = [38.0, 37.0, 52.0, 45.0];

// ---------------------------------------------------------------------------------------------
// THE SPEC: exactly which property keys a viewer gets, per kind and level (Feature.properties,
// including the `detail` fields merged in at full). Written out by hand from the rules and the
// view definitions in db/migrations/20261123_04_sharing.ts; `owner` is full + `restricted`.
// Below full, neither the version nor edit times: they would tell a partner that something it
// cannot see has changed (and the ETag is then a hash of what the viewer sees, not the version).
const COMMON = ['ownerAgency', 'accessLevel'];
const FULL_STAMPS = ['version', 'inputCrs', 'createdBy', 'createdAt', 'updatedBy', 'updatedAt'];
const KEYS: Record<Kind, Record<'footprint' | 'summary' | 'full', string[]>> = {
  hazardous_area: {
    footprint: [...COMMON, 'classification', 'generalised'],
    summary: [...COMMON, 'localRef', 'classification', 'status', 'hazardTypes', 'informationDate', 'originalAreaM2',
      'remainingAreaM2', 'releasedAreaM2', 'remainingGeometry'],
    full: [...COMMON, 'localRef', 'name', 'classification', 'status', 'hazardTypes', 'evidence', 'estimatedDeviceCount',
      'marking', 'priority', 'informationDate', 'originalAreaM2', 'remainingAreaM2', 'releasedAreaM2', 'remainingGeometry',
      ...FULL_STAMPS, 'inputGeometry', 'statusHistory'],
  },
  land_release: {
    footprint: [...COMMON, 'method', 'generalised'],
    summary: [...COMMON, 'localRef', 'hazardousAreaId', 'method', 'activity', 'releaseDate', 'areaM2', 'handoverDate'],
    full: [...COMMON, 'localRef', 'hazardousAreaId', 'method', 'activity', 'releaseDate', 'operator', 'clearanceDepthCm',
      'devicesFound', 'handover', 'areaM2', ...FULL_STAMPS, 'inputGeometry'],
  },
  minefield_record: {
    footprint: [...COMMON, 'generalised'],
    summary: [...COMMON, 'localRef', 'hazardTypes', 'areaM2', 'laidFrom', 'laidTo', 'accuracyAssessment'],
    full: [...COMMON, 'localRef', 'name', 'referencePoints', 'traverse', 'traverseMisclosureM', 'areaM2', 'mineTypes',
      'totalMines', 'emplacingMethod', 'fuzeType', 'fuzeLifetime', 'selfDestructPeriod', 'laidFrom', 'laidTo', 'antiHandling',
      'rows', 'accuracyAssessment', 'source', 'hazardousAreaIds', ...FULL_STAMPS, 'inputGeometry'],
  },
  testimony: {
    footprint: [...COMMON, 'generalised'],
    summary: [...COMMON, 'localRef', 'interviewDate', 'uncertaintyM', 'hazardTypes', 'layingPeriod', 'sourceReliability',
      'informationReliability'],
    full: [...COMMON, 'localRef', 'informantCode', 'interview', 'narrative', 'uncertaintyM', 'devicesDescribed', 'layingPeriod',
      'sourceReliability', 'informationReliability', 'hazardousAreaLinks', ...FULL_STAMPS, 'inputGeometry'],
  },
};
const expectedKeys = (kind: Kind, level: Level) =>
  (level === 'owner' ? [...KEYS[kind].full, 'restricted'] : KEYS[kind][level as 'footprint' | 'summary' | 'full']).slice().sort();
/** Fields the view keeps in `detail`: only a single item carries them, lists do not (records/query.ts). */
const DETAIL_KEYS = new Set(['inputGeometry', 'statusHistory']);
/** Properties whose value depends on what else the viewer may see (links to areas). */
const LINK_KEYS = new Set(['hazardousAreaIds', 'hazardousAreaLinks']);
/** Summary fields that are not copies of a full field but reduced from one (view definitions). */
const distinctTypes = (list: { type: string }[] | null) => (list?.length ? [...new Set(list.map((d) => d.type))].sort() : null);
const SUMMARY_DERIVED: Record<Kind, Record<string, (full: any) => unknown>> = {
  hazardous_area: {},
  land_release: { handoverDate: (full) => full.handover?.date ?? null },
  minefield_record: { hazardTypes: (full) => distinctTypes(full.mineTypes), accuracyAssessment: (full) => ({ grade: full.accuracyAssessment?.grade ?? null }) },
  testimony: { hazardTypes: (full) => distinctTypes(full.devicesDescribed), interviewDate: (full) => full.interview?.date ?? null },
};
/** Never in any response to anyone but the owner's /informants/{id}. */
const IDENTITY_KEYS = ['fullName', 'contact'];

// ---------------------------------------------------------------------------------------------
// The model: agreements, records and informants, as this file made them.
interface Rec { id: string; kind: Kind; owner: Agency; restricted: boolean; retired?: { by: string; reason: string }; cell: [number, number]; areaId?: string; linkedAreaIds: string[] }
interface Informant { id: string; owner: Agency; code: string; fullName: string; contact: string }
interface Viewer { label: string; agency?: string; role?: 'editor' | 'viewer' | 'facilitator'; token?: string }

const agreements = new Map<string, { level: (typeof LEVELS)[number]; version: number }>();
const akey = (owner: string, grantee: string, kind: Kind) => `${owner}|${grantee}|${kind}`;
const records: Rec[] = [];
/** 410 answers below full that carried who retired a record or why (see the sweep). */
const retiredLeaks: string[] = [];
const informants: Informant[] = [];
const byId = new Map<string, Rec>();

const tokens = new Map<string, string>();
/** Signing is slow (RSA for ANAMA): one token per agency and role for the whole file. */
const tok = (agency: string, role: 'editor' | 'viewer' | 'facilitator', subject?: string) => {
  const key = `${agency}|${role}|${subject ?? ''}`;
  if (!tokens.has(key)) tokens.set(key, tokenFor(agency, role, subject));
  return tokens.get(key)!;
};
const VIEWERS = (): Viewer[] => [
  ...AGENCIES.flatMap((agency) => (['editor', 'viewer'] as const).map((role) => ({ label: `${agency} ${role}`, agency, role, token: tok(agency, role) }))),
  { label: 'LIAISON facilitator', agency: 'LIAISON', role: 'facilitator', token: tok('LIAISON', 'facilitator') },
  { label: 'no token' },
];

/** The oracle: the level a viewer has on (owner, kind). */
function levelOf(viewer: Viewer, owner: string, kind: Kind): Level {
  if (viewer.role && viewer.role !== 'facilitator' && viewer.agency === owner) return 'owner';
  const grantee = !viewer.token ? 'PUBLIC' : viewer.role === 'facilitator' ? 'LIAISON' : viewer.agency!;
  return agreements.get(akey(owner, grantee, kind))?.level ?? 'none';
}
const sees = (viewer: Viewer, owner: string, kind: Kind, restricted: boolean) => {
  const level = levelOf(viewer, owner, kind);
  return level !== 'none' && (level === 'owner' || !restricted);
};

// ---------------------------------------------------------------------------------------------
// Helpers.
let cellCounter = 0;
/** A fresh 0.01° cell in lon 48.80–49.40, lat 41.00–41.30: no other suite draws here. */
function freshCell(): [number, number] {
  const n = cellCounter++;
  if (n >= 60 * 30) throw new Error('out of cells');
  return [round(48.8 + (n % 60) * 0.01, 4), round(41.0 + Math.floor(n / 60) * 0.01, 4)];
}
const REGION_BBOX = '48.79,40.99,49.41,41.31';
const round = (v: number, d = 7) => Math.round(v * 10 ** d) / 10 ** d;
const cellBbox = ([lon, lat]: [number, number]) => `${lon},${lat},${round(lon + 0.01, 4)},${round(lat + 0.01, 4)}`;

/** An irregular quadrilateral of about sizeM metres inside the cell (so its footprint differs from it). */
function quad([lon, lat]: [number, number], sizeM: number) {
  const x = lon + 0.003, y = lat + 0.003;
  const h = sizeM / 111320, w = sizeM / (111320 * Math.cos((y * Math.PI) / 180));
  return { x, y, w, h, polygon: { type: 'Polygon', coordinates: [[[x, y], [x + w, y + 0.1 * h], [x + 0.9 * w, y + h], [x + 0.05 * w, y + 0.95 * h], [x, y]].map(([a, b]) => [round(a), round(b)])] } };
}

/** Writes answer before they commit (see the race test below): wait for the row so setup is not flaky. */
async function committed(table: string, id: string, check: (row: any) => boolean = () => true) {
  for (let i = 0; i < 200; i++) {
    const row = await getHarness().db(table).where('id', id).first();
    if (row && check(row)) return row;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`${table} ${id} never committed`);
}

async function post(agency: Agency, collection: string, body: unknown) {
  const response = await api('POST', `/collections/${collection}/items`, { token: tok(agency, 'editor'), body });
  expect(response.status, `POST ${collection}: ${response.text}`).to.equal(201);
  return response.body;
}

async function createArea(owner: Agency, sizeM: number, classification: string) {
  const cell = freshCell();
  const { polygon } = quad(cell, sizeM);
  const body = await post(owner, 'hazardous-areas', { type: 'Feature', geometry: polygon, properties: {
    localRef: freshRef('ACC-HA'), classification, hazardTypes: ['AP', 'UXO'], informationDate: '2025-05-02',
    name: { en: 'Synthetic slope' }, estimatedDeviceCount: 7, marking: 'partial', priority: 'high',
    evidence: [{ nature: 'direct', kind: 'accident', reliability: 'high' }],
  } });
  await committed('hazardous_area', body.id);
  const rec: Rec = { id: body.id, kind: 'hazardous_area', owner, restricted: false, cell, linkedAreaIds: [] };
  records.push(rec); byId.set(rec.id, rec);
  return { rec, sizeM };
}

const METHODS = [
  { method: 'cancelled', activity: 'NTS' }, { method: 'reduced', activity: 'TS' }, { method: 'cleared', activity: 'clearance', clearanceDepthCm: 20 },
];
async function createRelease(area: Rec, sizeM: number, methodIndex: number) {
  const { x, y, w, h } = quad(area.cell, sizeM);
  const ring = [[x + 0.2 * w, y + 0.2 * h], [x + 0.5 * w, y + 0.2 * h], [x + 0.5 * w, y + 0.6 * h], [x + 0.2 * w, y + 0.6 * h], [x + 0.2 * w, y + 0.2 * h]];
  const body = await post(area.owner, 'land-releases', { type: 'Feature', geometry: { type: 'Polygon', coordinates: [ring.map(([a, b]) => [round(a), round(b)])] }, properties: {
    localRef: freshRef('ACC-LR'), hazardousAreaId: area.id, ...METHODS[methodIndex], releaseDate: '2025-08-03', operator: 'Synthetic Demining Team 4',
    devicesFound: [{ type: 'AP', count: 2 }], handover: { certificateRef: 'HC-1', date: '2025-08-10', recipient: 'Synthetic municipality' },
  } });
  await committed('land_release', body.id);
  const rec: Rec = { id: body.id, kind: 'land_release', owner: area.owner, restricted: false, cell: area.cell, areaId: area.id, linkedAreaIds: [] };
  records.push(rec); byId.set(rec.id, rec);
}

async function createMinefield(owner: Agency, linkTo: Rec[]) {
  const cell = freshCell();
  const { polygon } = quad(cell, 150);
  const body = await post(owner, 'minefield-records', { type: 'Feature', geometry: polygon, properties: {
    localRef: freshRef('ACC-MFR'), name: { en: 'Synthetic minefield' },
    referencePoints: [{ label: 'RP1', coordinates: [round(cell[0] + 0.002), round(cell[1] + 0.002)] }, { label: 'RP2', coordinates: [round(cell[0] + 0.008), round(cell[1] + 0.002)] }],
    mineTypes: [{ type: 'AP', model: 'PMN-2', count: 40 }, { type: 'AT', model: 'TM-62M', count: 4 }], totalMines: 44,
    emplacingMethod: 'hand-laid', fuzeType: 'pressure', laidFrom: '1993-04-01T00:00:00Z', laidTo: '1993-04-03T00:00:00Z',
    accuracyAssessment: { grade: 'approximate', estimatedAccuracyPct: 70 }, source: { party: 'Synthetic party', document: 'doc 7' },
    hazardousAreaIds: linkTo.map((area) => area.id),
  } });
  await committed('minefield_record', body.id);
  const rec: Rec = { id: body.id, kind: 'minefield_record', owner, restricted: false, cell, linkedAreaIds: linkTo.map((area) => area.id) };
  records.push(rec); byId.set(rec.id, rec);
}

async function registerInformant(owner: Agency) {
  const code = freshRef('ACC-INF');
  const identity = { code, fullName: `Synthetic Informant ${code} Qarabaghlian-Tsereteli`, contact: `${code.toLowerCase()}@acc.example.invalid` };
  const response = await api('POST', '/informants', { token: tok(owner, 'editor'), body: identity, headers: JSON_HEADERS });
  expect(response.status, response.text).to.equal(201);
  const informant: Informant = { id: response.body.id, owner, ...identity };
  informants.push(informant);
  return informant;
}

async function createTestimony(owner: Agency, uncertaintyM: number, linkTo: Rec[]) {
  const informant = await registerInformant(owner);
  await committed('informant', informant.id);
  const cell = freshCell();
  const body = await post(owner, 'testimonies', { type: 'Feature', geometry: { type: 'Point', coordinates: [round(cell[0] + 0.005), round(cell[1] + 0.005)] }, properties: {
    localRef: freshRef('ACC-TST'), informantCode: informant.code,
    interview: { date: '2025-04-12', place: 'synthetic village hall', language: 'ru', interviewers: 'NTS team 9' },
    narrative: { language: 'en', text: 'Synthetic: mines were laid along the orchard edge.' },
    uncertaintyM, devicesDescribed: [{ type: 'AP', count: 3 }], layingPeriod: { from: '1993-01-01', to: '1993-12-31' },
    sourceReliability: 'C', informationReliability: '3',
    hazardousAreaLinks: linkTo.map((area) => ({ hazardousAreaId: area.id, relation: 'supports' })),
  } });
  await committed('testimony', body.id);
  const rec: Rec = { id: body.id, kind: 'testimony', owner, restricted: false, cell, linkedAreaIds: linkTo.map((area) => area.id) };
  records.push(rec); byId.set(rec.id, rec);
}

async function setAgreement(owner: Agency, grantee: string, kind: Kind, level: (typeof LEVELS)[number]) {
  const current = agreements.get(akey(owner, grantee, kind));
  const response = await api('PUT', `/sharing/agreements/${grantee}/${COLLECTION[kind]}`, {
    token: tok(owner, 'editor'), body: { level }, headers: { ...JSON_HEADERS, 'if-match': `"${current?.version ?? 0}"` },
  });
  expect(response.status, response.text).to.equal(200);
  agreements.set(akey(owner, grantee, kind), { level, version: response.body.version });
}

async function setRestriction(rec: Rec, restricted: boolean, wait = true) {
  const owner = tok(rec.owner, 'editor');
  const current = await api('GET', `/collections/${COLLECTION[rec.kind]}/items/${rec.id}`, { token: owner });
  expect(current.status, current.text).to.equal(200);
  const response = await api('PUT', `/collections/${COLLECTION[rec.kind]}/items/${rec.id}/restriction`, {
    token: owner, body: { restricted }, headers: { ...JSON_HEADERS, 'if-match': current.headers.get('etag')! },
  });
  expect(response.status, response.text).to.equal(200);
  rec.restricted = restricted;
  if (wait) await committed(rec.kind, rec.id, (row) => row.restricted === restricted);
}

const onGrid = (v: number) => Math.abs(v * 1000 - Math.round(v * 1000)) < 1e-6;
function vertices(geometry: any): number[][] {
  const out: number[][] = [];
  const walk = (c: any) => { if (typeof c[0] === 'number') out.push(c); else c.forEach(walk); };
  walk(geometry.coordinates);
  return out;
}
const sortIds = (ids: Iterable<string>) => [...ids].sort();

// ---------------------------------------------------------------------------------------------
// One full sweep: every viewer × every read endpoint, compared with the oracle.
interface Sweep { ownerFeatures: Map<string, any>; requests: number; footprintPairs: { label: string; footprint: unknown; exact: unknown }[]; texts: { label: string; text: string }[] }

async function allRows(kind: Kind): Promise<{ id: string; owner_agency: string; restricted: boolean }[]> {
  return getHarness().db(kind).select('id', 'owner_agency', 'restricted').whereNull('retired_at');

}

/** Model state, else the base table for rows this file did not create. */
const restrictedOf = (row: { id: string; restricted: boolean }) => byId.get(row.id)?.restricted ?? row.restricted;

/** ownerFeature: the owner's own copy, to compare values with; undefined for records of earlier scenarios (keys only). */
function checkFeature(sweep: Sweep, viewer: Viewer, feature: any, rec: Rec, ownerFeature: any | undefined, where: string) {
  const level = levelOf(viewer, rec.owner, rec.kind);
  const label = `${viewer.label} ${where} ${rec.kind} ${rec.id} at ${level}`;
  expect(feature.id, label).to.equal(rec.id);
  const props = feature.properties;
  const keys = where === 'item' ? expectedKeys(rec.kind, level) : expectedKeys(rec.kind, level).filter((key) => !DETAIL_KEYS.has(key));
  expect(Object.keys(props).sort(), `${label}: property keys`).to.deep.equal(keys);
  expect(props.ownerAgency, label).to.equal(rec.owner);
  expect(props.accessLevel, label).to.equal(level);
  for (const key of IDENTITY_KEYS) expect(props, label).to.not.have.property(key);
  if (level === 'footprint') {
    expect(props.generalised, label).to.equal(true);
    expect(feature.geometry.type, label).to.equal('Polygon');
    for (const [x, y] of vertices(feature.geometry)) expect(onGrid(x) && onGrid(y), `${label}: vertex ${x},${y} off the 0.001° grid`).to.equal(true);
    if (!ownerFeature) return;
    expect(feature.geometry, `${label}: footprint must not be the exact geometry`).to.not.deep.equal(ownerFeature.geometry);
    if (rec.kind === 'hazardous_area') expect(props.classification, label).to.equal(ownerFeature.properties.classification);
    if (rec.kind === 'land_release') expect(props.method, label).to.equal(ownerFeature.properties.method);
    sweep.footprintPairs.push({ label, footprint: feature.geometry, exact: ownerFeature.geometry });
    return;
  }
  if (!ownerFeature) return;
  expect(feature.geometry, `${label}: geometry`).to.deep.equal(ownerFeature.geometry);
  for (const key of Object.keys(props)) {
    if (key === 'accessLevel' || key === 'restricted') continue;
    if (key === 'hazardousAreaIds') {
      const expected = sortIds(ownerFeature.properties.hazardousAreaIds.filter((id: string) => { const area = byId.get(id)!; return sees(viewer, area.owner, 'hazardous_area', area.restricted); }));
      expect(props.hazardousAreaIds, `${label}: links to areas it may not see`).to.deep.equal(expected);
    } else if (key === 'hazardousAreaLinks') {
      const expected = ownerFeature.properties.hazardousAreaLinks.filter((link: any) => { const area = byId.get(link.hazardousAreaId)!; return sees(viewer, area.owner, 'hazardous_area', area.restricted); });
      expect(props.hazardousAreaLinks, `${label}: links to areas it may not see`).to.deep.equal(expected);
    } else if (level === 'summary' && SUMMARY_DERIVED[rec.kind][key]) {
      expect(props[key], `${label}: ${key}`).to.deep.equal(SUMMARY_DERIVED[rec.kind][key](ownerFeature.properties));
    } else {
      expect(props[key], `${label}: ${key}`).to.deep.equal(ownerFeature.properties[key]);
    }
  }
}

/** scope: this scenario's records, read one by one and compared value by value; every record is in the list checks. */
async function sweep(phase: string, scope: Rec[], scopeInformants: Informant[], light = false): Promise<Sweep> {
  const s: Sweep = { ownerFeatures: new Map(), requests: 0, footprintPairs: [], texts: [] };
  const call = async (viewer: Viewer, method: string, path: string) => {
    const response = await api(method, path, { token: viewer.token });
    s.requests++;
    s.texts.push({ label: `${viewer.label} ${method} ${path}`, text: response.text });
    return response;
  };
  const viewers = VIEWERS();
  // The owners' own copies: what the exact record looks like.
  const ownerFeatures = s.ownerFeatures;
  for (const rec of scope.filter((r) => !r.retired)) {
    const response = await api('GET', `/collections/${COLLECTION[rec.kind]}/items/${rec.id}`, { token: tok(rec.owner, 'editor') });
    expect(response.status, `owner reads ${rec.id}: ${response.text}`).to.equal(200);
    ownerFeatures.set(rec.id, response.body);
  }
  const tables = Object.fromEntries(await Promise.all(KINDS.map(async (kind) => [kind, await allRows(kind)] as const))) as Record<Kind, Awaited<ReturnType<typeof allRows>>>;

  await Promise.all(viewers.map(async (viewer) => {
    const tag = `[${phase}] ${viewer.label}`;
    for (const kind of KINDS) {
      const items = `/collections/${COLLECTION[kind]}/items`;
      const mine = records.filter((rec) => rec.kind === kind && !rec.retired);
      const scoped = scope.filter((rec) => rec.kind === kind);
      const expectedAll = sortIds(tables[kind].filter((row) => sees(viewer, row.owner_agency, kind, restrictedOf(row))).map((row) => row.id));
      const expectedMine = sortIds(mine.filter((rec) => sees(viewer, rec.owner, kind, rec.restricted)).map((rec) => rec.id));
      if (!viewer.token) {
        for (const path of [`${items}?limit=10000`, `${items}?bbox=${REGION_BBOX}`, ...scoped.map((rec) => `${items}/${rec.id}`)]) {
          const response = await call(viewer, 'GET', path);
          expect(response.status, `${tag} GET ${path}`).to.equal(401);
          expect(response.body?.features, `${tag} GET ${path}`).to.equal(undefined);
        }
        continue;
      }
      // The whole collection: exactly the rows the oracle allows, over the whole table.
      const all = await call(viewer, 'GET', `${items}?limit=10000`);
      expect(all.status, `${tag} ${items}`).to.equal(200);
      expect(sortIds(all.body.features.map((f: any) => f.id)), `${tag} ${items}: ids`).to.deep.equal(expectedAll);
      expect(all.body.numberMatched, `${tag} ${items}: numberMatched`).to.equal(expectedAll.length);
      for (const feature of all.body.features) {
        const rec = byId.get(feature.id);
        if (rec) checkFeature(s, viewer, feature, rec, ownerFeatures.get(rec.id), 'list');
      }
      // The scenario's region by bbox.
      const region = await call(viewer, 'GET', `${items}?bbox=${REGION_BBOX}&limit=10000`);
      expect(region.status).to.equal(200);
      expect(sortIds(region.body.features.map((f: any) => f.id)), `${tag} ${items} bbox region: ids`).to.deep.equal(expectedMine);
      for (const feature of region.body.features) checkFeature(s, viewer, feature, byId.get(feature.id)!, ownerFeatures.get(feature.id), 'bbox');
      // One cell at a time: the record drawn there, or nothing.
      for (const rec of light ? [] : scoped) {
        const cell = await call(viewer, 'GET', `${items}?bbox=${cellBbox(rec.cell)}`);
        expect(cell.status).to.equal(200);
        const expected = !rec.retired && sees(viewer, rec.owner, kind, rec.restricted) ? [rec.id] : [];
        expect(cell.body.features.map((f: any) => f.id), `${tag} ${items} bbox of cell of ${rec.id}`).to.deep.equal(expected);
      }
      // Each record by id.
      for (const rec of scoped) {
        const one = await call(viewer, 'GET', `${items}/${rec.id}`);
        if (rec.retired) {
          // Retired: 410 to whoever may see it, 404 to anyone else. Who retired it and why are
          // full-level facts (like updatedBy and the free-text fields): not below full.
          const level = levelOf(viewer, rec.owner, kind);
          expect(one.status, `${tag} GET retired ${items}/${rec.id} at ${level}`).to.equal(sees(viewer, rec.owner, kind, rec.restricted) ? 410 : 404);
          // Collected, not thrown here, so one known leak does not hide the rest of the sweep; the
          // test 'a retired record …' below fails on it (and reproduces it on its own).
          if (level !== 'full' && level !== 'owner' && (one.text.includes(rec.retired.by) || one.text.includes(rec.retired.reason))) {
            retiredLeaks.push(`${tag} GET retired ${items}/${rec.id} at ${level}: ${one.text}`);
          }
          continue;
        }
        if (sees(viewer, rec.owner, kind, rec.restricted)) {
          expect(one.status, `${tag} GET ${items}/${rec.id}: ${one.text}`).to.equal(200);
          checkFeature(s, viewer, one.body, rec, ownerFeatures.get(rec.id), 'item');
          const version = `"${ownerFeatures.get(rec.id).properties.version}"`;
          if (levelOf(viewer, rec.owner, kind) === 'owner') expect(one.headers.get('etag'), `${tag} ETag`).to.equal(version);
          else expect(one.headers.get('etag'), `${tag} ETag is the version, which only the owner is given`).to.not.equal(version);
        } else {
          expect(one.status, `${tag} GET ${items}/${rec.id} must be hidden`).to.equal(404);
        }
      }
      // Records of the other collections are not reachable through this one.
      for (const rec of light ? [] : scope.filter((r) => r.kind !== kind).slice(0, 1)) {
        expect((await call(viewer, 'GET', `${items}/${rec.id}`)).status, `${tag} ${rec.id} through ${items}`).to.equal(404);
      }
    }

    // GET /collections: extents from what the viewer may see and nothing else.
    const described = await call(viewer, 'GET', '/collections');
    expect(described.status).to.equal(200);
    for (const kind of KINDS) {
      const collection = described.body.collections.find((c: any) => c.id === COLLECTION[kind]);
      const bbox = collection.extent.spatial.bbox[0];
      const interval = collection.extent.temporal.interval[0];
      if (!viewer.token) {
        expect(bbox, `${tag} /collections ${kind}: public extent`).to.deep.equal(SERVICE_REGION_BBOX);
        expect(interval, `${tag} /collections ${kind}: public interval`).to.deep.equal([null, null]);
        continue;
      }
      const visible = tables[kind].filter((row) => sees(viewer, row.owner_agency, kind, restrictedOf(row)));
      const footprintIds = visible.filter((row) => levelOf(viewer, row.owner_agency, kind) === 'footprint').map((row) => row.id);
      const exactIds = visible.filter((row) => levelOf(viewer, row.owner_agency, kind) !== 'footprint').map((row) => row.id);
      const { rows: [expected] } = await getHarness().db.raw(
        `SELECT ST_XMin(e) AS xmin, ST_YMin(e) AS ymin, ST_XMax(e) AS xmax, ST_YMax(e) AS ymax, t.first, t.last FROM
           (SELECT ST_Extent(CASE WHEN id = ANY(?::uuid[]) THEN footprint_geom ELSE ${GEOM_COLUMN[kind]} END)::geometry AS e
              FROM ${kind} WHERE id = ANY(?::uuid[])) AS s,
           (SELECT to_char(min(${TEMPORAL_COLUMN[kind]}), 'YYYY-MM-DD') AS first, to_char(max(${TEMPORAL_COLUMN[kind]}), 'YYYY-MM-DD') AS last
              FROM ${kind} WHERE id = ANY(?::uuid[])) AS t`,
        [footprintIds, [...footprintIds, ...exactIds], exactIds],
      );
      const expectedBbox = expected.xmin === null ? SERVICE_REGION_BBOX : [expected.xmin, expected.ymin, expected.xmax, expected.ymax];
      bbox.forEach((v: number, n: number) => expect(v, `${tag} /collections ${kind}: extent ${bbox} ≠ allowed ${expectedBbox}`).to.be.closeTo(expectedBbox[n], 1e-9));
      expect(interval.map((v: string | null) => v?.slice(0, 10) ?? null), `${tag} /collections ${kind}: temporal extent`).to.deep.equal([expected.first, expected.last]);
    }

    // GET /statistics/hazardous-areas: counts of exactly the allowed areas, status only where shown.
    const stats = await call(viewer, 'GET', '/statistics/hazardous-areas');
    expect(stats.status).to.equal(200);
    const areaRows = await getHarness().db('hazardous_area').select('id', 'owner_agency', 'classification', 'status', 'remaining_area_m2', 'restricted').whereNull('retired_at');
    const groups = new Map<string, { ownerAgency: string; classification: string; status: string | null; areas: number; remaining: number | null }>();
    for (const row of areaRows) {
      if (!sees(viewer, row.owner_agency, 'hazardous_area', restrictedOf(row))) continue;
      const footprint = levelOf(viewer, row.owner_agency, 'hazardous_area') === 'footprint';
      const status = footprint ? null : row.status;
      const key = `${row.owner_agency}|${row.classification}|${status}`;
      const group = groups.get(key) ?? { ownerAgency: row.owner_agency, classification: row.classification, status, areas: 0, remaining: footprint ? null : 0 };
      group.areas++;
      if (!footprint) group.remaining = (group.remaining ?? 0) + Number(row.remaining_area_m2);
      groups.set(key, group);
    }
    const figureKey = (f: any) => `${f.ownerAgency}|${f.classification}|${f.status}`;
    const figures = [...stats.body.figures].sort((a, b) => figureKey(a).localeCompare(figureKey(b)));
    const expectedFigures = [...groups.values()].sort((a, b) => figureKey(a).localeCompare(figureKey(b)));
    expect(figures.map((f: any) => [figureKey(f), f.areas]), `${tag} /statistics/hazardous-areas`).to.deep.equal(expectedFigures.map((g) => [figureKey(g), g.areas]));
    figures.forEach((f: any, n: number) => {
      if (expectedFigures[n].remaining === null) expect(f.remainingAreaM2, `${tag} statistics remaining of ${figureKey(f)}`).to.equal(null);
      else expect(f.remainingAreaM2, `${tag} statistics remaining of ${figureKey(f)}`).to.be.closeTo(expectedFigures[n].remaining!, 1);
    });

    // GET /sharing/agreements: the agreements the viewer is party to (all, for the facilitator).
    const listed = await call(viewer, 'GET', '/sharing/agreements');
    if (!viewer.token) {
      expect(listed.status, `${tag} /sharing/agreements`).to.equal(401);
    } else {
      expect(listed.status).to.equal(200);
      const expectedAgreements = [...agreements.entries()]
        .map(([key, value]) => { const [owner, grantee, kind] = key.split('|'); return { owner, grantee, kind: COLLECTION[kind as Kind], level: value.level, version: value.version }; })
        .filter((a) => viewer.role === 'facilitator' || a.owner === viewer.agency || a.grantee === viewer.agency)
        .map((a) => `${a.owner}|${a.grantee}|${a.kind}|${a.level}|${a.version}`).sort();
      expect(listed.body.agreements.map((a: any) => `${a.ownerAgency}|${a.grantee}|${a.recordKind}|${a.level}|${a.version}`).sort(), `${tag} /sharing/agreements`).to.deep.equal(expectedAgreements);
    }

    // GET /informants and /informants/{id}: codes and identities for the owner's editors only.
    const codes = await call(viewer, 'GET', '/informants');
    const expectedStatus = !viewer.token ? 401 : viewer.role === 'editor' ? 200 : 403;
    expect(codes.status, `${tag} /informants`).to.equal(expectedStatus);
    if (codes.status === 200) {
      const registered = (await getHarness().db('informant').select('code').where('owner_agency', viewer.agency!)).map((row) => row.code).sort();
      expect(codes.body.informants.map((i: any) => i.code).sort(), `${tag} /informants`).to.deep.equal(registered);
      for (const i of codes.body.informants) expect(Object.keys(i).sort(), `${tag} /informants entry`).to.deep.equal(['code', 'id']);
    }
    for (const informant of scopeInformants) {
      const response = await api('GET', `/informants/${informant.id}`, { token: viewer.token });
      s.requests++;
      const own = viewer.role === 'editor' && viewer.agency === informant.owner;
      expect(response.status, `${tag} /informants/${informant.id} of ${informant.owner}`).to.equal(own ? 200 : expectedStatus === 200 ? 404 : expectedStatus);
      if (own) expect(response.body).to.include({ code: informant.code, fullName: informant.fullName, contact: informant.contact });
      else s.texts.push({ label: `${viewer.label} GET /informants/${informant.id}`, text: response.text });
    }
  }));

  // Identities: never in any response but the owner's own /informants/{id} (not collected above).
  for (const { label, text } of s.texts) {
    for (const informant of informants) {
      expect(text.includes(informant.fullName), `[${phase}] ${label} reveals ${informant.owner}'s informant name`).to.equal(false);
      expect(text.includes(informant.contact), `[${phase}] ${label} reveals ${informant.owner}'s informant contact`).to.equal(false);
    }
  }
  // Footprints cover the exact geometry (PostGIS, one round trip).
  if (s.footprintPairs.length) {
    const { rows } = await getHarness().db.raw(
      `SELECT n, ST_Covers(ST_SetSRID(ST_GeomFromGeoJSON(f), 4326), ST_SetSRID(ST_GeomFromGeoJSON(x), 4326)) AS covers
         FROM unnest(?::text[], ?::text[]) WITH ORDINALITY AS p (f, x, n) ORDER BY n`,
      [s.footprintPairs.map((p) => JSON.stringify(p.footprint)), s.footprintPairs.map((p) => JSON.stringify(p.exact))],
    );
    rows.forEach((row: any, n: number) => expect(row.covers, `${s.footprintPairs[n].label}: footprint does not cover the exact geometry`).to.equal(true));
  }
  return s;
}

/** The attribute filters are query parameters of the same read: they may only match what the viewer is shown. */
async function filterSweep(phase: string, scope: Rec[], ownerFeatures: Map<string, any>): Promise<number> {
  let requests = 0;
  const getters: Record<Kind, Record<string, (p: any) => unknown[]>> = {
    hazardous_area: {
      classification: (p) => [p.classification], status: (p) => [p.status], priority: (p) => [p.priority], marking: (p) => [p.marking],
      hazardType: (p) => p.hazardTypes ?? [], ownerAgency: (p) => [p.ownerAgency], localRef: (p) => [p.localRef],
    },
    land_release: {
      method: (p) => [p.method], activity: (p) => [p.activity], hazardousAreaId: (p) => [p.hazardousAreaId], ownerAgency: (p) => [p.ownerAgency], localRef: (p) => [p.localRef],
    },
    minefield_record: {
      emplacingMethod: (p) => [p.emplacingMethod], accuracyGrade: (p) => [p.accuracyAssessment?.grade], ownerAgency: (p) => [p.ownerAgency], localRef: (p) => [p.localRef],
    },
    testimony: {
      sourceReliability: (p) => [p.sourceReliability], informationReliability: (p) => [p.informationReliability],
      informantCode: (p) => [p.informantCode], ownerAgency: (p) => [p.ownerAgency], localRef: (p) => [p.localRef],
    },
  };
  // The viewer role of each agency and the facilitator (editors read exactly what viewers read).
  await Promise.all(VIEWERS().filter((v) => v.token && v.role !== 'editor').map(async (viewer) => {
    for (const kind of KINDS) {
      const items = `/collections/${COLLECTION[kind]}/items`;
      const shown = (await api('GET', `${items}?bbox=${REGION_BBOX}&limit=10000`, { token: viewer.token })).body.features;
      requests++;
      const mine = scope.filter((rec) => rec.kind === kind);
      for (const [name, get] of Object.entries(getters[kind])) {
        // Values the owners hold (so hidden values are tried too), one or two per filter.
        const values = new Set<string>();
        for (const rec of mine) {
          for (const value of get(ownerFeatures.get(rec.id).properties)) if (typeof value === 'string') values.add(value);
        }
        for (const value of [...values].slice(0, name === 'localRef' || name === 'hazardousAreaId' || name === 'informantCode' ? 3 : 2)) {
          const response = await api('GET', `${items}?bbox=${REGION_BBOX}&limit=10000&${name}=${encodeURIComponent(value)}`, { token: viewer.token });
          requests++;
          expect(response.status, `${viewer.label} ${name}=${value}: ${response.text}`).to.equal(200);
          const expected = sortIds(shown.filter((f: any) => get(f.properties).includes(value)).map((f: any) => f.id));
          expect(sortIds(response.body.features.map((f: any) => f.id)), `[${phase}] ${viewer.label} ${items}?${name}=${value} matches on a value it is not shown`).to.deep.equal(expected);
        }
      }
    }
  }));
  return requests;
}

// ---------------------------------------------------------------------------------------------
const levelArb = fc.constantFrom<(typeof LEVELS)[number]>('none', 'none', 'footprint', 'summary', 'full');
const ownerArb = fc.constantFrom<Agency>(...AGENCIES);
const scenarioArb = fc.record({
  areas: fc.array(fc.record({ owner: ownerArb, sizeM: fc.integer({ min: 60, max: 250 }), classification: fc.constantFrom('SHA', 'CHA'), release: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }) }), { minLength: 2, maxLength: 3 }),
  minefields: fc.array(fc.record({ owner: ownerArb, link: fc.boolean() }), { minLength: 1, maxLength: 2 }),
  testimonies: fc.array(fc.record({ owner: ownerArb, uncertaintyM: fc.integer({ min: 10, max: 200 }), link: fc.boolean() }), { minLength: 1, maxLength: 2 }),
  levels: fc.array(levelArb, { minLength: 3 * 4 * 4, maxLength: 3 * 4 * 4 }),
  restrict: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 40, maxLength: 40 }),
  mutation: fc.record({ pick: fc.nat(), lowerTo: fc.nat(), restrictPick: fc.nat() }),
});

describe('access control: every viewer, every read, against an independent model of the rules', () => {
  const totals = { scenarios: 0, records: 0, requests: 0, footprints: 0, filters: 0 };

  before(async () => {
    // Agreements left by anything before this file (level none, with their versions).
    for (const row of await getHarness().db('sharing_agreement').select('*')) {
      agreements.set(akey(row.owner_agency, row.grantee, row.record_kind), { level: row.level, version: row.version });
    }
  });

  after(async () => {
    // Leave no agreement behind for the other suites, which assume nothing is shared.
    await getHarness().db('sharing_agreement').update({ level: 'none' });
    console.log(`      access: ${totals.scenarios} scenarios, ${totals.records} records, ${totals.requests + totals.filters} requests compared with the model (${totals.filters} filtered), ${totals.footprints} footprints checked with ST_Covers`);
  });

  it('property: for random records, agreements and restrictions, every read returns exactly what the rules allow; lowering, revoking and restricting apply at once', async function () {
    this.timeout(120000);
    await fc.assert(fc.asyncProperty(scenarioArb, async (scenario) => {
      totals.scenarios++;
      const before = records.length;
      const informantsBefore = informants.length;
      // Records of every kind, by random owners, through the API.
      const created: Rec[] = [];
      for (const area of scenario.areas) {
        const { rec } = await createArea(area.owner, area.sizeM, area.classification);
        created.push(rec);
        if (area.release !== undefined) await createRelease(rec, area.sizeM, area.release);
      }
      const areasOf = (owner: Agency) => created.filter((rec) => rec.kind === 'hazardous_area' && rec.owner === owner).slice(0, 1);
      for (const m of scenario.minefields) await createMinefield(m.owner, m.link ? areasOf(m.owner) : []);
      for (const t of scenario.testimonies) await createTestimony(t.owner, t.uncertaintyM, t.link ? areasOf(t.owner) : []);
      const fresh = records.slice(before);
      totals.records += fresh.length;

      // Random agreements (every owner × grantee × kind) and random restrictions of this scenario's records.
      let n = 0;
      for (const owner of AGENCIES) for (const grantee of GRANTEES) for (const kind of KINDS) {
        if (grantee === owner) continue;
        const level = scenario.levels[n++];
        if ((agreements.get(akey(owner, grantee, kind))?.level ?? 'none') !== level) await setAgreement(owner, grantee, kind, level);
      }
      for (const [i, rec] of fresh.entries()) if (scenario.restrict[i % scenario.restrict.length] === 0) await setRestriction(rec, true);

      const first = await sweep(`scenario ${totals.scenarios}`, fresh, informants.slice(informantsBefore));
      totals.requests += first.requests;
      totals.footprints += first.footprintPairs.length;
      totals.filters += await filterSweep(`scenario ${totals.scenarios}`, fresh, first.ownerFeatures);

      // Lower or revoke one granted level: the very next request of the grantee shows the new level.
      const granted = fresh.flatMap((rec) => GRANTEES.filter((g) => g !== rec.owner && !rec.restricted)
        .map((grantee) => ({ rec, grantee, level: agreements.get(akey(rec.owner, grantee, rec.kind))?.level ?? 'none' }))
        .filter((g) => g.level !== 'none' && g.grantee !== 'PUBLIC'));
      if (granted.length) {
        const { rec, grantee, level } = granted[scenario.mutation.pick % granted.length];
        const lower = LEVELS.slice(0, LEVELS.indexOf(level as never));
        const to = lower[scenario.mutation.lowerTo % lower.length];
        await setAgreement(rec.owner, grantee, rec.kind, to);
        const viewer: Viewer = grantee === 'LIAISON' ? { label: 'LIAISON facilitator', agency: 'LIAISON', role: 'facilitator', token: tokenFor('LIAISON', 'facilitator') } : { label: `${grantee} viewer`, agency: grantee, role: 'viewer', token: tokenFor(grantee, 'viewer') };
        const next = await api('GET', `/collections/${COLLECTION[rec.kind]}/items/${rec.id}`, { token: viewer.token });
        if (to === 'none') expect(next.status, `${grantee} still reads ${rec.id} right after ${level} → none`).to.equal(404);
        else {
          expect(next.status).to.equal(200);
          expect(next.body.properties.accessLevel, `${grantee} right after ${level} → ${to}`).to.equal(to);
          expect(Object.keys(next.body.properties).sort()).to.deep.equal(expectedKeys(rec.kind, to));
        }
      }
      // Restrict one record someone else can see: the very next request of that viewer no longer finds it.
      const shared = fresh.filter((rec) => !rec.restricted).flatMap((rec) => GRANTEES.filter((g) => g !== rec.owner && g !== 'PUBLIC' && g !== 'LIAISON' && (agreements.get(akey(rec.owner, g, rec.kind))?.level ?? 'none') !== 'none').map((grantee) => ({ rec, grantee })));
      if (shared.length) {
        const { rec, grantee } = shared[scenario.mutation.restrictPick % shared.length];
        await setRestriction(rec, true, false);
        const next = await api('GET', `/collections/${COLLECTION[rec.kind]}/items/${rec.id}`, { token: tokenFor(grantee, 'viewer') });
        expect(next.status, `${grantee} still reads ${rec.kind} ${rec.id} on the request right after its owner restricted it`).to.equal(404);
        await committed(rec.kind, rec.id, (row) => row.restricted === true);
      }
      // Retire one minefield record or testimony, shared or not: gone from every list and extent.
      const retirable = fresh.filter((rec) => (rec.kind === 'minefield_record' || rec.kind === 'testimony') && !rec.restricted);
      if (retirable.length) {
        const rec = retirable[scenario.mutation.pick % retirable.length];
        const subject = `retirer-${totals.scenarios}-zq`;
        const reason = `Synthetic retirement note ${freshRef('WHY')} duplicate of a survey`;
        const token = tok(rec.owner, 'editor', subject);
        const current = await api('GET', `/collections/${COLLECTION[rec.kind]}/items/${rec.id}`, { token });
        const retired = await api('DELETE', `/collections/${COLLECTION[rec.kind]}/items/${rec.id}`, { token, body: { reason }, headers: { ...JSON_HEADERS, 'if-match': current.headers.get('etag')! } });
        expect(retired.status, retired.text).to.equal(204);
        rec.retired = { by: subject, reason };
        await committed(rec.kind, rec.id, (row) => row.retired_at !== null);
      }
      const second = await sweep(`scenario ${totals.scenarios}, after lowering and restricting`, fresh, informants.slice(informantsBefore), true);
      totals.requests += second.requests;
      totals.footprints += second.footprintPairs.length;
    }), { seed: 20261123, numRuns: Number(process.env.ACC_RUNS ?? 3), endOnFailure: true });
    expect(new Set(records.map((rec) => rec.kind)).size, 'every kind was exercised').to.equal(4);
  });

  /**
   * A commit that takes a while, as under load (fsync, a busy WAL): a deferred constraint trigger
   * on the test database sleeps at COMMIT. It changes no data; it only widens the window between a
   * write's answer and its commit, so the very-next-request rule is tested deterministically.
   */
  async function withSlowCommit<T>(when: string, work: () => Promise<T>): Promise<T> {
    const db = getHarness().db;
    await db.raw(`CREATE OR REPLACE FUNCTION acc_slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.3); RETURN NULL; END $$`);
    await db.raw(`CREATE CONSTRAINT TRIGGER acc_slow_commit AFTER ${when.startsWith('INSERT') ? 'INSERT' : 'UPDATE'} ON hazardous_area DEFERRABLE INITIALLY DEFERRED
      FOR EACH ROW WHEN (${when.replace(/^(INSERT|UPDATE):/, '')}) EXECUTE FUNCTION acc_slow_commit()`);
    try {
      return await work();
    } finally {
      await db.raw('DROP TRIGGER IF EXISTS acc_slow_commit ON hazardous_area');
      await db.raw('DROP FUNCTION IF EXISTS acc_slow_commit()');
    }
  }

  it('a retired record: below full, the 410 does not say who retired it or why (retired.by / retired.reason)', async () => {
    // GEO shares its minefield records with CHDE as footprints, then retires one with a note.
    await setAgreement('GEO', 'CHDE', 'minefield_record', 'footprint');
    await createMinefield('GEO', []);
    const rec = records[records.length - 1];
    const token = tok('GEO', 'editor', 'retirer-dedicated-zq');
    const seen = await api('GET', `/collections/minefield-records/items/${rec.id}`, { token: tok('CHDE', 'viewer') });
    expect(seen.status).to.equal(200);
    expect(Object.keys(seen.body.properties).sort()).to.deep.equal(expectedKeys('minefield_record', 'footprint'));
    const retired = await api('DELETE', `/collections/minefield-records/items/${rec.id}`, { token, body: { reason: 'Synthetic note: informant R. contradicted, see file 12' }, headers: { ...JSON_HEADERS, 'if-match': '"1"' } });
    expect(retired.status, retired.text).to.equal(204);
    rec.retired = { by: 'retirer-dedicated-zq', reason: 'Synthetic note: informant R. contradicted, see file 12' };
    await committed('minefield_record', rec.id, (row) => row.retired_at !== null);
    const gone = await api('GET', `/collections/minefield-records/items/${rec.id}`, { token: tok('CHDE', 'viewer') });
    await setAgreement('GEO', 'CHDE', 'minefield_record', 'none');
    expect(gone.status).to.equal(410);
    // Footprint is shape and classification only; updatedBy and free text are full-level fields.
    expect(gone.text, 'CHDE, at footprint, is told who retired a GEO record').to.not.include('retirer-dedicated-zq');
    expect(gone.text, 'CHDE, at footprint, is told why GEO retired the record').to.not.include('informant R. contradicted');
    // Edit times are not shown below full either (no updatedAt): nor is the time of retirement.
    expect(gone.body.retired?.at, 'CHDE, at footprint, is told when GEO retired the record').to.equal(undefined);
    expect(retiredLeaks, 'the same leak, found by the property sweep').to.deep.equal([]);
  });

  it('a restriction applies to the very next request (the write must commit before it answers 200)', async function () {
    this.timeout(60000);
    // GEO shares its areas in full with CHDE, then restricts them one by one; each time CHDE asks
    // straight after the 200. Ten times as is, three times with a slow commit.
    const geo = tokenFor('GEO', 'editor');
    await setAgreement('GEO', 'CHDE', 'hazardous_area', 'full');
    const chde = tokenFor('CHDE', 'viewer');
    const leaked: string[] = [];
    const restrictThenRead = async (slow: boolean) => {
      const { rec } = await createArea('GEO', 80, 'SHA');
      expect((await api('GET', `/collections/hazardous-areas/items/${rec.id}`, { token: chde })).status).to.equal(200);
      const restricted = await api('PUT', `/collections/hazardous-areas/items/${rec.id}/restriction`, { token: geo, body: { restricted: true }, headers: { ...JSON_HEADERS, 'if-match': '"1"' } });
      expect(restricted.status, restricted.text).to.equal(200);
      expect(restricted.body.properties.restricted).to.equal(true);
      rec.restricted = true;
      const next = await api('GET', `/collections/hazardous-areas/items/${rec.id}`, { token: chde });
      if (next.status !== 404) leaked.push(`${slow ? 'slow commit: ' : ''}${rec.id} answered ${next.status} at ${next.body?.properties?.accessLevel}`);
      await committed('hazardous_area', rec.id, (row) => row.restricted);
    };
    for (let i = 0; i < 10; i++) await restrictThenRead(false);
    await withSlowCommit('UPDATE:NEW.restricted AND NOT OLD.restricted', async () => { for (let i = 0; i < 3; i++) await restrictThenRead(true); });
    await setAgreement('GEO', 'CHDE', 'hazardous_area', 'none');
    // server/routes/items.ts answers inside withViewer's callback (sendFeature), i.e. before COMMIT.
    expect(leaked, `CHDE read a GEO area on the request right after GEO's restriction answered 200`).to.deep.equal([]);
  });

  it('a created record is readable on the very next request after 201 (the write must commit before it answers)', async function () {
    this.timeout(60000);
    const missing: string[] = [];
    const createThenRead = async (slow: boolean) => {
      const cell = freshCell();
      const response = await api('POST', '/collections/hazardous-areas/items', { token: tokenFor('ANAMA', 'editor'), body: { type: 'Feature', geometry: quad(cell, 90).polygon, properties: { localRef: freshRef('ACC-RACE'), classification: 'CHA', hazardTypes: ['AP'], informationDate: '2025-06-01' } } });
      expect(response.status, response.text).to.equal(201);
      const next = await api('GET', `/collections/hazardous-areas/items/${response.body.id}`, { token: tokenFor('ANAMA', 'viewer') });
      if (next.status !== 200) missing.push(`${slow ? 'slow commit: ' : ''}${response.body.id} answered ${next.status}`);
      const rec: Rec = { id: response.body.id, kind: 'hazardous_area', owner: 'ANAMA', restricted: false, cell, linkedAreaIds: [] };
      records.push(rec); byId.set(rec.id, rec);
      await committed('hazardous_area', rec.id);
    };
    for (let i = 0; i < 10; i++) await createThenRead(false);
    await withSlowCommit("INSERT:NEW.local_ref LIKE 'ACC-RACE%'", async () => { for (let i = 0; i < 3; i++) await createThenRead(true); });
    expect(missing, '201 Created with a Location, then 404 for that Location on the next request').to.deep.equal([]);
  });

  it('EXPLAIN: a restricted viewer\'s bbox query uses the GiST index on footprint_geom, no Seq Scan on hazardous_area', async () => {
    // CHDE sees GEO's areas as footprints and ANAMA's as summaries.
    await setAgreement('GEO', 'CHDE', 'hazardous_area', 'footprint');
    await setAgreement('ANAMA', 'CHDE', 'hazardous_area', 'summary');
    await createArea('GEO', 100, 'SHA');
    await createArea('ANAMA', 100, 'CHA');
    const chde = tokenFor('CHDE', 'viewer');
    const seen = (await api('GET', `/collections/hazardous-areas/items?bbox=${REGION_BBOX}&limit=10000`, { token: chde })).body.features;
    expect(seen.map((f: any) => f.properties.accessLevel)).to.include.members(['footprint', 'summary']);

    const collection = collectionById.get('hazardous-areas')!;
    const plan = await withViewer(getHarness().db, { agency: 'CHDE', role: 'viewer', subject: 'explain' }, async (trx) => {
      await trx.raw('SET LOCAL enable_seqscan = off');
      // What listFeatures (records/query.ts) runs for GET /collections/hazardous-areas/items?bbox=…
      const query = itemsQuery(trx, collection, { bbox: [48.79, 40.99, 49.41, 41.31], filters: [] })
        .select(['id', 'access_level', 'version', 'retired_at', 'retired_by', 'retired_reason', 'properties', trx.raw('ST_AsGeoJSON(geom, 9)::json AS geometry')])
        .orderBy([{ column: 'created_at' }, { column: 'id' }])
        .limit(100)
        .offset(0);
      const count = itemsQuery(trx, collection, { bbox: [48.79, 40.99, 49.41, 41.31], filters: [] }).count({ count: '*' });
      const plans: string[] = [];
      for (const q of [query, count]) {
        const { sql, bindings } = q.toSQL();
        const result = await trx.raw(`EXPLAIN ${sql}`, bindings as any[]);
        plans.push(result.rows.map((row: any) => row['QUERY PLAN']).join('\n'));
      }
      return plans;
    });
    for (const text of plan) {
      expect(text, text).to.include('hazardous_area_footprint');
      expect(text, text).to.not.match(/Seq Scan on hazardous_area(\s|$)/m);
    }
    await setAgreement('GEO', 'CHDE', 'hazardous_area', 'none');
    await setAgreement('ANAMA', 'CHDE', 'hazardous_area', 'none');
  });

  describe('refusals: 403 with the reason', () => {
    let area: Rec;
    const item = () => `/collections/hazardous-areas/items/${area.id}`;
    const feature = () => ({ type: 'Feature', geometry: quad(area.cell, 120).polygon, properties: { localRef: freshRef('ACC-X'), classification: 'SHA', hazardTypes: ['AT'], informationDate: '2025-07-01' } });
    const versionNow = async () => (await getHarness().db('hazardous_area').where('id', area.id).first()).version;

    before(async () => {
      ({ rec: area } = await createArea('GEO', 120, 'CHA'));
      await setAgreement('GEO', 'LIAISON', 'hazardous_area', 'full');
      await setAgreement('GEO', 'ANAMA', 'hazardous_area', 'full');
    });
    after(async () => {
      await setAgreement('GEO', 'LIAISON', 'hazardous_area', 'none');
      await setAgreement('GEO', 'ANAMA', 'hazardous_area', 'none');
    });

    const writes = (): { method: string; path: string; body: unknown; headers: Record<string, string> }[] => [
      { method: 'POST', path: '/collections/hazardous-areas/items', body: feature(), headers: {} },
      { method: 'PUT', path: item(), body: feature(), headers: { 'if-match': '"1"' } },
      { method: 'PATCH', path: item(), body: { properties: { priority: 'low' } }, headers: { 'if-match': '"1"' } },
      { method: 'DELETE', path: `${item()}?reason=refused`, body: undefined, headers: { 'if-match': '"1"' } },
      { method: 'PUT', path: `${item()}/restriction`, body: { restricted: true }, headers: { 'if-match': '"1"', ...JSON_HEADERS } },
      { method: 'POST', path: `${item()}/reopen`, body: { reason: 'refused' }, headers: { 'if-match': '"1"', ...JSON_HEADERS } },
    ];

    it('a facilitator writes nothing: records, restriction, reopening or agreements', async () => {
      const token = tokenFor('LIAISON', 'facilitator');
      expect((await api('GET', item(), { token })).status, 'the facilitator sees the area').to.equal(200);
      const before = await versionNow();
      for (const write of writes()) {
        const response = await api(write.method, write.path, { token, body: write.body, headers: write.headers });
        expect(response.status, `${write.method} ${write.path}: ${response.text}`).to.equal(403);
        expect(response.body.detail, `${write.method} ${write.path}`).to.match(/facilitator/);
      }
      const agreement = await api('PUT', '/sharing/agreements/CHDE/hazardous-areas', { token, body: { level: 'full' }, headers: { ...JSON_HEADERS, 'if-match': '"0"' } });
      expect(agreement.status, agreement.text).to.equal(403);
      expect(agreement.body.detail).to.match(/liaison mechanism .*grants no access/);
      const informant = await api('POST', '/informants', { token, body: { code: freshRef('X'), fullName: 'Synthetic Refused' }, headers: JSON_HEADERS });
      expect(informant.status).to.equal(403);
      expect(await versionNow()).to.equal(before);
    });

    it('another agency that sees the record through an agreement is told it belongs to its owner', async () => {
      const token = tokenFor('ANAMA', 'editor');
      const seen = await api('GET', item(), { token });
      expect(seen.status).to.equal(200);
      expect(seen.body.properties.accessLevel).to.equal('full');
      const before = await versionNow();
      for (const write of writes().filter((w) => w.method !== 'POST' || w.path.endsWith('/reopen'))) {
        const response = await api(write.method, write.path, { token, body: write.body, headers: write.headers });
        expect(response.status, `${write.method} ${write.path}: ${response.text}`).to.equal(403);
        expect(response.body.detail, `${write.method} ${write.path}`).to.match(/belongs to GEO/);
      }
      expect(await versionNow()).to.equal(before);
    });

    it('a viewer of the owner agency edits nothing of its own and changes no agreement', async () => {
      const token = tokenFor('GEO', 'viewer');
      expect((await api('GET', item(), { token })).status).to.equal(200);
      const before = await versionNow();
      for (const write of writes()) {
        const response = await api(write.method, write.path, { token, body: write.body, headers: write.headers });
        expect(response.status, `${write.method} ${write.path}: ${response.text}`).to.equal(403);
        expect(response.body.detail, `${write.method} ${write.path}`).to.match(/role "viewer" may read but not edit/);
      }
      const current = agreements.get(akey('GEO', 'CHDE', 'hazardous_area'));
      const agreement = await api('PUT', '/sharing/agreements/CHDE/hazardous-areas', { token, body: { level: 'full' }, headers: { ...JSON_HEADERS, 'if-match': `"${current?.version ?? 0}"` } });
      expect(agreement.status, agreement.text).to.equal(403);
      expect(agreement.body.detail).to.match(/role "viewer" may not change sharing agreements/);
      const stored = await getHarness().db('sharing_agreement').where({ owner_agency: 'GEO', grantee: 'CHDE', record_kind: 'hazardous_area' }).first();
      expect(stored?.level ?? 'none').to.equal(current?.level ?? 'none');
      expect(await versionNow()).to.equal(before);
    });
  });

  it('informant identity: the owner editor\'s read is audited; an agency with full access to testimonies gets the code, never the identity', async () => {
    await setAgreement('CHDE', 'ANAMA', 'testimony', 'full');
    await createTestimony('CHDE', 50, []);
    const testimony = records[records.length - 1];
    const informant = informants[informants.length - 1];
    const owner = tokenFor('CHDE', 'editor', 'identity-reader');

    const identity = await api('GET', `/informants/${informant.id}`, { token: owner });
    expect(identity.status, identity.text).to.equal(200);
    expect(identity.body).to.include({ code: informant.code, fullName: informant.fullName });
    const events: any[] = [];
    for (let after = 0; ;) {
      const page = await api('GET', `/audit?after=${after}&limit=1000`, { token: owner });
      expect(page.status).to.equal(200);
      events.push(...page.body.events);
      if (page.body.next === null) break;
      after = page.body.next;
    }
    const reads = events.filter((e) => e.action === 'informant-identity-read' && e.recordId === informant.id);
    expect(reads, 'one audit event for the identity read').to.have.length(1);
    expect(reads[0]).to.include({ agency: 'CHDE', actor: 'identity-reader', recordKind: 'informant' });
    expect(reads[0].detail).to.deep.equal({ code: informant.code });

    const texts: string[] = [];
    for (const token of [tokenFor('ANAMA', 'editor'), tokenFor('ANAMA', 'viewer')]) {
      const one = await api('GET', `/collections/testimonies/items/${testimony.id}`, { token });
      expect(one.status).to.equal(200);
      expect(one.body.properties.accessLevel).to.equal('full');
      expect(one.body.properties.informantCode).to.equal(informant.code);
      texts.push(one.text);
      for (const path of [`/collections/testimonies/items?bbox=${cellBbox(testimony.cell)}`, '/collections/testimonies/items?limit=10000', `/collections/testimonies/items?informantCode=${encodeURIComponent(informant.code)}`,
        '/collections', '/collections/testimonies', '/informants', `/informants/${informant.id}`, '/audit?limit=1000', '/sharing/agreements', '/statistics/hazardous-areas']) {
        const response = await api('GET', path, { token });
        texts.push(response.text);
      }
    }
    const anamaEditor = tokenFor('ANAMA', 'editor');
    expect((await api('GET', `/informants/${informant.id}`, { token: anamaEditor })).status).to.equal(404);
    const anamaAudit = (await api('GET', '/audit?limit=1000', { token: anamaEditor })).body.events;
    expect(anamaAudit.filter((e: any) => e.recordId === informant.id || e.agency !== 'ANAMA')).to.deep.equal([]);
    for (const text of texts) {
      expect(text.includes(informant.fullName), 'the informant\'s name reached ANAMA').to.equal(false);
      expect(text.includes(informant.contact), 'the informant\'s contact reached ANAMA').to.equal(false);
    }
    await setAgreement('CHDE', 'ANAMA', 'testimony', 'none');
  });
});
