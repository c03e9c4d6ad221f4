// Aggregate figures, computed from the same access view as every other read: a viewer (or the
// public, with no token) is counted only what it may see, and a field its level hides is
// reported as undisclosed rather than guessed.
import type { Knex } from 'knex';

export interface HazardFigure {
  ownerAgency: string;
  classification: string;
  status: string | null;
  areas: number;
  remainingAreaM2: number | null;
}

export async function hazardStatistics(trx: Knex.Transaction): Promise<HazardFigure[]> {
  const rows = await trx('visible_hazardous_area')
    .select('owner_agency', 'classification', 'status')
    .count({ areas: '*' })
    .sum({ remaining_area_m2: 'remaining_area_m2' })
    .whereNull('retired_at')
    .groupBy('owner_agency', 'classification', 'status')
    .orderBy(['owner_agency', 'classification', 'status']);
  return rows.map((row: any) => ({
    ownerAgency: row.owner_agency,
    classification: row.classification,
    status: row.status,
    areas: Number(row.areas),
    remainingAreaM2: row.remaining_area_m2 === null ? null : Math.round(row.remaining_area_m2),
  }));
}
