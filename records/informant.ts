// Informants: the most sensitive data in the service. Kept apart from testimony; their codes
// are listed to the owner agency's editors; an identity is read only through the database
// function read_informant_identity, which checks the viewer and audits every read.
import type { Knex } from 'knex';
import type { Viewer } from '../server/auth/viewer';
import { conflict, notFound } from '../server/problem';

export interface InformantInput { code: string; fullName: string; contact?: string; notes?: string }

export async function registerInformant(trx: Knex.Transaction, viewer: Viewer, actor: string, input: InformantInput) {
  const existing = await trx('informant').select('id').where({ owner_agency: viewer.agency, code: input.code }).first();
  if (existing) throw conflict(`informant code "${input.code}" is already registered`, [{ field: '/code', reason: 'already registered' }]);
  const [row] = await trx('informant')
    .insert({ owner_agency: viewer.agency, code: input.code, full_name: input.fullName, contact: input.contact ?? null, notes: input.notes ?? null, created_by: actor })
    .returning(['id', 'code']);
  return { id: row.id, code: row.code, fullName: input.fullName, contact: input.contact ?? null, notes: input.notes ?? null, ownerAgency: viewer.agency };
}

/** Codes only: enough to pick an informant for a testimony without revealing who they are. */
export async function listInformantCodes(trx: Knex.Transaction) {
  return trx('visible_informant_code').select('id', 'code').orderBy('code');
}

export async function readInformant(trx: Knex.Transaction, viewer: Viewer, id: string) {
  const result = await trx.raw('SELECT * FROM read_informant_identity(?::uuid)', [id]);
  const row = result.rows[0];
  if (!row) throw notFound(`no informant ${id} registered by ${viewer.agency}`);
  return {
    id: row.id, code: row.code, fullName: row.full_name, contact: row.contact, notes: row.notes,
    ownerAgency: row.owner_agency, createdBy: row.created_by, createdAt: row.created_at,
  };
}
