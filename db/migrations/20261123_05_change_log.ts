import type { Knex } from 'knex';

// The change log behind the feeds (the feed's reading functions are the next migration).
//
// - Written in the same transaction as the change: statement-level triggers note each record
//   a transaction touches (once, with its state before the transaction) and each agreement
//   change. A crash between the write and the log cannot lose one without the other.
// - Numbered in commit order: a deferred constraint trigger fires once per transaction just
//   before it commits, takes an advisory lock and writes the transaction's entries, numbered.
//   The lock is held from numbering until the commit is visible, so entry n+1 never becomes
//   visible before entry n: a reader paging with `seq > cursor` cannot skip a change (paging a
//   plain sequence would, when a transaction that drew a lower number commits later).
// - Until then the entries wait in a temporary table of the session (change_log_staged: no
//   WAL, no shared buffers, emptied by the numbering), which also keeps one entry per record
//   per transaction. Each entry goes into change_log once, already numbered, instead of being
//   inserted unnumbered and then updated (which wrote every row and all its index entries
//   twice: a bulk import of 85,000 areas spent about 2 s of its commit on that update). An
//   entry's id, drawn when it is staged, still tells the order in which entries were written.
// - The state of a record after an entry is the state before the record's next entry, or the
//   current row when there is none: no row snapshot is stored twice, and a bulk import logs
//   only small rows. States are kept as values of the record's own row type (one column per
//   kind): no text to write on the way in nor to parse on the way out — jsonb would turn each
//   geometry into GeoJSON and back, text costs a parse of every column per read. Rows up to a
//   page are kept uncompressed (toast_tuple_target), so reading a state's fields does not
//   decompress it field by field.

const KINDS = ['hazardous_area', 'land_release', 'minefield_record', 'testimony'] as const;
type Kind = (typeof KINDS)[number];

// The staging table of the session, made by the first change of a session (a temporary table
// lives as long as the connection; its rows only until the end of the transaction).
const STAGED_COLUMNS = `
      id            bigint NOT NULL DEFAULT nextval('public.change_log_id_seq'),
      record_kind   text NOT NULL,
      record_id     uuid,
      owner_agency  text NOT NULL,
      acting_agency text,
      actor         text,
${KINDS.map((kind) => `      before_${kind} public.${kind},
`).join('')}      grantee       text,
      target_kind   text,
      old_level     text,
      new_level     text`;
const ENTRY_COLUMNS = `record_kind, record_id, owner_agency, acting_agency, actor, ${KINDS.map((kind) => `before_${kind}`).join(', ')}, grantee, target_kind, old_level, new_level`;

// The statement triggers of a record table: one entry per record a transaction touches, with the
// row as it was before the transaction (none for an insert). A record inserted by the statement
// cannot have an entry in this transaction yet, so inserts need no conflict check (a
// speculative insertion per row); an update keeps the entry the record already has.
const touchFunction = (kind: Kind) => `
    CREATE FUNCTION change_log_touch_${kind}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
    BEGIN
      PERFORM change_log_staging();
      IF TG_OP = 'INSERT' THEN
        INSERT INTO pg_temp.change_log_staged (record_kind, record_id, owner_agency, acting_agency, actor)
        SELECT '${kind}', n.id, n.owner_agency, viewer_agency(), nullif(current_setting('app.subject', true), '')
        FROM inserted AS n;
      ELSE
        INSERT INTO pg_temp.change_log_staged (record_kind, record_id, owner_agency, acting_agency, actor, before_${kind})
        SELECT '${kind}', o.id, o.owner_agency, viewer_agency(), nullif(current_setting('app.subject', true), ''),
          -- A transition table's row is an anonymous record: ROW(o.*) makes it the table's row type.
          ROW(o.*)::${kind}
        FROM previous AS o JOIN updated AS n ON n.id = o.id
        -- Binary comparison: cheap, and never misses a change (equal images are equal rows).
        WHERE NOT n *= o
        ORDER BY o.id
        ON CONFLICT (record_kind, record_id) WHERE record_id IS NOT NULL DO NOTHING;
      END IF;
      INSERT INTO change_commit VALUES (pg_current_xact_id()) ON CONFLICT DO NOTHING;
      RETURN NULL;
    END $$;
`;


export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE change_log (
      -- The order entries were written in (drawn when staged); seq is the order of commits.
      id            bigserial NOT NULL,
      seq           bigint PRIMARY KEY,
      txid          xid8 NOT NULL DEFAULT pg_current_xact_id(),
      committed_at  timestamptz NOT NULL,
      record_kind   text NOT NULL,
      record_id     uuid,
      owner_agency  text NOT NULL,
      acting_agency text,
      actor         text,
${KINDS.map((kind) => `      before_${kind} ${kind},
`).join('')}      grantee       text,
      target_kind   text,
      old_level     text,
      new_level     text
    );
    CREATE INDEX change_log_record ON change_log (record_id, seq) WHERE record_id IS NOT NULL;
    CREATE INDEX change_log_agreement ON change_log (owner_agency, grantee, target_kind, seq) WHERE record_kind = 'sharing_agreement';
    CREATE INDEX change_log_committed ON change_log (committed_at);
    ALTER TABLE change_log SET (toast_tuple_target = 8160);

    CREATE TABLE change_commit (txid xid8 PRIMARY KEY);
    -- Entries up to this number were pruned: a cursor before it cannot be continued.
    CREATE TABLE change_log_horizon (singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), pruned_through bigint NOT NULL);
    INSERT INTO change_log_horizon VALUES (true, 0);
    CREATE SEQUENCE change_seq;

    CREATE FUNCTION change_log_staging() RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
    BEGIN
      IF to_regclass('pg_temp.change_log_staged') IS NULL THEN
        -- Emptied by change_log_sequence, not ON COMMIT DELETE ROWS: truncating at every commit
        -- (files and index rebuilt) cost 6-9 ms inside the commit, while the numbering lock is held.
        CREATE TEMP TABLE change_log_staged (${STAGED_COLUMNS});
        -- One entry per record per transaction.
        CREATE UNIQUE INDEX change_log_staged_once ON pg_temp.change_log_staged (record_kind, record_id) WHERE record_id IS NOT NULL;
      END IF;
    END $$;

${KINDS.map(touchFunction).join('')}
    CREATE FUNCTION change_log_agreement() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND OLD.level = NEW.level THEN RETURN NULL; END IF;
      PERFORM change_log_staging();
      INSERT INTO pg_temp.change_log_staged (record_kind, owner_agency, acting_agency, actor, grantee, target_kind, old_level, new_level)
      VALUES ('sharing_agreement', NEW.owner_agency, viewer_agency(), nullif(current_setting('app.subject', true), ''),
        NEW.grantee, NEW.record_kind, CASE WHEN TG_OP = 'UPDATE' THEN OLD.level ELSE 'none' END, NEW.level);
      INSERT INTO change_commit VALUES (pg_current_xact_id()) ON CONFLICT DO NOTHING;
      RETURN NULL;
    END $$;
    CREATE TRIGGER sharing_agreement_change_log AFTER INSERT OR UPDATE ON sharing_agreement
      FOR EACH ROW EXECUTE FUNCTION change_log_agreement();

    CREATE FUNCTION change_log_sequence() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
    DECLARE
      first_seq bigint;
      entries bigint;
    BEGIN
      PERFORM pg_advisory_xact_lock(7261123);
      PERFORM change_log_staging();
      SELECT count(*) INTO entries FROM pg_temp.change_log_staged;
      IF entries > 0 THEN
        first_seq := nextval('change_seq');
        IF entries > 1 THEN PERFORM setval('change_seq', first_seq + entries - 1); END IF;
        INSERT INTO change_log (id, seq, committed_at, ${ENTRY_COLUMNS})
        SELECT id, first_seq + row_number() OVER (ORDER BY id) - 1, clock_timestamp(), ${ENTRY_COLUMNS}
        FROM pg_temp.change_log_staged
        ORDER BY id;
        -- A large transaction's rows are truncated away, so the table does not stay that size
        -- for every later commit of the session; a few rows are deleted (cheaper, and their
        -- space is reused). Rows of a transaction that rolls back were never committed.
        IF entries > 1000 THEN TRUNCATE pg_temp.change_log_staged; ELSE DELETE FROM pg_temp.change_log_staged; END IF;
        PERFORM pg_notify('minefield_changes', (first_seq + entries - 1)::text);
      END IF;
      DELETE FROM change_commit WHERE txid = NEW.txid;
      RETURN NULL;
    END $$;
    CREATE CONSTRAINT TRIGGER change_commit_sequence AFTER INSERT ON change_commit
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION change_log_sequence();
  `);
  for (const kind of KINDS) {
    await knex.raw(`
      CREATE TRIGGER ${kind}_change_log_insert AFTER INSERT ON ${kind} REFERENCING NEW TABLE AS inserted
        FOR EACH STATEMENT EXECUTE FUNCTION change_log_touch_${kind}();
      CREATE TRIGGER ${kind}_change_log_update AFTER UPDATE ON ${kind} REFERENCING OLD TABLE AS previous NEW TABLE AS updated
        FOR EACH STATEMENT EXECUTE FUNCTION change_log_touch_${kind}();
    `);
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const kind of KINDS) {
    await knex.raw(`DROP TRIGGER IF EXISTS ${kind}_change_log_insert ON ${kind}; DROP TRIGGER IF EXISTS ${kind}_change_log_update ON ${kind};`);
  }
  await knex.raw(`
    DROP TRIGGER IF EXISTS sharing_agreement_change_log ON sharing_agreement;
    DROP TABLE IF EXISTS change_commit, change_log_horizon, change_log;
    DROP FUNCTION IF EXISTS change_log_sequence(), change_log_agreement(), change_log_staging(), ${KINDS.map((kind) => `change_log_touch_${kind}()`).join(', ')};
    DROP SEQUENCE IF EXISTS change_seq;
  `);
}
