// Oral testimony: an interview, its narrative, the place described (with its uncertainty),
// and links to the hazardous areas it supports or contradicts. The informant appears only as
// a pseudonymous code; the identity is in the informant table (records/informant.ts).
import type { Knex } from 'knex';
import { FieldProblem } from '../server/problem';
import {
  CollectionDefinition, LockedRecord, WriteContext, enumFilter, textFilter,
} from './collection';
import type { FeatureInput } from './featureInput';
import { LANGUAGES, compileValidator, testimonySchema } from './schemas';
import { stageGeometries } from './stageGeometry';
import { checkLocalRefs, retireRecord, throwConflictsOrProblems } from './writeSupport';

const validateProperties = compileValidator(testimonySchema);

async function resolveInformants(trx: Knex.Transaction, owner: string, inputs: FeatureInput[], bulk: boolean, problems: FieldProblem[]): Promise<Map<string, string>> {
  const codes = [...new Set(inputs.map((input) => input.properties.informantCode as string))];
  const rows = await trx('informant').select('id', 'code').where('owner_agency', owner).whereRaw('code = ANY(?::text[])', [codes]);
  const idByCode = new Map<string, string>(rows.map((row) => [row.code, row.id]));
  for (const input of inputs) {
    if (!idByCode.has(input.properties.informantCode)) {
      problems.push({ ...(bulk ? { feature: input.index } : {}), field: '/properties/informantCode', reason: `no informant "${input.properties.informantCode}" is registered by ${owner} (see /informants)` });
    }
  }
  return idByCode;
}

async function checkAreaLinks(trx: Knex.Transaction, inputs: FeatureInput[], bulk: boolean, problems: FieldProblem[]): Promise<void> {
  const wanted = [...new Set(inputs.flatMap((input) => (input.properties.hazardousAreaLinks ?? []).map((link: { hazardousAreaId: string }) => link.hazardousAreaId)))];
  if (wanted.length === 0) return;
  const visible = new Set((await trx('visible_hazardous_area').select('id').whereRaw('id = ANY(?::uuid[])', [wanted])).map((row) => row.id));
  for (const input of inputs) {
    const links: { hazardousAreaId: string }[] = input.properties.hazardousAreaLinks ?? [];
    links.forEach((link, n) => {
      if (!visible.has(link.hazardousAreaId)) {
        problems.push({ ...(bulk ? { feature: input.index } : {}), field: `/properties/hazardousAreaLinks/${n}/hazardousAreaId`, reason: `no hazardous area ${link.hazardousAreaId} is visible to you` });
      }
    });
    if (new Set(links.map((link) => link.hazardousAreaId)).size !== links.length) {
      problems.push({ ...(bulk ? { feature: input.index } : {}), field: '/properties/hazardousAreaLinks', reason: 'links each hazardous area at most once' });
    }
  }
}

function columnsOf(trx: Knex.Transaction, input: FeatureInput, informantId: string) {
  const p = input.properties;
  return {
    local_ref: p.localRef,
    informant_id: informantId,
    informant_code: p.informantCode,
    interview: JSON.stringify(p.interview),
    interview_date: p.interview.date,
    narrative: JSON.stringify(p.narrative),
    uncertainty_m: p.uncertaintyM,
    devices_described: JSON.stringify(p.devicesDescribed ?? []),
    laying_period: p.layingPeriod ? JSON.stringify(p.layingPeriod) : null,
    source_reliability: p.sourceReliability,
    information_reliability: p.informationReliability,
    described_geom: trx.raw('(SELECT geom FROM staged_geometry WHERE idx = ?)', [input.index]),
    input_crs: input.srid,
    input_geometry: JSON.stringify(input.geometry),
  };
}

async function writeLinks(trx: Knex.Transaction, testimonyId: string, links: { hazardousAreaId: string; relation: string }[] | undefined) {
  await trx('testimony_hazardous_area').where('testimony_id', testimonyId).delete();
  if (links?.length) {
    await trx('testimony_hazardous_area').insert(links.map((link) => ({ testimony_id: testimonyId, hazardous_area_id: link.hazardousAreaId, relation: link.relation })));
  }
}

async function prepare(context: WriteContext, inputs: FeatureInput[], bulk: boolean, excludeId?: string) {
  const { trx, viewer } = context;
  const problems = await checkLocalRefs(trx, 'testimony', viewer.agency, inputs, bulk, excludeId);
  const informants = await resolveInformants(trx, viewer.agency, inputs, bulk, problems);
  await checkAreaLinks(trx, inputs, bulk, problems);
  problems.push(...(await stageGeometries(trx, inputs, bulk)));
  throwConflictsOrProblems(problems, bulk, inputs.length);
  return informants;
}

async function create(context: WriteContext, inputs: FeatureInput[], bulk: boolean): Promise<string[]> {
  const { trx, viewer, actor } = context;
  const informants = await prepare(context, inputs, bulk);
  const ids: string[] = [];
  for (const input of inputs) {
    const [row] = await trx('testimony')
      .insert({ owner_agency: viewer.agency, ...columnsOf(trx, input, informants.get(input.properties.informantCode)!), created_by: actor, updated_by: actor })
      .returning('id');
    await writeLinks(trx, row.id, input.properties.hazardousAreaLinks);
    ids.push(row.id);
  }
  return ids;
}

async function replace(context: WriteContext, current: LockedRecord, input: FeatureInput): Promise<void> {
  const { trx, actor } = context;
  const informants = await prepare(context, [input], false, current.id);
  const columns = columnsOf(trx, input, informants.get(input.properties.informantCode)!);
  if (!input.geometry) {
    delete (columns as Partial<typeof columns>).described_geom;
    delete (columns as Partial<typeof columns>).input_geometry;
    delete (columns as Partial<typeof columns>).input_crs;
  }
  await trx('testimony').where('id', current.id).update({
    ...columns, version: trx.raw('version + 1'), updated_by: actor, updated_at: trx.fn.now(),
  });
  await writeLinks(trx, current.id, input.properties.hazardousAreaLinks);
}

const retire = (context: WriteContext, current: LockedRecord, reason: string) => retireRecord(context, 'testimony', current, reason);

export const testimonies: CollectionDefinition = {
  id: 'testimonies',
  title: 'Oral testimony',
  description: 'Oral testimony about mine laying: interview, narrative, the place described with its uncertainty, and links to hazardous areas. Informants appear only by pseudonymous code.',
  recordName: 'testimony',
  table: 'testimony',
  view: 'visible_testimony',
  temporalColumn: 'interview_date',
  temporalProperty: 'interview/date',
  filters: [
    {
      name: 'language',
      description: 'Language of the interview.',
      schema: { type: 'string', enum: LANGUAGES },
      apply: (query, value) => { query.where('language', value); },
    },
    enumFilter('sourceReliability', 'source_reliability', ['A', 'B', 'C', 'D', 'E', 'F'], 'Reliability of the source (Admiralty scale).'),
    enumFilter('informationReliability', 'information_reliability', ['1', '2', '3', '4', '5', '6'], 'Credibility of the information (Admiralty scale).'),
    textFilter('informantCode', 'informant_code', 'Pseudonymous informant code.'),
    textFilter('ownerAgency', 'owner_agency', 'Owner agency code.'),
    textFilter('localRef', 'local_ref', "The owner agency's own reference."),
  ],
  propertySchema: testimonySchema,
  inputRules: (maxVertexGapM) => ({ validateProperties, geometryTypes: ['Point', 'LineString', 'Polygon'], maxVertexGapM }),
  create,
  replace,
  retire,
};
