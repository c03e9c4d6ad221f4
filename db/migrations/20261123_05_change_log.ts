import type { Knex } from 'knex';

// The change log behind the feeds (the feed's reading functions are the next migration).
//
// - Written in the same transaction as the change: statement-level triggers note each record
//   a transaction touches (once, with its state before the transaction) and each agreement
//   change. A crash between the write and the log cannot lose one without the other.
// - Numbered in commit order: a deferred constraint trigger fires once per transaction just
//   before it commits, takes an advisory lock and numbers the transaction's entries. The lock
//   is held from numbering until the commit is visible, so entry n+1 never becomes visible
//   before entry n: a reader paging with `seq > cursor` cannot skip a change (paging a plain
//   sequence would, when a transaction that drew a lower number commits later).
// - The state of a record after an entry is the state before the record's next entry, or the
//   current row when there is none: no row snapshot is stored twice, and a bulk import logs
//   only small rows. States are kept as values of the record's own row type (one column per
//   kind): no text to write on the way in nor to parse on the way out — jsonb would turn each
//   geometry into GeoJSON and back, text costs a parse of every column per read. Rows up to a
//   page are kept uncompressed (toast_tuple_target), so reading a state's fields does not
//   decompress it field by field.

const KINDS = ['hazardous_area', 'land_release', 'minefield_record', 'testimony'] as const;
type Kind = (typeof KINDS)[number];

// The statement triggers of a record table: one entry per record a transaction touches, with the
// row as it was before the transaction (none for an insert).
const touchFunction = (kind: Kind) => `
    CREATE FUNCTION change_log_touch_${kind}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        INSERT INTO change_log (record_kind, record_id, owner_agency, acting_agency, actor)
        SELECT '${kind}', n.id, n.owner_agency, viewer_agency(), nullif(current_setting('app.subject', true), '')
        FROM inserted AS n
        ON CONFLICT (txid, record_kind, record_id) WHERE record_id IS NOT NULL DO NOTHING;
      ELSE
        INSERT INTO change_log (record_kind, record_id, owner_agency, acting_agency, actor, before_${kind})
        SELECT '${kind}', o.id, o.owner_agency, viewer_agency(), nullif(current_setting('app.subject', true), ''),
          -- A transition table's row is an anonymous record: ROW(o.*) makes it the table's row type.
          ROW(o.*)::${kind}
        FROM previous AS o JOIN updated AS n ON n.id = o.id
        -- Binary comparison: cheap, and never misses a change (equal images are equal rows).
        WHERE NOT n *= o
        ORDER BY o.id
        ON CONFLICT (txid, record_kind, record_id) WHERE record_id IS NOT NULL DO NOTHING;
      END IF;
      INSERT INTO change_commit VALUES (pg_current_xact_id()) ON CONFLICT DO NOTHING;
      RETURN NULL;
    END $$;
`;


export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE change_log (
      id            bigserial PRIMARY KEY,
      seq           bigint UNIQUE,
      txid          xid8 NOT NULL DEFAULT pg_current_xact_id(),
      committed_at  timestamptz,
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
    CREATE UNIQUE INDEX change_log_once_per_transaction ON change_log (txid, record_kind, record_id) WHERE record_id IS NOT NULL;
    CREATE INDEX change_log_record ON change_log (record_id, seq) WHERE record_id IS NOT NULL;
    CREATE INDEX change_log_agreement ON change_log (owner_agency, grantee, target_kind, seq) WHERE record_kind = 'sharing_agreement';
    CREATE INDEX change_log_unsequenced ON change_log (txid) WHERE seq IS NULL;
    CREATE INDEX change_log_committed ON change_log (committed_at);
    ALTER TABLE change_log SET (toast_tuple_target = 8160);

    CREATE TABLE change_commit (txid xid8 PRIMARY KEY);
    -- Entries up to this number were pruned: a cursor before it cannot be continued.
    CREATE TABLE change_log_horizon (singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), pruned_through bigint NOT NULL);
    INSERT INTO change_log_horizon VALUES (true, 0);
    CREATE SEQUENCE change_seq;

${KINDS.map(touchFunction).join('')}
    CREATE FUNCTION change_log_agreement() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND OLD.level = NEW.level THEN RETURN NULL; END IF;
      INSERT INTO change_log (record_kind, owner_agency, acting_agency, actor, grantee, target_kind, old_level, new_level)
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
      SELECT count(*) INTO entries FROM change_log WHERE txid = NEW.txid AND seq IS NULL;
      IF entries > 0 THEN
        first_seq := nextval('change_seq');
        IF entries > 1 THEN PERFORM setval('change_seq', first_seq + entries - 1); END IF;
        UPDATE change_log c SET seq = first_seq + o.n - 1, committed_at = clock_timestamp()
        FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM change_log WHERE txid = NEW.txid AND seq IS NULL) AS o
        WHERE c.id = o.id;
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
    DROP FUNCTION IF EXISTS change_log_sequence(), change_log_agreement(), ${KINDS.map((kind) => `change_log_touch_${kind}()`).join(', ')};
    DROP SEQUENCE IF EXISTS change_seq;
  `);
}
