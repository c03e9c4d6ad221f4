// OGC API - Features Part 1 capabilities: landing page, conformance, collections.
import { Router } from 'express';
import type { Knex } from 'knex';
import { withViewer } from '../../db/viewerTransaction';
import { SERVICE_REGION } from '../../geo/crs';
import { collectionById, collections } from '../../records';
import type { CollectionDefinition } from '../../records/collection';
import { collectionExtent } from '../../records/query';
import type { Config } from '../config';
import { GEOJSON, JSON_TYPE, OPENAPI_TYPE, baseUrl } from '../links';
import { openApiDocument } from '../openapi';
import { notFound } from '../problem';

export const CONFORMANCE = [
  'http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core',
  'http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson',
  'http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30',
  'http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete',
  'http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update',
  'http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/optimistic-locking-etags',
];

const CRS84 = 'http://www.opengis.net/def/crs/OGC/1.3/CRS84';
const isoDate = (value: string | Date | null) => (value === null ? null : value instanceof Date ? value.toISOString() : `${value}T00:00:00Z`);

function describe(base: string, collection: CollectionDefinition, extent?: Awaited<ReturnType<typeof collectionExtent>>) {
  const bbox = extent?.xmin != null
    ? [extent.xmin, extent.ymin, extent.xmax, extent.ymax]
    : [SERVICE_REGION.minLon, SERVICE_REGION.minLat, SERVICE_REGION.maxLon, SERVICE_REGION.maxLat];
  return {
    id: collection.id,
    title: collection.title,
    description: collection.description,
    itemType: 'feature',
    crs: [CRS84],
    storageCrs: CRS84,
    extent: {
      spatial: { bbox: [bbox], crs: CRS84 },
      temporal: { interval: [[isoDate(extent?.first ?? null), isoDate(extent?.last ?? null)]], trs: 'http://www.opengis.net/def/uom/ISO-8601/0/Gregorian' },
    },
    links: [
      { href: `${base}/collections/${collection.id}`, rel: 'self', type: JSON_TYPE, title: collection.title },
      { href: `${base}/collections/${collection.id}/items`, rel: 'items', type: GEOJSON, title: `${collection.title} (GeoJSON)` },
    ],
  };
}

export function ogcCoreRoutes(db: Knex, config: Config): Router {
  const router = Router();

  router.get(['/', '/index.json'], (req, res) => {
    const base = baseUrl(req, config);
    res.json({
      title: 'Shared minefield-record service',
      description: 'Hazardous areas, land release, minefield records and oral testimony of the mine action agencies, shared under their own rules.',
      links: [
        { href: `${base}/`, rel: 'self', type: JSON_TYPE, title: 'this document' },
        { href: `${base}/api`, rel: 'service-desc', type: OPENAPI_TYPE, title: 'the API definition (OpenAPI 3)' },
        { href: `${base}/conformance`, rel: 'conformance', type: JSON_TYPE, title: 'conformance classes' },
        { href: `${base}/collections`, rel: 'data', type: JSON_TYPE, title: 'record collections' },
      ],
    });
  });

  router.get('/api', (req, res) => {
    res.type(OPENAPI_TYPE).send(JSON.stringify(openApiDocument(baseUrl(req, config))));
  });

  router.get('/conformance', (_req, res) => {
    res.json({ conformsTo: CONFORMANCE });
  });

  // Extents are computed through the viewer's access views, so they reveal nothing hidden;
  // without a token only the service region is given.
  router.get('/collections', async (req, res) => {
    const base = baseUrl(req, config);
    // One connection runs one query at a time: extents one after another.
    const described = await withViewer(db, req.viewer, async (trx) => {
      const result = [];
      for (const collection of collections) result.push(describe(base, collection, req.viewer ? await collectionExtent(trx, collection) : undefined));
      return result;
    });
    res.json({
      links: [{ href: `${base}/collections`, rel: 'self', type: JSON_TYPE }],
      collections: described,
    });
  });

  router.get('/collections/:collectionId', async (req, res) => {
    const collection = collectionById.get(req.params.collectionId);
    if (!collection) throw notFound(`no collection "${req.params.collectionId}"; see /collections`);
    const extent = req.viewer ? await withViewer(db, req.viewer, (trx) => collectionExtent(trx, collection)) : undefined;
    res.json(describe(baseUrl(req, config), collection, extent));
  });

  return router;
}
