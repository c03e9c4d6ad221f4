// Informants: the most sensitive data in the service. Kept apart from testimony, readable
// only by the agency that registered them, and only by its editors.
import type { Knex } from 'knex';
import type { Viewer } from '../server/auth/viewer';
import { conflict, notFound } from '../server/problem';

export interface InformantInput { code: string; fullName: string; contact?: string; notes?: string }

const toInformant = (row: any) => ({
  id: row.id, code: row.code, fullName: row.full_name, contact: row.contact, notes: row.notes,
  ownerAgency: row.owner_agency, createdBy: row.created_by, createdAt: row.created_at,
});

export async function registerInformant(trx: Knex.Transaction, viewer: Viewer, actor: string, input: InformantInput) {
  const existing = await trx('informant').where({ owner_agency: viewer.agency, code: input.code }).first();
  if (existing) throw conflict(`informant code "${input.code}" is already registered`, [{ field: '/code', reason: 'already registered' }]);
  const [row] = await trx('informant')
    .insert({ owner_agency: viewer.agency, code: input.code, full_name: input.fullName, contact: input.contact ?? null, notes: input.notes ?? null, created_by: actor })
    .returning('*');
  return toInformant(row);
}

/** Codes only: enough to pick an informant for a testimony without revealing who they are. */
export async function listInformantCodes(trx: Knex.Transaction, viewer: Viewer) {
  const rows = await trx('informant').select('id', 'code').where('owner_agency', viewer.agency).orderBy('code');
  return rows.map((row) => ({ id: row.id, code: row.code }));
}

export async function readInformant(trx: Knex.Transaction, viewer: Viewer, id: string) {
  const row = await trx('informant').where({ id, owner_agency: viewer.agency }).first();
  if (!row) throw notFound(`no informant ${id} registered by ${viewer.agency}`);
  return toInformant(row);
}
