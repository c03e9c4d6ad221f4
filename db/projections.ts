// What each access level may see of a record: one list of properties per record kind, each with
// the levels that see it and its SQL over a row. Two things are generated from it, so they can
// never disagree:
//  - project_<kind>(r, level), the projection every read path uses (the sharing migration);
//  - the change feed's patch between two states of a row seen at one level (the feed
//    migration): each property compared as its SQL value, a changed one replaced whole — no
//    projection built, printed or parsed for an update.
// Below full, neither the version nor edit times are shown: they would tell a partner that
// something it cannot see has changed.

export const ACCESS_LEVELS = ['footprint', 'summary', 'full', 'owner'] as const;
export type AccessLevel = (typeof ACCESS_LEVELS)[number];
export type RecordKind = 'hazardous_area' | 'land_release' | 'minefield_record' | 'testimony';

export interface ProjectedProperty {
  name: string;
  levels: readonly AccessLevel[];
  /** The value over a row (`r` is the row expression, e.g. `r` or `(s.n)`; `level` the level's). */
  sql: (r: string, level: string) => string;
  /** A shape: shown as GeoJSON (9 decimals, as the records API), compared as geometry. */
  geojson?: boolean;
}

const ALL: readonly AccessLevel[] = ACCESS_LEVELS;
const SUMMARY_UP: readonly AccessLevel[] = ['summary', 'full', 'owner'];
const FULL_UP: readonly AccessLevel[] = ['full', 'owner'];
const ONLY = (level: AccessLevel): readonly AccessLevel[] => [level];

const property = (name: string, levels: readonly AccessLevel[], sql: (r: string, level: string) => string, geojson = false): ProjectedProperty =>
  ({ name, levels, sql, geojson });
const column = (name: string, levels: readonly AccessLevel[], columnName: string) => property(name, levels, (r) => `${r}.${columnName}`);

const COMMON_HEAD = [
  column('ownerAgency', ALL, 'owner_agency'),
  property('accessLevel', ALL, (_r, level) => level),
];
const COMMON_TAIL = [
  column('version', FULL_UP, 'version'),
  property('inputCrs', FULL_UP, (r) => `'EPSG:' || ${r}.input_crs`),
  column('createdBy', FULL_UP, 'created_by'),
  column('createdAt', FULL_UP, 'created_at'),
  column('updatedBy', FULL_UP, 'updated_by'),
  column('updatedAt', FULL_UP, 'updated_at'),
  column('restricted', ONLY('owner'), 'restricted'),
];
const GENERALISED = property('generalised', ONLY('footprint'), () => 'true');

export const PROJECTIONS: Record<RecordKind, ProjectedProperty[]> = {
  hazardous_area: [
    ...COMMON_HEAD,
    column('classification', ALL, 'classification'),
    GENERALISED,
    column('localRef', SUMMARY_UP, 'local_ref'),
    column('name', FULL_UP, 'name'),
    column('status', SUMMARY_UP, 'status'),
    column('hazardTypes', SUMMARY_UP, 'hazard_types'),
    column('evidence', FULL_UP, 'evidence'),
    column('estimatedDeviceCount', FULL_UP, 'estimated_device_count'),
    column('marking', FULL_UP, 'marking'),
    column('priority', FULL_UP, 'priority'),
    column('informationDate', SUMMARY_UP, 'information_date'),
    column('originalAreaM2', SUMMARY_UP, 'original_area_m2'),
    column('remainingAreaM2', SUMMARY_UP, 'remaining_area_m2'),
    column('releasedAreaM2', SUMMARY_UP, 'released_area_m2'),
    property('remainingGeometry', SUMMARY_UP, (r) => `${r}.remaining_geom`, true),
    ...COMMON_TAIL,
  ],
  land_release: [
    ...COMMON_HEAD,
    column('method', ALL, 'method'),
    GENERALISED,
    column('localRef', SUMMARY_UP, 'local_ref'),
    column('hazardousAreaId', SUMMARY_UP, 'hazardous_area_id'),
    column('activity', SUMMARY_UP, 'activity'),
    column('releaseDate', SUMMARY_UP, 'release_date'),
    column('areaM2', SUMMARY_UP, 'area_m2'),
    property('handoverDate', ONLY('summary'), (r) => `${r}.handover->'date'`),
    column('operator', FULL_UP, 'operator'),
    column('clearanceDepthCm', FULL_UP, 'clearance_depth_cm'),
    column('devicesFound', FULL_UP, 'devices_found'),
    column('handover', FULL_UP, 'handover'),
    ...COMMON_TAIL,
  ],
  minefield_record: [
    ...COMMON_HEAD,
    GENERALISED,
    column('localRef', SUMMARY_UP, 'local_ref'),
    property('hazardTypes', ONLY('summary'), (r) => `(SELECT jsonb_agg(DISTINCT m->>'type') FROM jsonb_array_elements(${r}.mine_types) AS m)`),
    column('areaM2', SUMMARY_UP, 'area_m2'),
    column('laidFrom', SUMMARY_UP, 'laid_from'),
    column('laidTo', SUMMARY_UP, 'laid_to'),
    property('accuracyAssessment', ONLY('summary'), (r) => `jsonb_build_object('grade', ${r}.accuracy_assessment->'grade')`),
    column('accuracyAssessment', FULL_UP, 'accuracy_assessment'),
    column('name', FULL_UP, 'name'),
    column('referencePoints', FULL_UP, 'reference_points'),
    column('traverse', FULL_UP, 'traverse'),
    column('traverseMisclosureM', FULL_UP, 'traverse_misclosure_m'),
    column('mineTypes', FULL_UP, 'mine_types'),
    column('totalMines', FULL_UP, 'total_mines'),
    column('emplacingMethod', FULL_UP, 'emplacing_method'),
    column('fuzeType', FULL_UP, 'fuze_type'),
    column('fuzeLifetime', FULL_UP, 'fuze_lifetime'),
    column('selfDestructPeriod', FULL_UP, 'self_destruct_period'),
    column('antiHandling', FULL_UP, 'anti_handling'),
    column('rows', FULL_UP, 'rows'),
    column('source', FULL_UP, 'source'),
    ...COMMON_TAIL,
  ],
  testimony: [
    ...COMMON_HEAD,
    GENERALISED,
    column('localRef', SUMMARY_UP, 'local_ref'),
    column('interviewDate', ONLY('summary'), 'interview_date'),
    column('uncertaintyM', SUMMARY_UP, 'uncertainty_m'),
    property('hazardTypes', ONLY('summary'), (r) => `(SELECT jsonb_agg(DISTINCT d->>'type') FROM jsonb_array_elements(${r}.devices_described) AS d)`),
    column('layingPeriod', SUMMARY_UP, 'laying_period'),
    column('sourceReliability', SUMMARY_UP, 'source_reliability'),
    column('informationReliability', SUMMARY_UP, 'information_reliability'),
    column('informantCode', FULL_UP, 'informant_code'),
    column('interview', FULL_UP, 'interview'),
    column('narrative', FULL_UP, 'narrative'),
    column('devicesDescribed', FULL_UP, 'devices_described'),
    ...COMMON_TAIL,
  ],
};

const propertiesAt = (kind: RecordKind, level: AccessLevel) => PROJECTIONS[kind].filter((p) => p.levels.includes(level));

/** A CASE over the access levels of `level`, each branch made by `branch`; NULL for a level that sees nothing. */
const perLevel = (level: string, branch: (at: AccessLevel) => string) =>
  `CASE ${level} ${ACCESS_LEVELS.map((at) => `WHEN '${at}' THEN ${branch(at)}`).join(' ')} END`;

/** Row `r` at `level` as a json or jsonb object (both builders make values JSON as to_jsonb does). */
const objectSql = (kind: RecordKind, r: string, level: string, type: 'json' | 'jsonb') => perLevel(level, (at) =>
  `${type}_build_object(${propertiesAt(kind, at).map((p) =>
    `'${p.name}', ${p.geojson ? `ST_AsGeoJSON(${p.sql(r, level)}, 9)::${type}` : p.sql(r, level)}`).join(', ')})`);

/** The body of project_<kind>(r, level). */
export function projectionSql(kind: RecordKind): string {
  return objectSql(kind, 'r', 'level', 'jsonb');
}

/**
 * The projection of row `r` at `level` as JSON text, for a feed event that carries it whole: the
 * same properties and values as project_<kind>() (json rather than jsonb: nothing is parsed into
 * a tree, nor a shape's GeoJSON, only to be printed again).
 */
export function projectionTextSql(kind: RecordKind, r: string, level: string): string {
  return `(${objectSql(kind, r, level, 'json')})::text`;
}

/**
 * The JSON Patch operations (RFC 6902, as text without the brackets; NULL when none) from state
 * `o` to state `n`, both seen at `level`: one `replace` per property that differs. Every property
 * of a level is present at that level (NULL shows as null), so `replace` always applies.
 */
export function patchSql(kind: RecordKind, o: string, n: string, level: string): string {
  return perLevel(level, (at) => {
    const operations = propertiesAt(kind, at).filter((p) => p.name !== 'accessLevel').map((p) => {
      const value = p.geojson ? `coalesce(ST_AsGeoJSON(${p.sql(n, level)}, 9), 'null')` : `coalesce(to_jsonb(${p.sql(n, level)})::text, 'null')`;
      return `CASE WHEN ${p.sql(o, level)} IS DISTINCT FROM ${p.sql(n, level)} THEN '{"op":"replace","path":"/${p.name}","value":' || ${value} || '}' END`;
    });
    return `nullif(concat_ws(',', ${operations.join(', ')}), '')`;
  });
}
