// The OpenAPI 3 document (QGIS needs one behind the landing page's service-desc link). It is
// built from the collection definitions, so every filter and schema it declares is the one
// the routes apply.
import { collections } from '../records';
import { informantSchema } from '../records/schemas';
import { reopeningSchema } from '../records/reopen';

const problem = { description: 'Problem details (RFC 7807)', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } };
const featureIdParam = { name: 'featureId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
const ifMatch = { name: 'If-Match', in: 'header', required: true, description: 'ETag of the version being edited', schema: { type: 'string' } };
const contentCrs = { name: 'Content-Crs', in: 'header', required: false, description: 'CRS of the geometry sent, e.g. <http://www.opengis.net/def/crs/EPSG/0/32638>; default CRS84', schema: { type: 'string' } };
const errors = { 400: problem, 401: problem, 403: problem, 404: problem, 409: problem, 412: problem, 422: problem, 428: problem };

export function openApiDocument(serverUrl: string) {
  const paths: Record<string, unknown> = {
    '/': { get: { summary: 'Landing page', operationId: 'getLandingPage', tags: ['Capabilities'], responses: { 200: { description: 'Links to the API' } } } },
    '/conformance': { get: { summary: 'Conformance classes', operationId: 'getConformance', tags: ['Capabilities'], responses: { 200: { description: 'Conformance classes' } } } },
    '/collections': { get: { summary: 'Collections', operationId: 'getCollections', tags: ['Capabilities'], responses: { 200: { description: 'The record kinds' } } } },
    '/informants': {
      get: { summary: "Codes of the agency's informants (editors only)", tags: ['Informants'], security: [{ bearer: [] }], responses: { 200: { description: 'Codes' }, 401: problem, 403: problem } },
      post: {
        summary: 'Register an informant (identity stays with the agency)', tags: ['Informants'], security: [{ bearer: [] }],
        requestBody: { required: true, content: { 'application/json': { schema: informantSchema } } },
        responses: { 201: { description: 'Registered' }, 401: problem, 403: problem, 409: problem, 422: problem },
      },
    },
    '/informants/{informantId}': {
      get: { summary: "An informant's identity (owner agency's editors only)", tags: ['Informants'], security: [{ bearer: [] }], parameters: [{ name: 'informantId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }], responses: { 200: { description: 'Identity' }, 401: problem, 403: problem, 404: problem } },
    },
    '/health': { get: { summary: 'Liveness', tags: ['Operations'], responses: { 200: { description: 'Alive' } } } },
    '/ready': { get: { summary: 'Readiness (database reachable, schema current)', tags: ['Operations'], responses: { 200: { description: 'Ready' }, 503: problem } } },
  };
  for (const collection of collections) {
    const base = `/collections/${collection.id}`;
    const featureSchema = {
      type: 'object', required: ['type', 'properties'],
      properties: { type: { const: 'Feature' }, geometry: { type: ['object', 'null'] }, properties: collection.propertySchema },
    };
    paths[base] = { get: { summary: `${collection.title}: metadata and extent`, operationId: `describe-${collection.id}`, tags: [collection.title], responses: { 200: { description: 'Collection' }, 404: problem } } };
    paths[`${base}/items`] = {
      get: {
        summary: `${collection.title}: features`,
        operationId: `get-${collection.id}`,
        tags: [collection.title],
        security: [{ bearer: [] }],
        parameters: [
          { name: 'bbox', in: 'query', style: 'form', explode: false, schema: { type: 'array', minItems: 4, maxItems: 6, items: { type: 'number' } }, description: 'minLon,minLat,maxLon,maxLat in CRS84' },
          { name: 'datetime', in: 'query', schema: { type: 'string' }, description: `Instant or interval (.. for open) on ${collection.temporalProperty}` },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 10000, default: 100 } },
          { name: 'offset', in: 'query', schema: { type: 'integer', minimum: 0, default: 0 } },
          ...collection.filters.map((filter) => ({ name: filter.name, in: 'query', required: false, description: filter.description, schema: filter.schema })),
        ],
        responses: { 200: { description: 'GeoJSON FeatureCollection', content: { 'application/geo+json': {} } }, 400: problem, 401: problem },
      },
      post: {
        summary: `${collection.title}: create one feature, or bulk-import a FeatureCollection (all or nothing)`,
        ...(collection.importMany ? { description: 'A FeatureCollection of 1 MB or more is imported as it arrives (send Content-Length). Problems come back as 422 with errors[] naming each feature; a feature that is not JSON is a 400 naming it.' } : {}),
        operationId: `create-${collection.id}`,
        tags: [collection.title],
        security: [{ bearer: [] }],
        parameters: [contentCrs],
        requestBody: { required: true, content: { 'application/geo+json': { schema: { oneOf: [featureSchema, { type: 'object', properties: { type: { const: 'FeatureCollection' }, features: { type: 'array', items: featureSchema } } }] } } } },
        responses: { 201: { description: 'Created (Location and ETag for one feature; ids for an import)' }, ...errors },
      },
    };
    paths[`${base}/items/{featureId}`] = {
      get: { summary: `${collection.title}: one feature`, operationId: `get-one-${collection.id}`, tags: [collection.title], security: [{ bearer: [] }], parameters: [featureIdParam], responses: { 200: { description: 'Feature, with ETag' }, 404: problem, 410: problem } },
      put: { summary: 'Replace', tags: [collection.title], security: [{ bearer: [] }], parameters: [featureIdParam, ifMatch, contentCrs], requestBody: { required: true, content: { 'application/geo+json': { schema: featureSchema } } }, responses: { 200: { description: 'Replaced' }, ...errors } },
      patch: { summary: 'Update with a JSON merge patch (RFC 7396)', tags: [collection.title], security: [{ bearer: [] }], parameters: [featureIdParam, ifMatch, contentCrs], requestBody: { required: true, content: { 'application/merge-patch+json': { schema: { type: 'object' } } } }, responses: { 200: { description: 'Updated' }, ...errors } },
      delete: { summary: 'Retire with a reason (nothing is erased)', tags: [collection.title], security: [{ bearer: [] }], parameters: [featureIdParam, ifMatch, { name: 'reason', in: 'query', required: true, schema: { type: 'string' } }], responses: { 204: { description: 'Retired' }, ...errors } },
    };
  }
  paths['/collections/hazardous-areas/items/{featureId}/reopen'] = {
    post: {
      summary: 'Reopen a closed hazardous area (residual contamination found)', tags: ['Hazardous areas'], security: [{ bearer: [] }],
      parameters: [featureIdParam, ifMatch, contentCrs],
      requestBody: { required: true, content: { 'application/json': { schema: reopeningSchema } } },
      responses: { 200: { description: 'Reopened' }, ...errors },
    },
  };
  paths['/collections/{collectionId}/items/{featureId}/restriction'] = {
    put: {
      summary: 'Restrict a record to its owner agency (or lift the restriction), whatever the agreements say', tags: ['Sharing'], security: [{ bearer: [] }],
      parameters: [{ name: 'collectionId', in: 'path', required: true, schema: { type: 'string', enum: collections.map((c) => c.id) } }, featureIdParam, ifMatch],
      requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['restricted'], properties: { restricted: { type: 'boolean' } } } } } },
      responses: { 200: { description: 'The record, new version' }, ...errors },
    },
  };
  paths['/sharing/agreements'] = {
    get: { summary: "Agreements the viewer is party to (the liaison mechanism's facilitators: all of them)", tags: ['Sharing'], security: [{ bearer: [] }], responses: { 200: { description: 'Agreements' }, 401: problem } },
  };
  paths['/sharing/agreements/{grantee}/{recordKind}'] = {
    put: {
      summary: "Set the level the viewer's agency grants a grantee for one record kind", tags: ['Sharing'], security: [{ bearer: [] }],
      parameters: [
        { name: 'grantee', in: 'path', required: true, schema: { type: 'string', enum: ['ANAMA', 'CHDE', 'GEO', 'LIAISON', 'PUBLIC'] } },
        { name: 'recordKind', in: 'path', required: true, schema: { type: 'string', enum: collections.map((c) => c.id) } },
        { ...ifMatch, description: 'ETag of the agreement; "0" when none exists yet' },
      ],
      requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['level'], properties: { level: { enum: ['none', 'footprint', 'summary', 'full'] }, comment: { type: 'string' } } } } } },
      responses: { 200: { description: 'The agreement, with its ETag' }, ...errors },
    },
  };
  paths['/statistics/hazardous-areas'] = {
    get: { summary: 'Counts and remaining m² by owner, classification and status — of what the viewer may see (no token: what owners published)', tags: ['Sharing'], responses: { 200: { description: 'Figures' } } },
  };
  const layersParam = { name: 'layers', in: 'path', required: true, description: 'comma-separated: hazardous-areas, land-releases, minefield-records, testimonies', schema: { type: 'string' } };
  paths['/tiles/{layers}/{z}/{x}/{y}.mvt'] = {
    get: {
      summary: 'Mapbox Vector Tile of what the viewer may see (204 when empty; ETag, gzip, HEAD)', tags: ['Tiles'], security: [{ bearer: [] }],
      parameters: [layersParam, ...['z', 'x', 'y'].map((name) => ({ name, in: 'path', required: true, schema: { type: 'integer', minimum: 0 } }))],
      responses: { 200: { description: 'MVT', content: { 'application/vnd.mapbox-vector-tile': {} } }, 204: { description: 'Nothing to draw' }, 304: { description: 'Unchanged' }, 400: problem, 401: problem, 404: problem },
    },
  };
  paths['/tiles/{layers}.json'] = { get: { summary: 'TileJSON 3.0.0', tags: ['Tiles'], parameters: [layersParam], responses: { 200: { description: 'TileJSON' }, 404: problem } } };
  paths['/tiles/{layers}/metadata.json'] = { get: { summary: 'tippecanoe-style metadata (field types, for GDAL)', tags: ['Tiles'], parameters: [layersParam], responses: { 200: { description: 'metadata' }, 404: problem } } };
  paths['/styles/default.json'] = { get: { summary: 'MapLibre style for the tiles', tags: ['Tiles'], responses: { 200: { description: 'style' } } } };
  paths['/feed'] = {
    get: {
      summary: 'Changes the viewer may see, in commit order, after a cursor', tags: ['Feeds'], security: [{ bearer: [] }],
      description: 'Each event has a cursor, time, operation, recordKind, id, version (from full up) and actingAgency. '
        + 'create: the whole feature as the viewer sees it; delete: the id only; update: `patch`, RFC 6902 operations on the '
        + "feature's properties (one per top-level property that changed, a changed object or array replaced whole), and, when "
        + 'the shape changed, `geometry` with the parts added and removed, their m² and the current shape.',
      parameters: [{ name: 'after', in: 'query', schema: { type: 'string' }, description: 'opaque cursor; none: from the start' }, { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 10000, default: 500 } }],
      responses: { 200: { description: '{events, cursor, caughtUp}' }, 400: problem, 401: problem, 410: problem },
    },
  };
  paths['/feed/snapshot'] = {
    get: { summary: "The viewer's whole projection and the cursor to follow the feed from", tags: ['Feeds'], security: [{ bearer: [] }], responses: { 200: { description: 'FeatureCollection with cursor' }, 401: problem } },
  };
  paths['/feed/stream'] = {
    get: {
      summary: 'The feed live, as Server-Sent Events; resumable with Last-Event-ID', tags: ['Feeds'], security: [{ bearer: [] }],
      parameters: [{ name: 'Last-Event-ID', in: 'header', schema: { type: 'string' } }, { name: 'after', in: 'query', schema: { type: 'string' } }],
      responses: { 200: { description: 'text/event-stream of change events' }, 401: problem, 410: problem },
    },
  };
  paths['/audit'] = {
    get: {
      summary: "The agency's own audit trail (editors and admins)", tags: ['Sharing'], security: [{ bearer: [] }],
      parameters: [{ name: 'after', in: 'query', schema: { type: 'integer', minimum: 0 } }, { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000 } }],
      responses: { 200: { description: 'Events' }, 401: problem, 403: problem },
    },
  };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Shared minefield-record service',
      version: '0.1.0',
      description: 'Hazardous areas, land release, minefield records and oral testimony, shared between mine action agencies. OGC API - Features Part 1 (core, GeoJSON) with Part 4 (draft) writes. Record fields: docs/records.md.',
    },
    servers: [{ url: serverUrl }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT (RS256/ES256, issuer = agency code)' } },
      schemas: {
        Problem: {
          type: 'object',
          properties: {
            type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' }, instance: { type: 'string' },
            errors: { type: 'array', items: { type: 'object', properties: { field: { type: 'string' }, reason: { type: 'string' }, feature: { type: 'integer' } } } },
          },
        },
      },
    },
  };
}
