import type { Knex } from 'knex';
import { CELL_ZOOM, TOP_LEVEL } from '../overviewCells';

// Overview tiles (zooms 0–9) from precomputed cells instead of every record in the tile. A tile
// of zoom z ≥ 1 draws level z − 1 (64 cells to a side, 64 of 4096 tile units each); zoom 0 draws
// level 0 (128 to a side).
//
// - tile_overview_cell: for every level z of 0–8, the grid cells (1/128 of a tile of zoom z) that
//   the records' cell ranges (cell_x0 … cell_y1, zoom 9 × 128, the sharing migration) cover, per what an
//   overview feature shows and what decides who sees it: record kind, owner agency, category
//   (classification of a hazardous area, method of a land release), with how many records mark
//   the cell and how many of them are not restricted (a count is of (record, level 8 cell)
//   pairs: zero exactly when no such record is left). Only records an overview draws count:
//   not retired, and for a hazardous area one with a remaining polygon (a closed one has none).
// - Kept exact in the writing transaction by statement-level triggers with transition tables:
//   one INSERT … SELECT … ON CONFLICT per statement, set-based, so a bulk import stays one
//   statement (no per-row trigger). An update counts only the rows whose cells or keys changed.
// - visible_tile_overview_cell: the readers' only way in. It joins viewer_access — the level
//   of the current viewer per (owner agency, kind), defined once in the sharing migration —
//   and admits a cell by the same rule as the visible_* views admit a record, access_admits()
//   of migration 04: a level above none, and for anyone but the owner a record there that is
//   not restricted. The counts
//   are not exposed.

const KINDS = ['hazardous_area', 'land_release', 'minefield_record', 'testimony'] as const;
type Kind = (typeof KINDS)[number];

/** The overview attribute besides the owner, per kind ('' where the layer has none). */
const CATEGORY: Record<Kind, string> = {
  hazardous_area: 'r.classification',
  land_release: 'r.method',
  minefield_record: "''",
  testimony: "''",
};
/** Whether an overview draws the record. */
const DRAWN: Record<Kind, string> = {
  hazardous_area: 'r.retired_at IS NULL AND r.remaining_geom IS NOT NULL',
  land_release: 'r.retired_at IS NULL',
  minefield_record: 'r.retired_at IS NULL',
  testimony: 'r.retired_at IS NULL',
};


// The (key, ±1) rows of a set of records → counted cells of every level, added in. Counted at
// the top level first (records × their cells there: the zoom 9 range halved), then each level
// from the one above it (cells halved and summed): a count is of (record, level 8 cell) pairs,
// zero exactly when no such record is left, and each step aggregates a few times fewer rows
// than the last. Starting from zoom 9 cells instead aggregated twice the rows for a level
// that is never stored (a fifth of the trigger's time in a bulk import). Ordered by the key
// so that two writers lock shared cells in the same order (no deadlock).
const levels = Array.from({ length: TOP_LEVEL }, (_, i) => TOP_LEVEL - 1 - i); // 7 … 0
const SHIFT = CELL_ZOOM - TOP_LEVEL;
/** Top-level cells (cx, cy, owner_agency, category, n, u) → every level, added in. */
const applyTopLevel = (kind: Kind, topLevel: string) => `
    WITH l${TOP_LEVEL} AS (${topLevel}),${levels.map((z) => `
    l${z} AS (
      SELECT cx >> 1 AS cx, cy >> 1 AS cy, owner_agency, category, sum(n) AS n, sum(u) AS u
      FROM l${z + 1} GROUP BY 1, 2, 3, 4
    )`).join(',')}
    INSERT INTO tile_overview_cell AS c (record_kind, z, cx, cy, owner_agency, category, records, unrestricted)
    SELECT '${kind}', z, cx, cy, owner_agency, category, n, coalesce(u, 0)
    FROM (${[TOP_LEVEL, ...levels].map((z) => `SELECT ${z} AS z, * FROM l${z}`).join(' UNION ALL ')}) AS cells
    WHERE n <> 0 OR u <> 0
    ORDER BY z, owner_agency, cx, cy, category
    ON CONFLICT (record_kind, z, owner_agency, cx, cy, category)
      DO UPDATE SET records = c.records + excluded.records, unrestricted = c.unrestricted + excluded.unrestricted`;
/** The (key, ±1) rows of a set of records → every level, added in. */
const applyDelta = (kind: Kind, delta: string) => applyTopLevel(kind, `
      SELECT cx, cy, d.owner_agency, d.category, sum(d.n) AS n, sum(d.n) FILTER (WHERE NOT d.restricted) AS u
      FROM (${delta}) AS d
      CROSS JOIN LATERAL generate_series(d.cell_x0 >> ${SHIFT}, d.cell_x1 >> ${SHIFT}) AS cx
      CROSS JOIN LATERAL generate_series(d.cell_y0 >> ${SHIFT}, d.cell_y1 >> ${SHIFT}) AS cy
      GROUP BY cx, cy, d.owner_agency, d.category`);

const keyOf = (kind: Kind, alias: string) =>
  `${alias}.owner_agency, ${CATEGORY[kind].replace(/\br\./g, `${alias}.`)} AS category, ${alias}.restricted, ${alias}.cell_x0, ${alias}.cell_x1, ${alias}.cell_y0, ${alias}.cell_y1`;
const drawnOf = (kind: Kind, alias: string) => DRAWN[kind].replace(/\br\./g, `${alias}.`);
const rowOf = (kind: Kind, alias: string) =>
  `(${alias}.owner_agency, ${CATEGORY[kind].replace(/\br\./g, `${alias}.`)}, ${alias}.restricted, ${alias}.cell_x0, ${alias}.cell_x1, ${alias}.cell_y0, ${alias}.cell_y1, ${drawnOf(kind, alias)})`;

const DROP_EMPTY = `DELETE FROM tile_overview_cell WHERE records <= 0 AND record_kind = TG_ARGV[0]`;

// jit = off: the planner cannot see how few cells a record has (generate_series of columns is
// taken for 1,000 rows), prices a bulk statement in billions and would JIT-compile it for
// seconds on every import.
const triggerFunctions = (kind: Kind) => `
  CREATE FUNCTION tile_overview_${kind}_insert() RETURNS trigger LANGUAGE plpgsql SET jit = off AS $$
  BEGIN
    -- A writer that counts the cells of its rows itself (the bulk import of hazardous areas,
    -- through tile_overview_add_cells) says so for the rest of its transaction's inserts.
    IF current_setting('app.overview_cells_counted', true) = TG_ARGV[0] THEN RETURN NULL; END IF;
    ${applyDelta(kind, `SELECT ${keyOf(kind, 'r')}, 1 AS n FROM inserted AS r WHERE ${drawnOf(kind, 'r')}`)};
    RETURN NULL;
  END $$;

  CREATE FUNCTION tile_overview_${kind}_update() RETURNS trigger LANGUAGE plpgsql SET jit = off AS $$
  BEGIN
    ${applyDelta(kind, `
      SELECT ${keyOf(kind, 'o')}, -1 AS n FROM previous AS o JOIN updated AS u ON u.id = o.id
      WHERE ${drawnOf(kind, 'o')} AND ${rowOf(kind, 'o')} IS DISTINCT FROM ${rowOf(kind, 'u')}
      UNION ALL
      SELECT ${keyOf(kind, 'u')}, 1 AS n FROM previous AS o JOIN updated AS u ON u.id = o.id
      WHERE ${drawnOf(kind, 'u')} AND ${rowOf(kind, 'o')} IS DISTINCT FROM ${rowOf(kind, 'u')}`)};
    ${DROP_EMPTY};
    RETURN NULL;
  END $$;

  CREATE FUNCTION tile_overview_${kind}_delete() RETURNS trigger LANGUAGE plpgsql SET jit = off AS $$
  BEGIN
    ${applyDelta(kind, `SELECT ${keyOf(kind, 'r')}, -1 AS n FROM removed AS r WHERE ${drawnOf(kind, 'r')}`)};
    ${DROP_EMPTY};
    RETURN NULL;
  END $$;

  CREATE TRIGGER ${kind}_tile_overview_insert AFTER INSERT ON ${kind} REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION tile_overview_${kind}_insert('${kind}');
  CREATE TRIGGER ${kind}_tile_overview_update AFTER UPDATE ON ${kind} REFERENCING OLD TABLE AS previous NEW TABLE AS updated
    FOR EACH STATEMENT EXECUTE FUNCTION tile_overview_${kind}_update('${kind}');
  CREATE TRIGGER ${kind}_tile_overview_delete AFTER DELETE ON ${kind} REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION tile_overview_${kind}_delete('${kind}');
  CREATE TRIGGER ${kind}_tile_overview_truncate AFTER TRUNCATE ON ${kind}
    FOR EACH STATEMENT EXECUTE FUNCTION tile_overview_truncate('${kind}');
`;

// For a writer that counts the top-level cells of the rows it inserts itself, having set
// app.overview_cells_counted to the kind for those inserts (the insert trigger then leaves
// them): the bulk import of hazardous areas, whose checks already have every bounding box at
// hand, counts them chunk by chunk while the rows stream in, instead of the trigger reading
// back every row it wrote and counting them after the last one (about 1 s for 85,000 areas,
// with nothing else able to run meanwhile). One owner's cells, one element of each array per
// cell (arrays: a bulk import adds tens of thousands of cells, and reading them from JSON was a
// fifth of this function's time).
const addCellsFunction = (kind: Kind) => `
  CREATE FUNCTION tile_overview_add_cells_${kind}(cells_owner text, cells_x integer[], cells_y integer[], categories text[],
      cells_records integer[], cells_unrestricted integer[])
  RETURNS void LANGUAGE plpgsql SET jit = off AS $$
  BEGIN
    ${applyTopLevel(kind, `
      SELECT c.cx, c.cy, cells_owner AS owner_agency, c.category, c.n, c.u
      FROM unnest(cells_x, cells_y, categories, cells_records, cells_unrestricted) AS c(cx, cy, category, n, u)`)};
  END $$;
`;

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE tile_overview_cell (
      record_kind  text NOT NULL,
      z            smallint NOT NULL,
      cx           integer NOT NULL,
      cy           integer NOT NULL,
      -- Byte order ("C"): the tiles sort and group cells by these; no language order is needed.
      owner_agency text COLLATE "C" NOT NULL,
      category     text COLLATE "C" NOT NULL,
      records      integer NOT NULL,
      -- of which not restricted: the cell's visibility to agencies other than the owner
      unrestricted integer NOT NULL,
      -- A tile reads, per owner the viewer may see, a range of cx and cy of one level.
      PRIMARY KEY (record_kind, z, owner_agency, cx, cy, category)
    );
    -- Cells whose last record left, found at once by the trigger that empties them.
    CREATE INDEX tile_overview_cell_empty ON tile_overview_cell (record_kind) WHERE records <= 0;

    CREATE FUNCTION tile_overview_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      DELETE FROM tile_overview_cell WHERE record_kind = TG_ARGV[0];
      RETURN NULL;
    END $$;

    -- The viewer's levels first (a dozen rows, once per query), then the cells under them.
    CREATE VIEW visible_tile_overview_cell AS
    WITH a AS MATERIALIZED (SELECT owner_agency, record_kind, level FROM viewer_access)
    SELECT c.record_kind, c.z, c.cx, c.cy, c.owner_agency, c.category
    FROM tile_overview_cell AS c
    JOIN a ON a.owner_agency = c.owner_agency AND a.record_kind = c.record_kind
    -- A cell is restricted when every record counted in it is.
    WHERE access_admits(a.level, c.unrestricted = 0);

    GRANT SELECT ON visible_tile_overview_cell TO minefield_reader;
    GRANT SELECT, INSERT, UPDATE, DELETE ON tile_overview_cell TO minefield_writer;
  `);
  await knex.raw('SET LOCAL jit = off');
  for (const kind of KINDS) {
    await knex.raw(triggerFunctions(kind));
    // Records already there (none on a fresh database).
    await knex.raw(applyDelta(kind, `SELECT ${keyOf(kind, 'r')}, 1 AS n FROM ${kind} AS r WHERE ${drawnOf(kind, 'r')}`));
  }
  await knex.raw(addCellsFunction('hazardous_area'));
  await knex.raw('ANALYZE tile_overview_cell');
}

export async function down(knex: Knex): Promise<void> {
  for (const kind of KINDS) {
    await knex.raw(`
      DROP TRIGGER IF EXISTS ${kind}_tile_overview_insert ON ${kind};
      DROP TRIGGER IF EXISTS ${kind}_tile_overview_update ON ${kind};
      DROP TRIGGER IF EXISTS ${kind}_tile_overview_delete ON ${kind};
      DROP TRIGGER IF EXISTS ${kind}_tile_overview_truncate ON ${kind};
      DROP FUNCTION IF EXISTS tile_overview_${kind}_insert(), tile_overview_${kind}_update(), tile_overview_${kind}_delete();
    `);
  }
  await knex.raw(`
    DROP FUNCTION IF EXISTS tile_overview_add_cells_hazardous_area(text, integer[], integer[], text[], integer[], integer[]);
    DROP VIEW IF EXISTS visible_tile_overview_cell;
    DROP TABLE IF EXISTS tile_overview_cell;
    DROP FUNCTION IF EXISTS tile_overview_truncate();
  `);
}
