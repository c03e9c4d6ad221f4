// Hazardous areas (SHA / CHA): the original polygon as recorded, and the remaining polygon
// and working status derived from land release (records/hazardousAreaStatus.ts).
import type { Knex } from 'knex';
import { FieldProblem, conflict } from '../server/problem';
import {
  CollectionDefinition, FilterDefinition, LockedRecord, WriteContext, enumFilter, textFilter,
} from './collection';
import type { FeatureInput } from './featureInput';
import { refreshHazardousArea } from './hazardousAreaStatus';
import { HAZARD_TYPES, compileValidator, hazardousAreaSchema } from './schemas';
import { stageGeometries } from './stageGeometry';
import { importHazardousAreas } from './hazardousAreaImport';
import { checkLocalRefs, retireRecord, throwConflictsOrProblems } from './writeSupport';

const validateProperties = compileValidator(hazardousAreaSchema);

const hazardTypeFilter: FilterDefinition = {
  name: 'hazardType',
  description: 'Only areas that hold this hazard type (among others).',
  schema: { type: 'string', enum: HAZARD_TYPES },
  apply: (query, value) => { query.whereRaw('hazard_types @> ARRAY[?]::text[]', [value]); },
};

function columnsOf(properties: Record<string, any>) {
  return {
    local_ref: properties.localRef,
    name: properties.name ?? {},
    classification: properties.classification,
    hazard_types: properties.hazardTypes,
    evidence: properties.evidence ?? [],
    estimated_device_count: properties.estimatedDeviceCount ?? null,
    marking: properties.marking ?? 'none',
    priority: properties.priority ?? 'medium',
    information_date: properties.informationDate,
  };
}

/** Exact duplicates of a polygon, within the import or against the agency's active areas. */
async function duplicatePolygons(trx: Knex.Transaction, owner: string, bulk: boolean, excludeId?: string): Promise<FieldProblem[]> {
  const problems: FieldProblem[] = [];
  const where = (idx: number) => (bulk ? { feature: idx } : {});
  // Normalising every polygon of a large import costs more than the rest of this check; only
  // rows that share a shape key (equal polygons always do) can be equal, so only they are.
  const within = await trx.raw(`
    SELECT array_agg(idx ORDER BY idx) AS indexes FROM staged_geometry
    WHERE shape_key IS NULL
       OR shape_key IN (SELECT shape_key FROM staged_geometry GROUP BY shape_key HAVING count(*) > 1)
    GROUP BY md5(ST_AsEWKB(ST_Normalize(ST_Multi(geom)))) HAVING count(*) > 1`);
  for (const { indexes } of within.rows) {
    for (const idx of indexes.slice(1)) {
      problems.push({ ...where(idx), field: '/geometry', reason: `duplicates the polygon of feature ${indexes[0]} in this import` });
    }
  }
  const existing = await trx.raw(
    `SELECT s.idx, h.id, h.local_ref FROM staged_geometry s
     JOIN hazardous_area h ON h.owner_agency = ? AND h.retired_at IS NULL AND h.footprint_geom && s.geom
       AND h.id IS DISTINCT FROM ?::uuid AND ST_Equals(h.original_geom, ST_Multi(s.geom))
     ORDER BY s.idx`,
    [owner, excludeId ?? null],
  );
  for (const row of existing.rows) {
    problems.push({ ...where(row.idx), field: '/geometry', reason: `duplicates the polygon of hazardous area ${row.local_ref} (${row.id})` });
  }
  return problems;
}

async function create(context: WriteContext, inputs: FeatureInput[], bulk: boolean): Promise<string[]> {
  if (bulk) return (await importHazardousAreas(context, inputs)).ids;
  const { trx, viewer, actor } = context;
  const problems = await checkLocalRefs(trx, 'hazardous_area', viewer.agency, inputs, false);
  problems.push(...(await stageGeometries(trx, inputs, false, { areaAndShape: true })));
  if (problems.length === 0) problems.push(...(await duplicatePolygons(trx, viewer.agency, false)));
  throwConflictsOrProblems(problems, false, inputs.length);

  const input = inputs[0];
  const columns = columnsOf(input.properties);
  const result = await trx.raw(
    // The status history's first entry (open, recorded) is the row's own recorded_on.
    `INSERT INTO hazardous_area (owner_agency, local_ref, name, classification, hazard_types, evidence,
       estimated_device_count, marking, priority, information_date, recorded_on, original_geom, remaining_geom,
       original_area_m2, remaining_area_m2, input_crs, input_geometry, created_by, updated_by)
     SELECT ?, ?, ?::jsonb, ?, ?::text[], ?::jsonb, ?, ?, ?, ?::date, ?::date, ST_Multi(s.geom), ST_Multi(s.geom),
       s.area_m2, s.area_m2, s.srid, s.input, ?, ?
     FROM staged_geometry s WHERE s.idx = 0
     RETURNING id`,
    [viewer.agency, columns.local_ref, JSON.stringify(columns.name), columns.classification, columns.hazard_types,
      JSON.stringify(columns.evidence), columns.estimated_device_count, columns.marking, columns.priority,
      columns.information_date, columns.information_date, actor, actor],
  );
  return [result.rows[0].id];
}

async function replace(context: WriteContext, current: LockedRecord, input: FeatureInput): Promise<void> {
  const { trx, actor } = context;
  const problems = await checkLocalRefs(trx, 'hazardous_area', current.owner_agency, [input], false, current.id);
  const existing = await trx('hazardous_area').select('information_date').where('id', current.id).first();
  if (input.properties.informationDate < existing.information_date) {
    throw conflict(
      `informationDate ${input.properties.informationDate} is older than the record's current date of information ${existing.information_date}; an older form does not change the record`,
      [{ field: '/properties/informationDate', reason: `must not be older than ${existing.information_date}` }],
    );
  }
  if (input.geometry) {
    problems.push(...(await stageGeometries(trx, [input], false)));
    if (problems.length === 0) problems.push(...(await duplicatePolygons(trx, current.owner_agency, false, current.id)));
  }
  throwConflictsOrProblems(problems, false, 1);

  const columns = columnsOf(input.properties);
  await trx('hazardous_area').where('id', current.id).update({
    ...columns,
    name: JSON.stringify(columns.name),
    evidence: JSON.stringify(columns.evidence),
    version: trx.raw('version + 1'),
    updated_by: actor,
    updated_at: trx.fn.now(),
  });
  if (input.geometry) {
    await trx.raw(
      `UPDATE hazardous_area h SET original_geom = ST_Multi(s.geom), original_area_m2 = ST_Area(s.geom::geography),
         input_crs = s.srid, input_geometry = s.input
       FROM staged_geometry s WHERE h.id = ? AND s.idx = 0`,
      [current.id],
    );
    await refreshHazardousArea(trx, current.id, {
      reason: 'hazardous area polygon revised', date: input.properties.informationDate, actor, bumpVersion: false,
    });
  }
}

const retire = (context: WriteContext, current: LockedRecord, reason: string) => retireRecord(context, 'hazardous_area', current, reason);

export const hazardousAreas: CollectionDefinition = {
  id: 'hazardous-areas',
  title: 'Hazardous areas',
  description: 'Suspected (SHA) and confirmed (CHA) hazardous areas. The geometry is the original polygon; remainingGeometry is what is left after land release.',
  recordName: 'hazardous area',
  table: 'hazardous_area',
  view: 'visible_hazardous_area',
  temporalColumn: 'information_date',
  temporalProperty: 'informationDate',
  filters: [
    enumFilter('classification', 'classification', ['SHA', 'CHA'], 'SHA (suspected) or CHA (confirmed).'),
    enumFilter('status', 'status', ['open', 'worked-on', 'closed'], 'Working status.'),
    hazardTypeFilter,
    enumFilter('priority', 'priority', ['high', 'medium', 'low'], 'Priority.'),
    enumFilter('marking', 'marking', ['none', 'partial', 'full'], 'Marking on the ground.'),
    textFilter('ownerAgency', 'owner_agency', 'Owner agency code, e.g. ANAMA.'),
    textFilter('localRef', 'local_ref', "The owner agency's own reference."),
  ],
  propertySchema: hazardousAreaSchema,
  inputRules: (maxVertexGapM) => ({ validateProperties, geometryTypes: ['Polygon', 'MultiPolygon'], maxVertexGapM }),
  create,
  importMany: importHazardousAreas,
  replace,
  retire,
};

