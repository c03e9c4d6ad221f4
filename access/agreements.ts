// Sharing agreements: an owner agency grants a grantee a level per record kind. Every change
// is versioned (If-Match) and audited by the database trigger on sharing_agreement.
import type { Knex } from 'knex';
import type { Viewer } from '../server/auth/viewer';
import { actorOf } from '../server/auth/viewer';
import { badRequest, forbidden, preconditionFailed, preconditionRequired } from '../server/problem';

export const ACCESS_LEVELS = ['none', 'footprint', 'summary', 'full'] as const;
export const GRANTEES = ['ANAMA', 'CHDE', 'GEO', 'LIAISON', 'PUBLIC'] as const;
/** API names of the record kinds (collection ids) and their table names. */
export const RECORD_KINDS: Record<string, string> = {
  'hazardous-areas': 'hazardous_area',
  'land-releases': 'land_release',
  'minefield-records': 'minefield_record',
  testimonies: 'testimony',
};
const KIND_NAMES = Object.fromEntries(Object.entries(RECORD_KINDS).map(([api, table]) => [table, api]));

export interface Agreement {
  ownerAgency: string;
  grantee: string;
  recordKind: string;
  level: string;
  version: number;
  comment: string | null;
  updatedBy: string;
  updatedAt: string;
}

const toAgreement = (row: any): Agreement => ({
  ownerAgency: row.owner_agency,
  grantee: row.grantee,
  recordKind: KIND_NAMES[row.record_kind],
  level: row.level,
  version: row.version,
  comment: row.comment,
  updatedBy: row.updated_by,
  updatedAt: row.updated_at,
});

export async function listAgreements(trx: Knex.Transaction): Promise<Agreement[]> {
  const rows = await trx('visible_sharing_agreement').select('*').orderBy(['owner_agency', 'grantee', 'record_kind']);
  return rows.map(toAgreement);
}

export interface AgreementChange {
  grantee: string;
  recordKind: string;
  level: string;
  comment?: string;
  /** The version the editor saw: 0 when no agreement existed yet. */
  ifMatchVersion: number | undefined;
}

export async function setAgreement(trx: Knex.Transaction, viewer: Viewer, change: AgreementChange): Promise<Agreement> {
  if (viewer.role === 'facilitator') throw forbidden('the liaison mechanism owns no records and grants no access');
  if (viewer.role !== 'editor' && viewer.role !== 'admin') throw forbidden(`role "${viewer.role}" may not change sharing agreements; an editor of ${viewer.agency} must`);
  const table = RECORD_KINDS[change.recordKind];
  const problems = [];
  if (!GRANTEES.includes(change.grantee as never)) problems.push({ field: 'grantee', reason: `must be one of ${GRANTEES.join(', ')}` });
  else if (change.grantee === viewer.agency) problems.push({ field: 'grantee', reason: 'an agency always sees its own records' });
  if (!table) problems.push({ field: 'recordKind', reason: `must be one of ${Object.keys(RECORD_KINDS).join(', ')}` });
  if (!ACCESS_LEVELS.includes(change.level as never)) problems.push({ field: '/level', reason: `must be one of ${ACCESS_LEVELS.join(', ')}` });
  if (problems.length) throw badRequest(problems.map((p) => `${p.field} ${p.reason}`).join('; '), problems);

  const current = await trx('sharing_agreement')
    .where({ owner_agency: viewer.agency, grantee: change.grantee, record_kind: table })
    .forUpdate()
    .first();
  const currentVersion = current?.version ?? 0;
  if (change.ifMatchVersion === undefined) {
    throw preconditionRequired(`send If-Match with the agreement's ETag ("${currentVersion}"; "0" when none exists yet)`);
  }
  if (change.ifMatchVersion !== currentVersion) {
    throw preconditionFailed(`the agreement is at version ${currentVersion}, not ${change.ifMatchVersion}; fetch it again`, currentVersion);
  }
  const values = { level: change.level, comment: change.comment ?? null, updated_by: actorOf(viewer), updated_at: trx.fn.now() };
  const [row] = current
    ? await trx('sharing_agreement').where('id', current.id).update({ ...values, version: current.version + 1 }).returning('*')
    : await trx('sharing_agreement').insert({ ...values, owner_agency: viewer.agency, grantee: change.grantee, record_kind: table }).returning('*');
  return toAgreement(row);
}
