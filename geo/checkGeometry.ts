// Pre-flight checks on a geometry as an agency entered it, before it is transformed and stored.
//
// The aim is to name the defects national databases are known to carry (swapped axes, rings
// with too few vertices, vertices kilometres apart, wrong CRS declarations) in words a GIS
// officer can act on, and to point at the exact position. Self-intersection is deliberately
// not checked here: PostGIS (ST_IsValidReason) does it after transformation, on the real
// geometry engine, and a second implementation here would only disagree with it.
//
// Runs once per feature in bulk imports (100 000+ features), so the walk reads coordinates in
// place and builds strings only when it has something to report.

import * as GJV from 'geojson-validation';
import { distance } from '@turf/turf';
import { CrsError, SERVICE_REGION, SUPPORTED_CRS, isSupportedSrid, type CrsRange, type SupportedSrid } from './crs';

export type CheckedGeometryType = 'Point' | 'LineString' | 'Polygon' | 'MultiPolygon';

export interface GeometryIssue {
  /** JSON pointer into the geometry, e.g. `/coordinates/0/3`. */
  pointer: string;
  reason: string;
  /** The offending position as given (x, y). */
  location?: [number, number];
}

export interface CheckGeometryOptions {
  srid: number;
  allowedTypes: ReadonlyArray<CheckedGeometryType>;
  /** Longest acceptable distance between consecutive vertices; default 25 km. */
  maxVertexGapM?: number;
}

export const DEFAULT_MAX_VERTEX_GAP_M = 25_000;

const GEOJSON_GEOMETRY_TYPES = [
  'Point', 'MultiPoint', 'LineString', 'MultiLineString', 'Polygon', 'MultiPolygon', 'GeometryCollection',
];

// Metres per radian on the sphere turf's `distance` uses; only for the cheap upper bound below.
const EARTH_RADIUS_M = 6_371_008.8;
const RAD = Math.PI / 180;

// Where real positions fall in each projected CRS for the South Caucasus. The easting band is
// wider than the service region strictly needs because field teams keep working in one zone
// past its edge rather than switch zones mid-site.
const UTM_REGION: CrsRange = { minX: 150_000, maxX: 850_000, minY: 4_100_000, maxY: 5_000_000 };

function regionFor(srid: SupportedSrid): CrsRange {
  if (srid === 4326) {
    return { minX: SERVICE_REGION.minLon, maxX: SERVICE_REGION.maxLon, minY: SERVICE_REGION.minLat, maxY: SERVICE_REGION.maxLat };
  }
  if (srid === 28408 || srid === 28409) {
    const zonePrefix = (srid - 28400) * 1_000_000;
    return { ...UTM_REGION, minX: UTM_REGION.minX + zonePrefix, maxX: UTM_REGION.maxX + zonePrefix };
  }
  return UTM_REGION;
}

const REGIONS = new Map<SupportedSrid, CrsRange>(
  (Object.keys(SUPPORTED_CRS).map(Number) as SupportedSrid[]).map((srid) => [srid, regionFor(srid)]),
);

// Defects reported once per ring (or line, or point) with a count of further occurrences:
// a polygon entered with swapped axes has every vertex swapped, and 400 identical lines help
// nobody.
const Repeated = { Position: 0, Swapped: 1, Range: 2, Outside: 3 } as const;
type Repeated = (typeof Repeated)[keyof typeof Repeated];
const REPEATED_KINDS = 4;

interface Walk {
  readonly issues: GeometryIssue[];
  readonly srid: SupportedSrid;
  readonly geographic: boolean;
  readonly range: CrsRange;
  readonly region: CrsRange;
  readonly xName: string;
  readonly yName: string;
  readonly maxGapM: number;
  /** Indexes below `/coordinates` of the position being looked at. */
  readonly path: number[];
  depth: number;
  /** Set when the nesting itself is wrong; GeoJSON-level messages would only repeat it. */
  shapeBroken: boolean;
  readonly firstOf: (GeometryIssue | undefined)[];
  readonly countOf: number[];
  partNoun: string;
}

export function checkGeometry(geometry: unknown, options: CheckGeometryOptions): GeometryIssue[] {
  const { srid, allowedTypes } = options;
  if (!isSupportedSrid(srid)) {
    throw new CrsError(String(srid), `checkGeometry: EPSG:${srid} is not a supported CRS`);
  }
  if (allowedTypes.length === 0) throw new TypeError('checkGeometry: allowedTypes is empty');
  const maxGapM = options.maxVertexGapM ?? DEFAULT_MAX_VERTEX_GAP_M;
  if (!(maxGapM > 0) || !Number.isFinite(maxGapM)) {
    throw new RangeError(`checkGeometry: maxVertexGapM must be a positive number of metres, got ${maxGapM}`);
  }

  const crs = SUPPORTED_CRS[srid];
  const geographic = crs.kind === 'geographic';
  const walk: Walk = {
    issues: [],
    srid,
    geographic,
    range: crs.validRange,
    region: REGIONS.get(srid)!,
    xName: geographic ? 'longitude' : 'easting',
    yName: geographic ? 'latitude' : 'northing',
    maxGapM,
    path: [0, 0, 0, 0],
    depth: 0,
    shapeBroken: false,
    firstOf: new Array<GeometryIssue | undefined>(REPEATED_KINDS).fill(undefined),
    countOf: new Array<number>(REPEATED_KINDS).fill(0),
    partNoun: 'geometry',
  };

  const type = checkType(walk, geometry, allowedTypes);
  if (type === undefined) return walk.issues;

  const coordinates = (geometry as { coordinates?: unknown }).coordinates;
  if (coordinates === undefined) {
    broken(walk, '', 'geometry has no "coordinates" member');
    return walk.issues;
  }
  if (!Array.isArray(coordinates)) {
    broken(walk, '/coordinates', `"coordinates" must be an array, got ${describe(coordinates)}`);
    return walk.issues;
  }

  switch (type) {
    case 'Point':
      walk.partNoun = 'point';
      walk.depth = 0;
      startPart(walk);
      checkPosition(walk, coordinates);
      finishPart(walk);
      break;
    case 'LineString':
      walk.depth = 0;
      checkLine(walk, coordinates);
      break;
    case 'Polygon':
      walk.depth = 0;
      checkPolygon(walk, coordinates);
      break;
    case 'MultiPolygon':
      if (coordinates.length === 0) broken(walk, '/coordinates', 'multipolygon has no polygons');
      for (let p = 0; p < coordinates.length; p++) {
        walk.path[0] = p;
        walk.depth = 1;
        const polygon: unknown = coordinates[p];
        if (!Array.isArray(polygon)) {
          broken(walk, pointerOf(walk), `polygon must be an array of rings, got ${describe(polygon)}`);
          continue;
        }
        checkPolygon(walk, polygon);
      }
      break;
  }

  // geojson-validation is the reference reading of RFC 7946 structure; it is asked only once
  // the walk above found the nesting sound, because its messages for broken nesting repeat
  // ours without saying where. What it can still add is, e.g., a malformed bbox.
  if (!walk.shapeBroken) addGeoJsonMessages(walk, geometry);
  return walk.issues;
}

function checkType(
  walk: Walk,
  geometry: unknown,
  allowedTypes: ReadonlyArray<CheckedGeometryType>,
): CheckedGeometryType | undefined {
  const expected = humanList(allowedTypes);
  if (geometry === null || geometry === undefined) {
    broken(walk, '', `geometry is missing; expected ${expected}`);
    return undefined;
  }
  if (typeof geometry !== 'object' || Array.isArray(geometry)) {
    broken(walk, '', `geometry must be a GeoJSON geometry object, got ${describe(geometry)}`);
    return undefined;
  }
  const type: unknown = (geometry as { type?: unknown }).type;
  if (type === undefined) {
    broken(walk, '/type', `geometry has no "type" member; expected ${expected}`);
    return undefined;
  }
  if (typeof type !== 'string') {
    broken(walk, '/type', `geometry type must be text, got ${describe(type)}; expected ${expected}`);
    return undefined;
  }
  if ((allowedTypes as readonly string[]).includes(type)) return type as CheckedGeometryType;

  if (GEOJSON_GEOMETRY_TYPES.includes(type)) {
    broken(walk, '/type', `geometry type ${type} is not accepted here; expected ${expected}`);
  } else if (type === 'Feature' || type === 'FeatureCollection') {
    broken(walk, '/type', `got a ${type} where a geometry belongs; send its geometry (${expected})`);
  } else {
    const sameButCase = GEOJSON_GEOMETRY_TYPES.find((name) => name.toLowerCase() === type.toLowerCase());
    const hint = sameButCase ? ` (type names are case-sensitive: ${sameButCase})` : '';
    broken(walk, '/type', `"${type}" is not a GeoJSON geometry type${hint}; expected ${expected}`);
  }
  return undefined;
}

function checkPolygon(walk: Walk, rings: unknown[]): void {
  const ringDepth = walk.depth;
  if (rings.length === 0) broken(walk, pointerOf(walk), 'polygon has no rings');
  // The usual nesting slip: one pair of brackets short, so a ring sits where the polygon
  // should. Said once here, instead of once per number further down.
  if (isNumericPosition(rings[0])) {
    broken(
      walk,
      pointerOf(walk),
      `polygon must be an array of rings, but holds positions such as ${showPosition(rings[0])}: ` +
        'a level of brackets is missing',
    );
    return;
  }
  for (let r = 0; r < rings.length; r++) {
    walk.path[ringDepth] = r;
    walk.depth = ringDepth + 1;
    walk.partNoun = 'ring';
    const ring: unknown = rings[r];
    if (!Array.isArray(ring)) {
      broken(walk, pointerOf(walk), `ring must be an array of positions, got ${describe(ring)}`);
      continue;
    }
    checkRing(walk, ring);
  }
  walk.depth = ringDepth;
}

function checkLine(walk: Walk, line: unknown[]): void {
  walk.partNoun = 'line';
  const lineDepth = walk.depth;
  const lineStats = walkPositions(walk, line);
  walk.depth = lineDepth;
  const pointer = pointerOf(walk);
  if (line.length < 2) {
    broken(walk, pointer, `line has ${line.length} position${line.length === 1 ? '' : 's'}; it needs at least two`);
  } else if (lineStats.allNumeric && lineStats.distinct < 2) {
    broken(walk, pointer, 'line has fewer than two distinct positions');
  }
}

function checkRing(walk: Walk, ring: unknown[]): void {
  const depth = walk.depth;
  const stats = walkPositions(walk, ring);
  walk.depth = depth;
  const pointer = pointerOf(walk);
  if (ring.length === 0) {
    broken(walk, pointer, 'ring has no positions');
    return;
  }
  // Positions that are not numbers are already reported; vertex counts over the rest would
  // only confuse.
  if (!stats.allNumeric) return;

  // RFC 7946 asks for four or more positions. A closed ring with three distinct vertices has
  // at least four, so the two checks below cover it with reasons that say what to fix.
  if (stats.distinct < 3) {
    broken(
      walk,
      pointer,
      `ring has fewer than three distinct vertices (${stats.distinct}); a ring needs at least three ` +
        'corners, then the first position repeated at the end',
    );
  }
  const first = ring[0] as number[];
  const last = ring[ring.length - 1] as number[];
  if (ring.length > 1 && (first[0] !== last[0] || first[1] !== last[1])) {
    walk.path[depth] = ring.length - 1;
    walk.depth = depth + 1;
    walk.issues.push({
      pointer: pointerOf(walk),
      reason:
        `ring is not closed: first position ${showPosition(first)} differs from last ${showPosition(last)}; ` +
        'repeat the first position at the end',
      location: [last[0], last[1]],
    });
    walk.depth = depth;
    walk.shapeBroken = true;
  }
}

interface PartStats {
  allNumeric: boolean;
  distinct: number;
}

// Reused between parts: the walk is synchronous and the caller only reads it immediately.
const partStats: PartStats = { allNumeric: true, distinct: 0 };

/** Checks every position of a line or ring and the gaps between consecutive ones. */
function walkPositions(walk: Walk, positions: unknown[]): PartStats {
  const positionDepth = walk.depth;
  walk.depth = positionDepth + 1;
  startPart(walk);

  let allNumeric = true;
  let distinct = 0;
  let firstX = 0, firstY = 0, secondX = 0, secondY = 0;
  let previous: number[] | undefined;

  for (let i = 0; i < positions.length; i++) {
    walk.path[positionDepth] = i;
    const position: unknown = positions[i];
    const usable = checkPosition(walk, position);
    if (!isNumericPosition(position)) {
      allNumeric = false;
      previous = undefined;
      continue;
    }
    const x = position[0], y = position[1];
    if (distinct === 0) {
      firstX = x; firstY = y; distinct = 1;
    } else if (distinct === 1 && (x !== firstX || y !== firstY)) {
      secondX = x; secondY = y; distinct = 2;
    } else if (distinct === 2 && (x !== firstX || y !== firstY) && (x !== secondX || y !== secondY)) {
      distinct = 3;
    }
    // A gap next to a position already reported (swapped, out of range, outside the region)
    // is a consequence of that defect, not a second one.
    if (usable && previous !== undefined) checkGap(walk, previous, position, i);
    previous = usable ? position : undefined;
  }

  finishPart(walk);
  walk.depth = positionDepth;
  partStats.allNumeric = allNumeric;
  partStats.distinct = distinct;
  return partStats;
}

function isNumericPosition(position: unknown): position is number[] {
  return (
    Array.isArray(position) &&
    position.length >= 2 &&
    Number.isFinite(position[0]) &&
    Number.isFinite(position[1])
  );
}

/**
 * Reports what is wrong with one position; true when it is sound enough to measure distances
 * from.
 */
function checkPosition(walk: Walk, position: unknown): boolean {
  if (!Array.isArray(position)) {
    walk.shapeBroken = true;
    repeated(walk, Repeated.Position, `position must be an array of numbers [x, y], got ${describe(position)}`);
    return false;
  }
  const length = position.length;
  if (length < 2 || length > 3) {
    walk.shapeBroken = true;
    repeated(
      walk,
      Repeated.Position,
      `position has ${length} value${length === 1 ? '' : 's'}; expected 2 (x, y) or 3 (x, y, height)`,
      isNumericPosition(position) ? position : undefined,
    );
    if (length < 2) return false;
  }
  for (let k = 0; k < length && k < 3; k++) {
    const value: unknown = position[k];
    if (typeof value === 'number' && Number.isFinite(value)) continue;
    walk.shapeBroken = true;
    const axis = k === 0 ? walk.xName : k === 1 ? walk.yName : 'height';
    const what = typeof value === 'number' ? 'not a finite number' : 'not a number';
    // Point to the offending value itself, one level below the position.
    walk.path[walk.depth] = k;
    walk.depth++;
    repeated(walk, Repeated.Position, `${axis} is ${what}: ${describe(value)}`);
    walk.depth--;
    return false;
  }

  const x = position[0] as number;
  const y = position[1] as number;
  const { range, region } = walk;

  // Swaps first: a swapped projected position is also out of range, and "swapped" is the
  // explanation the officer needs.
  if (looksSwapped(walk, x, y)) {
    repeated(
      walk,
      Repeated.Swapped,
      walk.geographic
        ? 'latitude and longitude appear to be swapped (expected longitude first)'
        : 'easting and northing appear to be swapped (expected easting first)',
      position as number[],
    );
    return false;
  }

  const xOut = x < range.minX || x > range.maxX;
  const yOut = y < range.minY || y > range.maxY;
  if (xOut || yOut) {
    if (!seenAgain(walk, Repeated.Range)) repeated(walk, Repeated.Range, rangeReason(walk, x, y, xOut, yOut), position as number[]);
    return false;
  }

  if (x < region.minX || x > region.maxX || y < region.minY || y > region.maxY) {
    if (seenAgain(walk, Repeated.Outside)) return false;
    repeated(
      walk,
      Repeated.Outside,
      walk.geographic
        ? `position is outside the service region (lon ${SERVICE_REGION.minLon}–${SERVICE_REGION.maxLon}, ` +
            `lat ${SERVICE_REGION.minLat}–${SERVICE_REGION.maxLat})`
        : `position is outside the service region (easting ${region.minX}–${region.maxX}, ` +
            `northing ${region.minY}–${region.maxY} in EPSG:${walk.srid})`,
      position as number[],
    );
    return false;
  }
  return true;
}

function looksSwapped(walk: Walk, x: number, y: number): boolean {
  const { region } = walk;
  const inRegion = x >= region.minX && x <= region.maxX && y >= region.minY && y <= region.maxY;
  if (inRegion) return false;
  return y >= region.minX && y <= region.maxX && x >= region.minY && x <= region.maxY;
}

function rangeReason(walk: Walk, x: number, y: number, xOut: boolean, yOut: boolean): string {
  const { range } = walk;
  const parts: string[] = [];
  if (xOut) parts.push(`${walk.xName} ${x} is outside ${range.minX}..${range.maxX}`);
  if (yOut) parts.push(`${walk.yName} ${y} is outside ${range.minY}..${range.maxY}`);
  return parts.join('; ') + crsHint(walk, x, y);
}

// Out-of-range values most often mean the CRS was declared wrongly; say which one the numbers
// look like, since that is the fix.
function crsHint(walk: Walk, x: number, y: number): string {
  if (walk.geographic) {
    if (Math.abs(x) > 1000 || Math.abs(y) > 1000) {
      return ' — these look like projected metres; declare the CRS they were measured in (e.g. EPSG:32638)';
    }
    return '';
  }
  if (Math.abs(x) <= 180 && Math.abs(y) <= 90) {
    return ' — these look like degrees; declare EPSG:4326 (longitude first) or convert';
  }
  if (walk.srid === 28408 || walk.srid === 28409) {
    const zone = walk.srid - 28400;
    const prefix = Math.floor(x / 1_000_000);
    if (x >= 100_000 && x < 1_000_000) {
      return ` — Gauss-Krüger eastings start with the zone number (zone ${zone}: ${zone}xxxxxx)`;
    }
    if (prefix !== zone && (prefix === 8 || prefix === 9)) {
      return ` — this easting is in zone ${prefix}; declare EPSG:${28400 + prefix}`;
    }
    return '';
  }
  const prefix = Math.floor(x / 1_000_000);
  if (prefix === 8 || prefix === 9) {
    return ` — this looks like a Gauss-Krüger zone ${prefix} easting; declare EPSG:${28400 + prefix}`;
  }
  return '';
}

function checkGap(walk: Walk, from: number[], to: number[], index: number): void {
  const x0 = from[0], y0 = from[1], x1 = to[0], y1 = to[1];
  let metres: number;
  if (walk.geographic) {
    // Along a meridian then a parallel is never shorter than the great circle, and is cheap:
    // most segments are far below the limit and never reach the trigonometry in `distance`.
    if (EARTH_RADIUS_M * RAD * (Math.abs(y1 - y0) + Math.abs(x1 - x0)) <= walk.maxGapM) return;
    metres = distance(from, to, { units: 'meters' });
  } else {
    // Grid distance; the projection's scale error (< 0.1 % here) is irrelevant at this limit.
    const dx = x1 - x0, dy = y1 - y0;
    metres = Math.sqrt(dx * dx + dy * dy);
  }
  if (metres <= walk.maxGapM) return;
  walk.issues.push({
    pointer: pointerOf(walk),
    reason: `consecutive vertices ${index - 1} and ${index} are ${showDistance(metres)} apart (limit ${showDistance(walk.maxGapM)})`,
    location: [x1, y1],
  });
}

function startPart(walk: Walk): void {
  walk.firstOf.fill(undefined);
  walk.countOf.fill(0);
}

function finishPart(walk: Walk): void {
  for (let kind = 0; kind < REPEATED_KINDS; kind++) {
    const more = walk.countOf[kind] - 1;
    const issue = walk.firstOf[kind];
    if (issue && more > 0) {
      issue.reason += ` (also at ${more} more position${more === 1 ? '' : 's'} in this ${walk.partNoun})`;
    }
  }
}

// Lets the hot path skip building a reason that would only be counted.
function seenAgain(walk: Walk, kind: Repeated): boolean {
  if (walk.countOf[kind] === 0) return false;
  walk.countOf[kind]++;
  return true;
}

function repeated(walk: Walk, kind: Repeated, reason: string, position?: number[]): void {
  walk.countOf[kind]++;
  if (walk.countOf[kind] > 1) return;
  const issue: GeometryIssue = { pointer: pointerOf(walk), reason };
  if (position && Number.isFinite(position[0]) && Number.isFinite(position[1])) {
    issue.location = [position[0], position[1]];
  }
  walk.firstOf[kind] = issue;
  walk.issues.push(issue);
}

function broken(walk: Walk, pointer: string, reason: string): void {
  walk.shapeBroken = true;
  walk.issues.push({ pointer, reason });
}

function addGeoJsonMessages(walk: Walk, geometry: unknown): void {
  let messages: string[];
  try {
    messages = GJV.isGeometryObject(geometry, true);
  } catch {
    // The library dereferences without guarding (e.g. an empty ring); our walk has already
    // reported anything that could make it throw.
    return;
  }
  for (const message of messages) {
    walk.issues.push({
      pointer: message.startsWith('bbox') ? '/bbox' : '',
      reason: `not valid GeoJSON: ${message}`,
    });
  }
}

function pointerOf(walk: Walk): string {
  let pointer = '/coordinates';
  for (let d = 0; d < walk.depth; d++) pointer += '/' + walk.path[d];
  return pointer;
}

function showPosition(position: number[]): string {
  return `[${position[0]}, ${position[1]}]`;
}

function showDistance(metres: number): string {
  return metres >= 1000 ? `${(metres / 1000).toFixed(1)} km` : `${Math.round(metres)} m`;
}

function humanList(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value);
  if (typeof value === 'object') return 'an object';
  return String(value);
}
