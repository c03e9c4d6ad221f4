// The cells an overview tile draws a record in, defined once for the schema (migrations 04 and
// 07) and for the bulk import, which counts the cells of the areas it writes itself.
//
// Each record keeps the range of cells its bounding box covers at zoom 9 (CELL_ZOOM: 128 cells
// to a tile, 2^16 around the world in spherical Mercator); tile_overview_cell counts them for
// every level from TOP_LEVEL down to 0, a level's cells being the zoom 9 ones shifted right.

export const CELL_ZOOM = 9;
/** Levels kept: TOP_LEVEL … 0. A tile of zoom z ≥ 1 draws level z − 1's cells, 64 to its side. */
export const TOP_LEVEL = 8;
const OVERVIEW_CELLS = 1 << (CELL_ZOOM + 7);

/** SQL: the zoom 9 cell column of a longitude (an SQL expression). */
export const cellXSql = (lon: string) => `least(${OVERVIEW_CELLS - 1}, greatest(0, floor((${lon} + 180.0) / 360.0 * ${OVERVIEW_CELLS})))::integer`;
/** SQL: the zoom 9 cell row of a latitude (an SQL expression), clamped to Web Mercator's range. */
export const cellYSql = (lat: string) =>
  `least(${OVERVIEW_CELLS - 1}, greatest(0, floor((1 - ln(tan(radians(least(greatest(${lat}, -85.0511), 85.0511))) + 1 / cos(radians(least(greatest(${lat}, -85.0511), 85.0511)))) / pi()) / 2 * ${OVERVIEW_CELLS})))::integer`;

const TOP_LEVEL_CELLS = 1 << (TOP_LEVEL + 7);

/** Counts of top-level cells: per category, per cell (cx × cells to a side + cy, a small integer: a fast key). */
export type TopLevelCounts = Map<string, Map<number, number>>;

/** Adds one record, given its zoom 9 cell range, to the counts of the top level's cells. */
export function addTopLevelCells(counts: TopLevelCounts, x0: number, x1: number, y0: number, y1: number, category: string): void {
  const shift = CELL_ZOOM - TOP_LEVEL;
  let cells = counts.get(category);
  if (!cells) counts.set(category, (cells = new Map()));
  for (let cx = x0 >> shift; cx <= x1 >> shift; cx++) {
    for (let cy = y0 >> shift; cy <= y1 >> shift; cy++) {
      const key = cx * TOP_LEVEL_CELLS + cy;
      cells.set(key, (cells.get(key) ?? 0) + 1);
    }
  }
}

/** The counted cells, one entry each. */
export function* countedCells(counts: TopLevelCounts): Generator<{ cx: number; cy: number; category: string; n: number }> {
  for (const [category, cells] of counts) {
    for (const [key, n] of cells) yield { cx: Math.floor(key / TOP_LEVEL_CELLS), cy: key % TOP_LEVEL_CELLS, category, n };
  }
}
