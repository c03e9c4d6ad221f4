// Public keys per agency, read from the database and cached briefly so that a key added or
// revoked by an operator takes effect within seconds without a restart.
import type { Knex } from 'knex';

export interface AgencyKey {
  agency: string;
  kid: string;
  algorithm: 'RS256' | 'ES256';
  publicKey: string;
}

export class AgencyKeyStore {
  private cache: { at: number; keys: Map<string, AgencyKey[]> } | undefined;

  constructor(private readonly db: Knex, private readonly ttlMs = 10_000) {}

  async keysOf(agency: string): Promise<AgencyKey[]> {
    const now = Date.now();
    if (!this.cache || now - this.cache.at > this.ttlMs) {
      const rows = await this.db('agency_key')
        .select('agency_code', 'kid', 'algorithm', 'public_key')
        .whereNull('revoked_at');
      const keys = new Map<string, AgencyKey[]>();
      for (const row of rows) {
        const list = keys.get(row.agency_code) ?? [];
        list.push({ agency: row.agency_code, kid: row.kid, algorithm: row.algorithm, publicKey: row.public_key });
        keys.set(row.agency_code, list);
      }
      this.cache = { at: now, keys };
    }
    return this.cache.keys.get(agency) ?? [];
  }

  invalidate(): void {
    this.cache = undefined;
  }
}
