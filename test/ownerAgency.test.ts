// A record's owner agency is checked once per statement (db/migrations/*_records.ts), not by a
// foreign key: these are the foreign key's guarantees, held by the triggers that replace it.
import { expect } from 'chai';
import pg from 'pg';
import { ON_EMBEDDED_DATABASE, getHarness } from './harness';

const INSERT_AREA = `
  INSERT INTO hazardous_area (owner_agency, local_ref, classification, hazard_types, information_date, recorded_on,
    original_geom, remaining_geom, original_area_m2, remaining_area_m2, input_crs, input_geometry, created_by, updated_by)
  SELECT owner, ref, 'SHA', ARRAY['AP'], '2024-01-01', '2024-01-01', g, g, 1, 1, 4326, '{}', 'owner-test', 'owner-test'
  FROM unnest(?::text[], ?::text[]) AS x(owner, ref),
    LATERAL (SELECT ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(45.3 + random() / 10, 41.2), 4326), 0.0005, 2)) AS g) AS p`;

/** The SQLSTATE and detail of what `work` throws. */
async function failure(work: () => Promise<unknown>): Promise<{ code?: string; message?: string; detail?: string }> {
  try {
    await work();
  } catch (error) {
    return error as { code?: string; message?: string; detail?: string };
  }
  throw new Error('expected the statement to fail');
}

describe('owner agency of a record', () => {
  it('must be an agency: a statement with any owner that is not is refused, naming it', async () => {
    const { db } = getHarness();
    const error = await failure(() => db.raw(INSERT_AREA, [['GEO', 'NOPE', 'GEO'], ['owner-test-1', 'owner-test-2', 'owner-test-3']]));
    expect(error.code).to.equal('23503');
    expect(error.detail).to.equal('Not an agency: NOPE.');
    const { rows } = await db.raw(`SELECT count(*)::int AS n FROM hazardous_area WHERE local_ref LIKE 'owner-test-%'`);
    expect(rows[0].n).to.equal(0);
  });

  it('never changes', async () => {
    const { db } = getHarness();
    await db.transaction(async (trx) => {
      await trx.raw(INSERT_AREA, [['GEO'], ['owner-test-move']]);
      const error = await failure(() => trx.raw(`UPDATE hazardous_area SET owner_agency = 'CHDE' WHERE local_ref = 'owner-test-move'`));
      expect(error.code).to.equal('23000');
      throw new Error('rollback');
    }).catch((error) => { if ((error as Error).message !== 'rollback') throw error; });
  });

  it('keeps its agency: one that owns records cannot be deleted or recoded, one that owns none can', async () => {
    const { db } = getHarness();
    await db.raw(`INSERT INTO agency (code, kind) VALUES ('OWNERTEST', 'national-agency'), ('OWNERSPARE', 'national-agency')`);
    try {
      await db.raw(INSERT_AREA, [['OWNERTEST'], ['owner-test-keep']]);
      expect((await failure(() => db.raw(`DELETE FROM agency WHERE code = 'OWNERTEST'`))).code).to.equal('23503');
      expect((await failure(() => db.raw(`UPDATE agency SET code = 'OWNERTEST2' WHERE code = 'OWNERTEST'`))).code).to.equal('23503');
      await db.raw(`UPDATE agency SET names = '{"en": "renamed"}' WHERE code = 'OWNERTEST'`);
      await db.raw(`UPDATE agency SET code = 'OWNERSPARE2' WHERE code = 'OWNERSPARE'`);
      await db.raw(`DELETE FROM agency WHERE code = 'OWNERSPARE2'`);
    } finally {
      // The suite's own clean-up: the audit trail and change log keep their rows.
      await db.raw(`ALTER TABLE hazardous_area DISABLE TRIGGER USER`);
      await db.raw(`DELETE FROM hazardous_area WHERE local_ref = 'owner-test-keep'`);
      await db.raw(`ALTER TABLE hazardous_area ENABLE TRIGGER USER`);
      await db.raw(`DELETE FROM agency WHERE code IN ('OWNERTEST', 'OWNERSPARE', 'OWNERSPARE2')`);
    }
  });

  if (!ON_EMBEDDED_DATABASE) it('is locked against deletion while a transaction writes records it owns, as a foreign key locks it', async () => {
    const { db, databaseUrl } = getHarness();
    await db.raw(`INSERT INTO agency (code, kind) VALUES ('OWNERLOCK', 'national-agency')`);
    const writer = new pg.Client({ connectionString: databaseUrl });
    const remover = new pg.Client({ connectionString: databaseUrl });
    await writer.connect();
    await remover.connect();
    try {
      await writer.query('BEGIN');
      await writer.query(INSERT_AREA.replace('?::text[], ?::text[]', `ARRAY['OWNERLOCK'], ARRAY['owner-test-lock']`));
      // The writer has not committed: its record is invisible, but the agency row is locked.
      await remover.query(`SET lock_timeout = '300ms'`);
      expect((await failure(() => remover.query(`DELETE FROM agency WHERE code = 'OWNERLOCK'`))).code).to.equal('55P03');
      await writer.query('ROLLBACK');
      await remover.query(`DELETE FROM agency WHERE code = 'OWNERLOCK'`);
    } finally {
      await writer.end();
      await remover.end();
      await db.raw(`DELETE FROM agency WHERE code = 'OWNERLOCK'`);
    }
  });
});
