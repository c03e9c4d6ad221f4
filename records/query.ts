// Reads of any record kind, always through its access view (collection.view), never the table.
import type { Feature } from 'geojson';
import type { Knex } from 'knex';
import type { CollectionDefinition } from './collection';

export interface ItemsQuery {
  bbox?: [number, number, number, number];
  /** Inclusive bounds, either open. */
  datetime?: { from?: string; to?: string };
  filters: { name: string; value: string }[];
  limit: number;
  offset: number;
}

export async function listFeatures(trx: Knex.Transaction, collection: CollectionDefinition, query: ItemsQuery): Promise<{ features: Feature[]; numberMatched: number }> {
  const base = trx(collection.view).whereNull('retired_at');
  if (query.bbox) {
    base.whereRaw('?? && ST_MakeEnvelope(?, ?, ?, ?, 4326)', [collection.geometryColumn, ...query.bbox]);
  }
  if (query.datetime?.from) base.where(collection.temporalColumn, '>=', query.datetime.from);
  if (query.datetime?.to) base.where(collection.temporalColumn, '<=', query.datetime.to);
  for (const { name, value } of query.filters) {
    collection.filters.find((filter) => filter.name === name)!.apply(base, value);
  }
  const [{ count }] = await base.clone().count({ count: '*' });
  const rows = await base
    .select(collection.columns(false).map((column) => trx.raw(column)))
    .orderBy([{ column: 'created_at' }, { column: 'id' }])
    .limit(query.limit)
    .offset(query.offset);
  return { features: rows.map((row) => collection.toFeature(row, false)), numberMatched: Number(count) };
}

export async function getFeatureRow(trx: Knex.Transaction, collection: CollectionDefinition, id: string): Promise<any | undefined> {
  return trx(collection.view)
    .select(collection.columns(true).map((column) => trx.raw(column)))
    .where('id', id)
    .first();
}

export async function collectionExtent(trx: Knex.Transaction, collection: CollectionDefinition) {
  const result = await trx.raw(
    `SELECT ST_XMin(e) AS xmin, ST_YMin(e) AS ymin, ST_XMax(e) AS xmax, ST_YMax(e) AS ymax, t.first, t.last
     FROM (SELECT ST_Extent(??)::geometry AS e FROM ?? WHERE retired_at IS NULL) AS s,
          (SELECT min(??) AS first, max(??) AS last FROM ?? WHERE retired_at IS NULL) AS t`,
    [collection.geometryColumn, collection.view, collection.temporalColumn, collection.temporalColumn, collection.view],
  );
  return result.rows[0] as { xmin: number | null; ymin: number; xmax: number; ymax: number; first: string | Date | null; last: string | Date | null };
}
