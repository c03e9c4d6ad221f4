import type { Knex } from 'knex';

// The agencies are reference data, not demo data: every deployment has them.
const agencies = [
  { code: 'ANAMA', kind: 'national-agency', names: { en: 'Azerbaijan National Agency for Mine Action', az: 'Azərbaycan Respublikasının Minalardan Təmizləmə üzrə Agentliyi' } },
  { code: 'CHDE', kind: 'national-agency', names: { en: 'Center for Humanitarian Demining and Expertise', hy: 'Հումանիտար ականազերծման և փորձաքննության կենտրոն' } },
  { code: 'GEO', kind: 'national-agency', names: { en: 'Georgian national mine action authority', ka: 'საქართველოს ნაღმსაწინააღმდეგო მოქმედების ეროვნული ორგანო' } },
  { code: 'LIAISON', kind: 'liaison', names: { en: 'Liaison mechanism' } },
];

export async function up(knex: Knex): Promise<void> {
  await knex('agency').insert(agencies.map((a) => ({ ...a, names: JSON.stringify(a.names) })));
}

export async function down(knex: Knex): Promise<void> {
  await knex('agency').whereIn('code', agencies.map((a) => a.code)).delete();
}
