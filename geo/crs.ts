// Coordinate reference systems the service accepts for input, and how they are named on the wire.
//
// Geometry is stored in WGS 84; agencies enter it in whatever system their field teams or
// legacy maps use, so the declared CRS must be recognised in every spelling OGC clients send.

export type CrsKind = 'geographic' | 'projected';

export interface CrsRange {
  minX: number;
  maxX: number;
  minY: number;
  maxY: number;
}

export interface CrsDefinition {
  code: number;
  name: string;
  kind: CrsKind;
  /** Values outside this range cannot be right for the CRS, wherever the feature is. */
  validRange: CrsRange;
}

export type SupportedSrid = 4326 | 32637 | 32638 | 32639 | 28408 | 28409;

const UTM_RANGE: CrsRange = { minX: 100_000, maxX: 900_000, minY: 0, maxY: 9_400_000 };

// Gauss-Krüger eastings carry the zone number in front (zone 8 → 8 500 000 on the central
// meridian), so each zone has its own easting range; a value without the prefix is a common
// transcription slip from Soviet maps and must not pass as valid.
function gaussKrugerRange(zone: number): CrsRange {
  return { minX: zone * 1_000_000 + 100_000, maxX: zone * 1_000_000 + 900_000, minY: 0, maxY: 9_400_000 };
}

export const SUPPORTED_CRS: Readonly<Record<SupportedSrid, Readonly<CrsDefinition>>> = Object.freeze({
  // Axis order is longitude, latitude (as CRS84), whatever the EPSG register says: GeoJSON
  // and every map client in use here send longitude first.
  4326: { code: 4326, name: 'WGS 84', kind: 'geographic', validRange: { minX: -180, maxX: 180, minY: -90, maxY: 90 } },
  32637: { code: 32637, name: 'WGS 84 / UTM zone 37N', kind: 'projected', validRange: UTM_RANGE },
  32638: { code: 32638, name: 'WGS 84 / UTM zone 38N', kind: 'projected', validRange: UTM_RANGE },
  32639: { code: 32639, name: 'WGS 84 / UTM zone 39N', kind: 'projected', validRange: UTM_RANGE },
  28408: { code: 28408, name: 'Pulkovo 1942 / Gauss-Kruger zone 8', kind: 'projected', validRange: gaussKrugerRange(8) },
  28409: { code: 28409, name: 'Pulkovo 1942 / Gauss-Kruger zone 9', kind: 'projected', validRange: gaussKrugerRange(9) },
});

export function isSupportedSrid(code: number): code is SupportedSrid {
  return Object.prototype.hasOwnProperty.call(SUPPORTED_CRS, code);
}

/**
 * WGS 84 extent of the South Caucasus with a margin. Positions outside it are almost always
 * swapped axes or a wrong CRS declaration, not real minefields.
 */
export const SERVICE_REGION = Object.freeze({ minLon: 38.0, maxLon: 52.0, minLat: 37.0, maxLat: 45.0 });

export class CrsError extends Error {
  override readonly name = 'CrsError';
  /** The CRS as it was given, for echoing back to the client. */
  readonly value: string;

  constructor(value: string, message: string) {
    super(message);
    this.value = value;
  }
}

const CRS84_URI = 'http://www.opengis.net/def/crs/OGC/1.3/CRS84';

function supportedList(): string {
  return Object.values(SUPPORTED_CRS)
    .map((crs) => `EPSG:${crs.code} (${crs.name})`)
    .join(', ');
}

// The EPSG version segment (`0`, `6.6`, empty) is accepted as anything: clients copy whatever
// their library emits, and the code alone identifies the system.
const EPSG_PATTERNS: readonly RegExp[] = [
  /^epsg:(\d+)$/i,
  /^https?:\/\/www\.opengis\.net\/def\/crs\/epsg\/[^/]*\/(\d+)$/i,
  /^urn:ogc:def:crs:epsg:[^:]*:(\d+)$/i,
];

const CRS84_PATTERNS: readonly RegExp[] = [
  /^https?:\/\/www\.opengis\.net\/def\/crs\/ogc\/1\.3\/crs84$/i,
  /^urn:ogc:def:crs:ogc:(?:1\.3)?:crs84$/i,
  /^ogc:crs84$/i,
];

/**
 * The EPSG code of a CRS as declared in a `Content-Crs` header, a `crs` query parameter or a
 * GeoJSON `crs` member. CRS84 is returned as 4326 because the service treats 4326 as
 * longitude-first.
 */
export function parseCrs(value: string): SupportedSrid {
  if (typeof value !== 'string') {
    throw new CrsError(String(value), `CRS must be given as text, e.g. EPSG:4326; supported: ${supportedList()}`);
  }
  let text = value.trim();
  // Content-Crs wraps the URI in angle brackets (OGC API - Features part 2).
  if (text.startsWith('<') && text.endsWith('>')) text = text.slice(1, -1).trim();

  if (CRS84_PATTERNS.some((pattern) => pattern.test(text))) return 4326;

  for (const pattern of EPSG_PATTERNS) {
    const match = pattern.exec(text);
    if (!match) continue;
    const code = Number(match[1]);
    if (isSupportedSrid(code)) return code;
    throw new CrsError(value, `EPSG:${code} is not supported; supported: ${supportedList()}`);
  }

  throw new CrsError(
    value,
    `"${value}" is not a recognised CRS identifier; use e.g. EPSG:32638 or ` +
      `http://www.opengis.net/def/crs/EPSG/0/32638. Supported: ${supportedList()}`,
  );
}

function requireSupported(code: number): SupportedSrid {
  if (!isSupportedSrid(code)) {
    throw new CrsError(String(code), `EPSG:${code} is not supported; supported: ${supportedList()}`);
  }
  return code;
}

/** The URI to put in a `Content-Crs` header or a `crs` link for `code`. */
export function crsUri(code: number): string {
  // 4326 is served longitude-first, which is what CRS84 names; the EPSG URI would tell
  // strict clients to expect latitude first.
  if (requireSupported(code) === 4326) return CRS84_URI;
  return `http://www.opengis.net/def/crs/EPSG/0/${code}`;
}

/** The short form kept in `inputCrs`, e.g. `EPSG:32638`. */
export function crsLabel(code: number): string {
  return `EPSG:${requireSupported(code)}`;
}
