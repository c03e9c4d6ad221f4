// The bulk import of hazardous areas: every check of a single create, set-wise, with the
// writing overlapped with the checking.
//
// - Features (Node): a request body comes as a FeatureSource (records/geometrySpans.ts) and is
//   parsed and checked in Node (structure, properties, local references) one chunk ahead of the
//   database, so the database starts on the first chunk while the rest is still text.
// - Checks (PostGIS): each chunk of geometries is read (from EWKB written in Node, which
//   has the coordinates parsed anyway: geo/ewkb.ts), checked for validity (reason and
//   location of the invalid ones), transformed to EPSG:4326, tested against the service region,
//   measured (geodesic m²) and compared with the agency's active areas (exact duplicates) in
//   one statement that writes nothing. When the pool can spare a second connection, that
//   statement runs there, in a transaction of its own as the same viewer: the database then
//   checks chunk n+1 on one core while it stores chunk n on the other.
// - Writing: one COPY … FROM STDIN (binary) into hazardous_area, open for the whole import, fed chunk
//   by chunk as the checks pass (every area starts open, "recorded" on its information date:
//   the first entry of its status history is part of the row). Ids are made here, so nothing
//   is read back: time-ordered UUIDs (version 7, monotonic), which the primary key's index and
//   the change log's take at their right edge rather than on a random page each (measured:
//   about 0.5 s of database time for 85,000 areas). The geometry travels as the EWKB Node
//   wrote (or, transformed, as the checks gave it back). Generated columns (footprint, overview cells),
//   constraints, indexes and the statement-level audit and change-log triggers do what they do
//   for any insert, in the import's transaction. The overview's counts of cells are the one
//   exception: the checks already have every bounding box, so the cells are counted here chunk
//   by chunk and added in one statement after the COPY (the overview's insert trigger, told so
//   by app.overview_cells_counted, leaves these rows alone), instead of the trigger reading back
//   every row after the last one while nothing else can run.
// - All or nothing: the first problem stops the writing (the COPY is abandoned, which aborts the
//   transaction) but not the checking, so the answer lists the problems of every feature, those
//   found in Node, by PostGIS and of local references alike.
//   Duplicates (within the import, or of an active area) are reported only when nothing else
//   is wrong, as for a single create.
// - Without a second connection (the embedded database is one session, and its socket does not
//   carry COPY) the same statements run one after another on the transaction's connection:
//   every chunk is checked before any is written, and rows go in with INSERT … SELECT.
import type { Knex } from 'knex';
import { v7 as timeOrderedUuid } from 'uuid';
import { withViewer } from '../db/viewerTransaction';
import { SERVICE_REGION, crsLabel } from '../geo/crs';
import { multiPolygonEwkb } from '../geo/ewkb';
import { TopLevelCounts, addTopLevelCells, cellXSql, cellYSql, countedCells } from '../db/overviewCells';
import { logger } from '../server/logger';
import type { FieldProblem } from '../server/problem';
import type { LonLatBox } from '../tiles/tileCache';
import type { ImportResult, WriteContext } from './collection';
import { BinaryCopyRows, CopyIn } from './copyIn';
import type { FeatureInput } from './featureInput';
import { throwConflictsOrProblems } from './writeSupport';

/** Features per checking statement: small enough to overlap well, large enough that round trips do not show. */
const CHUNK = 2000;
/** Below this, a second connection is not worth its round trips. */
const SIDE_CONNECTION_FROM = 200;
/** How long to wait for a second connection before checking on the transaction's own. */
const SIDE_CONNECTION_WAIT_MS = 250;
/**
 * Footprints lie within two 0.001° cells of the geometry's extent (footprint_of: its bounds
 * pushed out to the grid and a cell beyond), so boxes grown by this cover them: the tiles to invalidate.
 */
const FOOTPRINT_MARGIN = 0.0021;

const { minLon, minLat, maxLon, maxLat } = SERVICE_REGION;

// OFFSET 0 keeps each level a separate subquery, so the parse and the transform run once per
// row rather than once per reference. The region test compares the exact bounding box with the
// region, which for an axis-aligned rectangle is the same question as ST_CoveredBy.
// The geometries come as one bytea of EWKB written in Node (geo/ewkb.ts: Node has the
// coordinates parsed anyway), cut at each one's offset and length; a geometry Node could not
// write (length 0) comes as its GeoJSON. The hex EWKB to store comes back only where it is not
// the one sent: transformed from another CRS, or read from GeoJSON.
const CHECK_SQL = `
  SELECT b.idx, b.valid, b.inside,
    CASE WHEN b.valid AND b.inside AND (b.len = 0 OR b.srid <> 4326) THEN ST_Multi(b.geom)::text END AS hex,
    CASE WHEN b.valid THEN ST_Area(b.geom::geography) END AS area_m2,
    -- Cheap and necessarily equal for equal polygons (same vertices, same box); the exact
    -- comparison (normalised WKB) is left to the few rows that share one.
    -- As a 32-bit hash: a number is a cheap key for Node to keep for every feature, and a
    -- collision only adds a pair to compare exactly.
    CASE WHEN b.valid THEN hashtext(ST_NPoints(b.geom) || ' ' || b.box::text) END AS shape_key,
    ST_XMin(b.box) AS x0, ST_YMin(b.box) AS y0, ST_XMax(b.box) AS x1, ST_YMax(b.box) AS y1,
    -- The zoom 9 overview cells, as the generated columns cell_x0 … cell_y1 will have them.
    CASE WHEN b.valid AND b.inside THEN ${cellXSql('ST_XMin(b.geom)')} END AS cx0,
    CASE WHEN b.valid AND b.inside THEN ${cellXSql('ST_XMax(b.geom)')} END AS cx1,
    CASE WHEN b.valid AND b.inside THEN ${cellYSql('ST_YMax(b.geom)')} END AS cy0,
    CASE WHEN b.valid AND b.inside THEN ${cellYSql('ST_YMin(b.geom)')} END AS cy1,
    CASE WHEN NOT b.valid THEN ST_IsValidReason(b.raw) END AS reason,
    CASE WHEN NOT b.valid THEN ST_X(d.location) END AS lx,
    CASE WHEN NOT b.valid THEN ST_Y(d.location) END AS ly,
    e.existing
  FROM (
    SELECT idx, srid, len, raw, geom, valid, box,
      coalesce(ST_XMin(box) >= ? AND ST_XMax(box) <= ? AND ST_YMin(box) >= ? AND ST_YMax(box) <= ?, false) AS inside
    FROM (
      SELECT idx, srid, len, raw, geom, valid, Box2D(geom) AS box
      FROM (
        SELECT idx, srid, len, raw, ST_IsValid(raw) AS valid,
          CASE WHEN srid = 4326 THEN raw ELSE ST_Transform(raw, 4326) END AS geom
        FROM (
          SELECT r.idx, r.srid, r.len,
            CASE WHEN r.len > 0 THEN ST_GeomFromEWKB(substring(?::bytea FROM r.at + 1 FOR r.len))
              ELSE ST_SetSRID(ST_GeomFromGeoJSON(r.geometry), r.srid) END AS raw
          FROM unnest(?::integer[], ?::integer[], ?::integer[], ?::integer[], ?::text[]) AS r(idx, srid, at, len, geometry)
          OFFSET 0
        ) AS parsed
        OFFSET 0
      ) AS checked
      OFFSET 0
    ) AS boxed
    OFFSET 0
  ) AS b
  LEFT JOIN LATERAL (SELECT (ST_IsValidDetail(b.raw)).location WHERE NOT b.valid) AS d ON true
  LEFT JOIN LATERAL (
    SELECT json_agg(json_build_object('id', h.id, 'localRef', h.local_ref) ORDER BY h.local_ref) AS existing
    FROM hazardous_area h
    WHERE ?::boolean AND b.valid AND b.inside AND h.owner_agency = ? AND h.retired_at IS NULL
      AND h.footprint_geom && b.geom AND ST_Equals(h.original_geom, ST_Multi(b.geom))
  ) AS e ON true`;

interface CheckedRow {
  idx: number;
  valid: boolean;
  inside: boolean;
  hex: string | null;
  area_m2: number | null;
  shape_key: number | null;
  x0: number | null; y0: number | null; x1: number | null; y1: number | null;
  cx0: number | null; cx1: number | null; cy0: number | null; cy1: number | null;
  reason: string | null;
  lx: number | null; ly: number | null;
  existing: { id: string; localRef: string }[] | null;
}

/** A feature ready to be written: its input, its id and what the checks worked out. */
interface ReadyRow {
  input: FeatureInput;
  id: string;
  /** The geometry as entered (JSON), stored as input_geometry. */
  geometryText: string;
  /** The multipolygon to store (EWKB, EPSG:4326). */
  ewkb: Buffer;
  areaM2: number;
}

const AREA_COLUMNS = [
  'id', 'owner_agency', 'local_ref', 'name', 'classification', 'hazard_types', 'evidence', 'estimated_device_count',
  'marking', 'priority', 'information_date', 'recorded_on', 'original_geom', 'remaining_geom', 'original_area_m2', 'remaining_area_m2',
  'input_crs', 'input_geometry', 'created_by', 'updated_by',
];

/** How rows reach the table: COPY on a server, INSERT … SELECT on the embedded database. */
interface RowSink {
  write(rows: ReadyRow[]): Promise<void>;
  finish(): Promise<void>;
  abandon(reason: string): Promise<void>;
}

class CopySink implements RowSink {
  private sent: Promise<void> = Promise.resolve();
  private rows = new BinaryCopyRows();

  private constructor(private copy: CopyIn, private owner: string, private actor: string) {}

  static async open(trx: Knex.Transaction, owner: string, actor: string): Promise<CopySink> {
    return new CopySink(await CopyIn.start(trx, `COPY hazardous_area (${AREA_COLUMNS.join(', ')}) FROM STDIN (FORMAT binary)`), owner, actor);
  }

  async write(rows: ReadyRow[]): Promise<void> {
    const out = this.rows;
    for (const row of rows) {
      const p = row.input.properties;
      // In the order of AREA_COLUMNS.
      out.row(AREA_COLUMNS.length).uuid(row.id).text(this.owner).text(p.localRef).jsonb(JSON.stringify(p.name ?? {}))
        .text(p.classification).textArray(p.hazardTypes).jsonb(JSON.stringify(p.evidence ?? [])).int4(p.estimatedDeviceCount)
        .text(p.marking ?? 'none').text(p.priority ?? 'medium').date(p.informationDate).date(p.informationDate)
        .bytes(row.ewkb).bytes(row.ewkb).float8(row.areaM2).float8(row.areaM2)
        .int4(row.input.srid).text(row.geometryText).text(this.actor).text(this.actor);
    }
    const areas = out.take();
    // The bytes were made while the database was still storing the rows sent before: only now
    // wait for those to be taken, so it always has the next rows at hand.
    await this.sent;
    this.sent = this.copy.write(areas);
  }

  async finish(): Promise<void> {
    await this.sent;
    await this.copy.write(Buffer.concat([this.rows.take(), BinaryCopyRows.trailer()]));
    await this.copy.end();
  }

  async abandon(reason: string): Promise<void> {
    await this.sent.catch(() => {});
    await this.copy.fail(reason);
  }
}

class InsertSink implements RowSink {
  constructor(private trx: Knex.Transaction, private owner: string, private actor: string) {}

  async write(rows: ReadyRow[]): Promise<void> {
    const payload = JSON.stringify(rows.map((row) => {
      const p = row.input.properties;
      return {
        id: row.id, local_ref: p.localRef, name: p.name ?? {}, classification: p.classification, hazard_types: p.hazardTypes,
        evidence: p.evidence ?? [], estimated_device_count: p.estimatedDeviceCount ?? null, marking: p.marking ?? 'none',
        priority: p.priority ?? 'medium', information_date: p.informationDate, geom: row.ewkb.toString('hex'), area_m2: row.areaM2,
        srid: row.input.srid, input: row.geometryText,
      };
    }));
    await this.trx.raw(
      `INSERT INTO hazardous_area (${AREA_COLUMNS.join(', ')})
       SELECT p.id, ?, p.local_ref, p.name, p.classification, p.hazard_types, p.evidence, p.estimated_device_count,
         p.marking, p.priority, p.information_date, p.information_date, p.geom, p.geom, p.area_m2, p.area_m2, p.srid, p.input::json, ?, ?
       FROM json_to_recordset(?::json) AS p(id uuid, local_ref text, name jsonb, classification text,
         hazard_types text[], evidence jsonb, estimated_device_count integer, marking text, priority text,
         information_date date, geom geometry, area_m2 double precision, srid integer, input text)`,
      [this.owner, this.actor, this.actor, payload],
    );
  }

  async finish(): Promise<void> {}
  async abandon(): Promise<void> {}
}

/** The pool's size: one (the embedded database) means no second connection and no COPY. */
function poolSize(trx: Knex.Transaction): number {
  return Number((trx.client.config as { pool?: { max?: number } }).pool?.max ?? 1);
}

/**
 * Runs `work` with a transaction on a second connection of the pool, as the same viewer, when
 * one can be had at once; with none otherwise (waiting for one while holding the import's own
 * connection could starve the pool).
 */
async function besideTransaction<T>(db: Knex | undefined, context: WriteContext, work: (side: Knex.Transaction | undefined) => Promise<T>): Promise<T> {
  if (!db) return work(undefined);
  const pending: Promise<unknown> = db.client.acquireConnection();
  let timer: NodeJS.Timeout | undefined;
  const connection = await Promise.race([pending, new Promise((resolve) => { timer = setTimeout(resolve, SIDE_CONNECTION_WAIT_MS, undefined); })]);
  clearTimeout(timer);
  if (!connection) {
    logger.warn({ waitedMs: SIDE_CONNECTION_WAIT_MS }, 'bulk import: no second connection free; checking on the transaction\'s own');
    pending.then((late) => db.client.releaseConnection(late), () => {});
    return work(undefined);
  }
  try {
    // withViewer on this connection: the same identity settings and role as every write.
    const onConnection = { transaction: (fn: (trx: Knex.Transaction) => Promise<T>, config?: object) => db.transaction(fn, { ...config, connection }) };
    return await withViewer(onConnection as unknown as Knex, context.viewer, work, 'write');
  } finally {
    await db.client.releaseConnection(connection);
  }
}

/**
 * The features of an import, read as the import goes: a request body is parsed and checked in
 * Node chunk by chunk (records/geometrySpans.ts), so the database starts on the first chunk
 * while the rest is still text, instead of waiting for the whole body to be read.
 */
export interface FeatureSource {
  /**
   * Features in the request: known at once for a body read whole; for a body read as it
   * arrives (records/streamedCollection.ts, large bodies only), once read() has said it is done.
   */
  readonly total: number | undefined;
  /** The next (up to) n features: those that passed the checks in Node; the problems of the others are added to `problems`. Undefined once all are read. */
  read(n: number, problems: FieldProblem[]): FeatureInput[] | undefined | Promise<FeatureInput[] | undefined>;
}

/** A bulk import's context: the route may hand over the features as a source instead of an array. */
export type ImportContext = WriteContext & { features?: FeatureSource };

function sourceOf(inputs: FeatureInput[]): FeatureSource {
  let at = 0;
  return {
    total: inputs.length,
    read: (n) => {
      if (at >= inputs.length) return undefined;
      at += n;
      return inputs.slice(at - n, at);
    },
  };
}

export async function importHazardousAreas(context: ImportContext, inputs: FeatureInput[]): Promise<ImportResult> {
  const { trx, viewer, actor } = context;
  const source = context.features ?? sourceOf(inputs);
  const server = poolSize(trx) >= 2;
  // A body still arriving is a large one (records/streamedCollection.ts).
  const db = server && (source.total ?? SIDE_CONNECTION_FROM) >= SIDE_CONNECTION_FROM ? context.db : undefined;

  // Duplicates of existing areas are looked for only where the agency has any (not on a first
  // import, the largest); so are local references already in use.
  const hasActiveAreas = (await trx.raw(
    'SELECT EXISTS (SELECT 1 FROM hazardous_area WHERE owner_agency = ? AND retired_at IS NULL) AS found', [viewer.agency],
  )).rows[0].found as boolean;

  return besideTransaction(db, context, async (side) => {
    // The index of the table already holds the rows this import has written (not yet visible
    // beside it); a plan that scans the table instead would read them all for every feature.
    if (side) await side.raw(`SELECT set_config('enable_seqscan', 'off', true)`);
    const checker = side ?? trx;
    // Problems found in Node, and local references used twice or already in use.
    const problems: FieldProblem[] = [];
    const refs = new LocalRefs();
    // Indexes of the features read, in their order: the ids are answered in it.
    const order: number[] = [];
    const read = async (): Promise<FeatureInput[] | undefined> => {
      const chunk = await source.read(CHUNK, problems);
      if (!chunk) return undefined;
      for (const input of chunk) order.push(input.index);
      // Beside the transaction where the checks run there: its own connection is busy with the COPY.
      problems.push(...(await refs.check(checker, viewer.agency, chunk, hasActiveAreas)));
      return chunk;
    };
    const check = (chunk: FeatureInput[]) => {
      const n = chunk.length;
      const indexes = new Array<number>(n), srids = new Array<number>(n), offsets = new Array<number>(n), lengths = new Array<number>(n);
      const geoJson = new Array<string | null>(n);
      const parts: Buffer[] = [];
      let at = 0;
      for (let k = 0; k < n; k++) {
        const input = chunk[k];
        if (input.ewkb === undefined) input.ewkb = multiPolygonEwkb(input.geometry, input.srid) ?? null;
        input.geometryText ??= JSON.stringify(input.geometry);
        indexes[k] = input.index;
        srids[k] = input.srid;
        offsets[k] = at;
        lengths[k] = input.ewkb?.length ?? 0;
        geoJson[k] = input.ewkb ? null : input.geometryText;
        if (input.ewkb) { parts.push(input.ewkb); at += input.ewkb.length; }
      }
      // A Buffer goes to PostgreSQL as a binary parameter: the bytes as they are.
      const pending = checker.raw(CHECK_SQL, [minLon, maxLon, minLat, maxLat, Buffer.concat(parts, at), indexes, srids, offsets, lengths, geoJson as string[], hasActiveAreas, viewer.agency])
        .then((result: { rows: CheckedRow[] }) => result.rows);
      pending.catch(() => {});
      return pending;
    };

    const geometryProblems: FieldProblem[] = [];
    const duplicates: FieldProblem[] = [];
    // Features by shape key: only those that share one can be equal. Indexes, not geometries:
    // the rows are compared once written (duplicatesWithin), so no geometry outlives its chunk.
    const byShape = new Map<number, number | number[]>();
    const extent = [Infinity, Infinity, -Infinity, -Infinity];
    const idByIndex = new Map<number, string>();
    // The overview cells of the rows written, counted here: the overview's insert trigger leaves
    // them to the import (db/migrations/*_tile_overview.ts, tile_overview_add_cells_*).
    const cellCounts: TopLevelCounts = new Map();
    const held: ReadyRow[][] = [];
    // Rows are written while the checks go on only when they run on another connection: on
    // the same one, a check would see the rows already written as existing areas.
    const overlap = side !== undefined;
    let sink: RowSink | undefined;
    let opening: Promise<RowSink> | undefined;
    const openSink = async () => {
      await trx.raw(`SELECT set_config('app.overview_cells_counted', 'hazardous_area', true)`);
      return server ? CopySink.open(trx, viewer.agency, actor) : new InsertSink(trx, viewer.agency, actor);
    };

    try {
      // One chunk checked beside the transaction, the next one already read, while this one is
      // being stored.
      let current = await read();
      let next = current ? check(current) : undefined;
      let following = current ? await read() : undefined;
      if (overlap && problems.length === 0) { opening = openSink(); opening.catch(() => {}); }
      while (current) {
        const rows = await next!;
        const chunk = current;
        current = following;
        next = current ? check(current) : undefined;
        following = current ? await read() : undefined;
        const inputByIdx = new Map(chunk.map((input) => [input.index, input]));
        const ready: ReadyRow[] = [];
        for (const row of rows) {
          const input = inputByIdx.get(row.idx)!;
          if (!row.valid) {
            geometryProblems.push({ feature: row.idx, field: '/geometry', reason: `invalid geometry: ${row.reason}`, ...(row.lx !== null ? { location: [row.lx, row.ly!] as [number, number] } : {}) });
            continue;
          }
          if (!row.inside) {
            geometryProblems.push({
              feature: row.idx,
              field: '/geometry',
              reason: `lies outside the service region (lon ${minLon}–${maxLon}, lat ${minLat}–${maxLat}) once transformed from ${crsLabel(input.srid)}: check the declared CRS and the axis order`,
            });
            continue;
          }
          for (const area of row.existing ?? []) {
            duplicates.push({ feature: row.idx, field: '/geometry', reason: `duplicates the polygon of hazardous area ${area.localRef} (${area.id})` });
          }
          const sameShape = byShape.get(row.shape_key!);
          if (sameShape === undefined) byShape.set(row.shape_key!, row.idx);
          else if (typeof sameShape === 'number') byShape.set(row.shape_key!, [sameShape, row.idx]);
          else sameShape.push(row.idx);
          addTopLevelCells(cellCounts, row.cx0!, row.cx1!, row.cy0!, row.cy1!, input.properties.classification);
          extent[0] = Math.min(extent[0], row.x0!); extent[1] = Math.min(extent[1], row.y0!);
          extent[2] = Math.max(extent[2], row.x1!); extent[3] = Math.max(extent[3], row.y1!);
          const id = timeOrderedUuid();
          idByIndex.set(row.idx, id);
          ready.push({ input, id, geometryText: input.geometryText!, ewkb: row.hex === null ? input.ewkb! : Buffer.from(row.hex, 'hex'), areaM2: row.area_m2! });
        }
        if (problems.length > 0 || geometryProblems.length > 0) continue;
        if (overlap) {
          sink ??= await opening!;
          await sink.write(ready);
        } else {
          held.push(ready);
        }
      }

      problems.push(...geometryProblems);
      // Every feature's problems, in the order of the features (a stable sort keeps each one's
      // own problems in the order they were found).
      problems.sort((a, b) => a.feature! - b.feature!);
      if (problems.length > 0) {
        if (opening) await (await opening).abandon('the import has problems');
        throwConflictsOrProblems(problems, true, source.total!);
      }
      sink ??= await (opening ?? openSink());
      for (const ready of held) await sink.write(ready);
      await sink.finish();
      const cells = [...countedCells(cellCounts)];
      // Every area of an import is unrestricted: all its cells count for other agencies too (u = n).
      const counts = cells.map((cell) => cell.n);
      await trx.raw(`SELECT set_config('app.overview_cells_counted', '', true),
          tile_overview_add_cells_hazardous_area(?, ?::integer[], ?::integer[], ?::text[], ?::integer[], ?::integer[])`, [
        viewer.agency, cells.map((cell) => cell.cx), cells.map((cell) => cell.cy), cells.map((cell) => cell.category), counts, counts,
      ]);
      // Duplicates are told only when nothing else is wrong; those within the import are found
      // among the rows just written (a throw from here rolls the whole import back).
      problems.push(...(await duplicatesWithin(trx, byShape, idByIndex)), ...duplicates);
      if (problems.length > 0) throwConflictsOrProblems(problems, true, source.total!);
    } catch (error) {
      if (opening) await (await opening.catch(() => undefined))?.abandon('the import failed');
      throw error;
    }

    const ids = order.map((index) => idByIndex.get(index)!);
    const m = FOOTPRINT_MARGIN;
    const changed: LonLatBox[] = ids.length > 0 ? [[extent[0] - m, extent[1] - m, extent[2] + m, extent[3] + m]] : [];
    return { ids, changed };
  });
}

/**
 * Local references, chunk by chunk: used twice in the import (the later feature is the one
 * reported), or by an active area of the agency (looked up only when it has any).
 */
class LocalRefs {
  private seen = new Map<string, number>();

  async check(trx: Knex.Transaction, owner: string, chunk: FeatureInput[], hasActiveAreas: boolean): Promise<FieldProblem[]> {
    const problems: FieldProblem[] = [];
    const fresh = new Map<string, number>();
    for (const input of chunk) {
      const ref = input.properties.localRef as string;
      const first = this.seen.get(ref);
      if (first !== undefined) {
        problems.push({ feature: input.index, field: '/properties/localRef', reason: `duplicates the localRef "${ref}" of feature ${first} in this import` });
      } else {
        this.seen.set(ref, input.index);
        fresh.set(ref, input.index);
      }
    }
    if (hasActiveAreas && fresh.size > 0) {
      const existing = await trx('hazardous_area').select('id', 'local_ref').where('owner_agency', owner).whereNull('retired_at')
        // One array parameter: a chunk can carry more references than a statement has parameters.
        .whereRaw('local_ref = ANY(?::text[])', [[...fresh.keys()]]);
      for (const row of existing) {
        problems.push({ feature: fresh.get(row.local_ref), field: '/properties/localRef', reason: `"${row.local_ref}" is already used by record ${row.id}` });
      }
    }
    return problems;
  }
}

/** Exact duplicates within the import: only rows that share a shape key can be equal, so only they are compared. */
async function duplicatesWithin(trx: Knex.Transaction, byShape: Map<number, number | number[]>, idByIndex: Map<number, string>): Promise<FieldProblem[]> {
  const candidates = [...byShape.values()].filter((group): group is number[] => typeof group !== 'number').flat();
  if (candidates.length === 0) return [];
  const result = await trx.raw(
    `SELECT array_agg(c.idx ORDER BY c.idx) AS indexes
     FROM unnest(?::integer[], ?::uuid[]) AS c(idx, id)
     JOIN hazardous_area h ON h.id = c.id
     GROUP BY md5(ST_AsEWKB(ST_Normalize(h.original_geom))) HAVING count(*) > 1`,
    [candidates, candidates.map((idx) => idByIndex.get(idx)!)],
  );
  const problems: FieldProblem[] = [];
  for (const { indexes } of result.rows as { indexes: number[] }[]) {
    for (const idx of indexes.slice(1)) {
      problems.push({ feature: idx, field: '/geometry', reason: `duplicates the polygon of feature ${indexes[0]} in this import` });
    }
  }
  return problems.sort((a, b) => a.feature! - b.feature!);
}
