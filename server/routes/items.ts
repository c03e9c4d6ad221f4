// OGC API - Features items: Part 1 reads, Part 4 (draft) writes, bulk import.
// Route → collection definition → SQL with bound parameters → pool, as in pg_tileserv.
import { createHash } from 'node:crypto';
import parseBytes from 'bytes';
import express, { Request, RequestHandler, Response, Router } from 'express';
import type { Feature } from 'geojson';
import type { Knex } from 'knex';
import { withViewer } from '../../db/viewerTransaction';
import { CollectionDefinition, LockedRecord, WriteContext, toFeature } from '../../records/collection';
import { FeatureInput, readFeatures, declaredCrs } from '../../records/featureInput';
import { reopenHazardousArea } from '../../records/reopen';
import { collectionById } from '../../records';
import { ItemsQuery, getFeatureRow, listFeatures } from '../../records/query';
import { rejectIfAny } from '../../records/writeSupport';
import { stageGeometries } from '../../records/stageGeometry';
import { SplitFeatureCollection, attachGeometryText, featureSourceOf, splitFeatureCollection } from '../../records/geometrySpans';
import type { ImportContext } from '../../records/hazardousAreaImport';
import { RestartWithWholeBody, StreamedCollection } from '../../records/streamedCollection';
import { SERVER_FIELDS } from '../../records/schemas';
import { checkGeometry } from '../../geo/checkGeometry';
import { parseCrs } from '../../geo/crs';
import { editorOf, requireViewer } from '../auth/middleware';
import { actorOf, Viewer } from '../auth/viewer';
import type { Config } from '../config';
import { etagOf, requireIfMatch } from '../etag';
import { GEOJSON, baseUrl } from '../links';
import type { TileService } from '../../tiles/tileService';
import type { LonLatBox } from '../../tiles/tileCache';
import { FieldProblem, Problem, badRequest, conflict, forbidden, notFound } from '../problem';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATE = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2})?)?$/;

function collectionOf(req: Request): CollectionDefinition {
  const collection = collectionById.get(req.params.collectionId as string);
  if (!collection) throw notFound(`no collection "${req.params.collectionId}"; see /collections`);
  return collection;
}

function featureIdOf(req: Request): string {
  const id = req.params.featureId as string;
  if (!UUID.test(id)) throw notFound(`no feature "${id}"`);
  return id;
}

function parseItemsQuery(req: Request, collection: CollectionDefinition, config: Config): ItemsQuery {
  const allowed = new Set(['bbox', 'datetime', 'limit', 'offset', 'f', ...collection.filters.map((filter) => filter.name)]);
  const problems: FieldProblem[] = [];
  for (const name of Object.keys(req.query)) {
    if (!allowed.has(name)) problems.push({ field: name, reason: `is not a parameter of this collection; accepted: ${[...allowed].join(', ')}` });
  }
  const single = (name: string): string | undefined => {
    const value = req.query[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string') { problems.push({ field: name, reason: 'must be given once' }); return undefined; }
    return value;
  };
  const query: ItemsQuery = { filters: [], limit: 100, offset: 0 };
  const limit = single('limit');
  if (limit !== undefined) {
    const value = Number(limit);
    if (!Number.isInteger(value) || value < 1) problems.push({ field: 'limit', reason: 'must be a positive integer' });
    else query.limit = Math.min(value, config.maxItemsLimit);
  }
  const offset = single('offset');
  if (offset !== undefined) {
    const value = Number(offset);
    if (!Number.isInteger(value) || value < 0) problems.push({ field: 'offset', reason: 'must be a non-negative integer' });
    else query.offset = value;
  }
  const bbox = single('bbox');
  if (bbox !== undefined) {
    const numbers = bbox.split(',').map(Number);
    if (!(numbers.length === 4 || numbers.length === 6) || numbers.some((n) => !Number.isFinite(n))) {
      problems.push({ field: 'bbox', reason: 'must be minLon,minLat,maxLon,maxLat (CRS84)' });
    } else {
      const [minX, minY, maxX, maxY] = numbers.length === 4 ? numbers : [numbers[0], numbers[1], numbers[3], numbers[4]];
      if (minY > maxY) problems.push({ field: 'bbox', reason: 'minimum latitude is above maximum latitude' });
      else if (minX > maxX) problems.push({ field: 'bbox', reason: 'boxes crossing the antimeridian are not supported' });
      else query.bbox = [minX, minY, maxX, maxY];
    }
  }
  const datetime = single('datetime');
  if (datetime !== undefined) {
    const [from, to, extra] = datetime.split('/');
    const bound = (value: string | undefined) => (value === undefined || value === '' || value === '..' ? undefined : value);
    const parts = to === undefined ? [from, from] : [bound(from), bound(to)];
    if (extra !== undefined || parts.some((part) => part !== undefined && !DATE.test(part))) {
      problems.push({ field: 'datetime', reason: 'must be an RFC 3339 date or time, or an interval start/end with .. for an open end' });
    } else {
      query.datetime = { from: parts[0], to: parts[1] };
    }
  }
  for (const filter of collection.filters) {
    const value = single(filter.name);
    if (value === undefined) continue;
    const allowedValues = (filter.schema as { enum?: readonly string[] }).enum;
    const format = (filter.schema as { format?: string }).format;
    if (allowedValues && !allowedValues.includes(value)) problems.push({ field: filter.name, reason: `must be one of ${allowedValues.join(', ')}` });
    else if (format === 'uuid' && !UUID.test(value)) problems.push({ field: filter.name, reason: 'must be a UUID' });
    else query.filters.push({ name: filter.name, value });
  }
  if (problems.length) throw badRequest(`${problems.length} invalid query parameter${problems.length > 1 ? 's' : ''}: ${problems.map((p) => `${p.field} ${p.reason}`).join('; ')}`, problems);
  return query;
}

function pageLinks(req: Request, config: Config, collection: CollectionDefinition, query: ItemsQuery, returned: number, matched: number) {
  const base = `${baseUrl(req, config)}/collections/${collection.id}/items`;
  const withOffset = (offset: number) => {
    const params = new URLSearchParams(req.query as Record<string, string>);
    params.set('offset', String(offset));
    params.set('limit', String(query.limit));
    return `${base}?${params}`;
  };
  const links = [
    { href: withOffset(query.offset), rel: 'self', type: GEOJSON, title: 'this page' },
    { href: `${baseUrl(req, config)}/collections/${collection.id}`, rel: 'collection', type: 'application/json', title: collection.title },
  ];
  if (query.offset + returned < matched) links.push({ href: withOffset(query.offset + query.limit), rel: 'next', type: GEOJSON, title: 'next page' });
  if (query.offset > 0) links.push({ href: withOffset(Math.max(0, query.offset - query.limit)), rel: 'prev', type: GEOJSON, title: 'previous page' });
  return links;
}

/** Locks the record for the rest of the transaction after checking who may write it and which version they saw. */
async function lockForWrite(trx: Knex.Transaction, req: Request, collection: CollectionDefinition, id: string, viewer: Viewer, checkVersion = true): Promise<LockedRecord> {
  const visible = await trx(collection.view).select('owner_agency').where('id', id).first();
  if (!visible) throw notFound(`no ${collection.recordName} ${id} is visible to ${viewer.agency}`);
  if (visible.owner_agency !== viewer.agency) {
    throw forbidden(`this ${collection.recordName} belongs to ${visible.owner_agency}; only its owner agency edits it`);
  }
  const record: LockedRecord = await trx(collection.table).select('id', 'owner_agency', 'version', 'retired_at').where('id', id).forUpdate().first();
  if (record.retired_at) throw conflict(`this ${collection.recordName} was retired at ${new Date(record.retired_at).toISOString()} and can no longer change`);
  if (checkVersion) requireIfMatch(req, record.version);
  return record;
}

/**
 * Where a write changed the map: the footprints (which cover every level's geometry) of the
 * records, and for land release the area released from, whose remaining polygon changes too.
 */
async function changedExtents(trx: Knex.Transaction, collection: CollectionDefinition, ids: string[]): Promise<LonLatBox[]> {
  const result = await trx.raw(
    `SELECT ST_XMin(e) AS x0, ST_YMin(e) AS y0, ST_XMax(e) AS x1, ST_YMax(e) AS y1 FROM (
       SELECT ST_Extent(footprint_geom)::geometry AS e FROM ?? WHERE id = ANY(?::uuid[])
       UNION ALL
       SELECT ST_Extent(h.footprint_geom)::geometry FROM hazardous_area h
       WHERE ?::text = 'land_release' AND h.id IN (SELECT hazardous_area_id FROM land_release WHERE id = ANY(?::uuid[]))
     ) AS extents WHERE e IS NOT NULL`,
    [collection.table, ids, collection.table, ids],
  );
  return result.rows.map((row: { x0: number; y0: number; x1: number; y1: number }) => [row.x0, row.y0, row.x1, row.y1] as LonLatBox);
}

interface WriteOutcome {
  status: number;
  row?: any;
  location?: string;
  body?: unknown;
  etag?: string;
  changed: LonLatBox[];
}

/** Runs a write, and only once it has committed invalidates tiles and answers: read-your-writes everywhere. */
async function committedWrite(db: Knex, tiles: TileService, viewer: Viewer, res: Response, work: (trx: Knex.Transaction) => Promise<WriteOutcome>) {
  const outcome = await withViewer(db, viewer, work, 'write');
  tiles.recordsChanged(outcome.changed);
  if (outcome.location) res.location(outcome.location);
  if (outcome.row) {
    res.status(outcome.status).set('ETag', etagOf(outcome.row.version)).type(GEOJSON).send(JSON.stringify(toFeature(outcome.row)));
  } else if (outcome.body !== undefined) {
    res.status(outcome.status).json(outcome.body);
  } else {
    if (outcome.etag) res.set('ETag', outcome.etag);
    res.status(outcome.status).end();
  }
}

/** RFC 7396 JSON merge patch. */
function mergePatch(target: any, patch: any): any {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const result = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

const IMPORT_TYPES = ['application/json', 'application/geo+json'];

/** Bodies from this size on are imported as they arrive (records/streamedCollection.ts). */
const STREAM_FROM_BYTES = 1 << 20;

/** What the body parsing of a POST to items leaves beside req.body. */
type BodyRequest = Request & { rawBody?: Buffer; splitBody?: { bytes: Buffer; split: SplitFeatureCollection }; streamedBody?: StreamedCollection };

/**
 * A bulk import's body, read whole: cut at its features when it is a FeatureCollection
 * (records/geometrySpans.ts), parsed as express.json would otherwise.
 */
function useWholeBody(req: Request, bytes: Buffer): void {
  const split = splitFeatureCollection(bytes);
  if (split && split.members.type === 'FeatureCollection') {
    (req as BodyRequest).splitBody = { bytes, split };
    req.body = { ...split.members, features: undefined };
    return;
  }
  req.body = parseJsonLikeExpress(bytes);
  (req as BodyRequest).rawBody = bytes;
}

/**
 * A JSON body as express.json reads it (strict: an object or an array; empty is {}), for a body
 * read as bytes that turned out not to be a FeatureCollection; its errors are express.json's.
 */
function parseJsonLikeExpress(bytes: Buffer): unknown {
  const text = bytes.toString('utf8').replace(/^\uFEFF/, '');
  if (text.length === 0) return {};
  const parseFailed = (message: string) => Object.assign(new SyntaxError(message), { status: 400, statusCode: 400, expose: true, type: 'entity.parse.failed' });
  const first = /^[\x20\x09\x0a\x0d]*(.)/.exec(text)?.[1];
  if (first !== '{' && first !== '[') throw parseFailed(`Unexpected token ${first ?? 'end of input'} in JSON: an object or an array is expected`);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw parseFailed((error as Error).message);
  }
}

export function itemRoutes(db: Knex, config: Config, tiles: TileService): Router {
  const router = Router();
  const singleBody = express.json({ limit: config.bodyLimit, type: ['application/json', 'application/geo+json', 'application/merge-patch+json'] });
  // The bytes are kept (UTF-8 only) so a bulk import can pass each geometry on as it was sent.
  const jsonBody = express.json({
    limit: config.importBodyLimit, type: IMPORT_TYPES,
    verify: (req, _res, buffer, encoding) => { if (/^utf-?8$/i.test(encoding)) (req as BodyRequest).rawBody = buffer; },
  });
  const rawBody = express.raw({ limit: config.importBodyLimit, type: IMPORT_TYPES });
  // A kind with an import of its own reads a FeatureCollection feature by feature
  // (records/geometrySpans.ts): JSON.parse of the whole body would keep every coordinate of
  // every feature alive as an object for the whole import. Any other body is parsed whole.
  const importLimitBytes = parseBytes.parse(config.importBodyLimit) ?? Infinity;
  const importBody: RequestHandler = (req, res, next) => {
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.get('content-type') ?? '')?.[1];
    if (!collectionById.get(req.params.collectionId as string)?.importMany || (charset && !/^utf-?8$/i.test(charset))) return jsonBody(req, res, next);
    // A large body, as it is (not compressed), is imported as it arrives; the import reads the
    // whole body again should the streamed reading meet what it cannot read as it comes.
    const length = Number(req.get('content-length'));
    const encoding = (req.get('content-encoding') ?? 'identity').toLowerCase();
    if (encoding === 'identity' && Number.isSafeInteger(length) && length >= STREAM_FROM_BYTES && length <= importLimitBytes && req.is(IMPORT_TYPES)) {
      const streamed = new StreamedCollection(req, length);
      streamed.begin().then(async (streaming) => {
        if (streaming) {
          (req as BodyRequest).streamedBody = streamed;
          req.body = { ...streamed.members };
        } else {
          useWholeBody(req, await streamed.whole());
        }
        next();
      }).catch(next);
      return;
    }
    rawBody(req, res, (error?: unknown) => {
      if (error) return next(error);
      if (!Buffer.isBuffer(req.body)) return next();
      try {
        useWholeBody(req, req.body);
        next();
      } catch (failure) {
        next(failure);
      }
    });
  };
  const context = (trx: Knex.Transaction, viewer: Viewer): WriteContext => ({ trx, viewer, actor: actorOf(viewer), maxVertexGapM: config.maxVertexGapM, db });

  router.get('/collections/:collectionId/items', requireViewer, async (req, res) => {
    const collection = collectionOf(req);
    const query = parseItemsQuery(req, collection, config);
    const { features, numberMatched } = await withViewer(db, req.viewer, (trx) => listFeatures(trx, collection, query));
    res.type(GEOJSON).send(JSON.stringify({
      type: 'FeatureCollection',
      timeStamp: new Date().toISOString(),
      numberMatched,
      numberReturned: features.length,
      features,
      links: pageLinks(req, config, collection, query, features.length, numberMatched),
    }));
  });

  router.get('/collections/:collectionId/items/:featureId', requireViewer, async (req, res) => {
    const collection = collectionOf(req);
    const id = featureIdOf(req);
    await withViewer(db, req.viewer, async (trx) => {
      const row = await getFeatureRow(trx, collection, id);
      if (!row) throw notFound(`no ${collection.recordName} ${id} is visible to ${req.viewer!.agency}`);
      if (row.retired_at) {
        // Who retired it and why are the owner's business, shared from `full` up like every other detail.
        const told = row.access_level === 'owner' || row.access_level === 'full';
        throw new Problem(410, 'Gone', told ? `this ${collection.recordName} was retired: ${row.retired_reason}` : `this ${collection.recordName} was retired`, {
          ...(told ? { retired: { at: row.retired_at, by: row.retired_by, reason: row.retired_reason } } : {}),
        });
      }
      const feature = toFeature(row) as Feature & { links?: unknown };
      feature.links = [
        { href: `${baseUrl(req, config)}/collections/${collection.id}/items/${id}`, rel: 'self', type: GEOJSON },
        { href: `${baseUrl(req, config)}/collections/${collection.id}`, rel: 'collection', type: 'application/json' },
      ];
      const body = JSON.stringify(feature);
      // Only the owner edits, so only the owner is given the version; others get a hash of what they see.
      res.set('ETag', row.access_level === 'owner' ? etagOf(row.version) : `W/"${createHash('sha1').update(body).digest('base64url').slice(0, 22)}"`)
        .type(GEOJSON).send(body);
    });
  });

  const postItems = async (req: Request, res: Response): Promise<void> => {
    const collection = collectionOf(req);
    const viewer = editorOf(req);
    const started = Date.now();
    // A FeatureCollection read as bytes (importBody), or still arriving, goes to the kind's
    // import as a source of features, parsed and checked chunk by chunk while the import checks
    // and stores the ones before; the import reports every feature's problems, those found in
    // Node among them.
    const { splitBody, streamedBody } = req as BodyRequest;
    const rules = collection.inputRules(config.maxVertexGapM);
    const features = streamedBody
      ? streamedBody.readWith(req.get('content-crs'), rules)
      : splitBody ? featureSourceOf(splitBody.bytes, splitBody.split, req.get('content-crs'), rules) : undefined;
    const { inputs, problems, bulk } = features
      ? { inputs: [] as FeatureInput[], problems: [] as FieldProblem[], bulk: true }
      : readFeatures(req.body, req.get('content-crs'), rules);
    const featureCount = features ? features.total ?? 0 : bulk ? req.body.features.length : 1;
    if (problems.length > 0 && bulk && inputs.length > 0) {
      // Report the PostGIS-level problems of the other features too, so one round trip shows everything.
      await withViewer(db, viewer, async (trx) => { problems.push(...(await stageGeometries(trx, inputs, bulk))); }, 'write');
      problems.sort((a, b) => (a.feature ?? 0) - (b.feature ?? 0));
    }
    rejectIfAny(problems, bulk, featureCount);
    if (bulk && collection.importMany && !splitBody) attachGeometryText(inputs, (req as BodyRequest).rawBody, featureCount);
    const importContext = (trx: Knex.Transaction): ImportContext => ({ ...context(trx, viewer), ...(features ? { features } : {}) });
    await committedWrite(db, tiles, viewer, res, async (trx) => {
      // A kind with an import path of its own also says where the map changed, saving a
      // lookup of every new row.
      const { ids, changed } = bulk && collection.importMany
        ? await collection.importMany(importContext(trx), inputs)
        : await collection.create(context(trx, viewer), inputs, bulk).then(async (created) => ({ ids: created, changed: await changedExtents(trx, collection, created) }));
      if (!bulk) {
        return { status: 201, row: await getFeatureRow(trx, collection, ids[0]), location: `${baseUrl(req, config)}/collections/${collection.id}/items/${ids[0]}`, changed };
      }
      req.log?.info({ collection: collection.id, imported: ids.length, ms: Date.now() - started }, 'bulk import committed');
      return { status: 201, body: { imported: ids.length, ids, ms: Date.now() - started }, changed };
    });
  };

  router.post('/collections/:collectionId/items', importBody, async (req, res) => {
    try {
      await postItems(req, res);
    } catch (error) {
      const streamed = (req as BodyRequest).streamedBody;
      if (!(error instanceof RestartWithWholeBody) || !streamed) throw error;
      // Rolled back: the same request again, its body read whole.
      req.log?.info({ reason: error.message }, 'bulk import: reading the body whole');
      delete (req as BodyRequest).streamedBody;
      useWholeBody(req, await streamed.whole());
      await postItems(req, res);
    }
  });

  router.put('/collections/:collectionId/items/:featureId', singleBody, async (req, res) => {
    const collection = collectionOf(req);
    const viewer = editorOf(req);
    const id = featureIdOf(req);
    if (req.body?.type !== 'Feature') throw badRequest('PUT takes one GeoJSON Feature', [{ field: '/type', reason: 'must be Feature' }]);
    const { inputs, problems } = readFeatures(req.body, req.get('content-crs'), collection.inputRules(config.maxVertexGapM));
    await committedWrite(db, tiles, viewer, res, async (trx) => {
      const current = await lockForWrite(trx, req, collection, id, viewer);
      rejectIfAny(problems, false, 1);
      const before = await changedExtents(trx, collection, [id]);
      await collection.replace(context(trx, viewer), current, inputs[0]);
      return { status: 200, row: await getFeatureRow(trx, collection, id), changed: [...before, ...(await changedExtents(trx, collection, [id]))] };
    });
  });

  router.patch('/collections/:collectionId/items/:featureId', singleBody, async (req, res) => {
    const collection = collectionOf(req);
    const viewer = editorOf(req);
    const id = featureIdOf(req);
    const patch = req.body;
    if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
      throw badRequest('PATCH takes a JSON merge patch of the Feature', [{ field: 'body', reason: 'must be an object' }]);
    }
    await committedWrite(db, tiles, viewer, res, async (trx) => {
      const current = await lockForWrite(trx, req, collection, id, viewer);
      const before = await changedExtents(trx, collection, [id]);
      const row = await getFeatureRow(trx, collection, id);
      const currentProperties = toFeature(row).properties as Record<string, any>;
      const properties = mergePatch(currentProperties, patch.properties ?? {});
      const rules = collection.inputRules(config.maxVertexGapM);
      const input: FeatureInput = { index: 0, properties: {}, geometry: null, srid: 4326 };
      const problems: FieldProblem[] = [];
      // The stored record shows unset optional fields as null; in the merged result null means absent.
      for (const [key, value] of Object.entries(properties)) {
        if (!SERVER_FIELDS.includes(key) && value !== null) input.properties[key] = value;
      }
      problems.push(...rules.validateProperties(input.properties));
      if (patch.geometry) {
        input.srid = declaredCrs(req.get('content-crs'), patch.crs, 'Content-Crs');
        input.geometry = patch.geometry;
        for (const issue of checkGeometry(patch.geometry, { srid: input.srid, allowedTypes: rules.geometryTypes, maxVertexGapM: config.maxVertexGapM })) {
          problems.push({ field: `/geometry${issue.pointer}`, reason: issue.reason, ...(issue.location ? { location: issue.location } : {}) });
        }
      } else {
        // Coordinates kept in properties (reference points) stay in the CRS they were entered in.
        input.srid = parseCrs(currentProperties.inputCrs);
        input.geometryUnchanged = true;
      }
      rejectIfAny(problems, false, 1);
      await collection.replace(context(trx, viewer), current, input);
      return { status: 200, row: await getFeatureRow(trx, collection, id), changed: [...before, ...(await changedExtents(trx, collection, [id]))] };
    });
  });

  router.delete('/collections/:collectionId/items/:featureId', express.json({ limit: config.bodyLimit }), async (req, res) => {
    const collection = collectionOf(req);
    const viewer = editorOf(req);
    const id = featureIdOf(req);
    const reason = (typeof req.query.reason === 'string' ? req.query.reason : req.body?.reason)?.trim();
    await committedWrite(db, tiles, viewer, res, async (trx) => {
      const current = await lockForWrite(trx, req, collection, id, viewer);
      if (!reason) throw badRequest('retiring a record needs a reason (query parameter or JSON body "reason")', [{ field: 'reason', reason: 'is required' }]);
      await collection.retire(context(trx, viewer), current, reason);
      return { status: 204, etag: etagOf(current.version + 1), changed: await changedExtents(trx, collection, [id]) };
    });
  });

  router.post('/collections/hazardous-areas/items/:featureId/reopen', singleBody, async (req, res) => {
    const collection = collectionById.get('hazardous-areas')!;
    const viewer = editorOf(req);
    const id = featureIdOf(req);
    await committedWrite(db, tiles, viewer, res, async (trx) => {
      const current = await lockForWrite(trx, req, collection, id, viewer);
      await reopenHazardousArea(context(trx, viewer), current, req.body ?? {}, req.get('content-crs'));
      return { status: 200, row: await getFeatureRow(trx, collection, id), changed: await changedExtents(trx, collection, [id]) };
    });
  });

  // Restriction is its own resource, not a property: a PUT that omitted it must never lift it.
  router.put('/collections/:collectionId/items/:featureId/restriction', singleBody, async (req, res) => {
    const collection = collectionOf(req);
    const viewer = editorOf(req);
    const id = featureIdOf(req);
    if (typeof req.body?.restricted !== 'boolean') {
      throw badRequest('send {"restricted": true} or {"restricted": false}', [{ field: '/restricted', reason: 'must be a boolean' }]);
    }
    await committedWrite(db, tiles, viewer, res, async (trx) => {
      await lockForWrite(trx, req, collection, id, viewer);
      await trx(collection.table).where('id', id).update({
        restricted: req.body.restricted, version: trx.raw('version + 1'), updated_by: actorOf(viewer), updated_at: trx.fn.now(),
      });
      return { status: 200, row: await getFeatureRow(trx, collection, id), changed: await changedExtents(trx, collection, [id]) };
    });
  });

  return router;
}
