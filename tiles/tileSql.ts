// The SQL of a tile, per layer. Every statement binds z, x, y; identifiers and expressions
// come only from tiles/layers.ts.
import type { TileLayer } from './layers';

export const EXTENT = 4096;
export const BUFFER = 64;
/** From this zoom on, features are drawn exactly; below it they merge into grid cells. */
export const EXACT_FROM_ZOOM = 10;
/** Overview cell size in tile units: 32 of 4096, i.e. 8 px on a 1024 px retina tile. */
export const OVERVIEW_CELL = 32;

/** Zoom whose cells the records store (cell_x0 … cell_y1, see the sharing migration). */
const CELL_ZOOM = 9;

const TILE = `
  tile AS (
    SELECT p.z, p.x, p.y, e.env, ST_Transform(e.env, 4326) AS env4326
    FROM (SELECT ?::integer AS z, ?::integer AS x, ?::integer AS y) AS p
    CROSS JOIN LATERAL (SELECT ST_TileEnvelope(p.z, p.x, p.y) AS env) AS e
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
 * of one owner and class merge. Each record stores its cell range at zoom 9, so a coarser zoom's
 * cells are that range shifted right: no shape is transformed, clipped or measured. Covering by
 * construction; at most 128² cells per group and tile.
 */
export function overviewTileSql(layer: TileLayer): string {
  const groups = layer.overviewAttributes.map((a) => `${a.sql} AS "${a.name}"`).join(', ');
  const groupNames = layer.overviewAttributes.map((a) => `"${a.name}"`).join(', ');
  const cells = EXTENT / OVERVIEW_CELL;
  // A closed hazardous area has no remaining polygon: nothing to draw.
  const drawn = layer.geometryColumn === 'remaining_geom' ? 'AND v.remaining_geom IS NOT NULL' : '';
  return `
WITH ${TILE},
covered AS (
  SELECT ${groups},
    (v.cell_x0 >> (${CELL_ZOOM} - t.z)) - t.x * ${cells} AS cx0,
    (v.cell_x1 >> (${CELL_ZOOM} - t.z)) - t.x * ${cells} AS cx1,
    (v.cell_y0 >> (${CELL_ZOOM} - t.z)) - t.y * ${cells} AS cy0,
    (v.cell_y1 >> (${CELL_ZOOM} - t.z)) - t.y * ${cells} AS cy1
  FROM ${layer.view} AS v CROSS JOIN tile AS t
  WHERE v.search_geom && t.env4326 AND v.retired_at IS NULL ${drawn}
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
