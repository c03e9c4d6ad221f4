// Vector tiles (/tiles/{layers}/{z}/{x}/{y}.mvt), decoded as a map client would:
// 1. what each viewer's tile carries — features, attributes and positions — per layer and level;
// 2. that no hazard vanishes at any zoom (tiny, thin and huge areas, zooms 0–22);
// 3. the tile cache: ETag / 304, invalidation by writes and agreement changes, HTTP details;
// 4. GDAL's MVT driver reads a tile with the field types of metadata.json;
// 5. TileJSON and the tippecanoe-style metadata.json;
// 6. the overview cells: what each viewer reads of them is what the records it sees cover.
//
// Every record here lies in lon 44.3–44.95, lat 38.6–39.0, where no other suite draws.
import { execFile } from 'node:child_process';
import * as http from 'node:http';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { expect } from 'chai';
import { VectorTile } from '@mapbox/vector-tile';
// pbf 5.1 has no default export: the reader is PbfReader.
import { PbfReader } from 'pbf';
import { withViewer } from '../db/viewerTransaction';
import { TILE_PART_BYTES } from '../tiles/tileSql';
import type { Viewer } from '../server/auth/viewer';
import { api, freshRef, getHarness, hazardousAreaFeature, tokenFor, share } from './harness';

const run = promisify(execFile);

const LAYERS = ['hazardous-areas', 'land-releases', 'minefield-records', 'testimonies'] as const;
type LayerId = (typeof LAYERS)[number];
const MVT = 'application/vnd.mapbox-vector-tile';
const EXACT_FROM_ZOOM = 10;
const JSON_BODY = { 'content-type': 'application/json' };

// ---------------------------------------------------------------------------------------------
// Tile arithmetic (XYZ, spherical Mercator)

type Box = [number, number, number, number]; // minLon, minLat, maxLon, maxLat
interface TileAddress { z: number; x: number; y: number }

const lonToTileX = (lon: number, z: number) => ((lon + 180) / 360) * 2 ** z;
const latToTileY = (lat: number, z: number) => ((1 - Math.log(Math.tan(Math.PI / 4 + (lat * Math.PI) / 360)) / Math.PI) / 2) * 2 ** z;
const tileXToLon = (x: number, z: number) => (x / 2 ** z) * 360 - 180;
const tileYToLat = (y: number, z: number) => (Math.atan(Math.sinh(Math.PI * (1 - (2 * y) / 2 ** z))) * 180) / Math.PI;
const clampTile = (v: number, z: number) => Math.min(2 ** z - 1, Math.max(0, Math.floor(v)));

function tileOf(lon: number, lat: number, z: number): TileAddress {
  return { z, x: clampTile(lonToTileX(lon, z), z), y: clampTile(latToTileY(lat, z), z) };
}

/** The tile's extent in lon/lat, without buffer. */
function tileBox({ z, x, y }: TileAddress): Box {
  return [tileXToLon(x, z), tileYToLat(y + 1, z), tileXToLon(x + 1, z), tileYToLat(y, z)];
}

/** Every tile a box touches at zoom z. */
function tilesOfBox(box: Box, z: number): TileAddress[] {
  const x0 = clampTile(lonToTileX(box[0], z), z);
  const x1 = clampTile(lonToTileX(box[2], z), z);
  const y0 = clampTile(latToTileY(box[3], z), z);
  const y1 = clampTile(latToTileY(box[1], z), z);
  const tiles: TileAddress[] = [];
  for (let x = x0; x <= x1; x++) for (let y = y0; y <= y1; y++) tiles.push({ z, x, y });
  return tiles;
}

/** Degrees of longitude per tile pixel (1/4096 of a tile); a degree of latitude per pixel is smaller. */
const pixelDeg = (z: number) => 360 / 2 ** z / 4096;

const bboxOf = (g: GeoJSON.Geometry): Box => {
  const ps = positionsOf(g);
  return [Math.min(...ps.map((p) => p[0])), Math.min(...ps.map((p) => p[1])), Math.max(...ps.map((p) => p[0])), Math.max(...ps.map((p) => p[1]))];
};
const intersection = (a: Box, b: Box): Box | null => {
  const box: Box = [Math.max(a[0], b[0]), Math.max(a[1], b[1]), Math.min(a[2], b[2]), Math.min(a[3], b[3])];
  return box[0] <= box[2] && box[1] <= box[3] ? box : null;
};
const inBox = (p: GeoJSON.Position, box: Box, tol = 0) =>
  p[0] >= box[0] - tol && p[0] <= box[2] + tol && p[1] >= box[1] - tol && p[1] <= box[3] + tol;

// ---------------------------------------------------------------------------------------------
// Geometry helpers

function positionsOf(g: GeoJSON.Geometry): GeoJSON.Position[] {
  switch (g.type) {
    case 'Point': return [g.coordinates];
    case 'MultiPoint': case 'LineString': return g.coordinates;
    case 'Polygon': case 'MultiLineString': return g.coordinates.flat();
    case 'MultiPolygon': return g.coordinates.flat(2);
    default: throw new Error(`unexpected ${g.type}`);
  }
}

function segmentsOf(g: GeoJSON.Geometry): [GeoJSON.Position, GeoJSON.Position][] {
  const rings = g.type === 'Polygon' ? g.coordinates : g.type === 'MultiPolygon' ? g.coordinates.flat() : g.type === 'LineString' ? [g.coordinates] : [];
  return rings.flatMap((ring) => ring.slice(1).map((p, i) => [ring[i], p] as [GeoJSON.Position, GeoJSON.Position]));
}

function distanceToSegment(p: GeoJSON.Position, [a, b]: [GeoJSON.Position, GeoJSON.Position]): number {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const t = dx === 0 && dy === 0 ? 0 : Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(p[0] - (a[0] + t * dx), p[1] - (a[1] + t * dy));
}

const distance = (p: GeoJSON.Position, q: GeoJSON.Position) => Math.hypot(p[0] - q[0], p[1] - q[1]);
const nearestVertex = (p: GeoJSON.Position, g: GeoJSON.Geometry) => Math.min(...positionsOf(g).map((q) => distance(p, q)));
const distanceToOutline = (p: GeoJSON.Position, g: GeoJSON.Geometry) =>
  g.type === 'Point' ? distance(p, g.coordinates) : Math.min(...segmentsOf(g).map((s) => distanceToSegment(p, s)));

/**
 * The tile's shape is the record's shape: every vertex in the tile lies within `tol` of a vertex
 * of the record (so positions are exact, to the tile grid), and every vertex of the record lies
 * within `tol` of the tile's outline (so nothing is missing; a collinear vertex may be dropped).
 */
function expectSameShape(tile: GeoJSON.Geometry, record: GeoJSON.Geometry, tol: number, label: string) {
  for (const p of positionsOf(tile)) {
    expect(nearestVertex(p, record), `${label}: tile vertex ${p} is ${nearestVertex(p, record)}° from the record's nearest vertex`).to.be.at.most(tol);
  }
  for (const p of positionsOf(record)) {
    expect(distanceToOutline(p, tile), `${label}: record vertex ${p} is ${distanceToOutline(p, tile)}° from the tile's outline`).to.be.at.most(tol);
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP and decoding

interface TileResponse { status: number; headers: Headers; body: Buffer }

const tilePath = (layers: string | readonly string[], { z, x, y }: TileAddress) => `/tiles/${[layers].flat().join(',')}/${z}/${x}/${y}.mvt`;

async function getTile(path: string, token?: string, headers: Record<string, string> = {}, method = 'GET'): Promise<TileResponse> {
  const all: Record<string, string> = { ...headers };
  if (token) all.authorization = `Bearer ${token}`;
  const response = await fetch(getHarness().baseUrl + path, { method, headers: all });
  return { status: response.status, headers: response.headers, body: Buffer.from(await response.arrayBuffer()) };
}

/** node:http, so that Content-Encoding and Content-Length are seen as sent (fetch decompresses). */
function rawGet(path: string, headers: Record<string, string>, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const request = http.request(getHarness().baseUrl + path, { method, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body: Buffer.concat(chunks) }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end();
  });
}

interface TileFeature { type: number; props: Record<string, string | number | boolean>; geometry: GeoJSON.Geometry }

function decode(body: Buffer, { z, x, y }: TileAddress): Record<string, TileFeature[]> {
  const tile = new VectorTile(new PbfReader(body));
  const layers: Record<string, TileFeature[]> = {};
  for (const [name, layer] of Object.entries(tile.layers)) {
    layers[name] = [];
    for (let i = 0; i < layer.length; i++) {
      const feature = layer.feature(i);
      layers[name].push({ type: feature.type, props: feature.properties, geometry: feature.toGeoJSON(x, y, z).geometry });
    }
  }
  return layers;
}

/** Fetches and decodes a tile that must answer 200. */
async function tileFeatures(layers: string | readonly string[], address: TileAddress, token: string): Promise<Record<string, TileFeature[]>> {
  const response = await getTile(tilePath(layers, address), token);
  expect(response.status, `${tilePath(layers, address)}: ${response.body.toString().slice(0, 200)}`).to.equal(200);
  return decode(response.body, address);
}

const shareAll = async (owner: string, grantee: string, level: string) => {
  for (const kind of LAYERS) await share(owner, grantee, kind, level);
};

async function create(collection: string, token: string, feature: unknown) {
  const response = await api('POST', `/collections/${collection}/items`, { token, body: feature });
  expect(response.status, `${collection}: ${response.text}`).to.equal(201);
  return response.body;
}

async function getItem(collection: string, id: string, token: string) {
  const response = await api('GET', `/collections/${collection}/items/${id}`, { token });
  expect(response.status, response.text).to.equal(200);
  return response.body;
}

async function inParallel<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]);
  }));
}

const round7 = (v: number) => Math.round(v * 1e7) / 1e7;
const rectangle = (box: Box): GeoJSON.Polygon => ({
  type: 'Polygon',
  coordinates: [[[box[0], box[1]], [box[2], box[1]], [box[2], box[3]], [box[0], box[3]], [box[0], box[1]]]],
});

/** A rectangle whose edges carry a vertex every `stepDeg`, so no two vertices are far apart. */
function densifiedRectangle(box: Box, stepDeg: number): GeoJSON.Polygon {
  const along = (from: number, to: number) => {
    const n = Math.ceil(Math.abs(to - from) / stepDeg);
    return Array.from({ length: n }, (_, i) => round7(from + ((to - from) * i) / n));
  };
  const ring: GeoJSON.Position[] = [
    ...along(box[0], box[2]).map((lon) => [lon, box[1]]),
    ...along(box[1], box[3]).map((lat) => [box[2], lat]),
    ...along(box[2], box[0]).map((lon) => [lon, box[3]]),
    ...along(box[3], box[1]).map((lat) => [box[0], lat]),
  ];
  return { type: 'Polygon', coordinates: [[...ring, ring[0]]] };
}

/** The attribute names a tile may carry per layer besides the common ones (tiles/layers.ts). */
const LAYER_ATTRIBUTES: Record<LayerId, string[]> = {
  'hazardous-areas': ['classification', 'status', 'hazardTypes', 'remainingAreaM2'],
  'land-releases': ['method', 'releaseDate', 'areaM2'],
  'minefield-records': ['accuracyGrade'],
  testimonies: ['uncertaintyM'],
};
/** At footprint, only these survive besides id, ownerAgency, accessLevel, generalised and collapsed. */
const FOOTPRINT_ATTRIBUTES: Record<LayerId, string[]> = {
  'hazardous-areas': ['classification'],
  'land-releases': ['method'],
  'minefield-records': [],
  testimonies: [],
};
const COMMON = ['id', 'ownerAgency', 'accessLevel', 'generalised', 'collapsed'];

describe('vector tiles', () => {
  const changed: [string, string, string][] = [];
  const grant = async (owner: string, grantee: string, kind: string, level: string) => {
    changed.push([owner, grantee, kind]);
    await share(owner, grantee, kind, level);
  };
  const grantAll = async (owner: string, grantee: string, level: string) => {
    for (const kind of LAYERS) await grant(owner, grantee, kind, level);
  };

  after(async () => {
    // Through the API first, so the tile cache of each grantee is dropped too; then the table,
    // for the other suites, which assume nothing is shared.
    for (const [owner, grantee, kind] of changed) await share(owner, grantee, kind, 'none');
    await getHarness().db('sharing_agreement').update({ level: 'none' });
  });

  // -------------------------------------------------------------------------------------------
  describe('what each viewer sees, per layer and access level', () => {
    // One z14 tile (≈ 1.9 km) holds one record of every kind owned by GEO, plus a restricted
    // area; another tile far off holds only a restricted area.
    const Z = 14;
    const tile = tileOf(44.8013, 38.9017, Z);
    const box = tileBox(tile);
    /** A position at fractions of the tile, from its north-west corner. */
    const at = (fx: number, fy: number): GeoJSON.Position => [round7(box[0] + fx * (box[2] - box[0])), round7(box[3] - fy * (box[3] - box[1]))];
    const tol = pixelDeg(Z);

    const ownerToken = () => tokenFor('GEO', 'viewer');
    const granteeToken = () => tokenFor('CHDE', 'viewer');
    const ids: Record<string, string> = {};
    /** The geometry each layer draws, per record, as the owner reads it from the API. */
    const drawn: Record<string, GeoJSON.Geometry> = {};
    const restrictedFar = { id: '', tile: tileOf(44.8813, 38.9617, Z), position: [44.8818, 38.9622] as GeoJSON.Position };

    before(async function () {
      this.timeout(30000);
      const editor = tokenFor('GEO', 'editor');
      const areaA = await create('hazardous-areas', editor, hazardousAreaFeature({
        geometry: { type: 'Polygon', coordinates: [[at(0.2, 0.4), at(0.18, 0.31), at(0.34, 0.22), at(0.38, 0.33), at(0.28, 0.42), at(0.2, 0.4)]] },
        properties: { classification: 'CHA', hazardTypes: ['AP', 'AT'], estimatedDeviceCount: 40, name: { en: 'Hidden slope' }, priority: 'high' },
      }));
      const [bx0, by1] = at(0.5, 0.2);
      const [bx1, by0] = at(0.78, 0.4);
      const areaB = await create('hazardous-areas', editor, hazardousAreaFeature({
        geometry: rectangle([bx0, by0, bx1, by1]),
        properties: { classification: 'SHA', hazardTypes: ['UXO'] },
      }));
      const release = await create('land-releases', editor, {
        type: 'Feature',
        geometry: rectangle([bx0, by0, at(0.6, 0)[0], by1]),
        properties: { localRef: freshRef('LR'), hazardousAreaId: areaB.id, method: 'cleared', activity: 'clearance', releaseDate: '2025-08-01', operator: 'Synthetic Demining Team 7', clearanceDepthCm: 20 },
      });
      const minefield = await create('minefield-records', editor, {
        type: 'Feature',
        geometry: { type: 'Polygon', coordinates: [[at(0.2, 0.6), at(0.36, 0.62), at(0.34, 0.8), at(0.21, 0.78), at(0.2, 0.6)]] },
        properties: {
          localRef: freshRef('MFR'),
          referencePoints: [{ label: 'RP1', coordinates: at(0.19, 0.58) }, { label: 'RP2', coordinates: at(0.37, 0.58) }],
          mineTypes: [{ type: 'AP', model: 'PMN-2', count: 80 }],
          emplacingMethod: 'hand-laid',
          accuracyAssessment: { grade: 'approximate' },
        },
      });
      const informant = await api('POST', '/informants', { token: editor, body: { code: freshRef('INF'), fullName: 'Synthetic Person Tilesson' }, headers: JSON_BODY });
      expect(informant.status, informant.text).to.equal(201);
      const testimony = await create('testimonies', editor, {
        type: 'Feature',
        geometry: { type: 'Point', coordinates: at(0.66, 0.68) },
        properties: {
          localRef: freshRef('TST'), informantCode: informant.body.code,
          interview: { date: '2025-04-12', place: 'school', language: 'ka' },
          narrative: { language: 'en', text: 'Mines were laid near the old orchard.' },
          uncertaintyM: 120, sourceReliability: 'B', informationReliability: '2',
        },
      });
      const [rx0, ry1] = at(0.45, 0.5);
      const [rx1, ry0] = at(0.55, 0.56);
      const restrictedNear = await create('hazardous-areas', editor, hazardousAreaFeature({ geometry: rectangle([rx0, ry0, rx1, ry1]) }));
      const far = restrictedFar.position;
      const restrictedFarArea = await create('hazardous-areas', editor, hazardousAreaFeature({
        geometry: rectangle([far[0], far[1], round7(far[0] + 0.0012), round7(far[1] + 0.0009)]),
      }));
      for (const area of [restrictedNear, restrictedFarArea]) {
        const response = await api('PUT', `/collections/hazardous-areas/items/${area.id}/restriction`, { token: editor, body: { restricted: true }, headers: { ...JSON_BODY, 'if-match': '"1"' } });
        expect(response.status, response.text).to.equal(200);
      }
      Object.assign(ids, { areaA: areaA.id, areaB: areaB.id, release: release.id, minefield: minefield.id, testimony: testimony.id, restrictedNear: restrictedNear.id });
      restrictedFar.id = restrictedFarArea.id;

      // The hazardous-areas layer draws the remaining polygon: area B minus its land release.
      for (const key of ['areaA', 'areaB']) {
        const area = await getItem('hazardous-areas', ids[key], ownerToken());
        drawn[ids[key]] = area.properties.remainingGeometry;
      }
      expect(drawn[ids.areaB]).to.not.deep.equal((await getItem('hazardous-areas', ids.areaB, ownerToken())).geometry);
      drawn[ids.release] = release.geometry;
      drawn[ids.minefield] = minefield.geometry;
      drawn[ids.testimony] = testimony.geometry;
    });

    const expectedIds = (level: string): Record<LayerId, string[]> => ({
      'hazardous-areas': [ids.areaA, ids.areaB, ...(level === 'owner' ? [ids.restrictedNear] : [])].sort(),
      'land-releases': [ids.release],
      'minefield-records': [ids.minefield],
      testimonies: [ids.testimony],
    });

    /** Features, attributes and exact positions, for the owner and for full and summary grantees. */
    async function expectExactTile(level: 'owner' | 'full' | 'summary', token: string, layersPerRequest: 'each' | 'all') {
      const layers: Record<string, TileFeature[]> = {};
      if (layersPerRequest === 'all') Object.assign(layers, await tileFeatures(LAYERS, tile, token));
      else for (const layer of LAYERS) Object.assign(layers, await tileFeatures(layer, tile, token));
      expect(Object.keys(layers).sort()).to.deep.equal([...LAYERS].sort());
      const metadata = JSON.parse((await api('GET', `/tiles/${LAYERS.join(',')}/metadata.json`)).body.json).vector_layers;
      for (const layer of LAYERS) {
        const features = layers[layer];
        expect(features.map((f) => f.props.id).sort(), `${level} ${layer} ids`).to.deep.equal(expectedIds(level)[layer]);
        const declared = Object.keys(metadata.find((l: any) => l.id === layer).fields);
        for (const feature of features) {
          const label = `${level} ${layer} ${feature.props.id}`;
          expect(Object.keys(feature.props).sort(), label).to.deep.equal([...COMMON, ...LAYER_ATTRIBUTES[layer]].sort());
          expect(declared, `${label}: every attribute is declared in metadata.json`).to.include.members(Object.keys(feature.props));
          expect(feature.props, label).to.include({ ownerAgency: 'GEO', accessLevel: level, generalised: false, collapsed: false });
          if (feature.props.id === ids.restrictedNear) continue;
          expectSameShape(feature.geometry, drawn[feature.props.id as string], tol, label);
        }
      }
      const [areaA, areaB] = [ids.areaA, ids.areaB].map((id) => layers['hazardous-areas'].find((f) => f.props.id === id)!);
      expect(areaA.type).to.equal(3);
      expect(areaA.props).to.include({ classification: 'CHA', status: 'open', hazardTypes: 'AP,AT' });
      expect(areaB.props).to.include({ classification: 'SHA', status: 'worked-on', hazardTypes: 'UXO' });
      const b = await getItem('hazardous-areas', ids.areaB, token);
      expect(areaB.props.remainingAreaM2).to.be.closeTo(b.properties.remainingAreaM2, 1e-6);
      expect(b.properties.remainingAreaM2).to.be.below(b.properties.originalAreaM2);
      const release = layers['land-releases'][0];
      expect(release.type).to.equal(3);
      expect(release.props).to.include({ method: 'cleared', releaseDate: '2025-08-01' });
      expect(release.props.areaM2).to.be.closeTo((await getItem('land-releases', ids.release, token)).properties.areaM2, 1e-6);
      expect(layers['minefield-records'][0].props).to.include({ accuracyGrade: 'approximate' });
      expect(layers['minefield-records'][0].type).to.equal(3);
      expect(layers.testimonies[0].props).to.include({ uncertaintyM: 120 });
      expect(layers.testimonies[0].type).to.equal(1);
    }

    it('the owner: every layer, each record with its exact position and every tile attribute; the restricted area too', async () => {
      await expectExactTile('owner', ownerToken(), 'each');
      await expectExactTile('owner', tokenFor('GEO', 'editor'), 'all');
      const far = await tileFeatures('hazardous-areas', restrictedFar.tile, ownerToken());
      expect(far['hazardous-areas'].map((f) => f.props.id)).to.deep.equal([restrictedFar.id]);
    });

    it('another agency at full and at summary: exact positions, the attributes of its level, no restricted record', async () => {
      await grantAll('GEO', 'CHDE', 'full');
      await expectExactTile('full', granteeToken(), 'each');
      await grantAll('GEO', 'CHDE', 'summary');
      await expectExactTile('summary', granteeToken(), 'all');
    });

    it('another agency at footprint: only footprint positions (none exact) and only id, owner, level, class/method and flags', async () => {
      await grantAll('GEO', 'CHDE', 'footprint');
      const layers = await tileFeatures(LAYERS, tile, granteeToken());
      const exactTol = 10 * tol;
      for (const layer of LAYERS) {
        const features = layers[layer];
        expect(features.map((f) => f.props.id).sort(), `footprint ${layer} ids`).to.deep.equal(expectedIds('footprint')[layer]);
        for (const feature of features) {
          const id = feature.props.id as string;
          const label = `footprint ${layer} ${id}`;
          expect(Object.keys(feature.props).sort(), label).to.deep.equal([...COMMON, ...FOOTPRINT_ATTRIBUTES[layer]].sort());
          expect(feature.props, label).to.include({ ownerAgency: 'GEO', accessLevel: 'footprint', generalised: true, collapsed: false });
          expect(feature.type, `${label}: a footprint is a polygon, even for a point`).to.equal(3);
          // The shape is the footprint the records API gives this viewer …
          const footprint = (await getItem(layer, id, granteeToken())).geometry;
          expectSameShape(feature.geometry, footprint, tol, label);
          for (const [lon, lat] of positionsOf(feature.geometry)) {
            expect(Math.abs(lon - Math.round(lon * 1000) / 1000), `${label}: ${lon} on the 0.001° grid`).to.be.at.most(tol);
            expect(Math.abs(lat - Math.round(lat * 1000) / 1000), `${label}: ${lat} on the 0.001° grid`).to.be.at.most(tol);
          }
          // … and no vertex of the tile is at (or near) a vertex of the exact geometry.
          const exact = layer === 'hazardous-areas' ? (await getItem(layer, id, ownerToken())).geometry : drawn[id];
          for (const p of positionsOf(exact)) {
            expect(nearestVertex(p, feature.geometry), `${label}: exact vertex ${p} shows in the footprint tile`).to.be.above(exactTol);
          }
        }
      }
      expect(layers['hazardous-areas'].map((f) => f.props.classification).sort()).to.deep.equal(['CHA', 'SHA']);
      expect(layers['land-releases'][0].props.method).to.equal('cleared');

      // Overview zooms carry nothing more: cells with owner, class and flags only.
      const overview = await tileFeatures(LAYERS, tileOf(44.8013, 38.9017, 9), granteeToken());
      for (const layer of LAYERS) {
        expect(overview[layer], `${layer} at z9`).to.have.length.above(0);
        for (const cell of overview[layer]) {
          expect(Object.keys(cell.props).sort()).to.deep.equal(['generalised', 'overview', 'ownerAgency', ...FOOTPRINT_ATTRIBUTES[layer]].sort());
          expect(cell.props).to.include({ generalised: true, overview: true });
        }
        expect(overview[layer].filter((cell) => cell.props.ownerAgency === 'GEO'), `GEO cells of ${layer} at z9`).to.have.length.above(0);
      }
    });

    it('a restricted record is in no other agency\'s tile, at exact or overview zooms', async () => {
      await grantAll('GEO', 'CHDE', 'full');
      const near = await tileFeatures(LAYERS, tile, granteeToken());
      expect(near['hazardous-areas'].map((f) => f.props.id)).to.not.include(ids.restrictedNear);
      // At every exact zoom the owner has it and the grantee does not; from z14 on it is alone
      // in its tile, which is then empty (204) for anyone else. (At z10–13 the tile also holds
      // the other GEO records above.)
      for (let z = EXACT_FROM_ZOOM; z <= 22; z++) {
        const address = tileOf(restrictedFar.position[0] + 0.0006, restrictedFar.position[1] + 0.0004, z);
        for (const token of [granteeToken(), tokenFor('LIAISON', 'facilitator')]) {
          const response = await getTile(tilePath('hazardous-areas', address), token);
          if (z >= 14) expect(response.status, `z${z}`).to.equal(204);
          else {
            expect(response.status, `z${z}`).to.be.oneOf([200, 204]);
            if (response.status === 200) expect(decode(response.body, address)['hazardous-areas'].map((f) => f.props.id), `z${z}`).to.not.include(restrictedFar.id);
          }
        }
        const own = await tileFeatures('hazardous-areas', address, ownerToken());
        expect(own['hazardous-areas'].map((f) => f.props.id), `owner z${z}`).to.include(restrictedFar.id);
      }
      // At overview zooms the owner has a cell over it; the grantee has none there.
      for (let z = 7; z < EXACT_FROM_ZOOM; z++) {
        const address = tileOf(restrictedFar.position[0], restrictedFar.position[1], z);
        const covering = (token: string) => tileFeatures('hazardous-areas', address, token).then((layers) =>
          (layers['hazardous-areas'] ?? []).filter((cell) => cell.props.ownerAgency === 'GEO' && inBox(restrictedFar.position, bboxOf(cell.geometry))));
        expect(await covering(ownerToken()), `owner z${z}`).to.have.length.above(0);
        expect(await covering(granteeToken()), `CHDE z${z}`).to.deep.equal([]);
      }
    });

    it('a grantee at none, and an agency never shared with, get 204 where only that owner\'s data is', async () => {
      await grantAll('GEO', 'CHDE', 'none');
      for (const token of [granteeToken(), tokenFor('ANAMA', 'viewer'), tokenFor('LIAISON', 'facilitator')]) {
        for (const layers of [...LAYERS.map((l) => [l]), [...LAYERS]]) {
          const response = await getTile(tilePath(layers, tile), token);
          expect(response.status, tilePath(layers, tile)).to.equal(204);
          expect(response.body.length).to.equal(0);
        }
        expect((await getTile(tilePath(LAYERS, tileOf(44.8013, 38.9017, 22)), token)).status).to.equal(204);
      }
      // The owner still has its tile.
      expect((await getTile(tilePath(LAYERS, tile), ownerToken())).status).to.equal(200);
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('no hazard vanishes', () => {
    interface Probe { label: string; owner: string; classification: string; id: string; box: Box; geometry: GeoJSON.Polygon }
    const probes: Probe[] = [];
    const mPerDegLat = 111320;
    const mPerDegLon = (lat: number) => 111320 * Math.cos((lat * Math.PI) / 180);

    before(async function () {
      this.timeout(30000);
      const lat0 = 38.8713;
      const tiny: Box = [44.8513, lat0, round7(44.8513 + 2 / mPerDegLon(lat0)), round7(lat0 + 2 / mPerDegLat)];
      const thin: Box = [44.7513, lat0, round7(44.7513 + 400 / mPerDegLon(lat0)), round7(lat0 + 0.5 / mPerDegLat)];
      const hugeLat = 38.6213;
      // 30 km × 20 km; a vertex every ≈ 2 km keeps every edge far below the 25 km vertex-gap limit.
      const huge: Box = [44.3517, hugeLat, round7(44.3517 + 30000 / mPerDegLon(hugeLat + 0.09)), round7(hugeLat + 20000 / mPerDegLat)];
      const specs = [
        { label: 'tiny 2 m × 2 m', owner: 'ANAMA', classification: 'SHA', box: tiny, geometry: rectangle(tiny) },
        { label: 'thin 400 m × 0.5 m', owner: 'ANAMA', classification: 'CHA', box: thin, geometry: rectangle(thin) },
        { label: 'huge 30 km × 20 km', owner: 'CHDE', classification: 'CHA', box: huge, geometry: densifiedRectangle(huge, 0.02) },
      ];
      for (const spec of specs) {
        const created = await create('hazardous-areas', tokenFor(spec.owner, 'editor'), hazardousAreaFeature({ geometry: spec.geometry, properties: { classification: spec.classification } }));
        expect(created.properties.remainingGeometry, spec.label).to.not.equal(null);
        probes.push({ ...spec, id: created.id });
      }
    });

    const shapeTally: Record<string, number> = {};

    /** Checks one tile; returns what is wrong, or null. */
    async function probeTile(probe: Probe, address: TileAddress): Promise<string | null> {
      const where = `${probe.label} (${probe.id}) at ${address.z}/${address.x}/${address.y}`;
      const response = await getTile(tilePath('hazardous-areas', address), tokenFor(probe.owner, 'viewer'));
      if (response.status !== 200) return `${where}: HTTP ${response.status}`;
      const features = decode(response.body, address)['hazardous-areas'] ?? [];
      if (address.z >= EXACT_FROM_ZOOM) {
        const own = features.filter((f) => f.props.id === probe.id);
        if (own.length === 0) return `${where}: no feature with the record's id (${features.length} other features)`;
        for (const f of own) shapeTally[`${probe.label.split(' ')[0]} ${f.type === 1 ? 'point' : 'polygon'}`] = (shapeTally[`${probe.label.split(' ')[0]} ${f.type === 1 ? 'point' : 'polygon'}`] ?? 0) + 1;
        const tol = pixelDeg(address.z) + 1e-9;
        for (const f of own) {
          if (f.type === 3 && f.props.collapsed !== false) return `${where}: polygon with collapsed=${f.props.collapsed}`;
          if (f.type === 1 && f.props.collapsed !== true) return `${where}: point without collapsed=true`;
          if (f.type !== 1 && f.type !== 3) return `${where}: geometry type ${f.type}`;
          const stray = positionsOf(f.geometry).find((p) => !inBox(p, probe.box, tol));
          if (stray) return `${where}: position ${stray} lies outside the area's bbox ${probe.box}`;
        }
        return null;
      }
      // Overview: a cell of the owner and class covers the part of the area inside this tile.
      const part = intersection(probe.box, tileBox(address));
      if (!part) return `${where}: test error, the area is not in this tile`;
      const point = [(part[0] + part[2]) / 2, (part[1] + part[3]) / 2];
      const cells = features.filter((f) => f.props.overview === true && f.props.ownerAgency === probe.owner && f.props.classification === probe.classification);
      if (features.some((f) => 'id' in f.props)) return `${where}: an overview cell carries a record id`;
      if (!cells.some((cell) => inBox(point, bboxOf(cell.geometry), 1e-9))) return `${where}: no ${probe.owner} ${probe.classification} cell covers ${point} (${cells.length} cells)`;
      return null;
    }

    /**
     * The tiles to check at zoom z. Tiny and thin areas: every tile their bbox touches (at most
     * ≈ 55 at z22 for the thin one, since it is axis-aligned its bbox tiles are exactly the tiles
     * it touches). The huge area (axis-aligned too): every tile up to z14 (≈ 200 tiles there);
     * above, all the tiles it touches would be up to ≈ 10⁷ at z22, so a bounded sample: the tiles
     * of its 4 corners, its centre, and 5 points along each edge (just inside it) — the corners
     * and edges are where clipping leaves slivers, the centre where a tile is fully covered.
     */
    function tilesToProbe(probe: Probe, z: number): TileAddress[] {
      if (!probe.label.startsWith('huge') || z <= 14) return tilesOfBox(probe.box, z);
      const [x0, y0, x1, y1] = probe.box;
      const inset = 1e-7;
      const points: [number, number][] = [[(x0 + x1) / 2, (y0 + y1) / 2]];
      for (const [lon, lat] of [[x0 + inset, y0 + inset], [x1 - inset, y0 + inset], [x1 - inset, y1 - inset], [x0 + inset, y1 - inset]]) points.push([lon, lat]);
      for (const f of [0.1, 0.3, 0.5, 0.7, 0.9]) {
        points.push([x0 + f * (x1 - x0), y0 + inset], [x0 + f * (x1 - x0), y1 - inset], [x0 + inset, y0 + f * (y1 - y0)], [x1 - inset, y0 + f * (y1 - y0)]);
      }
      const unique = new Map(points.map(([lon, lat]) => {
        const t = tileOf(lon, lat, z);
        return [`${t.x}/${t.y}`, t];
      }));
      return [...unique.values()];
    }

    it('tiny, thin and huge areas: present in every tile they touch (sampled for the huge one above z14), zooms 0–22', async function () {
      this.timeout(90000);
      const jobs: { probe: Probe; address: TileAddress }[] = [];
      for (const probe of probes) for (let z = 0; z <= 22; z++) for (const address of tilesToProbe(probe, z)) jobs.push({ probe, address });
      const failures: string[] = [];
      const counts: Record<string, number> = {};
      const started = Date.now();
      await inParallel(jobs, 8, async ({ probe, address }) => {
        counts[probe.label] = (counts[probe.label] ?? 0) + 1;
        const failure = await probeTile(probe, address);
        if (failure) failures.push(failure);
      });
      console.log(`      ${jobs.length} tiles checked in ${Date.now() - started} ms: ${JSON.stringify(counts)}; exact-zoom features: ${JSON.stringify(shapeTally)}`);
      failures.sort();
      expect(failures, `${failures.length} tiles without the area:\n${failures.slice(0, 30).join('\n')}`).to.deep.equal([]);
    });

    it('a collapsed area is a point on the area itself, flagged collapsed, and a polygon once the zoom is high enough', async () => {
      const tiny = probes[0];
      const center: GeoJSON.Position = [(tiny.box[0] + tiny.box[2]) / 2, (tiny.box[1] + tiny.box[3]) / 2];
      const shapes: Record<number, number> = {};
      for (const z of [10, 14, 18, 22]) {
        const address = tileOf(center[0], center[1], z);
        const own = (await tileFeatures('hazardous-areas', address, tokenFor('ANAMA', 'viewer')))['hazardous-areas'].filter((f) => f.props.id === tiny.id);
        expect(own, `z${z}`).to.have.length(1);
        shapes[z] = own[0].type;
        if (own[0].type === 1) {
          expect(own[0].props.collapsed).to.equal(true);
          expect(inBox((own[0].geometry as GeoJSON.Point).coordinates, tiny.box, pixelDeg(z))).to.equal(true);
        }
      }
      // 2 m is far below a pixel at z10 (≈ 10 m) and spans ≈ 1,000 pixels at z22.
      expect(shapes[10]).to.equal(1);
      expect(shapes[22]).to.equal(3);
    });

    it('a thin area stays on the map after its polygon is revised (the remaining polygon is recomputed)', async () => {
      const thin = probes[1];
      const editor = tokenFor(thin.owner, 'editor');
      const current = await getItem('hazardous-areas', thin.id, editor);
      // The same polygon, sent again as a revision: nothing was released.
      const revised = await api('PATCH', `/collections/hazardous-areas/items/${thin.id}`, {
        token: editor, body: { geometry: thin.geometry }, headers: { 'content-type': 'application/merge-patch+json', 'if-match': `"${current.properties.version}"` },
      });
      expect(revised.status, revised.text).to.equal(200);
      const address = tileOf((thin.box[0] + thin.box[2]) / 2, (thin.box[1] + thin.box[3]) / 2, 16);
      const response = await getTile(tilePath('hazardous-areas', address), tokenFor(thin.owner, 'viewer'));
      const ids = response.status === 200 ? decode(response.body, address)['hazardous-areas'].map((f) => f.props.id) : [];
      expect(ids, `tile 16/${address.x}/${address.y} after the revision: status ${revised.body.properties.status}, remainingGeometry ${JSON.stringify(revised.body.properties.remainingGeometry)}`).to.include(thin.id);
      expect(revised.body.properties.status).to.equal('open');
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('cache, invalidation and HTTP', () => {
    const Z = 14;
    const here = tileOf(44.6213, 38.9517, Z);
    const hereBox = tileBox(here);
    const farAway = tileOf(44.8013, 38.9017, Z); // the access tile above: GEO data, ≈ 17 km off
    const inside = (fx: number, fy: number, size = 0.0008): GeoJSON.Polygon => {
      const lon = round7(hereBox[0] + fx * (hereBox[2] - hereBox[0]));
      const lat = round7(hereBox[3] - fy * (hereBox[3] - hereBox[1]));
      return rectangle([lon, lat, round7(lon + size), round7(lat + size * 0.8)]);
    };
    const viewer = () => tokenFor('GEO', 'viewer');
    const editor = () => tokenFor('GEO', 'editor');
    let first: { id: string }; // the first area: patched, released from, then restricted

    before(async () => {
      first = await create('hazardous-areas', editor(), hazardousAreaFeature({ geometry: inside(0.3, 0.3), properties: { classification: 'CHA' } }));
    });

    it('answers 304 to its ETag; a write inside the tile changes it (every scope), a tile far away still answers 304', async () => {
      const path = tilePath('hazardous-areas', here);
      const farPath = tilePath('hazardous-areas', farAway);
      const one = await getTile(path, viewer());
      expect(one.status).to.equal(200);
      const etag = one.headers.get('etag')!;
      expect(etag).to.match(/^".+"$/);
      expect(one.headers.get('cache-control')).to.equal('private, no-cache');
      expect(one.headers.get('vary')).to.match(/Authorization/i);
      const again = await getTile(path, viewer(), { 'if-none-match': etag });
      expect(again.status).to.equal(304);
      expect(again.body.length).to.equal(0);
      expect(again.headers.get('etag')).to.equal(etag);
      const far = await getTile(farPath, viewer());
      expect(far.status).to.equal(200);
      const farEtag = far.headers.get('etag')!;
      // CHDE at full caches its own projection of the same tile.
      await grant('GEO', 'CHDE', 'hazardous-areas', 'full');
      const chde = await getTile(path, tokenFor('CHDE', 'viewer'));
      expect(chde.status).to.equal(200);

      // POST: the new area is in the tile on the very next request.
      const added = await create('hazardous-areas', editor(), hazardousAreaFeature({ geometry: inside(0.6, 0.6), properties: { classification: 'SHA' } }));
      const afterPost = await getTile(path, viewer(), { 'if-none-match': etag });
      expect(afterPost.status).to.equal(200);
      expect(decode(afterPost.body, here)['hazardous-areas'].map((f) => f.props.id).sort()).to.deep.equal([first.id, added.id].sort());
      expect((await getTile(farPath, viewer(), { 'if-none-match': farEtag })).status, 'untouched tile far away').to.equal(304);

      // PATCH: a change of classification, in the owner's scope and in the grantee's.
      const etagAfterPost = afterPost.headers.get('etag')!;
      const patched = await api('PATCH', `/collections/hazardous-areas/items/${first.id}`, {
        token: editor(), body: { properties: { classification: 'SHA' } }, headers: { 'content-type': 'application/merge-patch+json', 'if-match': '"1"' },
      });
      expect(patched.status, patched.text).to.equal(200);
      const afterPatch = await getTile(path, viewer(), { 'if-none-match': etagAfterPost });
      expect(afterPatch.status).to.equal(200);
      expect(decode(afterPatch.body, here)['hazardous-areas'].find((f) => f.props.id === first.id)!.props.classification).to.equal('SHA');
      const chdeAfter = await getTile(path, tokenFor('CHDE', 'viewer'), { 'if-none-match': chde.headers.get('etag')! });
      expect(chdeAfter.status).to.equal(200);
      expect(decode(chdeAfter.body, here)['hazardous-areas'].find((f) => f.props.id === first.id)!.props).to.include({ classification: 'SHA', accessLevel: 'full' });
      expect((await getTile(farPath, viewer(), { 'if-none-match': farEtag })).status, 'untouched tile far away').to.equal(304);

      // Land release (a write to another collection): the area's remaining polygon and status
      // change in the hazardous-areas tile, and the release appears in the land-releases tile.
      const etagBeforeRelease = afterPatch.headers.get('etag')!;
      const [x0, y0, x1, y1] = bboxOf(inside(0.3, 0.3));
      const released = await create('land-releases', editor(), {
        type: 'Feature',
        geometry: rectangle([x0, y0, round7(x0 + (x1 - x0) / 2), y1]),
        properties: { localRef: freshRef('LR'), hazardousAreaId: first.id, method: 'cancelled', activity: 'NTS', releaseDate: '2025-09-01', operator: 'Synthetic Survey Team 2' },
      });
      const afterRelease = await getTile(path, viewer(), { 'if-none-match': etagBeforeRelease });
      expect(afterRelease.status).to.equal(200);
      const releasedArea = decode(afterRelease.body, here)['hazardous-areas'].find((f) => f.props.id === first.id)!;
      expect(releasedArea.props.status).to.equal('worked-on');
      expect(bboxOf(releasedArea.geometry)[0]).to.be.closeTo(round7(x0 + (x1 - x0) / 2), pixelDeg(Z));
      const releases = await tileFeatures('land-releases', here, viewer());
      expect(releases['land-releases'].map((f) => f.props.id)).to.deep.equal([released.id]);

      // Restriction: gone from the grantee's tile on its next request, kept in the owner's.
      const chdeBeforeRestriction = await getTile(path, tokenFor('CHDE', 'viewer'));
      expect(decode(chdeBeforeRestriction.body, here)['hazardous-areas'].map((f) => f.props.id)).to.include(first.id);
      const version = (await getItem('hazardous-areas', first.id, editor())).properties.version;
      const restricted = await api('PUT', `/collections/hazardous-areas/items/${first.id}/restriction`, { token: editor(), body: { restricted: true }, headers: { ...JSON_BODY, 'if-match': `"${version}"` } });
      expect(restricted.status, restricted.text).to.equal(200);
      const chdeAfterRestriction = await getTile(path, tokenFor('CHDE', 'viewer'), { 'if-none-match': chdeBeforeRestriction.headers.get('etag')! });
      expect(chdeAfterRestriction.status).to.equal(200);
      expect(decode(chdeAfterRestriction.body, here)['hazardous-areas'].map((f) => f.props.id)).to.deep.equal([added.id]);
      const afterPatchEtag = (await getTile(path, viewer())).headers.get('etag')!;
      expect((await getTile(farPath, viewer(), { 'if-none-match': farEtag })).status, 'untouched tile far away').to.equal(304);

      // DELETE (retire): gone from the tile on the next request.
      const etagAfterPatch = afterPatchEtag;
      const retired = await api('DELETE', `/collections/hazardous-areas/items/${added.id}?reason=surveyed%20twice`, { token: editor(), headers: { 'if-match': '"1"' } });
      expect(retired.status, retired.text).to.equal(204);
      const afterDelete = await getTile(path, viewer(), { 'if-none-match': etagAfterPatch });
      expect(afterDelete.status).to.equal(200);
      expect(decode(afterDelete.body, here)['hazardous-areas'].map((f) => f.props.id)).to.deep.equal([first.id]);
      expect((await getTile(farPath, viewer(), { 'if-none-match': farEtag })).status, 'untouched tile far away').to.equal(304);
    });

    it('an agreement change is on the grantee\'s next tile request', async () => {
      const path = tilePath('hazardous-areas', here);
      const grantee = () => tokenFor('CHDE', 'viewer');
      await grant('GEO', 'CHDE', 'hazardous-areas', 'none');
      // The first area is restricted by now: one more, which a grantee may see.
      await create('hazardous-areas', editor(), hazardousAreaFeature({ geometry: inside(0.5, 0.15) }));
      const none = await getTile(path, grantee());
      expect(none.status).to.equal(204);
      const etagNone = none.headers.get('etag')!;
      expect((await getTile(path, grantee(), { 'if-none-match': etagNone })).status).to.equal(304);

      await grant('GEO', 'CHDE', 'hazardous-areas', 'summary');
      const summary = await getTile(path, grantee(), { 'if-none-match': etagNone });
      expect(summary.status).to.equal(200);
      const summaryFeatures = decode(summary.body, here)['hazardous-areas'];
      expect(summaryFeatures.map((f) => f.props.accessLevel)).to.deep.equal(['summary']);
      expect(summaryFeatures[0].props).to.have.property('status');

      await grant('GEO', 'CHDE', 'hazardous-areas', 'footprint');
      const footprint = await getTile(path, grantee(), { 'if-none-match': summary.headers.get('etag')! });
      expect(footprint.status).to.equal(200);
      const footprintFeatures = decode(footprint.body, here)['hazardous-areas'];
      expect(footprintFeatures.map((f) => f.props.accessLevel)).to.deep.equal(['footprint']);
      expect(footprintFeatures[0].props).to.not.have.property('status');

      await grant('GEO', 'CHDE', 'hazardous-areas', 'none');
      expect((await getTile(path, grantee(), { 'if-none-match': footprint.headers.get('etag')! })).status).to.equal(204);
      // The owner's own scope was not touched by any of this.
      const own = await getTile(path, viewer());
      expect((await getTile(path, viewer(), { 'if-none-match': own.headers.get('etag')! })).status).to.equal(304);
    });

    it('HEAD, gzip, Content-Type and Content-Length', async () => {
      const path = tilePath(LAYERS, here);
      const auth = { authorization: `Bearer ${viewer()}` };
      const plain = await rawGet(path, auth);
      expect(plain.status).to.equal(200);
      expect(plain.headers['content-type']).to.equal(MVT);
      expect(plain.headers['content-encoding']).to.equal(undefined);
      expect(Number(plain.headers['content-length'])).to.equal(plain.body.length).and.above(0);
      expect(Object.keys(decode(plain.body, here))).to.include('hazardous-areas');

      const gzip = await rawGet(path, { ...auth, 'accept-encoding': 'gzip' });
      expect(gzip.status).to.equal(200);
      expect(gzip.headers['content-encoding']).to.equal('gzip');
      expect(gzip.headers['content-type']).to.equal(MVT);
      expect(Number(gzip.headers['content-length'])).to.equal(gzip.body.length);
      expect(gunzipSync(gzip.body).equals(plain.body)).to.equal(true);
      expect(gzip.headers.etag).to.equal(plain.headers.etag);
      expect(gzip.headers.vary).to.match(/Accept-Encoding/i);

      const viaFetch = await getTile(path, viewer(), { 'accept-encoding': 'gzip' });
      expect(viaFetch.headers.get('content-encoding')).to.equal('gzip');
      expect(viaFetch.body.equals(plain.body), 'fetch decompresses transparently').to.equal(true);

      const head = await rawGet(path, auth, 'HEAD');
      expect(head.status).to.equal(200);
      expect(head.body.length).to.equal(0);
      expect(head.headers['content-type']).to.equal(MVT);
      expect(head.headers['content-length']).to.equal(String(plain.body.length));
      expect(head.headers.etag).to.equal(plain.headers.etag);
      const headGzip = await rawGet(path, { ...auth, 'accept-encoding': 'gzip' }, 'HEAD');
      expect(headGzip.body.length).to.equal(0);
      expect(headGzip.headers['content-encoding']).to.equal('gzip');
      expect(headGzip.headers['content-length']).to.equal(String(gzip.body.length));
    });

    it('a bad tile address is 400 problem+json, an unknown layer 404, no token 401', async () => {
      const token = viewer();
      for (const bad of ['23/0/0', '-1/0/0', '2.5/0/0', 'z/0/0', '3/8/0', '3/0/8', '3/-1/0', '3/0/1.5', '0/1/0', '10/1024/0']) {
        const response = await api('GET', `/tiles/hazardous-areas/${bad}.mvt`, { token });
        expect(response.status, bad).to.equal(400);
        expect(response.headers.get('content-type'), bad).to.match(/^application\/problem\+json/);
        expect(response.body.status, bad).to.equal(400);
      }
      for (const unknown of ['/tiles/no-such-layer/10/0/0.mvt', '/tiles/hazardous-areas,nope/10/0/0.mvt', '/tiles/nope.json', '/tiles/nope/metadata.json']) {
        const response = await api('GET', unknown, { token });
        expect(response.status, unknown).to.equal(404);
        expect(response.headers.get('content-type'), unknown).to.match(/^application\/problem\+json/);
      }
      const anonymous = await api('GET', tilePath('hazardous-areas', here));
      expect(anonymous.status).to.equal(401);
      expect(anonymous.headers.get('content-type')).to.match(/^application\/problem\+json/);
      expect((await getTile(tilePath('hazardous-areas', here), undefined, {}, 'HEAD')).status).to.equal(401);
    });

    it('a tile larger than one part of its statement\'s result arrives whole: every area once, in one valid MVT', async () => {
      // 1,000 areas in one z14 tile (a corner of this suite's region no other test draws in):
      // about 90 KB of tile, read from the database as three parts of at most TILE_PART_BYTES.
      const address = tileOf(44.9213, 38.6313, 14);
      const box = tileBox(address);
      const [columns, rows] = [40, 25];
      const features = [];
      for (let i = 0; i < columns; i++) {
        for (let j = 0; j < rows; j++) {
          const lon = round7(box[0] + ((i + 0.25) / columns) * (box[2] - box[0]));
          const lat = round7(box[1] + ((j + 0.25) / rows) * (box[3] - box[1]));
          const corner = [round7(lon + (0.5 / columns) * (box[2] - box[0])), round7(lat + (0.5 / rows) * (box[3] - box[1]))];
          features.push(hazardousAreaFeature({ geometry: rectangle([lon, lat, corner[0], corner[1]]) }));
        }
      }
      const created = await api('POST', '/collections/hazardous-areas/items', { token: tokenFor('CHDE', 'editor'), body: { type: 'FeatureCollection', features } });
      expect(created.status, created.text).to.equal(201);
      const ids: string[] = created.body.ids;
      expect(ids).to.have.length(columns * rows);

      const response = await getTile(tilePath('hazardous-areas', address), tokenFor('CHDE', 'viewer'));
      expect(response.status).to.equal(200);
      expect(response.body.length, 'the tile spans several parts').to.be.above(2 * TILE_PART_BYTES);
      const own = decode(response.body, address)['hazardous-areas'].filter((f) => f.props.ownerAgency === 'CHDE');
      expect(own.map((f) => f.props.id).sort()).to.deep.equal([...ids].sort());
      expect(own.every((f) => f.type === 3 && f.props.collapsed === false), 'each a polygon').to.equal(true);
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('GDAL and TileJSON', () => {
    const Z = 14;
    const here = tileOf(44.9113, 38.9917, Z);
    const hereBox = tileBox(here);
    const ids: string[] = [];

    before(async () => {
      for (const [fx, classification] of [[0.25, 'CHA'], [0.55, 'SHA']] as const) {
        const lon = round7(hereBox[0] + fx * (hereBox[2] - hereBox[0]));
        const lat = round7(hereBox[1] + 0.4 * (hereBox[3] - hereBox[1]));
        const area = await create('hazardous-areas', tokenFor('GEO', 'editor'), hazardousAreaFeature({ geometry: rectangle([lon, lat, round7(lon + 0.002), round7(lat + 0.0015)]), properties: { classification } }));
        ids.push(area.id);
      }
    });

    // GDAL 3.6's MVT driver opens a tile over HTTP as `MVT:<url>` or `/vsicurl/<url>`. Only the
    // /vsicurl/ form (also `MVT:/vsicurl/<url>`) looks for metadata.json three levels up
    // (/tiles/{layers}/metadata.json); with plain `MVT:<url>` the field types come from the
    // tile's own values unless `-oo METADATA_FILE=<url>` names the metadata. `overview` never
    // occurs in an exact-zoom tile, so its presence proves the types came from metadata.json.
    it('ogrinfo reads a tile with the field types of metadata.json (MVT driver)', async function () {
      this.timeout(60000);
      const base = getHarness().baseUrl;
      const tileUrl = `${base}${tilePath('hazardous-areas', here)}`;
      const env = { ...process.env, GDAL_HTTP_HEADERS: `Authorization: Bearer ${tokenFor('GEO', 'viewer')}`, CPL_DEBUG: 'OFF' };
      const forms = [
        ['-ro', '-al', '-so', `/vsicurl/${tileUrl}`],
        ['-ro', '-al', '-so', `MVT:${tileUrl}`, '-oo', `METADATA_FILE=/vsicurl/${base}/tiles/hazardous-areas/metadata.json`],
      ];
      for (const args of forms) {
        const { stdout } = await run('ogrinfo', args, { env });
        const label = args.join(' ');
        expect(stdout, label).to.match(/Layer name: hazardous-areas/);
        expect(stdout, label).to.match(/Geometry: (Multi )?Polygon/);
        expect(stdout, label).to.match(/Feature Count: 2\b/);
        expect(stdout, label).to.match(/Pseudo-Mercator/);
        for (const field of ['id: String', 'ownerAgency: String', 'accessLevel: String', 'classification: String', 'status: String',
          'hazardTypes: String', 'remainingAreaM2: Real', 'generalised: Integer\\(Boolean\\)', 'collapsed: Integer\\(Boolean\\)', 'overview: Integer\\(Boolean\\)']) {
          expect(stdout, `${label}: ${field}`).to.match(new RegExp(`^${field}`, 'm'));
        }
        // The extent is the two areas, in EPSG:3857.
        const extent = stdout.match(/Extent: \(([-\d.]+), ([-\d.]+)\) - \(([-\d.]+), ([-\d.]+)\)/)!;
        const mercX = (lon: number) => (lon * 20037508.342789244) / 180;
        const areas = await Promise.all(ids.map((id) => getItem('hazardous-areas', id, tokenFor('GEO', 'viewer'))));
        const minLon = Math.min(...areas.map((a) => bboxOf(a.geometry)[0]));
        const maxLon = Math.max(...areas.map((a) => bboxOf(a.geometry)[2]));
        const metresPerPixel = (2 * 20037508.342789244) / 2 ** Z / 4096;
        expect(Number(extent[1]), label).to.be.closeTo(mercX(minLon), 2 * metresPerPixel);
        expect(Number(extent[3]), label).to.be.closeTo(mercX(maxLon), 2 * metresPerPixel);
      }
      const values = await run('ogrinfo', ['-ro', '-al', '-q', `/vsicurl/${tileUrl}`], { env });
      for (const id of ids) expect(values.stdout).to.include(`id (String) = ${id}`);
      expect(values.stdout).to.match(/classification \(String\) = CHA/);
      expect(values.stdout).to.match(/classification \(String\) = SHA/);
    });

    it('TileJSON 3.0.0 with absolute tile URLs and vector_layers; metadata.json in tippecanoe form', async () => {
      const base = getHarness().baseUrl;
      const response = await api('GET', '/tiles/hazardous-areas,testimonies.json');
      expect(response.status).to.equal(200);
      const tj = response.body;
      expect(tj.tilejson).to.equal('3.0.0');
      expect(tj.tiles).to.deep.equal([`${base}/tiles/hazardous-areas,testimonies/{z}/{x}/{y}.mvt`]);
      expect(tj.tiles[0]).to.match(/^https?:\/\//);
      expect(tj).to.include({ minzoom: 0, maxzoom: 22, scheme: 'xyz' });
      expect(tj.bounds).to.deep.equal([38, 37, 52, 45]);
      expect(tj.vector_layers.map((l: any) => l.id)).to.deep.equal(['hazardous-areas', 'testimonies']);
      const ha = tj.vector_layers[0];
      for (const field of ['id', 'ownerAgency', 'accessLevel', 'generalised', 'classification', 'status', 'hazardTypes', 'remainingAreaM2', 'collapsed', 'overview']) {
        expect(ha.fields, field).to.have.property(field).that.is.a('string');
      }
      expect(ha.fields.remainingAreaM2).to.match(/^Number/);
      expect(ha.fields.classification).to.match(/^String/);
      expect(tj.vector_layers[1].fields).to.have.property('uncertaintyM');
      // The URL template works as given.
      const url = tj.tiles[0].replace('{z}', String(here.z)).replace('{x}', String(here.x)).replace('{y}', String(here.y));
      const fetched = await fetch(url, { headers: { authorization: `Bearer ${tokenFor('GEO', 'viewer')}` } });
      expect(fetched.status).to.equal(200);
      expect(decode(Buffer.from(await fetched.arrayBuffer()), here)['hazardous-areas'].map((f) => f.props.id).sort()).to.deep.equal([...ids].sort());

      const metadata = await api('GET', '/tiles/hazardous-areas,land-releases/metadata.json');
      expect(metadata.status).to.equal(200);
      expect(metadata.body).to.include({ format: 'pbf', minzoom: '0', maxzoom: '22', name: 'hazardous-areas,land-releases' });
      expect(metadata.body.json).to.be.a('string');
      const layers = JSON.parse(metadata.body.json).vector_layers;
      expect(layers.map((l: any) => l.id)).to.deep.equal(['hazardous-areas', 'land-releases']);
      expect(layers[0].fields).to.include({ classification: 'String', remainingAreaM2: 'Number', generalised: 'Boolean', collapsed: 'Boolean', overview: 'Boolean' });
      expect(layers[1].fields).to.include({ method: 'String', releaseDate: 'String', areaM2: 'Number' });
    });
  });
  // -------------------------------------------------------------------------------------------
  describe('overview cells', () => {
    // Last in this suite, so that the records above have been created, revised, released from,
    // restricted, retired and shared at every level by now.
    const KINDS: [string, string, string][] = [
      ['hazardous_area', 'v.classification', 'AND v.remaining_geom IS NOT NULL'],
      ['land_release', 'v.method', ''],
      ['minefield_record', "''", ''],
      ['testimony', "''", ''],
    ];
    const viewers: Viewer[] = [
      { agency: 'GEO', role: 'viewer', subject: 'test' },
      { agency: 'ANAMA', role: 'viewer', subject: 'test' },
      { agency: 'CHDE', role: 'viewer', subject: 'test' },
      { agency: 'LIAISON', role: 'facilitator', subject: 'test' },
    ];

    it('each viewer reads exactly the cells (levels 0–8, owner, category) that the records it sees through visible_* cover', async () => {
      const { db } = getHarness();
      let compared = 0;
      for (const viewer of viewers) {
        for (const [kind, category, drawn] of KINDS) {
          const [expected, actual] = await withViewer(db, viewer, async (trx) => {
            const fromRecords = await trx.raw(`
              SELECT DISTINCT z || '/' || cx || '/' || cy || '/' || v.owner_agency || '/' || ${category} AS cell
              FROM visible_${kind} AS v
              CROSS JOIN generate_series(0, 8) AS z
              CROSS JOIN LATERAL generate_series(v.cell_x0 >> (9 - z), v.cell_x1 >> (9 - z)) AS cx
              CROSS JOIN LATERAL generate_series(v.cell_y0 >> (9 - z), v.cell_y1 >> (9 - z)) AS cy
              WHERE v.retired_at IS NULL ${drawn}`);
            const fromCells = await trx.raw(`
              SELECT z || '/' || cx || '/' || cy || '/' || owner_agency || '/' || category AS cell
              FROM visible_tile_overview_cell WHERE record_kind = ?`, [kind]);
            return [fromRecords.rows.map((r: { cell: string }) => r.cell).sort(), fromCells.rows.map((r: { cell: string }) => r.cell).sort()];
          });
          expect(actual, `${viewer.agency} ${viewer.role}: ${kind}`).to.deep.equal(expected);
          compared += expected.length;
        }
      }
      expect(compared, 'cells compared').to.be.above(100);
    });

    it('readers reach the cells only through the access view', async () => {
      const { db } = getHarness();
      const error = await withViewer(db, viewers[0], (trx) => trx.raw('SELECT count(*) FROM tile_overview_cell')).then(() => undefined, (e: Error) => e);
      expect(error?.message).to.match(/permission denied/);
    });
  });
});
