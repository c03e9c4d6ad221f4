// What the generic OGC read and write routes need to know about a record kind — the shape
// pg_tileserv gives a layer: a view to read from, columns, filters, and the kind's own writes.
import type { Feature } from 'geojson';
import type { Knex } from 'knex';
import type { Viewer } from '../server/auth/viewer';
import type { LonLatBox } from '../tiles/tileCache';
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
  /** The pool the transaction came from, for work a bulk import can do beside it. */
  db?: Knex;
}

/** What a bulk import created: ids in the order of the features, and where the map changed. */
export interface ImportResult {
  ids: string[];
  /** Boxes covering the new records' footprints (the tile cache drops what they touch). */
  changed: LonLatBox[];
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
  /** Column of the access view holding the date or time `datetime` filters on (null where the level hides it). */
  temporalColumn: string;
  temporalProperty: string;
  filters: FilterDefinition[];
  propertySchema: object;
  inputRules(maxVertexGapM: number): InputRules;
  create(context: WriteContext, inputs: FeatureInput[], bulk: boolean): Promise<string[]>;
  /** A bulk import path of the kind's own, where it has one; otherwise bulk goes through create. */
  importMany?(context: WriteContext, inputs: FeatureInput[]): Promise<ImportResult>;
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

/** A row of an access view as a GeoJSON Feature: the view has already decided every field. */
export function toFeature(row: { id: string; geometry: Feature['geometry']; properties: Record<string, unknown>; detail?: Record<string, unknown> | null }): Feature {
  return { type: 'Feature', id: row.id, geometry: row.geometry, properties: { ...row.properties, ...(row.detail ?? {}) } };
}
