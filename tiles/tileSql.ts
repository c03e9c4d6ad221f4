// The SQL of a tile, per layer. Every statement binds z, x, y; identifiers and expressions
// come only from tiles/layers.ts.
import type { TileLayer } from './layers';

export const EXTENT = 4096;
export const BUFFER = 64;
/** From this zoom on, features are drawn exactly; below it they merge into grid cells. */
export const EXACT_FROM_ZOOM = 10;
/** Overview cell size in tile units: 32 of 4096, i.e. 8 px on a 1024 px retina tile. */
export const OVERVIEW_CELL = 32;

// Spherical Mercator of a longitude / latitude, for placing cells without transforming shapes.
const MERC_X = (lon: string) => `(${lon}) * 20037508.342789244 / 180.0`;
const MERC_Y = (lat: string) => `ln(tan(pi() / 4 + radians(least(greatest(${lat}, -85.0511), 85.0511)) / 2)) * 6378137.0`;

const TILE = `
  tile AS (
    SELECT env, ST_Transform(env, 4326) AS env4326
    FROM (SELECT ST_TileEnvelope(?::integer, ?::integer, ?::integer) AS env) AS e
  )`;

/**
 * Exact zooms. A shape that ST_AsMVTGeom collapses (smaller than the tile grid) is replaced by
 * a point on its part inside the tile, flagged `collapsed`: a hazard never vanishes from a map.
 */
export function exactTileSql(layer: TileLayer): string {
  const attributes = layer.attributes.map((a) => `${a.sql} AS "${a.name}"`).join(',\n      ');
  return `
WITH ${TILE}
SELECT ST_AsMVT(q, '${layer.id}', ${EXTENT}, 'geom') AS tile FROM (
  SELECT ${attributes},
    coalesce(m.shape, ST_AsMVTGeom(ST_PointOnSurface(ST_Intersection(g.merc, t.env)), t.env, ${EXTENT}, ${BUFFER}, true)) AS geom,
    (m.shape IS NULL) AS collapsed
  FROM ${layer.view} AS v
  CROSS JOIN tile AS t
  CROSS JOIN LATERAL (SELECT ST_Transform(v.${layer.geometryColumn}, 3857) AS merc) AS g
  CROSS JOIN LATERAL (
    SELECT CASE WHEN ST_IsEmpty(s) THEN NULL ELSE s END AS shape
    FROM ST_AsMVTGeom(g.merc, t.env, ${EXTENT}, ${BUFFER}, true) AS s
  ) AS m
  WHERE v.search_geom && t.env4326 AND v.${layer.geometryColumn} && t.env4326 AND v.retired_at IS NULL
) AS q
WHERE q.geom IS NOT NULL`;
}

/**
 * Overview zooms: each visible feature marks the cells its bounding box covers, and the cells
 * of one owner and class merge. Covering by construction, and light: no shape is transformed
 * or clipped, and a tile holds at most (4096 / cell)² cells per group.
 */
export function overviewTileSql(layer: TileLayer): string {
  const groups = layer.overviewAttributes.map((a) => `${a.sql} AS "${a.name}"`).join(', ');
  const groupNames = layer.overviewAttributes.map((a) => `"${a.name}"`).join(', ');
  const geom = `v.${layer.geometryColumn}`;
  const cells = EXTENT / OVERVIEW_CELL;
  return `
WITH ${TILE},
grid AS (
  SELECT ST_XMin(env) AS x0, ST_YMax(env) AS y1, (ST_XMax(env) - ST_XMin(env)) / ${cells}.0 AS cell FROM tile
),
covered AS (
  SELECT ${groups},
    floor((${MERC_X(`ST_XMin(${geom})`)} - grid.x0) / grid.cell)::integer AS cx0,
    floor((${MERC_X(`ST_XMax(${geom})`)} - grid.x0) / grid.cell)::integer AS cx1,
    floor((grid.y1 - ${MERC_Y(`ST_YMax(${geom})`)}) / grid.cell)::integer AS cy0,
    floor((grid.y1 - ${MERC_Y(`ST_YMin(${geom})`)}) / grid.cell)::integer AS cy1
  FROM ${layer.view} AS v CROSS JOIN tile AS t CROSS JOIN grid
  WHERE v.search_geom && t.env4326 AND ${geom} && t.env4326 AND v.retired_at IS NULL
),
cells AS (
  SELECT DISTINCT ${groupNames}, cx, cy
  FROM covered,
    generate_series(greatest(cx0, -1), least(cx1, ${cells})) AS cx,
    generate_series(greatest(cy0, -1), least(cy1, ${cells})) AS cy
)
SELECT ST_AsMVT(q, '${layer.id}', ${EXTENT}, 'geom') AS tile FROM (
  SELECT ${groupNames}, true AS generalised, true AS overview,
    ST_ForcePolygonCCW(ST_MakeEnvelope(cx * ${OVERVIEW_CELL}, cy * ${OVERVIEW_CELL}, (cx + 1) * ${OVERVIEW_CELL}, (cy + 1) * ${OVERVIEW_CELL})) AS geom
  FROM cells
) AS q`;
}

export interface PreparedLayerSql {
  exact: string;
  overview: string;
}

export function prepareLayerSql(layer: TileLayer): PreparedLayerSql {
  return { exact: exactTileSql(layer), overview: overviewTileSql(layer) };
}
