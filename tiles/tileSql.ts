// The SQL of a tile, per layer. Every statement binds z, x, y; identifiers and expressions
// come only from tiles/layers.ts.
import type { TileLayer } from './layers';

export const EXTENT = 4096;
export const BUFFER = 64;
/** From this zoom on, features are drawn exactly; below it they merge into grid cells. */
export const EXACT_FROM_ZOOM = 10;

/**
 * Exact zooms. A shape that ST_AsMVTGeom collapses (smaller than the tile grid; it answers NULL)
 * is replaced by a point on its part inside the tile, flagged `collapsed`: a hazard never
 * vanishes from a map.
 *
 * The tile's envelope is made once per statement: each use is an uncorrelated scalar subquery
 * (an InitPlan, computed once and usable as an index condition). In the prepared statement's
 * generic plan a CTE of z, x, y is inlined instead, and ST_TileEnvelope and the envelope's
 * transformation to 4326 were made again for every feature (measured 5–10 % of a large tile).
 * A MATERIALIZED CTE would make it once too, but joined to the access view it lets the planner
 * scan every record before the box (measured 140 ms for a 15 ms tile).
 *
 * Each shape is made once, in the target list of a subquery kept apart by OFFSET 0, and the
 * query above it looks at it twice (the shape, or the point if it collapsed). Made in a LATERAL
 * function call instead, every row went through a function scan's tuplestore: measured in the
 * database's CPU time, that and an ST_IsEmpty per shape cost a 95 KB tile of zoom 10 about 25 %
 * more than the same features without the fallback.
 */
export function exactTileSql(layer: TileLayer): string {
  const attributes = layer.attributes.map((a) => `${a.sql} AS "${a.name}"`).join(',\n      ');
  const names = layer.attributes.map((a) => `s."${a.name}"`).join(', ');
  const envelope = 'ST_TileEnvelope(?::integer, ?::integer, ?::integer)';
  return `
WITH tile AS (SELECT ${envelope} AS env)
SELECT ST_AsMVT(q, '${layer.id}', ${EXTENT}, 'geom') AS tile FROM (
  SELECT ${names},
    coalesce(s.shape, ST_AsMVTGeom(ST_PointOnSurface(ST_Intersection(ST_Transform(s.exact, 3857), (SELECT env FROM tile))),
      (SELECT env::box2d FROM tile), ${EXTENT}, ${BUFFER}, true)) AS geom,
    (s.shape IS NULL) AS collapsed
  FROM (
    SELECT ${attributes},
      v.${layer.geometryColumn} AS exact,
      ST_AsMVTGeom(ST_Transform(v.${layer.geometryColumn}, 3857), (SELECT env::box2d FROM tile), ${EXTENT}, ${BUFFER}, true) AS shape
    FROM ${layer.view} AS v
    WHERE v.search_geom && (SELECT ST_Transform(env, 4326) FROM tile)
      AND v.${layer.geometryColumn} && (SELECT ST_Transform(env, 4326) FROM tile)
      AND v.retired_at IS NULL
    OFFSET 0
  ) AS s
) AS q
WHERE q.geom IS NOT NULL`;
}

/**
 * Overview zooms: the cells of visible_tile_overview_cell, kept by the tile overview migration
 * (per level 0–8, the cells — 1/128 of a tile of that zoom — that the records' bounding boxes
 * cover, one row per owner and category, admitted through viewer_access like the visible_*
 * views). A tile of zoom z ≥ 1 reads level z − 1: cells of 64 tile units, 64 to a side; zoom 0
 * reads level 0 (32 units, 128 to a side). So a tile reads at most (side + 2)² cells per group
 * instead of every record under it. Cells of one owner and category merge into runs along each
 * row (partitioned by the row first: sorting on an integer before text). Covering by
 * construction; no shape is transformed, clipped or measured. One cell of buffer around the
 * tile, as features reach into the tile buffer.
 */
export function overviewTileSql(layer: TileLayer): string {
  const groups = layer.overviewAttributes.map((a) => `${a.sql} AS "${a.name}"`).join(', ');
  const groupNames = layer.overviewAttributes.map((a) => `"${a.name}"`).join(', ');
  return `
WITH tile AS (
  SELECT p.z, p.x, p.y, greatest(p.z - 1, 0) AS level, CASE WHEN p.z = 0 THEN 128 ELSE 64 END AS side
  FROM (SELECT ?::integer AS z, ?::integer AS x, ?::integer AS y) AS p
),
cells AS (
  SELECT ${groups}, v.cx - t.x * t.side AS cx, v.cy - t.y * t.side AS cy, ${EXTENT} / t.side AS size
  FROM visible_tile_overview_cell AS v CROSS JOIN tile AS t
  WHERE v.record_kind = '${layer.kind}' AND v.z = t.level
    AND v.cx BETWEEN t.x * t.side - 1 AND t.x * t.side + t.side
    AND v.cy BETWEEN t.y * t.side - 1 AND t.y * t.side + t.side
),
runs AS (
  SELECT ${groupNames}, size, cy, min(cx) AS cx0, max(cx) AS cx1
  FROM (SELECT *, cx - row_number() OVER (PARTITION BY cy, ${groupNames} ORDER BY cx) AS run FROM cells) AS c
  GROUP BY cy, run, ${groupNames}, size
)
SELECT ST_AsMVT(q, '${layer.id}', ${EXTENT}, 'geom') AS tile FROM (
  SELECT ${groupNames}, true AS generalised, true AS overview,
    ST_ForcePolygonCCW(ST_MakeEnvelope(cx0 * size, cy * size, (cx1 + 1) * size, (cy + 1) * size)) AS geom
  FROM runs
) AS q`;
}

export interface PreparedLayerSql {
  exact: string;
  overview: string;
}

/** Bytes of a layer's tile per row as sent (see inParts). */
export const TILE_PART_BYTES = 32768;

/**
 * A layer's tile as rows of at most TILE_PART_BYTES, in order (none for an empty tile). node-pg
 * reads a bytea as hex text, one JavaScript string per value: a tile of 95 KB was a 190 KB
 * string, which V8 keeps in its large-object space (fresh pages from the system for each) —
 * decoding it cost 1.8 ms against 0.3 ms for the same bytes in 32 KB parts.
 */
function inParts(sql: string): string {
  return `
WITH layer_tile AS (${sql})
SELECT substring(layer_tile.tile FROM part FOR ${TILE_PART_BYTES}) AS tile
FROM layer_tile CROSS JOIN LATERAL generate_series(1, length(layer_tile.tile), ${TILE_PART_BYTES}) AS part
ORDER BY part`;
}

/** The statements a layer's tile is read with: each returns the tile's parts as rows of `tile`. */
export function prepareLayerSql(layer: TileLayer): PreparedLayerSql {
  return { exact: inParts(exactTileSql(layer)), overview: inParts(overviewTileSql(layer)) };
}
