// Turns a request body into checked feature inputs: GeoJSON Feature structure, the declared
// CRS, the properties against the record kind's schema, and the geometry's structure. All
// problems of all features are collected, so a bulk import reports everything at once.
import type { Geometry } from 'geojson';
import { checkGeometry } from '../geo/checkGeometry';
import { CrsError, parseCrs } from '../geo/crs';
import { FieldProblem, badRequest } from '../server/problem';
import { PropertyValidator, SERVER_FIELDS } from './schemas';

export type GeometryType = 'Point' | 'LineString' | 'Polygon' | 'MultiPolygon';

export interface FeatureInput {
  /** Position in the request: 0 for a single feature. */
  index: number;
  properties: Record<string, any>;
  geometry: Geometry | null;
  srid: number;
  /** A PATCH that leaves the geometry as it is. */
  geometryUnchanged?: boolean;
  /** The geometry's JSON exactly as it was sent, where the bulk import could find it (records/geometrySpans.ts). */
  geometryText?: string;
  /** The bulk import's EWKB of the geometry, as a multipolygon (geo/ewkb.ts); null where PostGIS must read the GeoJSON itself. */
  ewkb?: Buffer | null;
}

export interface InputRules {
  validateProperties: PropertyValidator;
  geometryTypes: ReadonlyArray<GeometryType>;
  /** Minefield records may come with a traverse instead of a perimeter. */
  geometryOptional?: boolean;
  maxVertexGapM: number;
}

/** The CRS named by an OGC `Content-Crs` header or a GeoJSON `crs` member; EPSG:4326 when none. */
export function declaredCrs(header: string | undefined, crsMember: unknown, field: string): number {
  try {
    if (crsMember !== undefined && crsMember !== null) {
      const name = (crsMember as { properties?: { name?: unknown } }).properties?.name;
      if (typeof name !== 'string') throw new CrsError(String(name), 'crs member must be {"type": "name", "properties": {"name": "<CRS URI>"}}');
      return parseCrs(name);
    }
    return header ? parseCrs(header) : 4326;
  } catch (error) {
    if (error instanceof CrsError) throw badRequest(error.message, [{ field, reason: error.message }]);
    throw error;
  }
}

export function readFeature(body: any, index: number, defaultSrid: number, rules: InputRules, problems: FieldProblem[]): FeatureInput | undefined {
  const at = (field: string, reason: string, location?: [number, number]) =>
    problems.push({ ...(index >= 0 ? { feature: index } : {}), field, reason, ...(location ? { location } : {}) });
  if (body === null || typeof body !== 'object' || body.type !== 'Feature') {
    at('/type', 'must be a GeoJSON Feature');
    return undefined;
  }
  let srid = defaultSrid;
  if (body.crs !== undefined) {
    try {
      srid = declaredCrs(undefined, body.crs, '/crs');
    } catch (error) {
      at('/crs', (error as Error).message);
      return undefined;
    }
  }
  const given = body.properties ?? {};
  if (typeof given !== 'object' || Array.isArray(given)) {
    at('/properties', 'must be an object');
    return undefined;
  }
  const properties: Record<string, any> = {};
  for (const [key, value] of Object.entries(given)) {
    if (!SERVER_FIELDS.includes(key)) properties[key] = value;
  }
  const before = problems.length;
  for (const problem of rules.validateProperties(properties, index >= 0 ? index : undefined)) problems.push(problem);

  const geometry = body.geometry ?? null;
  if (geometry === null) {
    if (!rules.geometryOptional) at('/geometry', 'is required');
  } else {
    for (const issue of checkGeometry(geometry, { srid, allowedTypes: rules.geometryTypes, maxVertexGapM: rules.maxVertexGapM })) {
      at(`/geometry${issue.pointer}`, issue.reason, issue.location);
    }
  }
  if (problems.length > before) return undefined;
  return { index, properties, geometry, srid };
}

/** A single Feature, or a FeatureCollection for bulk import. */
export function readFeatures(body: any, contentCrs: string | undefined, rules: InputRules): { inputs: FeatureInput[]; problems: FieldProblem[]; bulk: boolean } {
  const problems: FieldProblem[] = [];
  if (body?.type === 'FeatureCollection') {
    const srid = declaredCrs(contentCrs, body.crs, '/crs');
    if (!Array.isArray(body.features)) throw badRequest('a FeatureCollection needs a features array', [{ field: '/features', reason: 'must be an array' }]);
    if (body.features.length === 0) throw badRequest('the FeatureCollection is empty', [{ field: '/features', reason: 'must hold at least one feature' }]);
    const inputs: FeatureInput[] = [];
    body.features.forEach((feature: unknown, index: number) => {
      const input = readFeature(feature, index, srid, rules, problems);
      if (input) inputs.push(input);
    });
    return { inputs, problems, bulk: true };
  }
  const srid = declaredCrs(contentCrs, undefined, 'Content-Crs');
  const input = readFeature(body, -1, srid, rules, problems);
  return { inputs: input ? [{ ...input, index: 0 }] : [], problems, bulk: false };
}
