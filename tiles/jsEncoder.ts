// The second tile encoder, for a PostGIS built without protobuf (the embedded PGlite one), where
// ST_AsMVT and ST_AsMVTGeom do not exist. The database still does the geometry work — transform
// to tile units, snap, clip to the buffered tile, repair — and hands back GeoJSON in tile
// coordinates with the attributes as jsonb; JavaScript only writes the protobuf (vt-pbf).
// The rows, attributes, collapsed-point fallback and overview cells are those of tileSql.ts,
// so a tile from either encoder carries the same features.
import type { TileLayer } from './layers';
import { BUFFER, EXTENT, overviewTileSql } from './tileSql';

export interface JsTileSql {
  exact: string;
  overview: string;
}

/** One row of a JS-encoder query: the geometry in tile units, and the feature's attributes. */
export interface TileSpaceRow {
  geometry: string | GeoJSON.Geometry | null;
  attributes: Record<string, unknown>;
}

export interface EncodedLayer {
  name: string;
  features: TileSpaceRow[];
}

// vt-pbf ships no type declarations; this is the one function of it used here.
interface VtFeature { type: 1 | 2 | 3; geometry: number[][] | number[][][]; tags: Record<string, unknown> }
const vtpbf: { fromGeojsonVt(layers: Record<string, { features: VtFeature[] }>, options: { version: number; extent: number }): Uint8Array } = require('vt-pbf');

const TILE = `
  tile AS (
    SELECT env, ST_Transform(env, 4326) AS env4326,
      ${EXTENT} / (ST_XMax(env) - ST_XMin(env)) AS sx,
      -(${EXTENT} / (ST_YMax(env) - ST_YMin(env))) AS sy,
      ST_MakeEnvelope(-${BUFFER}, -${BUFFER}, ${EXTENT + BUFFER}, ${EXTENT + BUFFER}) AS buffered,
      -- For snapped points: ClipByBox2D drops a multipoint's members on the box's boundary.
      ST_MakeEnvelope(-${BUFFER + 0.5}, -${BUFFER + 0.5}, ${EXTENT + BUFFER + 0.5}, ${EXTENT + BUFFER + 0.5}) AS around
    FROM (SELECT ST_TileEnvelope(?::integer, ?::integer, ?::integer) AS env) AS e
  )`;

// Mercator → tile units with y pointing down. The factors are ST_AsMVTGeom's (extent / width,
// −extent / height, offsets from xmin / ymax), so both encoders round the same numbers.
const toTile = (merc: string) => `ST_Affine(${merc}, t.sx, 0, 0, t.sy, -ST_XMin(t.env) * t.sx, -ST_YMax(t.env) * t.sy)`;

export function exactJsTileSql(layer: TileLayer): string {
  const attributes = layer.attributes.map((a) => `'${a.name}', ${a.sql}`).join(',\n    ');
  return `
WITH ${TILE}
SELECT ST_AsGeoJSON(coalesce(m.shape, c.point)) AS geometry,
  jsonb_build_object(${attributes},
    'collapsed', m.shape IS NULL) AS attributes
FROM ${layer.view} AS v
CROSS JOIN tile AS t
CROSS JOIN LATERAL (SELECT ST_Transform(v.${layer.geometryColumn}, 3857) AS merc OFFSET 0) AS g
CROSS JOIN LATERAL (SELECT ${toTile('g.merc')} AS g OFFSET 0) AS a
-- In ST_AsMVTGeom's order: snap, then clip to the buffered tile at its integer bounds. Clipping
-- first would cut each slanted edge where the exact edge crosses the bound, which once snapped
-- lies up to a few units along the bound from where the snapped edge crosses it. A point is
-- kept if it snaps within the buffer, as ST_AsMVTGeom keeps those within half a unit of it.
-- ST_SnapToGrid also drops repeated points and the rings and lines that collapse onto the grid.
CROSS JOIN LATERAL (
  SELECT CASE
    WHEN ST_Dimension(a.g) = 0 THEN ST_ClipByBox2D(ST_SnapToGrid(a.g, 1), t.around)
    WHEN a.g @ t.buffered THEN ST_SnapToGrid(a.g, 1)
    ELSE ST_SnapToGrid(ST_ClipByBox2D(ST_SnapToGrid(a.g, 1), t.buffered), 1)
  END AS g OFFSET 0
) AS s
-- Snapping can fold a polygon onto itself, which MVT readers cannot fill: such a polygon is
-- repaired, keeping only its areal parts (a part thinner than the grid has collapsed), and
-- snapped again since MakeValid may cross edges between grid points. ST_IsValid's flags form
-- is used because the plain one sends a NOTICE per invalid shape to the client.
CROSS JOIN LATERAL (
  SELECT CASE ST_Dimension(a.g)
    WHEN 0 THEN s.g
    WHEN 1 THEN ST_CollectionExtract(s.g, 2)
    ELSE (SELECT CASE WHEN ST_IsValid(p.g, 0) THEN p.g
                 ELSE ST_CollectionExtract(ST_SnapToGrid(ST_CollectionExtract(ST_MakeValid(p.g), 3), 1), 3) END
          FROM (SELECT ST_CollectionExtract(s.g, 3) AS g) AS p)
  END AS g
  OFFSET 0
) AS r
-- MVT's exterior rings have positive area in tile coordinates (y down): counter-clockwise by
-- PostGIS's y-up reckoning. An empty result is ST_AsMVTGeom's NULL: the shape has collapsed.
-- So is a polygon of less than one square unit once snapped (a half-unit triangle left by a
-- speck straddling grid lines), which ST_AsMVTGeom (wagyu) drops too.
CROSS JOIN LATERAL (
  SELECT CASE WHEN r.g IS NULL OR ST_IsEmpty(r.g) THEN NULL WHEN ST_Dimension(r.g) = 2 AND ST_Area(r.g) < 1 THEN NULL WHEN ST_Dimension(r.g) = 2 THEN ST_ForcePolygonCCW(r.g) ELSE r.g END AS shape
  OFFSET 0
) AS m
-- As in tileSql.ts: a collapsed shape is kept as a point on its part inside the tile (never
-- only the buffer), so no hazard vanishes from a map. Computed only for those.
CROSS JOIN LATERAL (
  SELECT CASE WHEN ST_IsEmpty(o.g) THEN NULL ELSE ST_SnapToGrid(${toTile('o.g')}, 1) END AS point
  FROM (SELECT CASE WHEN m.shape IS NULL THEN ST_PointOnSurface(ST_Intersection(g.merc, t.env)) END AS g OFFSET 0) AS o
  OFFSET 0
) AS c
WHERE v.search_geom && t.env4326 AND v.${layer.geometryColumn} && t.env4326 AND v.retired_at IS NULL
  AND coalesce(m.shape, c.point) IS NOT NULL`;
}

// The overview cells are built in tile coordinates already, and only ST_AsMVT's aggregation
// separates them from a JS tile: the statement is tileSql.ts's own, with that last step swapped,
// so the two encoders cannot drift apart on which cells a tile holds.
const OVERVIEW_HEAD = (layer: TileLayer) => `SELECT ST_AsMVT(q, '${layer.id}', ${EXTENT}, 'geom') AS tile FROM (`;

export function overviewJsTileSql(layer: TileLayer): string {
  const sql = overviewTileSql(layer);
  const head = OVERVIEW_HEAD(layer);
  if (sql.split(head).length !== 2) throw new Error(`tiles/jsEncoder.ts: overviewTileSql(${layer.id}) no longer ends in "${head}"; update OVERVIEW_HEAD`);
  const names = [...layer.overviewAttributes.map((a) => a.name), 'generalised', 'overview'];
  const attributes = names.map((name) => `'${name}', q."${name}"`).join(', ');
  return sql.replace(head, `SELECT ST_AsGeoJSON(q.geom) AS geometry, jsonb_build_object(${attributes}) AS attributes FROM (`);
}

export function jsTileSql(layer: TileLayer): JsTileSql {
  return { exact: exactJsTileSql(layer), overview: overviewJsTileSql(layer) };
}

// ---------------------------------------------------------------------------------------------
// Encoding

const closeRing = (ring: number[][]) => {
  const [first, last] = [ring[0], ring[ring.length - 1]];
  return first[0] === last[0] && first[1] === last[1] ? ring : [...ring, first];
};

/** GeoJSON in tile units → geojson-vt's feature shape (type 1/2/3, flat list of parts or rings). */
function toVtFeature(geometry: GeoJSON.Geometry, tags: Record<string, unknown>): VtFeature | null {
  switch (geometry.type) {
    case 'Point': return { type: 1, geometry: [geometry.coordinates], tags };
    case 'MultiPoint': return geometry.coordinates.length ? { type: 1, geometry: geometry.coordinates, tags } : null;
    case 'LineString': return { type: 2, geometry: [geometry.coordinates], tags };
    case 'MultiLineString': return geometry.coordinates.length ? { type: 2, geometry: geometry.coordinates, tags } : null;
    // vt-pbf writes a ring's last position as ClosePath, so rings must be closed (GeoJSON's are).
    case 'Polygon': return { type: 3, geometry: geometry.coordinates.map(closeRing), tags };
    case 'MultiPolygon': return geometry.coordinates.length ? { type: 3, geometry: geometry.coordinates.flat().map(closeRing), tags } : null;
    default: return null;
  }
}

/**
 * One tile of the given layers, as ST_AsMVT would write them (spec version 2, extent 4096).
 * Layers without features are left out, as ST_AsMVT returns nothing for no rows.
 */
export function encodeLayers(layers: EncodedLayer[]): Buffer {
  const tile: Record<string, { features: VtFeature[] }> = {};
  for (const layer of layers) {
    const features: VtFeature[] = [];
    for (const row of layer.features) {
      if (!row.geometry) continue;
      const geometry = typeof row.geometry === 'string' ? JSON.parse(row.geometry) as GeoJSON.Geometry : row.geometry;
      const feature = toVtFeature(geometry, row.attributes);
      if (feature) features.push(feature);
    }
    if (features.length) tile[layer.name] = { features };
  }
  if (Object.keys(tile).length === 0) return Buffer.alloc(0);
  const encoded = vtpbf.fromGeojsonVt(tile, { version: 2, extent: EXTENT });
  return Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength);
}
