import type { Knex } from 'knex';

// The change log behind the feeds.
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
//   only small rows. States are kept in the row's own text form (geometry as hex EWKB), which
//   casts straight back to the row type — jsonb would turn each geometry into GeoJSON and back.
// - A viewer's projection at any point reuses project_<kind>() — the function the access views
//   use — with the level in force then (the agreement log gives it).

const KINDS = ['hazardous_area', 'land_release', 'minefield_record', 'testimony'] as const;
const GEOMETRY: Record<(typeof KINDS)[number], string> = {
  hazardous_area: 'original_geom',
  land_release: 'geom',
  minefield_record: 'perimeter_geom',
  testimony: 'described_geom',
};

const projectionBranch = (kind: (typeof KINDS)[number]) => `
      WHEN '${kind}' THEN
        SELECT CASE WHEN r.retired_at IS NOT NULL OR (r.restricted AND level <> 'owner') THEN NULL
          ELSE jsonb_build_object('properties', project_${kind}(r, level),
            'geometry', ST_AsGeoJSON(CASE WHEN level = 'footprint' THEN r.footprint_geom ELSE r.${GEOMETRY[kind]} END, 9)::jsonb) END
        INTO projection FROM (SELECT (state::${kind}).*) AS r;`;

const currentStateBranch = (kind: (typeof KINDS)[number]) => `
      WHEN '${kind}' THEN SELECT r::text INTO current_state FROM ${kind} r WHERE r.id = p_id;`;

const fanoutBranch = (kind: (typeof KINDS)[number]) => `
      WHEN '${kind}' THEN
        RETURN QUERY
        SELECT r.id, CASE WHEN e.new_level = 'full' THEN (p.new_projection->'properties'->>'version')::integer END,
          p.old_projection, p.new_projection
        FROM (SELECT id FROM ${kind} WHERE owner_agency = e.owner_agency AND (p_after IS NULL OR id > p_after)
              ORDER BY id LIMIT p_limit) AS r
        CROSS JOIN LATERAL (SELECT feed_state('${kind}', r.id, p_seq) AS state OFFSET 0) AS s
        CROSS JOIN LATERAL (SELECT feed_projection('${kind}', s.state, e.old_level) AS old_projection,
                                   feed_projection('${kind}', s.state, e.new_level) AS new_projection OFFSET 0) AS p
        ORDER BY r.id;`;

const snapshotBranch = (kind: (typeof KINDS)[number]) => `
    RETURN QUERY
    SELECT '${kind}'::text, r.id, r.version, p.projection
    FROM ${kind} r
    CROSS JOIN LATERAL (SELECT feed_projection('${kind}', r::text, feed_level(r.owner_agency, '${kind}', cursor_seq)) AS projection OFFSET 0) AS p
    WHERE p.projection IS NOT NULL;`;

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
      before        text,
      grantee       text,
      target_kind   text,
      old_level     text,
      new_level     text
    );
    CREATE UNIQUE INDEX change_log_once_per_transaction ON change_log (txid, record_kind, record_id) WHERE record_id IS NOT NULL;
    CREATE INDEX change_log_record ON change_log (record_id, seq) WHERE record_id IS NOT NULL;
    CREATE INDEX change_log_agreement ON change_log (owner_agency, grantee, target_kind, seq) WHERE record_kind = 'sharing_agreement';
    CREATE INDEX change_log_unsequenced ON change_log (txid) WHERE seq IS NULL;
    CREATE INDEX change_log_committed ON change_log (committed_at);

    CREATE TABLE change_commit (txid xid8 PRIMARY KEY);
    -- Entries up to this number were pruned: a cursor before it cannot be continued.
    CREATE TABLE change_log_horizon (singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), pruned_through bigint NOT NULL);
    INSERT INTO change_log_horizon VALUES (true, 0);
    CREATE SEQUENCE change_seq;

    CREATE FUNCTION change_log_touch() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        INSERT INTO change_log (record_kind, record_id, owner_agency, acting_agency, actor, before)
        SELECT TG_ARGV[0], n.id, n.owner_agency, viewer_agency(), nullif(current_setting('app.subject', true), ''), NULL
        FROM inserted AS n
        ON CONFLICT (txid, record_kind, record_id) WHERE record_id IS NOT NULL DO NOTHING;
      ELSE
        INSERT INTO change_log (record_kind, record_id, owner_agency, acting_agency, actor, before)
        SELECT TG_ARGV[0], o.id, o.owner_agency, viewer_agency(), nullif(current_setting('app.subject', true), ''),
          o::text
        FROM previous AS o JOIN updated AS n ON n.id = o.id
        WHERE n::text IS DISTINCT FROM o::text
        ORDER BY o.id
        ON CONFLICT (txid, record_kind, record_id) WHERE record_id IS NOT NULL DO NOTHING;
      END IF;
      INSERT INTO change_commit VALUES (pg_current_xact_id()) ON CONFLICT DO NOTHING;
      RETURN NULL;
    END $$;

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
        FOR EACH STATEMENT EXECUTE FUNCTION change_log_touch('${kind}');
      CREATE TRIGGER ${kind}_change_log_update AFTER UPDATE ON ${kind} REFERENCING OLD TABLE AS previous NEW TABLE AS updated
        FOR EACH STATEMENT EXECUTE FUNCTION change_log_touch('${kind}');
    `);
  }

  // The feed's functions: all for the viewer of the transaction (viewer_agency(), viewer_role()).
  await knex.raw(`
    -- The level the viewer held for an owner's records of a kind right after entry p_seq.
    CREATE FUNCTION feed_level(p_owner text, p_kind text, p_seq bigint) RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
      SELECT CASE
        WHEN p_owner = viewer_agency() AND viewer_role() IN ('editor', 'viewer', 'admin') THEN 'owner'
        ELSE coalesce(
          (SELECT old_level FROM change_log WHERE record_kind = 'sharing_agreement' AND owner_agency = p_owner
             AND grantee = viewer_grantee() AND target_kind = p_kind AND seq > p_seq ORDER BY seq LIMIT 1),
          (SELECT level FROM sharing_agreement WHERE owner_agency = p_owner AND grantee = viewer_grantee() AND record_kind = p_kind),
          'none')
      END
    $$;

    -- A record's state right after entry p_seq: NULL when it did not exist yet.
    CREATE FUNCTION feed_state(p_kind text, p_id uuid, p_seq bigint) RETURNS text
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
    DECLARE
      next_entry record;
      current_state text;
    BEGIN
      SELECT before, seq INTO next_entry FROM change_log
       WHERE record_id = p_id AND record_kind = p_kind AND seq > p_seq ORDER BY seq LIMIT 1;
      IF FOUND THEN RETURN next_entry.before; END IF;
      CASE p_kind ${KINDS.map(currentStateBranch).join('')}
      END CASE;
      RETURN current_state;
    END $$;

    -- What a viewer at a level sees of a record state: {properties, geometry}, or NULL.
    CREATE FUNCTION feed_projection(p_kind text, state text, level text) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
    DECLARE
      projection jsonb;
    BEGIN
      IF state IS NULL OR level IS NULL OR level = 'none' THEN RETURN NULL; END IF;
      CASE p_kind ${KINDS.map(projectionBranch).join('')}
      END CASE;
      RETURN projection;
    END $$;

    -- Geometry change between two projections: what was added and removed, and how much.
    CREATE FUNCTION feed_geometry_change(old_geometry jsonb, new_geometry jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE AS $$
      SELECT jsonb_build_object(
        'addedM2', coalesce(ST_Area(added::geography), 0), 'removedM2', coalesce(ST_Area(removed::geography), 0),
        'added', CASE WHEN ST_IsEmpty(added) THEN NULL ELSE ST_AsGeoJSON(added, 9)::jsonb END,
        'removed', CASE WHEN ST_IsEmpty(removed) THEN NULL ELSE ST_AsGeoJSON(removed, 9)::jsonb END)
      FROM (SELECT ST_SetSRID(ST_GeomFromGeoJSON(old_geometry), 4326) AS o, ST_SetSRID(ST_GeomFromGeoJSON(new_geometry), 4326) AS n) AS g,
        LATERAL (SELECT ST_Difference(n, o) AS added, ST_Difference(o, n) AS removed) AS d
    $$;

    -- OFFSET 0 fences each step: without it the planner pastes the function calls into every
    -- reference and runs each projection three times.
    CREATE FUNCTION feed_entries(p_after bigint, p_limit integer)
    RETURNS TABLE (seq bigint, committed_at timestamptz, record_kind text, record_id uuid, owner_agency text,
      acting_agency text, version integer, old_projection jsonb, new_projection jsonb, geometry_change jsonb,
      grantee text, target_kind text, old_level text, new_level text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
      SELECT e.seq, e.committed_at, e.record_kind, e.record_id, e.owner_agency, e.acting_agency,
        -- Below full the version is not shown: its jumps would count the edits the viewer cannot see.
        CASE WHEN l.level IN ('owner', 'full') THEN (p.new_projection->'properties'->>'version')::integer END,
        p.old_projection, p.new_projection,
        CASE WHEN p.old_projection IS NOT NULL AND p.new_projection IS NOT NULL
               AND p.old_projection->'geometry' IS DISTINCT FROM p.new_projection->'geometry'
             THEN feed_geometry_change(p.old_projection->'geometry', p.new_projection->'geometry') END,
        CASE WHEN e.record_id IS NULL AND e.grantee = viewer_grantee() AND e.owner_agency IS DISTINCT FROM viewer_agency() THEN e.grantee END,
        e.target_kind, e.old_level, e.new_level
      FROM (SELECT * FROM change_log c WHERE c.seq > p_after ORDER BY c.seq LIMIT p_limit) AS e
      CROSS JOIN LATERAL (SELECT CASE WHEN e.record_id IS NOT NULL THEN feed_level(e.owner_agency, e.record_kind, e.seq) END AS level OFFSET 0) AS l
      CROSS JOIN LATERAL (SELECT CASE WHEN e.record_id IS NOT NULL AND l.level <> 'none' THEN feed_state(e.record_kind, e.record_id, e.seq) END AS state OFFSET 0) AS s
      CROSS JOIN LATERAL (SELECT feed_projection(e.record_kind, e.before, l.level) AS old_projection,
                                 feed_projection(e.record_kind, s.state, l.level) AS new_projection OFFSET 0) AS p
      ORDER BY e.seq
    $$;

    -- The owner's records of the kind, in id order after p_after, with the viewer's projection
    -- before and after the agreement change. Paged by id, not by offset: records created since
    -- (they did not exist at p_seq and project to nothing) cannot shift a page.
    CREATE FUNCTION feed_agreement_fanout(p_seq bigint, p_after uuid, p_limit integer)
    RETURNS TABLE (record_id uuid, version integer, old_projection jsonb, new_projection jsonb)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
    #variable_conflict use_column
    DECLARE
      e record;
    BEGIN
      SELECT * INTO e FROM change_log c WHERE c.seq = p_seq AND c.record_kind = 'sharing_agreement'
        AND c.grantee = viewer_grantee() AND c.owner_agency IS DISTINCT FROM viewer_agency();
      IF NOT FOUND THEN RETURN; END IF;
      CASE e.target_kind ${KINDS.map(fanoutBranch).join('')}
      END CASE;
    END $$;

    -- Everything the viewer may see now, and the cursor to continue from, in one snapshot.
    -- After a prune the log may be empty: the horizon is then where the feed continues from.
    CREATE FUNCTION feed_snapshot_cursor() RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
      SELECT greatest(coalesce((SELECT max(seq) FROM change_log), 0), (SELECT pruned_through FROM change_log_horizon))
    $$;
    CREATE FUNCTION feed_snapshot(cursor_seq bigint)
    RETURNS TABLE (record_kind text, record_id uuid, version integer, projection jsonb)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
    BEGIN ${KINDS.map(snapshotBranch).join('')}
    END $$;

    CREATE FUNCTION feed_horizon() RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
      SELECT pruned_through FROM change_log_horizon
    $$;

    GRANT EXECUTE ON FUNCTION feed_entries(bigint, integer), feed_agreement_fanout(bigint, uuid, integer),
      feed_snapshot(bigint), feed_snapshot_cursor(), feed_horizon() TO minefield_reader;
  `);
}

export async function down(knex: Knex): Promise<void> {
  for (const kind of KINDS) {
    await knex.raw(`DROP TRIGGER IF EXISTS ${kind}_change_log_insert ON ${kind}; DROP TRIGGER IF EXISTS ${kind}_change_log_update ON ${kind};`);
  }
  await knex.raw(`
    DROP TRIGGER IF EXISTS sharing_agreement_change_log ON sharing_agreement;
    DROP FUNCTION IF EXISTS feed_horizon(), feed_snapshot(bigint), feed_snapshot_cursor(), feed_agreement_fanout(bigint, uuid, integer),
      feed_entries(bigint, integer), feed_geometry_change(jsonb, jsonb), feed_projection(text, text, text),
      feed_state(text, uuid, bigint), feed_level(text, text, bigint);
    DROP TABLE IF EXISTS change_commit, change_log_horizon, change_log;
    DROP FUNCTION IF EXISTS change_log_sequence(), change_log_agreement(), change_log_touch();
    DROP SEQUENCE IF EXISTS change_seq;
  `);
}
