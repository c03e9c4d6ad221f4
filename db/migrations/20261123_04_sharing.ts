import type { Knex } from 'knex';
import { cellXSql, cellYSql } from '../overviewCells';
import { projectionSql } from '../projections';

// Sharing and access control: THE place that decides who sees what.
//
// - sharing_agreement: an owner agency grants a grantee (another agency, LIAISON or PUBLIC) a
//   level per record kind: none < footprint < summary < full. The owner itself is 'owner'.
// - viewer_access: the level of the current viewer (transaction-local settings made by
//   db/viewerTransaction.ts) for every (owner agency, record kind).
// - visible_<kind>: the projection. Each row the viewer may see, once, with a `properties`
//   object holding exactly the fields its level allows, and `geom` the geometry it may see
//   (the generalised footprint at 'footprint'). Every read path selects from these views.
// - Read transactions run as role minefield_reader, which may select from the views and
//   nothing else, so a new read path cannot reach a base table by accident.
// - Row-level security is deliberately not used: PostgreSQL does not push non-leakproof
//   operators such as PostGIS && through a policy into an index scan. The views filter on
//   search_geom (the footprint, which covers the true geometry) so bbox queries keep the GiST
//   index; test/access.test.ts proves it with EXPLAIN.

const KINDS = ['hazardous_area', 'land_release', 'minefield_record', 'testimony'] as const;

// Footprints: deterministic, covering, generalised, on a fixed 0.001° grid. The footprint is
// an octagon: the geometry's extent along x and y and along the two diagonals (x - y, x + y,
// the bounding box of the geometry turned by an affine map), each bound pushed outward to the
// grid and one cell beyond (two along the diagonals, whose units are √2 times shorter), and the
// polygon where the eight half-planes meet. Every edge lies at least a cell from the geometry,
// so the footprint covers it with 0.001° everywhere; its vertices are sums of grid values, so
// grid points; and the margins keep each side from turning inside out (a side clamped to the
// box is never negative in length), so it is a valid convex polygon, of 4 to 8 vertices.
// The same geometry always gives the same footprint, so repeated requests cannot be averaged
// back to the original, and eight directions tell less of a shape than its convex hull.
// Made of bounding boxes and arithmetic, not GEOS: it is computed for every row written (the
// convex hull grown and hulled again, as it was, cost a bulk import of 85,000 areas 1.4 s of
// its transaction's CPU out of 6). plpgsql, because each bound is used two or three times.
const FOOTPRINT_FUNCTION = `
  CREATE FUNCTION footprint_of(g geometry) RETURNS geometry LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
  DECLARE
    extent box2d;
    diagonals box2d;
    -- Bounds in cells of 0.001°: x, y, d = x - y, s = x + y.
    x0 float8; x1 float8; y0 float8; y1 float8; d0 float8; d1 float8; s0 float8; s1 float8;
  BEGIN
    IF g IS NULL OR ST_IsEmpty(g) THEN RETURN NULL; END IF;
    extent := Box2D(g);
    diagonals := Box2D(ST_Affine(g, 1, -1, 1, 1, 0, 0));
    x0 := floor(ST_XMin(extent) * 1000) - 1; x1 := ceil(ST_XMax(extent) * 1000) + 1;
    y0 := floor(ST_YMin(extent) * 1000) - 1; y1 := ceil(ST_YMax(extent) * 1000) + 1;
    d0 := floor(ST_XMin(diagonals) * 1000) - 2; d1 := ceil(ST_XMax(diagonals) * 1000) + 2;
    s0 := floor(ST_YMin(diagonals) * 1000) - 2; s1 := ceil(ST_YMax(diagonals) * 1000) + 2;
    -- Counter-clockwise from the bottom side; where a diagonal does not cut a corner, its two
    -- vertices coincide and one goes.
    RETURN ST_SetSRID(ST_RemoveRepeatedPoints(ST_MakePolygon(ST_MakeLine(ARRAY[
      ST_MakePoint(greatest(x0, s0 - y0) / 1000, y0 / 1000), ST_MakePoint(least(x1, d1 + y0) / 1000, y0 / 1000),
      ST_MakePoint(x1 / 1000, greatest(y0, x1 - d1) / 1000), ST_MakePoint(x1 / 1000, least(y1, s1 - x1) / 1000),
      ST_MakePoint(least(x1, s1 - y1) / 1000, y1 / 1000), ST_MakePoint(greatest(x0, d0 + y1) / 1000, y1 / 1000),
      ST_MakePoint(x0 / 1000, least(y1, x0 - d0) / 1000), ST_MakePoint(x0 / 1000, greatest(y0, s0 - x0) / 1000),
      ST_MakePoint(greatest(x0, s0 - y0) / 1000, y0 / 1000)]))), ST_SRID(g));
  END $$;
`;

const LEVEL_AT_LEAST = `
  CREATE FUNCTION access_at_least(level text, required text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT array_position(ARRAY['none','footprint','summary','full','owner'], level)
        >= array_position(ARRAY['none','footprint','summary','full','owner'], required)
  $$;

  -- THE rule of who sees a record at all: a level above none, and, for anyone but its owner,
  -- a record that is not restricted. Every access view applies it (the visible_* views here,
  -- the overview cells of tiles); an SQL function this simple is inlined into each query.
  CREATE FUNCTION access_admits(level text, restricted boolean) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT level <> 'none' AND (level = 'owner' OR NOT restricted)
  $$;
`;

// Each kind's projection: the fields a level may see (db/projections.ts lists them). The access
// views apply it to the current rows; the change feed applies the same function to earlier
// states of a row, and its patches come from the same list.
const projections = Object.fromEntries(KINDS.map((kind) => [kind, `
    CREATE FUNCTION project_${kind}(r ${kind}, level text) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT ${projectionSql(kind)}
    $$`])) as Record<(typeof KINDS)[number], string>;

// Columns every access view starts with. Who retired a record, and why, are shared from full
// up like every other detail; search_geom (the footprint, covering every level's geometry)
// carries the GiST index for bbox queries; the cell range serves overview tiles.
const VIEW_HEADER = `r.id, r.owner_agency, a.level AS access_level, r.version, r.created_at, r.retired_at,
      CASE WHEN access_at_least(a.level, 'full') THEN r.retired_by END AS retired_by,
      CASE WHEN access_at_least(a.level, 'full') THEN r.retired_reason END AS retired_reason,
      r.footprint_geom AS search_geom, r.cell_x0, r.cell_x1, r.cell_y0, r.cell_y1`;

// How each view reads the viewer's level of a record's owner. The levels for the view's kind
// are made once per query (a MATERIALIZED CTE of a row per agency), and each record looks its
// owner's up in them (LATERAL with OFFSET 0: never flattened into a join). Joined as a view,
// viewer_access was two hash joins and its level expression per record, evaluated again in
// every column that depends on it (measured 10–15 % of the SQL of a large vector tile); a
// plain join to the CTE let the planner probe the owner_agency index once per agency beside
// the spatial index (a bitmap of all the owner's records, per owner: a count of 1,000 areas in a
// bbox took 13 ms instead of 5).
const VIEWER_LEVELS = (kind: string) => `WITH viewer_levels AS MATERIALIZED (
      SELECT owner_agency, level FROM viewer_access WHERE record_kind = '${kind}')`;
const OWNER_LEVEL = `CROSS JOIN LATERAL (
      SELECT l.level FROM viewer_levels AS l WHERE l.owner_agency = r.owner_agency OFFSET 0) AS a`;

// The views: one page of SQL per record kind.
const views: Record<(typeof KINDS)[number], string> = {
  hazardous_area: `
    CREATE VIEW visible_hazardous_area AS
    ${VIEWER_LEVELS('hazardous_area')}
    SELECT ${VIEW_HEADER},
      CASE WHEN a.level = 'footprint' THEN r.footprint_geom ELSE r.original_geom END AS geom,
      CASE WHEN a.level = 'footprint' THEN (CASE WHEN r.remaining_geom IS NULL THEN NULL ELSE r.footprint_geom END)
           ELSE r.remaining_geom END AS remaining_geom,
      r.classification,
      CASE WHEN a.level <> 'footprint' THEN r.status END AS status,
      CASE WHEN a.level <> 'footprint' THEN r.hazard_types END AS hazard_types,
      CASE WHEN a.level <> 'footprint' THEN r.information_date END AS information_date,
      CASE WHEN a.level <> 'footprint' THEN r.local_ref END AS local_ref,
      CASE WHEN access_at_least(a.level, 'full') THEN r.priority END AS priority,
      CASE WHEN a.level <> 'footprint' THEN r.remaining_area_m2 END AS remaining_area_m2,
      CASE WHEN access_at_least(a.level, 'full') THEN r.marking END AS marking,
      project_hazardous_area(r, a.level) AS properties,
      CASE WHEN access_at_least(a.level, 'full') THEN jsonb_build_object(
        'inputGeometry', r.input_geometry,
        'statusHistory', jsonb_build_array(jsonb_build_object('from', NULL, 'to', 'open', 'reason', 'recorded',
            'date', r.recorded_on, 'comment', NULL, 'by', r.created_by, 'at', r.created_at))
          || coalesce((SELECT jsonb_agg(jsonb_build_object('from', c.from_status, 'to', c.to_status, 'reason', c.reason,
            'date', c.status_date, 'comment', c.comment, 'by', c.changed_by, 'at', c.changed_at) ORDER BY c.id)
          FROM hazardous_area_status_change c WHERE c.hazardous_area_id = r.id), '[]'::jsonb))
      END AS detail
    FROM hazardous_area r
    ${OWNER_LEVEL}
    WHERE access_admits(a.level, r.restricted)`,

  land_release: `
    CREATE VIEW visible_land_release AS
    ${VIEWER_LEVELS('land_release')}
    SELECT ${VIEW_HEADER},
      CASE WHEN a.level = 'footprint' THEN r.footprint_geom ELSE r.geom END AS geom,
      r.method,
      CASE WHEN a.level <> 'footprint' THEN r.activity END AS activity,
      CASE WHEN a.level <> 'footprint' THEN r.release_date END AS release_date,
      CASE WHEN a.level <> 'footprint' THEN r.hazardous_area_id END AS hazardous_area_id,
      CASE WHEN a.level <> 'footprint' THEN r.area_m2 END AS area_m2,
      CASE WHEN a.level <> 'footprint' THEN r.local_ref END AS local_ref,
      project_land_release(r, a.level) AS properties,
      CASE WHEN access_at_least(a.level, 'full') THEN jsonb_build_object('inputGeometry', r.input_geometry) END AS detail
    FROM land_release r
    ${OWNER_LEVEL}
    WHERE access_admits(a.level, r.restricted)`,

  minefield_record: `
    CREATE VIEW visible_minefield_record AS
    ${VIEWER_LEVELS('minefield_record')}
    SELECT ${VIEW_HEADER},
      CASE WHEN a.level = 'footprint' THEN r.footprint_geom ELSE r.perimeter_geom END AS geom,
      CASE WHEN a.level <> 'footprint' THEN r.laid_from END AS laid_from,
      CASE WHEN a.level <> 'footprint' THEN r.local_ref END AS local_ref,
      CASE WHEN access_at_least(a.level, 'full') THEN r.emplacing_method END AS emplacing_method,
      CASE WHEN a.level <> 'footprint' THEN r.accuracy_assessment->>'grade' END AS accuracy_grade,
      project_minefield_record(r, a.level)
        || CASE WHEN access_at_least(a.level, 'full') THEN jsonb_build_object('hazardousAreaIds', (SELECT coalesce(jsonb_agg(l.hazardous_area_id ORDER BY l.hazardous_area_id), '[]'::jsonb)
            FROM minefield_record_hazardous_area l JOIN visible_hazardous_area v ON v.id = l.hazardous_area_id
            WHERE l.minefield_record_id = r.id)) ELSE '{}'::jsonb END AS properties,
      CASE WHEN access_at_least(a.level, 'full') THEN jsonb_build_object('inputGeometry', r.input_geometry) END AS detail
    FROM minefield_record r
    ${OWNER_LEVEL}
    WHERE access_admits(a.level, r.restricted)`,

  // The informant's identity is not in this view at any level: only the pseudonymous code, at full.
  testimony: `
    CREATE VIEW visible_testimony AS
    ${VIEWER_LEVELS('testimony')}
    SELECT ${VIEW_HEADER},
      CASE WHEN a.level = 'footprint' THEN r.footprint_geom ELSE r.described_geom END AS geom,
      CASE WHEN a.level <> 'footprint' THEN r.interview_date END AS interview_date,
      CASE WHEN a.level <> 'footprint' THEN r.local_ref END AS local_ref,
      CASE WHEN access_at_least(a.level, 'full') THEN r.interview->>'language' END AS language,
      CASE WHEN a.level <> 'footprint' THEN r.source_reliability END AS source_reliability,
      CASE WHEN a.level <> 'footprint' THEN r.information_reliability END AS information_reliability,
      CASE WHEN access_at_least(a.level, 'full') THEN r.informant_code END AS informant_code,
      CASE WHEN a.level <> 'footprint' THEN r.uncertainty_m END AS uncertainty_m,
      project_testimony(r, a.level)
        || CASE WHEN access_at_least(a.level, 'full') THEN jsonb_build_object('hazardousAreaLinks', (SELECT coalesce(jsonb_agg(jsonb_build_object('hazardousAreaId', l.hazardous_area_id,
              'relation', l.relation) ORDER BY l.hazardous_area_id), '[]'::jsonb)
            FROM testimony_hazardous_area l JOIN visible_hazardous_area v ON v.id = l.hazardous_area_id
            WHERE l.testimony_id = r.id)) ELSE '{}'::jsonb END AS properties,
      CASE WHEN access_at_least(a.level, 'full') THEN jsonb_build_object('inputGeometry', r.input_geometry) END AS detail
    FROM testimony r
    ${OWNER_LEVEL}
    WHERE access_admits(a.level, r.restricted)`,
};

// Overview tiles merge features into cells of 1/128 of a tile at zooms below 10. Each record
// keeps the range of such cells its geometry's bounding box covers at zoom 9 — 2^16 cells around
// the world in spherical Mercator — so a coarser zoom's cells are these shifted right, and an
// overview tile never transforms or measures a shape. Cells of at least 600 m say nothing a
// footprint does not. Stored once, when the geometry is written (db/overviewCells.ts).
const cellX = cellXSql;
const cellY = cellYSql;
const overviewCellColumns = (geometry: string) => `
      ADD COLUMN cell_x0 integer GENERATED ALWAYS AS (${cellX(`ST_XMin(${geometry})`)}) STORED,
      ADD COLUMN cell_x1 integer GENERATED ALWAYS AS (${cellX(`ST_XMax(${geometry})`)}) STORED,
      ADD COLUMN cell_y0 integer GENERATED ALWAYS AS (${cellY(`ST_YMax(${geometry})`)}) STORED,
      ADD COLUMN cell_y1 integer GENERATED ALWAYS AS (${cellY(`ST_YMin(${geometry})`)}) STORED`;
const CELL_SOURCE: Record<(typeof KINDS)[number], string> = {
  hazardous_area: 'original_geom',
  land_release: 'geom',
  minefield_record: 'perimeter_geom',
  // The uncertainty circle is covered by the footprint; the described place itself by this.
  testimony: 'described_geom',
};

const footprintSource: Record<(typeof KINDS)[number], string> = {
  hazardous_area: 'footprint_of(original_geom)',
  land_release: 'footprint_of(geom)',
  minefield_record: 'footprint_of(perimeter_geom)',
  // The place described is only as good as its uncertainty: the footprint covers the whole circle.
  testimony: 'footprint_of(ST_Buffer(described_geom::geography, greatest(uncertainty_m, 1))::geometry)',
};

export async function up(knex: Knex): Promise<void> {
  for (const kind of KINDS) await knex.raw(`DROP VIEW visible_${kind}`);

  await knex.raw(FOOTPRINT_FUNCTION);
  await knex.raw(LEVEL_AT_LEAST);
  await knex.raw(`
    CREATE TABLE sharing_agreement (
      id           bigserial PRIMARY KEY,
      owner_agency text NOT NULL REFERENCES agency (code),
      grantee      text NOT NULL CHECK (grantee = 'PUBLIC' OR grantee IN ('ANAMA', 'CHDE', 'GEO', 'LIAISON')),
      record_kind  text NOT NULL CHECK (record_kind IN ('hazardous_area', 'land_release', 'minefield_record', 'testimony')),
      level        text NOT NULL CHECK (level IN ('none', 'footprint', 'summary', 'full')),
      version      integer NOT NULL DEFAULT 1,
      comment      text,
      updated_by   text NOT NULL,
      updated_at   timestamptz NOT NULL DEFAULT now(),
      UNIQUE (owner_agency, grantee, record_kind),
      CHECK (owner_agency <> grantee)
    );

    -- Who is asking, as the policy sees it: the grantee an agreement must name.
    CREATE FUNCTION viewer_role() RETURNS text LANGUAGE sql STABLE AS
      $$ SELECT coalesce(nullif(current_setting('app.role', true), ''), 'public') $$;
    CREATE FUNCTION viewer_grantee() RETURNS text LANGUAGE sql STABLE AS $$
      SELECT CASE WHEN viewer_role() = 'facilitator' THEN 'LIAISON'
                  WHEN viewer_role() = 'public' OR viewer_agency() IS NULL THEN 'PUBLIC'
                  ELSE viewer_agency() END
    $$;

    CREATE VIEW viewer_access AS
    SELECT ag.code AS owner_agency, k.kind AS record_kind,
      CASE WHEN ag.code = viewer_agency() AND viewer_role() IN ('editor', 'viewer', 'admin') THEN 'owner'
           ELSE coalesce(s.level, 'none') END AS level
    FROM agency AS ag
    CROSS JOIN (VALUES ('hazardous_area'), ('land_release'), ('minefield_record'), ('testimony')) AS k (kind)
    LEFT JOIN sharing_agreement AS s
      ON s.owner_agency = ag.code AND s.record_kind = k.kind AND s.grantee = viewer_grantee()
    WHERE ag.kind = 'national-agency';

    -- Agencies see the agreements they are party to; the liaison mechanism sees all of them
    -- (who shares what with whom, never the records behind them).
    CREATE VIEW visible_sharing_agreement AS
    SELECT s.* FROM sharing_agreement s
    WHERE viewer_role() = 'facilitator' OR s.owner_agency = viewer_agency() OR s.grantee = viewer_agency();
  `);

  for (const kind of KINDS) {
    await knex.raw(`
      ALTER TABLE ${kind} ADD COLUMN restricted boolean NOT NULL DEFAULT false;
      ALTER TABLE ${kind} ADD COLUMN footprint_geom geometry(Polygon, 4326) GENERATED ALWAYS AS (${footprintSource[kind]}) STORED;
      CREATE INDEX ${kind}_footprint ON ${kind} USING gist (footprint_geom);
      ALTER TABLE ${kind} ${overviewCellColumns(CELL_SOURCE[kind])};
    `);
  }
  for (const kind of KINDS) await knex.raw(projections[kind]);
  for (const kind of KINDS) await knex.raw(views[kind]);

  // The audit trail: append-only. Statement-level triggers write one row per changed record
  // version (bulk imports stay one INSERT … SELECT), and nothing may update or delete a row.
  await knex.raw(`
    CREATE TABLE audit_event (
      id           bigserial PRIMARY KEY,
      at           timestamptz NOT NULL DEFAULT clock_timestamp(),
      agency       text,
      actor        text,
      action       text NOT NULL,
      record_kind  text,
      record_id    text,
      old_version  integer,
      new_version  integer,
      detail       jsonb
    );
    CREATE INDEX audit_event_agency ON audit_event (agency, id);

    CREATE FUNCTION audit_event_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'the audit trail is append-only: % is not allowed', TG_OP USING ERRCODE = 'insufficient_privilege';
    END $$;
    CREATE TRIGGER audit_event_no_update BEFORE UPDATE OR DELETE ON audit_event
      FOR EACH ROW EXECUTE FUNCTION audit_event_is_append_only();
    CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
      FOR EACH STATEMENT EXECUTE FUNCTION audit_event_is_append_only();

    CREATE FUNCTION audit_record_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO audit_event (agency, actor, action, record_kind, record_id, old_version, new_version)
      SELECT viewer_agency(), nullif(current_setting('app.subject', true), ''), 'create', TG_ARGV[0], n.id::text, NULL, n.version
      FROM inserted AS n;
      RETURN NULL;
    END $$;
    CREATE FUNCTION audit_record_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO audit_event (agency, actor, action, record_kind, record_id, old_version, new_version, detail)
      SELECT viewer_agency(), nullif(current_setting('app.subject', true), ''),
        CASE WHEN n.retired_at IS NOT NULL AND o.retired_at IS NULL THEN 'retire'
             WHEN n.restricted IS DISTINCT FROM o.restricted THEN 'restriction'
             ELSE 'update' END,
        TG_ARGV[0], n.id::text, o.version, n.version,
        CASE WHEN n.restricted IS DISTINCT FROM o.restricted THEN jsonb_build_object('restricted', n.restricted) END
      FROM updated AS n JOIN previous AS o ON o.id = n.id
      WHERE n.version IS DISTINCT FROM o.version;
      RETURN NULL;
    END $$;
  `);
  for (const kind of KINDS) {
    await knex.raw(`
      CREATE TRIGGER ${kind}_audit_insert AFTER INSERT ON ${kind} REFERENCING NEW TABLE AS inserted
        FOR EACH STATEMENT EXECUTE FUNCTION audit_record_insert('${kind}');
      CREATE TRIGGER ${kind}_audit_update AFTER UPDATE ON ${kind} REFERENCING OLD TABLE AS previous NEW TABLE AS updated
        FOR EACH STATEMENT EXECUTE FUNCTION audit_record_update('${kind}');
    `);
  }
  await knex.raw(`
    CREATE FUNCTION audit_agreement_write() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO audit_event (agency, actor, action, record_kind, record_id, old_version, new_version, detail)
      VALUES (viewer_agency(), nullif(current_setting('app.subject', true), ''), 'sharing-agreement', 'sharing_agreement',
        NEW.id::text, CASE WHEN TG_OP = 'UPDATE' THEN OLD.version END, NEW.version,
        jsonb_build_object('grantee', NEW.grantee, 'recordKind', NEW.record_kind, 'level', NEW.level,
          'previousLevel', CASE WHEN TG_OP = 'UPDATE' THEN OLD.level END));
      RETURN NULL;
    END $$;
    CREATE TRIGGER sharing_agreement_audit AFTER INSERT OR UPDATE ON sharing_agreement
      FOR EACH ROW EXECUTE FUNCTION audit_agreement_write();

    CREATE VIEW visible_audit_event AS
    SELECT * FROM audit_event WHERE agency = viewer_agency() AND viewer_role() IN ('editor', 'admin');

    -- Informants: codes for the owner's editors; identities only through this audited function.
    CREATE VIEW visible_informant_code AS
    SELECT id, code FROM informant WHERE owner_agency = viewer_agency() AND viewer_role() IN ('editor', 'admin');

    CREATE FUNCTION read_informant_identity(p_id uuid) RETURNS SETOF informant
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
    DECLARE
      identity informant;
    BEGIN
      SELECT * INTO identity FROM informant
       WHERE id = p_id AND owner_agency = viewer_agency() AND viewer_role() IN ('editor', 'admin');
      IF NOT FOUND THEN RETURN; END IF;
      INSERT INTO audit_event (agency, actor, action, record_kind, record_id, detail)
      VALUES (viewer_agency(), nullif(current_setting('app.subject', true), ''), 'informant-identity-read', 'informant',
        p_id::text, jsonb_build_object('code', identity.code));
      RETURN NEXT identity;
    END $$;
  `);

  // Roles. minefield_reader reads the projection and nothing else; minefield_writer is what a
  // write transaction runs as: it writes records but cannot touch the audit trail's past.
  await knex.raw(`
    DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'minefield_reader') THEN CREATE ROLE minefield_reader NOLOGIN; END IF;
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'minefield_writer') THEN CREATE ROLE minefield_writer NOLOGIN; END IF;
    END $$;
    GRANT minefield_reader, minefield_writer TO CURRENT_USER;
    GRANT USAGE ON SCHEMA public TO minefield_reader, minefield_writer;
    GRANT SELECT ON visible_hazardous_area, visible_land_release, visible_minefield_record, visible_testimony,
      visible_sharing_agreement, visible_audit_event, visible_informant_code, viewer_access, agency
      TO minefield_reader, minefield_writer;
    GRANT EXECUTE ON FUNCTION read_informant_identity(uuid) TO minefield_reader;
    GRANT SELECT, INSERT, UPDATE ON hazardous_area, land_release, minefield_record, testimony, sharing_agreement,
      hazardous_area_reopening TO minefield_writer;
    GRANT SELECT, INSERT ON hazardous_area_status_change TO minefield_writer;
    GRANT SELECT, INSERT, DELETE ON minefield_record_hazardous_area, testimony_hazardous_area TO minefield_writer;
    GRANT SELECT (id, owner_agency, code) ON informant TO minefield_writer;
    GRANT INSERT ON informant TO minefield_writer;
    GRANT INSERT ON audit_event TO minefield_writer;
    GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO minefield_writer;
    GRANT SELECT ON spatial_ref_sys TO minefield_reader, minefield_writer;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP VIEW IF EXISTS visible_informant_code, visible_audit_event, visible_sharing_agreement;
    DROP FUNCTION IF EXISTS read_informant_identity(uuid);
  `);
  for (const kind of KINDS) {
    await knex.raw(`
      DROP VIEW IF EXISTS visible_${kind} CASCADE;
      DROP FUNCTION IF EXISTS project_${kind}(${kind}, text);
      DROP TRIGGER IF EXISTS ${kind}_audit_insert ON ${kind};
      DROP TRIGGER IF EXISTS ${kind}_audit_update ON ${kind};
      ALTER TABLE ${kind} DROP COLUMN IF EXISTS cell_x0, DROP COLUMN IF EXISTS cell_x1, DROP COLUMN IF EXISTS cell_y0,
        DROP COLUMN IF EXISTS cell_y1, DROP COLUMN IF EXISTS footprint_geom, DROP COLUMN IF EXISTS restricted;
    `);
  }
  await knex.raw(`
    DROP TABLE IF EXISTS audit_event;
    DROP VIEW IF EXISTS viewer_access;
    DROP TABLE IF EXISTS sharing_agreement;
    DROP FUNCTION IF EXISTS audit_record_insert(), audit_record_update(), audit_agreement_write(), audit_event_is_append_only();
    DROP FUNCTION IF EXISTS viewer_grantee(), viewer_role(), access_at_least(text, text), access_admits(text, boolean), footprint_of(geometry);
  `);
  for (const kind of KINDS) {
    await knex.raw(`CREATE VIEW visible_${kind} AS SELECT record.*, 'owner'::text AS access_level FROM ${kind} AS record WHERE record.owner_agency = viewer_agency()`);
  }
}
