// Reads of any record kind, always through its access view (collection.view), never the
// table: the view decides which rows and which fields the viewer gets.
import type { Feature } from 'geojson';
import type { Knex } from 'knex';
import { CollectionDefinition, toFeature } from './collection';

export interface ItemsQuery {
  bbox?: [number, number, number, number];
  /** Inclusive bounds, either open. */
  datetime?: { from?: string; to?: string };
  filters: { name: string; value: string }[];
  limit: number;
  offset: number;
}

const FEATURE_COLUMNS = ['id', 'access_level', 'version', 'retired_at', 'retired_by', 'retired_reason', 'properties'];

/**
 * The filtered rows of a collection as the viewer sees them. search_geom (the footprint, which
 * covers the exact geometry) carries the GiST index; geom is what the viewer may see.
 */
export function itemsQuery(trx: Knex.Transaction, collection: CollectionDefinition, query: Omit<ItemsQuery, 'limit' | 'offset'>): Knex.QueryBuilder {
  const base = trx(collection.view).whereNull('retired_at');
  if (query.bbox) {
    base.whereRaw('search_geom && ST_MakeEnvelope(?, ?, ?, ?, 4326)', query.bbox);
    base.whereRaw('geom && ST_MakeEnvelope(?, ?, ?, ?, 4326)', query.bbox);
  }
  if (query.datetime?.from) base.where(collection.temporalColumn, '>=', query.datetime.from);
  if (query.datetime?.to) base.where(collection.temporalColumn, '<=', query.datetime.to);
  for (const { name, value } of query.filters) {
    collection.filters.find((filter) => filter.name === name)!.apply(base, value);
  }
  return base;
}

export async function listFeatures(trx: Knex.Transaction, collection: CollectionDefinition, query: ItemsQuery): Promise<{ features: Feature[]; numberMatched: number }> {
  const base = itemsQuery(trx, collection, query);
  const [{ count }] = await base.clone().count({ count: '*' });
  const rows = await base
    .select([...FEATURE_COLUMNS, trx.raw('ST_AsGeoJSON(geom, 9)::json AS geometry')])
    .orderBy([{ column: 'created_at' }, { column: 'id' }])
    .limit(query.limit)
    .offset(query.offset);
  return { features: rows.map(toFeature), numberMatched: Number(count) };
}

export async function getFeatureRow(trx: Knex.Transaction, collection: CollectionDefinition, id: string): Promise<any | undefined> {
  return trx(collection.view)
    .select([...FEATURE_COLUMNS, 'owner_agency', 'detail', trx.raw('ST_AsGeoJSON(geom, 9)::json AS geometry')])
    .where('id', id)
    .first();
}

export async function collectionExtent(trx: Knex.Transaction, collection: CollectionDefinition) {
  const result = await trx.raw(
    `SELECT ST_XMin(e) AS xmin, ST_YMin(e) AS ymin, ST_XMax(e) AS xmax, ST_YMax(e) AS ymax, t.first, t.last
     FROM (SELECT ST_Extent(geom)::geometry AS e FROM ?? WHERE retired_at IS NULL) AS s,
          (SELECT min(??) AS first, max(??) AS last FROM ?? WHERE retired_at IS NULL) AS t`,
    [collection.view, collection.temporalColumn, collection.temporalColumn, collection.view],
  );
  return result.rows[0] as { xmin: number | null; ymin: number; xmax: number; ymax: number; first: string | Date | null; last: string | Date | null };
}
