// Minefield records as the CCW Amended Protocol II technical annex describes them: reference
// points, a perimeter (drawn, or computed from a traverse of bearings and distances), the
// mines laid, and an accuracy assessment of the record itself.
import type { Knex } from 'knex';
import { checkGeometry } from '../geo/checkGeometry';
import { TraverseError, traversePerimeter } from '../geo/traverse';
import { FieldProblem } from '../server/problem';
import {
  CollectionDefinition, LockedRecord, WriteContext, enumFilter, textFilter,
} from './collection';
import type { FeatureInput } from './featureInput';
import { compileValidator, minefieldRecordSchema } from './schemas';
import { stageGeometries } from './stageGeometry';
import { checkLocalRefs, retireRecord, throwConflictsOrProblems } from './writeSupport';

const validateProperties = compileValidator(minefieldRecordSchema);

interface PreparedRecord {
  input: FeatureInput;
  referencePoints4326: [number, number][];
  misclosureM: number | null;
  declaredSrid: number;
  /** The geometry as entered; null when the perimeter comes from a traverse. */
  enteredGeometry: unknown;
}

/** Reference points to EPSG:4326 through PostGIS, so every CRS is handled by one transform. */
async function transformPoints(trx: Knex.Transaction, points: number[][], srid: number): Promise<[number, number][]> {
  const result = await trx.raw(
    `SELECT ST_X(p) AS x, ST_Y(p) AS y FROM (
       SELECT ST_Transform(ST_SetSRID(ST_MakePoint(c.x, c.y), ?), 4326) AS p, c.n
       FROM json_to_recordset(?::json) AS c(n integer, x double precision, y double precision)) AS t ORDER BY n`,
    [srid, JSON.stringify(points.map(([x, y], n) => ({ n, x, y })))],
  );
  return result.rows.map((row: { x: number; y: number }) => [row.x, row.y]);
}

async function prepare(trx: Knex.Transaction, input: FeatureInput, bulk: boolean, maxVertexGapM: number, problems: FieldProblem[]): Promise<PreparedRecord | undefined> {
  const at = (field: string, reason: string) => problems.push({ ...(bulk ? { feature: input.index } : {}), field, reason });
  const properties = input.properties;
  const before = problems.length;
  properties.referencePoints.forEach((point: { coordinates: number[] }, n: number) => {
    for (const issue of checkGeometry({ type: 'Point', coordinates: point.coordinates }, { srid: input.srid, allowedTypes: ['Point'], maxVertexGapM })) {
      at(`/properties/referencePoints/${n}/coordinates`, issue.reason);
    }
  });
  const labels = properties.referencePoints.map((point: { label: string }) => point.label);
  if (new Set(labels).size !== labels.length) at('/properties/referencePoints', 'reference point labels must be unique');
  if (!input.geometry && !properties.traverse && !input.geometryUnchanged) at('/geometry', 'is required unless a traverse is given');
  if (properties.traverse && !labels.includes(properties.traverse.from)) {
    at('/properties/traverse/from', `must name one of the reference points (${labels.join(', ')})`);
  }
  if (problems.length > before) return undefined;

  const referencePoints4326 = await transformPoints(trx, properties.referencePoints.map((point: { coordinates: number[] }) => point.coordinates), input.srid);
  let misclosureM: number | null = null;
  const declaredSrid = input.srid;
  const enteredGeometry = input.geometry;
  if (properties.traverse) {
    try {
      const start = referencePoints4326[labels.indexOf(properties.traverse.from)];
      const computed = traversePerimeter(start, properties.traverse.legs, properties.traverse.approachLegs ?? 1);
      misclosureM = computed.misclosureM;
      if (!input.geometry) input = { ...input, geometry: computed.perimeter, srid: 4326 };
    } catch (error) {
      if (!(error instanceof TraverseError)) throw error;
      at('/properties/traverse', error.message);
      return undefined;
    }
  }
  return { input, referencePoints4326, misclosureM, declaredSrid, enteredGeometry };
}

function columnsOf(prepared: PreparedRecord) {
  const p = prepared.input.properties;
  return {
    local_ref: p.localRef,
    name: JSON.stringify(p.name ?? {}),
    reference_points: JSON.stringify(p.referencePoints),
    traverse: p.traverse ? JSON.stringify(p.traverse) : null,
    traverse_misclosure_m: prepared.misclosureM,
    mine_types: JSON.stringify(p.mineTypes),
    total_mines: p.totalMines ?? null,
    emplacing_method: p.emplacingMethod,
    fuze_type: p.fuzeType ?? null,
    fuze_lifetime: p.fuzeLifetime ?? null,
    self_destruct_period: p.selfDestructPeriod ?? null,
    laid_from: p.laidFrom ?? null,
    laid_to: p.laidTo ?? null,
    anti_handling: p.antiHandling ? JSON.stringify(p.antiHandling) : null,
    rows: JSON.stringify(p.rows ?? []),
    accuracy_assessment: JSON.stringify(p.accuracyAssessment ?? { grade: 'unassessed' }),
    source: p.source ? JSON.stringify(p.source) : null,
    input_crs: prepared.declaredSrid,
  };
}

async function checkAreaLinks(trx: Knex.Transaction, inputs: FeatureInput[], bulk: boolean): Promise<FieldProblem[]> {
  const wanted = [...new Set(inputs.flatMap((input) => input.properties.hazardousAreaIds ?? []))];
  if (wanted.length === 0) return [];
  const visible = new Set((await trx('visible_hazardous_area').select('id').whereRaw('id = ANY(?::uuid[])', [wanted])).map((row) => row.id));
  const problems: FieldProblem[] = [];
  for (const input of inputs) {
    (input.properties.hazardousAreaIds ?? []).forEach((id: string, n: number) => {
      if (!visible.has(id)) problems.push({ ...(bulk ? { feature: input.index } : {}), field: `/properties/hazardousAreaIds/${n}`, reason: `no hazardous area ${id} is visible to you` });
    });
  }
  return problems;
}

async function writeLinks(trx: Knex.Transaction, recordId: string, areaIds: string[] | undefined): Promise<void> {
  await trx('minefield_record_hazardous_area').where('minefield_record_id', recordId).delete();
  if (areaIds?.length) {
    await trx('minefield_record_hazardous_area').insert(areaIds.map((id) => ({ minefield_record_id: recordId, hazardous_area_id: id })));
  }
}

async function prepareAll(context: WriteContext, inputs: FeatureInput[], bulk: boolean, excludeId?: string) {
  const { trx } = context;
  const problems = await checkLocalRefs(trx, 'minefield_record', context.viewer.agency, inputs, bulk, excludeId);
  problems.push(...(await checkAreaLinks(trx, inputs, bulk)));
  const prepared: PreparedRecord[] = [];
  for (const input of inputs) {
    const record = await prepare(trx, input, bulk, context.maxVertexGapM, problems);
    if (record) prepared.push(record);
  }
  problems.push(...(await stageGeometries(trx, prepared.map((record) => record.input), bulk)));
  throwConflictsOrProblems(problems, bulk, inputs.length);
  return prepared;
}

const geometryColumns = (trx: Knex.Transaction, record: PreparedRecord) => ({
  reference_points_geom: trx.raw('ST_SetSRID(ST_GeomFromGeoJSON(?), 4326)', [JSON.stringify({ type: 'MultiPoint', coordinates: record.referencePoints4326 })]),
  ...(record.input.geometry ? perimeterColumns(trx, record) : {}),
});

const perimeterColumns = (trx: Knex.Transaction, record: PreparedRecord) => ({
  input_geometry: record.enteredGeometry ? JSON.stringify(record.enteredGeometry) : null,
  perimeter_geom: trx.raw('(SELECT geom FROM staged_geometry WHERE idx = ?)', [record.input.index]),
  area_m2: trx.raw('(SELECT ST_Area(geom::geography) FROM staged_geometry WHERE idx = ?)', [record.input.index]),
});

async function create(context: WriteContext, inputs: FeatureInput[], bulk: boolean): Promise<string[]> {
  const { trx, viewer, actor } = context;
  const ids: string[] = [];
  for (const record of await prepareAll(context, inputs, bulk)) {
    const [row] = await trx('minefield_record')
      .insert({ owner_agency: viewer.agency, ...columnsOf(record), ...geometryColumns(trx, record), created_by: actor, updated_by: actor })
      .returning('id');
    await writeLinks(trx, row.id, record.input.properties.hazardousAreaIds);
    ids.push(row.id);
  }
  return ids;
}

async function replace(context: WriteContext, current: LockedRecord, input: FeatureInput): Promise<void> {
  const { trx, actor } = context;
  const [record] = await prepareAll(context, [input], false, current.id);
  await trx('minefield_record').where('id', current.id).update({
    ...columnsOf(record), ...geometryColumns(trx, record),
    version: trx.raw('version + 1'), updated_by: actor, updated_at: trx.fn.now(),
  });
  await writeLinks(trx, current.id, record.input.properties.hazardousAreaIds);
}

const retire = (context: WriteContext, current: LockedRecord, reason: string) => retireRecord(context, 'minefield_record', current, reason);

export const minefieldRecords: CollectionDefinition = {
  id: 'minefield-records',
  title: 'Minefield records',
  description: 'Minefield records (CCW Amended Protocol II): reference points, perimeter, mines laid and an accuracy assessment.',
  recordName: 'minefield record',
  table: 'minefield_record',
  view: 'visible_minefield_record',
  temporalColumn: 'laid_from',
  temporalProperty: 'laidFrom',
  filters: [
    enumFilter('emplacingMethod', 'emplacing_method', ['hand-laid', 'mechanical', 'remotely-delivered'], 'How the mines were laid.'),
    {
      name: 'accuracyGrade',
      description: 'Grade of the accuracy assessment.',
      schema: { type: 'string', enum: ['verified', 'approximate', 'unreliable', 'unassessed'] },
      apply: (query, value) => { query.where('accuracy_grade', value); },
    },
    textFilter('ownerAgency', 'owner_agency', 'Owner agency code.'),
    textFilter('localRef', 'local_ref', "The owner agency's own reference."),
  ],
  propertySchema: minefieldRecordSchema,
  inputRules: (maxVertexGapM) => ({ validateProperties, geometryTypes: ['Polygon'], geometryOptional: true, maxVertexGapM }),
  create,
  replace,
  retire,
};
