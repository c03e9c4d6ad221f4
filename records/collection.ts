// What the generic OGC read and write routes need to know about a record kind — the shape
// pg_tileserv gives a layer: a view to read from, columns, filters, and the kind's own writes.
import type { Feature } from 'geojson';
import type { Knex } from 'knex';
import type { Viewer } from '../server/auth/viewer';
import type { FeatureInput, InputRules } from './featureInput';

export interface FilterDefinition {
  name: string;
  description: string;
  schema: object;
  apply(query: Knex.QueryBuilder, value: string): void;
}

/** The record as the write path finds it, locked for the rest of the transaction. */
export interface LockedRecord {
  id: string;
  owner_agency: string;
  version: number;
  retired_at: Date | null;
}

export interface WriteContext {
  trx: Knex.Transaction;
  viewer: Viewer;
  actor: string;
  maxVertexGapM: number;
}

export interface CollectionDefinition {
  id: string;
  title: string;
  description: string;
  /** Singular, for messages: "hazardous area". */
  recordName: string;
  table: string;
  /** The access view all reads go through (db/migrations/*_visibility.ts). */
  view: string;
  geometryColumn: string;
  temporalColumn: string;
  temporalProperty: string;
  /** Select list for reads; trusted SQL fragments, never request input. */
  columns(detail: boolean): string[];
  filters: FilterDefinition[];
  toFeature(row: any, detail: boolean): Feature;
  propertySchema: object;
  inputRules(maxVertexGapM: number): InputRules;
  create(context: WriteContext, inputs: FeatureInput[], bulk: boolean): Promise<string[]>;
  replace(context: WriteContext, current: LockedRecord, input: FeatureInput): Promise<void>;
  retire(context: WriteContext, current: LockedRecord, reason: string): Promise<void>;
}

export const enumFilter = (name: string, column: string, values: readonly string[], description: string): FilterDefinition => ({
  name,
  description,
  schema: { type: 'string', enum: values },
  apply: (query, value) => { query.where(column, value); },
});

export const textFilter = (name: string, column: string, description: string, format?: string): FilterDefinition => ({
  name,
  description,
  schema: { type: 'string', ...(format ? { format } : {}) },
  apply: (query, value) => { query.where(column, value); },
});

/** Common read columns; the table alias is the view itself. */
export const commonColumns = [
  'id', 'owner_agency', 'local_ref', 'version', 'created_by', 'created_at', 'updated_by', 'updated_at',
  'retired_at', 'retired_by', 'retired_reason', 'input_crs', 'access_level',
];

export function commonProperties(row: any, detail: boolean): Record<string, unknown> {
  return {
    ownerAgency: row.owner_agency,
    localRef: row.local_ref,
    version: row.version,
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedBy: row.updated_by,
    updatedAt: row.updated_at,
    ...(row.retired_at ? { retired: { at: row.retired_at, by: row.retired_by, reason: row.retired_reason } } : {}),
    inputCrs: `EPSG:${row.input_crs}`,
    ...(detail && row.input_geometry !== undefined ? { inputGeometry: row.input_geometry } : {}),
  };
}
