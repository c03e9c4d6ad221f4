import type { Knex } from 'knex';
import { PROJECTIONS, patchSql, projectionTextSql } from '../projections';

// The feed's reading functions over the change log (the change-log migration writes it). A
// viewer's projection at any point reuses project_<kind>() — the function the access views
// use — with the level in force then (the agreement log gives it).

const KINDS = ['hazardous_area', 'land_release', 'minefield_record', 'testimony'] as const;
const GEOMETRY: Record<(typeof KINDS)[number], string> = {
  hazardous_area: 'original_geom',
  land_release: 'geom',
  minefield_record: 'perimeter_geom',
  testimony: 'described_geom',
};

type Kind = (typeof KINDS)[number];

// The levels that are shown a record's version (the projection's 'version' property).
const VERSION_LEVELS = PROJECTIONS.hazardous_area.find((p) => p.name === 'version')!.levels.map((level) => `'${level}'`).join(', ');

// Whether a record state is visible at a level: admitted by the access views' rule
// (access_admits, the sharing migration) and not retired (the records API drops retired records).
const visible = (state: string, exists: string, level: string) =>
  `(${exists} AND (${state}).retired_at IS NULL AND access_admits(coalesce(${level}, 'none'), (${state}).restricted))`;

// The geometry a level shows: the footprint at footprint, the record's own geometry above.
const levelGeometry = (kind: Kind, state: string, level: string) =>
  `CASE WHEN ${level} = 'footprint' THEN (${state}).footprint_geom ELSE (${state}).${GEOMETRY[kind]} END`;

// The events of one record kind, from a source of state pairs with the columns
//   seq, record_id, committed_at, acting_agency,
//   o, o_exists, o_level (the state before and the level it was seen at),
//   n, n_exists, n_level (the state after and the level it is seen at).
// Pairs that neither side sees are dropped before anything is projected; an update that changes
// nothing the viewer sees is dropped after. The JSON Patch of an update is made here, so no
// projection leaves the database for it:
//  - seen at one level before and after (every update but an agreement's fan-out): compared
//    property by property over the two rows (patchSql, from the projection's own list), with
//    no projection built at all;
//  - seen at two levels (an agreement's fan-out): both sides projected with project_<kind>() —
//    the function of the access views — and compared as JSON (feed_patch).
// Geometry is compared, and diffed, only on updates; a create carries the whole projection (as
// JSON text made from the same list, projectionTextSql).
const eventsOf = (kind: Kind, source: string) => `
      SELECT s.seq, s.committed_at, s.acting_agency, s.record_id, v.operation,
        CASE WHEN v.nv AND s.n_level IN (${VERSION_LEVELS}) THEN (s.n).version END AS version,
        CASE WHEN v.operation = 'create' THEN
          '{"type":"Feature","id":"' || s.record_id || '","geometry":' || coalesce(ST_AsGeoJSON(p.new_g, 9), 'null')
          || ',"properties":' || ${projectionTextSql(kind, '(s.n)', 's.n_level')} || '}' END AS feature,
        CASE WHEN v.operation = 'update' THEN '[' || coalesce(d.attributes, '') || ']' END AS patch, d.geometry
      FROM (${source}) AS s
      CROSS JOIN LATERAL (SELECT CASE WHEN x.ov AND x.nv THEN 'update' WHEN x.nv THEN 'create' WHEN x.ov THEN 'delete' END AS operation,
          x.ov, x.nv, x.ov AND x.nv AND s.o_level = s.n_level AS one_level
        FROM (SELECT ${visible('s.o', 's.o_exists', 's.o_level')} AS ov, ${visible('s.n', 's.n_exists', 's.n_level')} AS nv) AS x OFFSET 0) AS v
      CROSS JOIN LATERAL (SELECT
          CASE WHEN v.operation = 'update' AND NOT v.one_level THEN project_${kind}(s.o, s.o_level) END AS old_p,
          CASE WHEN v.operation = 'update' AND NOT v.one_level THEN project_${kind}(s.n, s.n_level) END AS new_p,
          CASE WHEN v.operation = 'update' THEN ${levelGeometry(kind, 's.o', 's.o_level')} END AS old_g,
          CASE WHEN v.nv THEN ${levelGeometry(kind, 's.n', 's.n_level')} END AS new_g
        OFFSET 0) AS p
      CROSS JOIN LATERAL (SELECT
          CASE WHEN v.operation = 'update' AND p.old_g IS DISTINCT FROM p.new_g THEN feed_geometry_change(p.old_g, p.new_g) END AS geometry,
          CASE WHEN v.one_level THEN ${patchSql(kind, '(s.o)', '(s.n)', 's.n_level')}
            WHEN v.operation = 'update' AND p.old_p IS DISTINCT FROM p.new_p THEN feed_patch(p.old_p, p.new_p) END AS attributes
        OFFSET 0) AS d
      WHERE v.operation IS NOT NULL AND (v.operation <> 'update' OR d.attributes IS NOT NULL OR d.geometry IS NOT NULL)`;

// Commit times as JSON wants them (what Date.prototype.toISOString gives).
const ISO_TIME = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

// One page of the log, per kind: each entry's state before (its own) and after (the next
// entry's before, or the current row), at the level in force right after the entry. The page
// carries entry numbers only; states are read by number once the level says they are needed. (A state
// is a row value: NOT (x IS NULL) says it exists; x IS NOT NULL would ask whether every field is set.)
const entryBranch = (kind: Kind) => `
      SELECT e.seq, ${ISO_TIME('e.committed_at')}, '${kind}'::text, e.record_id, e.acting_agency, e.version, e.operation, e.feature,
        e.patch, e.geometry, NULL::bigint
      FROM (${eventsOf(kind, `
        SELECT l.seq, l.record_id, l.committed_at, l.acting_agency,
          b.before AS o, NOT (b.before IS NULL) AS o_exists, l.level AS o_level,
          st.n, CASE WHEN l.next_seq IS NOT NULL THEN NOT (st.n IS NULL) ELSE cur.id IS NOT NULL END AS n_exists, l.level AS n_level
        FROM levelled AS l
        CROSS JOIN LATERAL (SELECT c.before_${kind} AS before FROM change_log AS c WHERE c.seq = l.seq) AS b
        LEFT JOIN LATERAL (SELECT c.before_${kind} AS before FROM change_log AS c WHERE c.seq = l.next_seq) AS nb ON true
        LEFT JOIN LATERAL (SELECT c AS row, c.id FROM ${kind} AS c WHERE l.next_seq IS NULL AND c.id = l.record_id OFFSET 0) AS cur ON true
        CROSS JOIN LATERAL (SELECT CASE WHEN l.next_seq IS NOT NULL THEN nb.before ELSE cur.row END AS n OFFSET 0) AS st
        WHERE l.record_kind = '${kind}'`)}) AS e`;

// An agreement change, per kind: each of a page of the owner's records (by id) at its state
// right after the change, seen at the old level and at the new one. Ends with a row that says
// how far the page went (operation 'scanned', the last id and how many records it held).
const fanoutBranch = (kind: Kind) => `
      WHEN '${kind}' THEN
        RETURN QUERY
        SELECT u.* FROM (
        WITH fanned AS MATERIALIZED (
          SELECT r.id FROM ${kind} AS r WHERE r.owner_agency = a.owner_agency AND (p_after IS NULL OR r.id > p_after)
          ORDER BY r.id LIMIT p_limit)
        SELECT e.seq, ${ISO_TIME('e.committed_at')}, '${kind}'::text, e.record_id, e.acting_agency, e.version, e.operation, e.feature,
          e.patch, e.geometry, NULL::bigint
        FROM (${eventsOf(kind, `
          SELECT a.seq, r.id AS record_id, a.committed_at, a.acting_agency,
            st.s AS o, st.found AS o_exists, a.old_level AS o_level, st.s AS n, st.found AS n_exists, a.new_level AS n_level
          FROM fanned AS r
          LEFT JOIN LATERAL (SELECT n.before_${kind} AS before, true AS found FROM change_log AS n
            WHERE n.record_id = r.id AND n.record_kind = '${kind}' AND n.seq > a.seq ORDER BY n.seq LIMIT 1) AS nx ON true
          LEFT JOIN LATERAL (SELECT c AS row, c.id FROM ${kind} AS c WHERE nx.found IS NULL AND c.id = r.id OFFSET 0) AS cur ON true
          CROSS JOIN LATERAL (SELECT CASE WHEN nx.found THEN nx.before ELSE cur.row END AS s,
            CASE WHEN nx.found THEN NOT (nx.before IS NULL) ELSE cur.id IS NOT NULL END AS found OFFSET 0) AS st`)}) AS e
        UNION ALL
        SELECT a.seq, NULL, '${kind}', (SELECT f.id FROM fanned AS f ORDER BY f.id DESC LIMIT 1), NULL, NULL, 'scanned', NULL, NULL, NULL,
          (SELECT count(*) FROM fanned)
        WHERE EXISTS (SELECT FROM fanned)
        ) AS u (seq, "time", record_kind, record_id, acting_agency, version, operation, feature, patch, geometry, scanned)
        ORDER BY u.record_id, u.operation = 'scanned';`;

// The snapshot, per kind: every record the viewer sees now, projected at its level now.
const snapshotBranch = (kind: Kind) => `
    SELECT '${kind}'::text, r.id, r.version,
      jsonb_build_object('properties', project_${kind}(r, va.level), 'geometry', ST_AsGeoJSON(${levelGeometry(kind, 'r', 'va.level')}, 9)::jsonb)
    FROM ${kind} AS r
    JOIN viewer_access AS va ON va.owner_agency = r.owner_agency AND va.record_kind = '${kind}'
    WHERE ${visible('r', 'true', 'va.level')}`;

export async function up(knex: Knex): Promise<void> {
  // The feed's functions: all for the viewer of the transaction (viewer_agency(), viewer_role(),
  // viewer_grantee(), viewer_access — the sharing migration's definitions).
  await knex.raw(`
    -- The JSON Patch (RFC 6902) from one projection to another, one operation per top-level
    -- property that differs (a changed object or array is replaced whole), as the text of its
    -- operations without the brackets; NULL when they are equal. Paths escape ~ and / (RFC 6901).
    -- (jsonb_exists is the ? operator, which knex would take for a binding.)
    CREATE FUNCTION feed_patch(old_p jsonb, new_p jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS $$
      SELECT string_agg(op, ',') FROM (
        SELECT '{"op":"' || CASE WHEN jsonb_exists(old_p, n.key) THEN 'replace' ELSE 'add' END || '","path":'
          || to_json('/' || replace(replace(n.key, '~', '~0'), '/', '~1'))::text || ',"value":' || n.value::text || '}' AS op
        FROM jsonb_each(new_p) AS n WHERE (old_p -> n.key) IS DISTINCT FROM n.value
        UNION ALL
        SELECT '{"op":"remove","path":' || to_json('/' || replace(replace(k, '~', '~0'), '/', '~1'))::text || '}'
        FROM jsonb_object_keys(old_p) AS k WHERE NOT jsonb_exists(new_p, k)
      ) AS ops
    $$;

    -- Geometry change between two shapes, as JSON text: the parts added and removed, their m², and
    -- the resulting shape; NULL when nothing a client could see changed (the same GeoJSON).
    CREATE FUNCTION feed_geometry_change(old_geometry geometry, new_geometry geometry) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
      SELECT CASE WHEN ST_AsGeoJSON(old_geometry, 9) IS NOT DISTINCT FROM ST_AsGeoJSON(new_geometry, 9) THEN NULL ELSE
        '{"addedM2":' || to_json(coalesce(ST_Area(added::geography), 0))::text
        || ',"removedM2":' || to_json(coalesce(ST_Area(removed::geography), 0))::text
        || ',"added":' || CASE WHEN added IS NULL OR ST_IsEmpty(added) THEN 'null' ELSE ST_AsGeoJSON(added, 9) END
        || ',"removed":' || CASE WHEN removed IS NULL OR ST_IsEmpty(removed) THEN 'null' ELSE ST_AsGeoJSON(removed, 9) END
        || ',"current":' || coalesce(ST_AsGeoJSON(new_geometry, 9), 'null') || '}' END
      FROM (SELECT ST_Difference(new_geometry, old_geometry) AS added, ST_Difference(old_geometry, new_geometry) AS removed) AS d
    $$;

    -- The viewer's events in the entries after p_after, at most p_limit entries, set-based:
    --  - the level for each entry: viewer_access now, or, when the agreement changed since the
    --    entry, the old level of the first change after it (the agreement log);
    --  - entries the viewer sees at no level are dropped before any state is read;
    --  - each record entry becomes create / update / delete / nothing (eventsOf above), with
    --    the feature, the properties before and after, and the geometry change as JSON text;
    --  - an agreement change for the viewer comes as operation 'agreement' (its records follow
    --    from feed_agreement_fanout);
    --  - a last row, operation 'scanned', gives the last entry read (p_after when none), how many
    --    were read, and the last entry of the whole log (log_end): a reader moves past entries
    --    that held nothing for it, and knows whether it has reached the end;
    --  - p_through bounds the page (readers split a long read into ranges read side by side);
    --  - a cursor from before the retention horizon is an error (SQLSTATE P0410), checked in the
    --    same snapshot as the entries it reads.
    -- Settings: the query is planned once per session (a custom plan per call cost ~7 ms, as
    -- much as reading 300 entries; the generic plan has the same shape: index lookups from a page
    -- of entries); without JIT (its estimated cost would make PostgreSQL compile the whole
    -- query, ~0.8 s a call); and with room to sort a page of events in memory.
    CREATE FUNCTION feed_entries(p_after bigint, p_limit integer, p_through bigint DEFAULT NULL)
    RETURNS TABLE (seq bigint, "time" text, record_kind text, record_id uuid, acting_agency text, version integer,
      operation text, feature text, patch text, geometry text, scanned bigint, log_end bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public
      SET plan_cache_mode = force_generic_plan SET jit = off SET work_mem = '32MB' AS $$
    #variable_conflict use_column
    DECLARE
      v_agency text := viewer_agency();
      v_grantee text := viewer_grantee();
    BEGIN
      IF p_after < (SELECT h.pruned_through FROM change_log_horizon AS h) THEN
        RAISE EXCEPTION 'changes after % were pruned', p_after USING ERRCODE = 'P0410';
      END IF;
      RETURN QUERY
      SELECT u.*, e.log_end FROM (
      WITH page AS MATERIALIZED (
        SELECT c.seq, c.committed_at, c.record_kind, c.record_id, c.owner_agency, c.acting_agency,
          c.grantee, c.target_kind, c.old_level, c.new_level
        FROM change_log AS c WHERE c.seq > p_after AND (p_through IS NULL OR c.seq <= p_through) ORDER BY c.seq LIMIT p_limit
      ), levelled AS MATERIALIZED (
        SELECT p.seq, p.committed_at, p.record_kind, p.record_id, p.acting_agency, lv.level,
          nx.seq AS next_seq
        FROM page AS p
        LEFT JOIN viewer_access AS va ON va.owner_agency = p.owner_agency AND va.record_kind = p.record_kind
        CROSS JOIN LATERAL (SELECT CASE WHEN va.level = 'owner' THEN 'owner' ELSE coalesce(
            (SELECT h.old_level FROM change_log AS h WHERE h.record_kind = 'sharing_agreement' AND h.owner_agency = p.owner_agency
               AND h.grantee = v_grantee AND h.target_kind = p.record_kind AND h.seq > p.seq ORDER BY h.seq LIMIT 1),
            va.level, 'none') END AS level) AS lv
        LEFT JOIN LATERAL (SELECT n.seq FROM change_log AS n
          WHERE n.record_id = p.record_id AND n.record_kind = p.record_kind AND n.seq > p.seq ORDER BY n.seq LIMIT 1) AS nx ON true
        WHERE p.record_id IS NOT NULL AND lv.level <> 'none'
      )
      ${KINDS.map(entryBranch).join('\n      UNION ALL')}
      UNION ALL
      SELECT p.seq, ${ISO_TIME('p.committed_at')}, p.target_kind, NULL::uuid, p.acting_agency, NULL::integer, 'agreement',
        NULL::text, NULL::text, NULL::text, NULL::bigint
      FROM page AS p
      WHERE p.record_kind = 'sharing_agreement' AND p.grantee = v_grantee AND p.owner_agency IS DISTINCT FROM v_agency
      UNION ALL
      SELECT coalesce(max(p.seq), p_after), NULL, NULL, NULL, NULL, NULL, 'scanned', NULL, NULL, NULL, count(*) FROM page AS p
      ) AS u (seq, "time", record_kind, record_id, acting_agency, version, operation, feature, patch, geometry, scanned)
      CROSS JOIN (SELECT coalesce(max(c.seq), 0) FROM change_log AS c) AS e (log_end)
      ORDER BY u.seq, u.operation = 'scanned';
    END $$;

    -- The events an agreement change makes for the viewer (its grantee, not its owner): the
    -- owner's records in id order after p_after, at most p_limit of them, each seen before at
    -- the old level and after at the new one. Paged by id, not by offset: records created since
    -- (they did not exist at p_seq and project to nothing) cannot shift a page.
    CREATE FUNCTION feed_agreement_fanout(p_seq bigint, p_after uuid, p_limit integer)
    RETURNS TABLE (seq bigint, "time" text, record_kind text, record_id uuid, acting_agency text, version integer,
      operation text, feature text, patch text, geometry text, scanned bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public SET jit = off AS $$
    #variable_conflict use_column
    DECLARE
      a record;
    BEGIN
      SELECT c.seq, c.committed_at, c.acting_agency, c.owner_agency, c.target_kind, c.old_level, c.new_level INTO a
      FROM change_log AS c WHERE c.seq = p_seq AND c.record_kind = 'sharing_agreement'
        AND c.grantee = viewer_grantee() AND c.owner_agency IS DISTINCT FROM viewer_agency();
      IF NOT FOUND THEN RETURN; END IF;
      CASE a.target_kind ${KINDS.map(fanoutBranch).join('')}
      END CASE;
    END $$;

    -- Everything the viewer may see now, and the cursor to continue from, in one snapshot.
    -- After a prune the log may be empty: the horizon is then where the feed continues from.
    CREATE FUNCTION feed_snapshot_cursor() RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
      SELECT greatest(coalesce((SELECT max(seq) FROM change_log), 0), (SELECT pruned_through FROM change_log_horizon))
    $$;
    -- In the snapshot of cursor_seq the agreements are those in force right after it: the
    -- levels are viewer_access's.
    CREATE FUNCTION feed_snapshot(cursor_seq bigint)
    RETURNS TABLE (record_kind text, record_id uuid, version integer, projection jsonb)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    ${KINDS.map(snapshotBranch).join('\n    UNION ALL')}
    $$;

    CREATE FUNCTION feed_horizon() RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
      SELECT pruned_through FROM change_log_horizon
    $$;

    GRANT EXECUTE ON FUNCTION feed_entries(bigint, integer, bigint), feed_agreement_fanout(bigint, uuid, integer),
      feed_snapshot(bigint), feed_snapshot_cursor(), feed_horizon() TO minefield_reader;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP FUNCTION IF EXISTS feed_horizon(), feed_snapshot(bigint), feed_snapshot_cursor(), feed_agreement_fanout(bigint, uuid, integer),
      feed_entries(bigint, integer, bigint), feed_geometry_change(geometry, geometry), feed_patch(jsonb, jsonb);
  `);
}
