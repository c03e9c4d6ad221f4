import type { Knex } from 'knex';

// The one place that decides who sees which record: every read path selects from these
// visible_* views, never from the base tables. The viewer is the transaction-local setting
// made by db/viewerTransaction.ts. For now an agency sees only its own records and the
// liaison mechanism sees none; sharing agreements will widen this here and only here.
const kinds = ['hazardous_area', 'land_release', 'minefield_record', 'testimony'];

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION viewer_agency() RETURNS text LANGUAGE sql STABLE AS
      $$ SELECT nullif(current_setting('app.agency', true), '') $$;
  `);
  for (const kind of kinds) {
    await knex.raw(`
      CREATE VIEW visible_${kind} AS
      SELECT record.*, 'owner'::text AS access_level
      FROM ${kind} AS record
      WHERE record.owner_agency = viewer_agency()
    `);
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const kind of kinds) await knex.raw(`DROP VIEW IF EXISTS visible_${kind}`);
  await knex.raw('DROP FUNCTION IF EXISTS viewer_agency()');
}
