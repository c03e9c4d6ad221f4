// The tile layers. Each reads its access view (the same projection as the records API), so a
// tile carries exactly what the viewer may see: at `footprint` the view's geometry is the
// footprint and the hidden columns are NULL, which ST_AsMVT leaves out of the feature.
//
// Each layer's SQL is built here once, from these trusted constants; requests only bind
// values (z, x, y). One page of SQL per tile kind, as in pg_tileserv. Attributes read plain
// columns of the view, never its `properties`: that would build the whole projection per feature.

export type FieldType = 'String' | 'Number' | 'Boolean';

export interface TileLayer {
  id: string;
  title: string;
  view: string;
  /** The geometry drawn: a column of the access view. */
  geometryColumn: string;
  /** Attributes at exact zooms: SQL expression over the view (alias v) → MVT field name. */
  attributes: { sql: string; name: string; type: FieldType; description: string }[];
  /** The record kind: the overview cells' `record_kind` (db/migrations/*_tile_overview.ts). */
  kind: 'hazardous_area' | 'land_release' | 'minefield_record' | 'testimony';
  /**
   * Attributes kept at overview zooms, where neighbouring features merge into grid cells: SQL
   * over visible_tile_overview_cell (alias v), whose `category` is the kind's class (the
   * migration's CATEGORY) → MVT field name.
   */
  overviewAttributes: { sql: string; name: string; type: FieldType }[];
}

const common = [
  { sql: 'v.id::text', name: 'id', type: 'String', description: 'record id' },
  { sql: 'v.owner_agency', name: 'ownerAgency', type: 'String', description: 'owner agency' },
  { sql: 'v.access_level', name: 'accessLevel', type: 'String', description: 'the viewer\'s level: owner, full, summary or footprint' },
  { sql: "(v.access_level = 'footprint')", name: 'generalised', type: 'Boolean', description: 'true where the shape is a generalised footprint' },
] as const;

export const TILE_LAYERS: TileLayer[] = [
  {
    id: 'hazardous-areas',
    title: 'Hazardous areas (remaining)',
    kind: 'hazardous_area',
    view: 'visible_hazardous_area',
    geometryColumn: 'remaining_geom',
    attributes: [
      ...common,
      { sql: 'v.classification', name: 'classification', type: 'String', description: 'SHA or CHA' },
      { sql: 'v.status', name: 'status', type: 'String', description: 'open, worked-on or closed' },
      { sql: "array_to_string(v.hazard_types, ',')", name: 'hazardTypes', type: 'String', description: 'hazard types, comma-separated' },
      { sql: 'v.remaining_area_m2', name: 'remainingAreaM2', type: 'Number', description: 'remaining area, m²' },
    ],
    overviewAttributes: [
      { sql: 'v.owner_agency', name: 'ownerAgency', type: 'String' },
      { sql: 'v.category', name: 'classification', type: 'String' },
    ],
  },
  {
    id: 'land-releases',
    title: 'Land release',
    kind: 'land_release',
    view: 'visible_land_release',
    geometryColumn: 'geom',
    attributes: [
      ...common,
      { sql: 'v.method', name: 'method', type: 'String', description: 'cancelled, reduced or cleared' },
      { sql: 'v.release_date::text', name: 'releaseDate', type: 'String', description: 'date of release' },
      { sql: 'v.area_m2', name: 'areaM2', type: 'Number', description: 'released area, m²' },
    ],
    overviewAttributes: [
      { sql: 'v.owner_agency', name: 'ownerAgency', type: 'String' },
      { sql: 'v.category', name: 'method', type: 'String' },
    ],
  },
  {
    id: 'minefield-records',
    title: 'Minefield record perimeters',
    kind: 'minefield_record',
    view: 'visible_minefield_record',
    geometryColumn: 'geom',
    attributes: [
      ...common,
      { sql: 'v.accuracy_grade', name: 'accuracyGrade', type: 'String', description: 'accuracy assessment grade' },
    ],
    overviewAttributes: [{ sql: 'v.owner_agency', name: 'ownerAgency', type: 'String' }],
  },
  {
    id: 'testimonies',
    title: 'Places described in testimony',
    kind: 'testimony',
    view: 'visible_testimony',
    geometryColumn: 'geom',
    attributes: [
      ...common,
      { sql: 'v.uncertainty_m', name: 'uncertaintyM', type: 'Number', description: 'uncertainty radius, m' },
    ],
    overviewAttributes: [{ sql: 'v.owner_agency', name: 'ownerAgency', type: 'String' }],
  },
];

export const TILE_LAYER_BY_ID = new Map(TILE_LAYERS.map((layer) => [layer.id, layer]));

/** Flags every layer's features may carry besides its attributes. */
export const TILE_FLAGS: { name: string; type: FieldType; description: string }[] = [
  { name: 'collapsed', type: 'Boolean', description: 'true where the shape is too small for the zoom and is drawn as a point' },
  { name: 'overview', type: 'Boolean', description: 'true at overview zooms, where features merge into grid cells' },
];
