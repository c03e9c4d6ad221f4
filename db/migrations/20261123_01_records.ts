import type { Knex } from 'knex';

// The record schema. Geometry is stored in EPSG:4326; the coordinates as entered are kept
// beside it (input_crs, input_geometry) so a record can always be traced to its source form.
// input_geometry is json, not jsonb: it is kept and handed back, never queried into, and json
// stores the text as it came (no parse into a tree: a quarter of a bulk import's COPY parsing).

const RECORD_KINDS = ['hazardous_area', 'land_release', 'minefield_record', 'testimony'] as const;

// A record's owner is an agency: checked once per statement rather than by a foreign key,
// whose check runs once per row after the statement (a bulk import of 85,000 areas spent
// 0.5 s in those after its last row, with nothing else to do). The same guarantees: each
// statement's owners must be agencies, locked FOR KEY SHARE as a foreign key's check locks
// them, so that no agency is deleted or recoded under records being written; an agency that
// owns records cannot be deleted or recoded (as ON DELETE / ON UPDATE RESTRICT); and a
// record's owner never changes. SECURITY DEFINER: locking rows of agency needs a privilege
// the writers do not have, as a foreign key's own check runs as the table's owner.
const OWNER_IS_AGENCY = `
  CREATE FUNCTION record_owner_is_agency() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
  DECLARE
    owners text[];
    agencies text[];
  BEGIN
    SELECT array_agg(DISTINCT owner_agency) INTO owners FROM written;
    SELECT array_agg(code) INTO agencies FROM (SELECT code FROM agency WHERE code = ANY(owners) FOR KEY SHARE) AS a;
    IF cardinality(owners) IS DISTINCT FROM cardinality(agencies) THEN
      RAISE EXCEPTION 'insert or update on table "%" violates its owner agency', TG_TABLE_NAME
        USING ERRCODE = 'foreign_key_violation', TABLE = TG_TABLE_NAME, COLUMN = 'owner_agency',
          DETAIL = format('Not an agency: %s.', array_to_string(ARRAY(SELECT unnest(owners) EXCEPT SELECT unnest(agencies)), ', '));
    END IF;
    RETURN NULL;
  END $$;

  CREATE FUNCTION record_owner_is_unchanged() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF NEW.owner_agency IS DISTINCT FROM OLD.owner_agency THEN
      RAISE EXCEPTION 'the owner agency of a record never changes (% %: % to %)', TG_TABLE_NAME, OLD.id, OLD.owner_agency, NEW.owner_agency
        USING ERRCODE = 'integrity_constraint_violation', TABLE = TG_TABLE_NAME, COLUMN = 'owner_agency';
    END IF;
    RETURN NEW;
  END $$;

  CREATE FUNCTION agency_keeps_its_records() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
  BEGIN
    IF TG_OP = 'UPDATE' AND NEW.code = OLD.code THEN RETURN NEW; END IF;
    IF ${RECORD_KINDS.map((kind) => `EXISTS (SELECT 1 FROM ${kind} WHERE owner_agency = OLD.code)`).join('\n       OR ')} THEN
      RAISE EXCEPTION 'agency % owns records: it cannot be deleted or recoded', OLD.code
        USING ERRCODE = 'foreign_key_violation', TABLE = 'agency', COLUMN = 'code';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  END $$;
  CREATE TRIGGER agency_keeps_its_records BEFORE DELETE OR UPDATE OF code ON agency
    FOR EACH ROW EXECUTE FUNCTION agency_keeps_its_records();
`;
const ownerTriggers = (kind: (typeof RECORD_KINDS)[number]) => `
  CREATE TRIGGER ${kind}_owner_is_agency AFTER INSERT ON ${kind} REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION record_owner_is_agency();
  CREATE TRIGGER ${kind}_owner_is_unchanged BEFORE UPDATE OF owner_agency ON ${kind}
    FOR EACH ROW EXECUTE FUNCTION record_owner_is_unchanged();
`;

export async function up(knex: Knex): Promise<void> {
  await knex.raw('CREATE EXTENSION IF NOT EXISTS postgis');

  await knex.raw(`
    CREATE TABLE agency (
      code        text PRIMARY KEY CHECK (code ~ '^[A-Z][A-Z0-9_]{1,15}$'),
      kind        text NOT NULL CHECK (kind IN ('national-agency', 'liaison')),
      names       jsonb NOT NULL DEFAULT '{}'::jsonb
    );

    CREATE TABLE agency_key (
      id          bigserial PRIMARY KEY,
      agency_code text NOT NULL REFERENCES agency (code),
      kid         text NOT NULL,
      algorithm   text NOT NULL CHECK (algorithm IN ('RS256', 'ES256')),
      public_key  text NOT NULL,
      created_at  timestamptz NOT NULL DEFAULT now(),
      revoked_at  timestamptz,
      UNIQUE (agency_code, kid)
    );

    CREATE TABLE hazardous_area (
      id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      owner_agency           text NOT NULL,
      local_ref              text NOT NULL,
      name                   jsonb NOT NULL DEFAULT '{}'::jsonb,
      classification         text NOT NULL CHECK (classification IN ('SHA', 'CHA')),
      status                 text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'worked-on', 'closed')),
      hazard_types           text[] NOT NULL CHECK (cardinality(hazard_types) > 0 AND
                               hazard_types <@ ARRAY['AP','AT','CMR','UXO','AXO','IED','booby-trap']),
      evidence               jsonb NOT NULL DEFAULT '[]'::jsonb,
      estimated_device_count integer CHECK (estimated_device_count >= 0),
      marking                text NOT NULL DEFAULT 'none' CHECK (marking IN ('none', 'partial', 'full')),
      priority               text NOT NULL DEFAULT 'medium' CHECK (priority IN ('high', 'medium', 'low')),
      information_date       date NOT NULL,
      -- The first entry of the status history (open, "recorded", by created_by at created_at) is
      -- part of the record, dated by its information date at creation: a later change of that
      -- date does not rewrite history. Later entries are rows of hazardous_area_status_change.
      -- Kept here rather than as a row there, a bulk import writes one table, not two.
      recorded_on            date NOT NULL,
      original_geom          geometry(MultiPolygon, 4326) NOT NULL,
      remaining_geom         geometry(MultiPolygon, 4326),
      original_area_m2       double precision NOT NULL,
      remaining_area_m2      double precision NOT NULL,
      released_area_m2       double precision NOT NULL DEFAULT 0,
      input_crs              integer NOT NULL,
      input_geometry         json NOT NULL,
      version                integer NOT NULL DEFAULT 1,
      created_by             text NOT NULL,
      created_at             timestamptz NOT NULL DEFAULT now(),
      updated_by             text NOT NULL,
      updated_at             timestamptz NOT NULL DEFAULT now(),
      retired_at             timestamptz,
      retired_by             text,
      retired_reason         text,
      CHECK ((status = 'closed') = (remaining_geom IS NULL))
    );
    CREATE UNIQUE INDEX hazardous_area_local_ref ON hazardous_area (owner_agency, local_ref) WHERE retired_at IS NULL;
    -- The service's own spatial searches (bbox reads, tiles, duplicate polygons) go through the
    -- footprint's index (the sharing migration), which covers every level's geometry; these two
    -- serve what reads the polygons themselves (an analyst's SQL, QGIS on a copy of the table).
    CREATE INDEX hazardous_area_original_geom ON hazardous_area USING gist (original_geom);
    CREATE INDEX hazardous_area_remaining_geom ON hazardous_area USING gist (remaining_geom);
    CREATE INDEX hazardous_area_owner ON hazardous_area (owner_agency);

    -- Status changes after the first (that one is the record's recorded_on).
    CREATE TABLE hazardous_area_status_change (
      id                bigserial PRIMARY KEY,
      hazardous_area_id uuid NOT NULL REFERENCES hazardous_area (id),
      from_status       text,
      to_status         text NOT NULL,
      reason            text NOT NULL,
      status_date       date NOT NULL,
      comment           text,
      changed_by        text NOT NULL,
      changed_at        timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX hazardous_area_status_change_area ON hazardous_area_status_change (hazardous_area_id, id);

    -- Land release and reopenings are folded in this order to give the remaining polygon.
    CREATE SEQUENCE hazardous_area_event_seq;

    CREATE TABLE hazardous_area_reopening (
      id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      hazardous_area_id uuid NOT NULL REFERENCES hazardous_area (id),
      event_seq         bigint NOT NULL DEFAULT nextval('hazardous_area_event_seq'),
      geom              geometry(MultiPolygon, 4326) NOT NULL,
      reason            text NOT NULL,
      reopened_on       date NOT NULL,
      comment           text,
      created_by        text NOT NULL,
      created_at        timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX hazardous_area_reopening_area ON hazardous_area_reopening (hazardous_area_id);

    CREATE TABLE land_release (
      id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      owner_agency       text NOT NULL,
      hazardous_area_id  uuid NOT NULL REFERENCES hazardous_area (id),
      event_seq          bigint NOT NULL DEFAULT nextval('hazardous_area_event_seq'),
      local_ref          text NOT NULL,
      method             text NOT NULL CHECK (method IN ('cancelled', 'reduced', 'cleared')),
      activity           text NOT NULL CHECK (activity IN ('NTS', 'TS', 'clearance')),
      release_date       date NOT NULL,
      operator           text NOT NULL,
      clearance_depth_cm integer CHECK (clearance_depth_cm > 0),
      devices_found      jsonb NOT NULL DEFAULT '[]'::jsonb,
      handover           jsonb,
      geom               geometry(MultiPolygon, 4326) NOT NULL,
      area_m2            double precision NOT NULL,
      input_crs          integer NOT NULL,
      input_geometry     json NOT NULL,
      version            integer NOT NULL DEFAULT 1,
      created_by         text NOT NULL,
      created_at         timestamptz NOT NULL DEFAULT now(),
      updated_by         text NOT NULL,
      updated_at         timestamptz NOT NULL DEFAULT now(),
      retired_at         timestamptz,
      retired_by         text,
      retired_reason     text,
      CHECK ((method, activity) IN (('cancelled', 'NTS'), ('reduced', 'TS'), ('cleared', 'clearance'))),
      CHECK (method <> 'cleared' OR clearance_depth_cm IS NOT NULL)
    );
    CREATE UNIQUE INDEX land_release_local_ref ON land_release (owner_agency, local_ref) WHERE retired_at IS NULL;
    CREATE INDEX land_release_geom ON land_release USING gist (geom);
    CREATE INDEX land_release_area ON land_release (hazardous_area_id);

    CREATE TABLE minefield_record (
      id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      owner_agency           text NOT NULL,
      local_ref              text NOT NULL,
      name                   jsonb NOT NULL DEFAULT '{}'::jsonb,
      reference_points       jsonb NOT NULL CHECK (jsonb_array_length(reference_points) >= 2),
      reference_points_geom  geometry(MultiPoint, 4326) NOT NULL,
      traverse               jsonb,
      traverse_misclosure_m  double precision,
      perimeter_geom         geometry(Polygon, 4326) NOT NULL,
      area_m2                double precision NOT NULL,
      mine_types             jsonb NOT NULL,
      total_mines            integer CHECK (total_mines >= 0),
      emplacing_method       text NOT NULL CHECK (emplacing_method IN ('hand-laid', 'mechanical', 'remotely-delivered')),
      fuze_type              text,
      fuze_lifetime          text,
      self_destruct_period   text,
      laid_from              timestamptz,
      laid_to                timestamptz,
      anti_handling          jsonb,
      rows                   jsonb NOT NULL DEFAULT '[]'::jsonb,
      accuracy_assessment    jsonb NOT NULL DEFAULT '{"grade": "unassessed"}'::jsonb,
      source                 jsonb,
      input_crs              integer NOT NULL,
      input_geometry         json,
      version                integer NOT NULL DEFAULT 1,
      created_by             text NOT NULL,
      created_at             timestamptz NOT NULL DEFAULT now(),
      updated_by             text NOT NULL,
      updated_at             timestamptz NOT NULL DEFAULT now(),
      retired_at             timestamptz,
      retired_by             text,
      retired_reason         text
    );
    CREATE UNIQUE INDEX minefield_record_local_ref ON minefield_record (owner_agency, local_ref) WHERE retired_at IS NULL;
    CREATE INDEX minefield_record_perimeter ON minefield_record USING gist (perimeter_geom);

    CREATE TABLE minefield_record_hazardous_area (
      minefield_record_id uuid NOT NULL REFERENCES minefield_record (id),
      hazardous_area_id   uuid NOT NULL REFERENCES hazardous_area (id),
      PRIMARY KEY (minefield_record_id, hazardous_area_id)
    );

    -- The informant's identity is kept apart from the testimony: a testimony row holds
    -- only the link, and the API shows only the pseudonymous code.
    CREATE TABLE informant (
      id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      owner_agency text NOT NULL REFERENCES agency (code),
      code         text NOT NULL,
      full_name    text NOT NULL,
      contact      text,
      notes        text,
      created_by   text NOT NULL,
      created_at   timestamptz NOT NULL DEFAULT now(),
      UNIQUE (owner_agency, code)
    );

    CREATE TABLE testimony (
      id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      owner_agency            text NOT NULL,
      local_ref               text NOT NULL,
      informant_id            uuid NOT NULL REFERENCES informant (id),
      informant_code          text NOT NULL,
      interview               jsonb NOT NULL,
      interview_date          date NOT NULL,
      narrative               jsonb NOT NULL,
      described_geom          geometry(Geometry, 4326) NOT NULL
                                CHECK (GeometryType(described_geom) IN ('POINT', 'LINESTRING', 'POLYGON')),
      uncertainty_m           double precision NOT NULL CHECK (uncertainty_m >= 0),
      devices_described       jsonb NOT NULL DEFAULT '[]'::jsonb,
      laying_period           jsonb,
      source_reliability      text NOT NULL CHECK (source_reliability IN ('A','B','C','D','E','F')),
      information_reliability text NOT NULL CHECK (information_reliability IN ('1','2','3','4','5','6')),
      input_crs               integer NOT NULL,
      input_geometry          json NOT NULL,
      version                 integer NOT NULL DEFAULT 1,
      created_by              text NOT NULL,
      created_at              timestamptz NOT NULL DEFAULT now(),
      updated_by              text NOT NULL,
      updated_at              timestamptz NOT NULL DEFAULT now(),
      retired_at              timestamptz,
      retired_by              text,
      retired_reason          text
    );
    CREATE UNIQUE INDEX testimony_local_ref ON testimony (owner_agency, local_ref) WHERE retired_at IS NULL;
    CREATE INDEX testimony_described_geom ON testimony USING gist (described_geom);

    CREATE TABLE testimony_hazardous_area (
      testimony_id      uuid NOT NULL REFERENCES testimony (id),
      hazardous_area_id uuid NOT NULL REFERENCES hazardous_area (id),
      relation          text NOT NULL CHECK (relation IN ('supports', 'contradicts')),
      PRIMARY KEY (testimony_id, hazardous_area_id)
    );
  `);

  await knex.raw(OWNER_IS_AGENCY);
  for (const kind of RECORD_KINDS) await knex.raw(ownerTriggers(kind));

  // Parts of a remaining polygon thinner than the release tolerance (1 m) that lie along
  // released land are artefacts of releases drawn a little off the area's edge, not hazards:
  // they are dropped here. A thin part anywhere else is a real (thin) hazard and stays.
  await knex.raw(`
    CREATE FUNCTION hazardous_area_without_slivers(g geometry, released geometry) RETURNS geometry
    LANGUAGE sql IMMUTABLE AS $$
      SELECT ST_Multi(ST_Union(part.geom))
      FROM ST_Dump(ST_CollectionExtract(ST_MakeValid(g), 3)) AS part
      WHERE released IS NULL
         OR NOT ST_IsEmpty(ST_Buffer(part.geom::geography, -0.5)::geometry)
         OR NOT ST_CoveredBy(part.geom, ST_Buffer(released::geography, 1)::geometry)
    $$;

    CREATE FUNCTION hazardous_area_remaining(p_area uuid, p_exclude_release uuid DEFAULT NULL)
    RETURNS geometry LANGUAGE plpgsql STABLE AS $$
    DECLARE
      g geometry;
      released geometry;
      e record;
    BEGIN
      SELECT original_geom INTO g FROM hazardous_area WHERE id = p_area;
      FOR e IN
        SELECT geom, true AS is_release, event_seq FROM land_release
         WHERE hazardous_area_id = p_area AND retired_at IS NULL
           AND id IS DISTINCT FROM p_exclude_release
        UNION ALL
        SELECT geom, false, event_seq FROM hazardous_area_reopening WHERE hazardous_area_id = p_area
        ORDER BY event_seq
      LOOP
        IF e.is_release THEN
          released := CASE WHEN released IS NULL THEN e.geom ELSE ST_Union(released, e.geom) END;
          g := CASE WHEN g IS NULL THEN NULL ELSE ST_Difference(g, e.geom) END;
        ELSE
          g := CASE WHEN g IS NULL THEN e.geom ELSE ST_Union(g, e.geom) END;
        END IF;
        IF g IS NOT NULL AND ST_IsEmpty(g) THEN g := NULL; END IF;
      END LOOP;
      IF g IS NULL THEN RETURN NULL; END IF;
      g := hazardous_area_without_slivers(g, released);
      IF g IS NULL OR ST_IsEmpty(g) THEN RETURN NULL; END IF;
      RETURN g;
    END
    $$;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP FUNCTION IF EXISTS hazardous_area_remaining(uuid, uuid);
    DROP FUNCTION IF EXISTS hazardous_area_without_slivers(geometry, geometry);
    DROP TRIGGER IF EXISTS agency_keeps_its_records ON agency;
    DROP TABLE IF EXISTS testimony_hazardous_area, testimony, informant,
      minefield_record_hazardous_area, minefield_record, land_release,
      hazardous_area_reopening, hazardous_area_status_change, hazardous_area,
      agency_key, agency CASCADE;
    DROP SEQUENCE IF EXISTS hazardous_area_event_seq;
    DROP FUNCTION IF EXISTS record_owner_is_agency(), record_owner_is_unchanged(), agency_keeps_its_records();
  `);
}
