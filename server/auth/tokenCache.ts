// Map clients send the same bearer token with every tile. Verifying an ES256 signature costs
// more than serving a cached tile, so a verified token is remembered briefly — no longer than
// the key store's own refresh interval, so a revoked key stops working just as soon.
import type { Viewer } from './viewer';

export class VerifiedTokenCache {
  private readonly entries = new Map<string, { viewer: Viewer; until: number }>();

  constructor(private readonly ttlMs = 10_000, private readonly maxEntries = 10_000) {}

  get(token: string, now = Date.now()): Viewer | undefined {
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    if (entry.until <= now) {
      this.entries.delete(token);
      return undefined;
    }
    return entry.viewer;
  }

  set(token: string, viewer: Viewer, expiresAtSeconds: number, now = Date.now()): void {
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(token, { viewer, until: Math.min(now + this.ttlMs, expiresAtSeconds * 1000) });
  }
}
