// The HTTP side of the sync client: pages of the viewer's change feed, the snapshot a resync
// starts from, and the live stream (SSE). Network errors and 5xx are retried with backoff on
// the same cursor, so an event is never skipped; 410 Gone becomes a GoneError carrying the
// snapshot link. Also here: how a page of events changes a mirror (applyEvents), shared by the
// PostGIS and directory targets.
import jsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';

export const RECORD_KINDS = ['hazardous-areas', 'land-releases', 'minefield-records', 'testimonies'] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];
export const isRecordKind = (kind: unknown): kind is RecordKind => typeof kind === 'string' && (RECORD_KINDS as readonly string[]).includes(kind);

export interface FeedEvent {
  cursor: string;
  time: string;
  operation: 'create' | 'update' | 'delete';
  recordKind: string;
  id: string;
  version: number | null;
  feature?: { type: 'Feature'; id: string; geometry: GeoJSON.Geometry | null; properties: Record<string, unknown> };
  patch?: Operation[];
  geometry?: { current?: GeoJSON.Geometry | null; [key: string]: unknown };
}

export interface FeedPage {
  events: FeedEvent[];
  cursor: string;
  caughtUp: boolean;
}

export interface SnapshotFeature {
  type: 'Feature';
  id: string;
  recordKind: string;
  geometry: GeoJSON.Geometry | null;
  properties: Record<string, unknown>;
}

export interface Snapshot {
  cursor: string;
  features: SnapshotFeature[];
}

/** The service answered with an error that retrying will not fix. */
export class HttpError extends Error {
  constructor(readonly status: number, readonly url: string, readonly problem: any) {
    super(`${url} answered ${status}${problem?.title ? ` ${problem.title}` : ''}${problem?.detail ? `: ${problem.detail}` : ''}`);
    this.name = 'HttpError';
  }
}

/** 410: the cursor is older than the feed's retention; resynchronise from `snapshotUrl`. */
export class GoneError extends HttpError {
  constructor(url: string, problem: any, readonly snapshotUrl: string) {
    super(410, url, problem);
    this.name = 'GoneError';
  }
}

/** Retries were exhausted on network errors or 5xx. */
export class UnavailableError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'UnavailableError';
  }
}

/** The feed does not fit the mirror (an update of a record it lacks, …): resync from a snapshot. */
export class MirrorInconsistency extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MirrorInconsistency';
  }
}

export interface ClientOptions {
  url: string;
  token: string;
  /** Attempts per request on network errors and 5xx (and 429); at least 1. */
  attempts?: number;
  /** First backoff delay; doubles up to maxDelayMs, with jitter. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Called before each retry, for progress output. */
  onRetry?: (info: { url: string; attempt: number; delayMs: number; reason: string }) => void;
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve, reject) => {
  if (signal?.aborted) return reject(signal.reason);
  const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
  const onAbort = () => { clearTimeout(timer); reject(signal!.reason); };
  signal?.addEventListener('abort', onAbort, { once: true });
});

const retryable = (status: number) => status >= 500 || status === 429 || status === 408;

export class FeedClient {
  readonly baseUrl: string;
  private readonly attempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: ClientOptions) {
    const parsed = new URL(options.url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`--url must be http(s), not ${parsed.protocol}`);
    this.baseUrl = parsed.toString().replace(/\/+$/, '');
    this.attempts = Math.max(1, options.attempts ?? 8);
    this.baseDelayMs = options.baseDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 30_000;
    this.fetchImpl = options.fetch ?? fetch;
  }

  backoff(attempt: number): number {
    const delay = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
    return Math.round(delay / 2 + Math.random() * (delay / 2));
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${this.options.token}`, accept: 'application/json', ...extra };
  }

  /** GET with retries on network errors and 5xx; returns the response of the first non-retryable answer. */
  private async get(url: string, extraHeaders?: Record<string, string>, signal = this.options.signal): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      let reason: string;
      try {
        const response = await this.fetchImpl(url, { headers: this.headers(extraHeaders), signal });
        if (!retryable(response.status)) return response;
        reason = `${response.status} ${response.statusText}`;
        await response.body?.cancel().catch(() => undefined);
      } catch (error) {
        if (signal?.aborted) throw signal.reason ?? error;
        reason = (error as any)?.cause?.code ?? (error as Error).message;
      }
      if (attempt >= this.attempts) throw new UnavailableError(`${url}: gave up after ${attempt} attempts (${reason})`);
      const delayMs = this.backoff(attempt);
      this.options.onRetry?.({ url, attempt, delayMs, reason });
      await sleep(delayMs, signal);
    }
  }

  private async json(url: string): Promise<any> {
    const response = await this.get(url);
    const text = await response.text();
    let body: any;
    try { body = text ? JSON.parse(text) : undefined; } catch { body = undefined; }
    if (response.status === 410) throw new GoneError(url, body, this.snapshotLink(body?.snapshot));
    if (!response.ok) throw new HttpError(response.status, url, body ?? { detail: text.slice(0, 200) });
    if (body === undefined) throw new HttpError(response.status, url, { detail: 'the answer is not JSON' });
    return body;
  }

  /** The snapshot link of a 410, if it points at this service; otherwise our own /feed/snapshot (the token goes nowhere else). */
  snapshotLink(link: unknown): string {
    const own = `${this.baseUrl}/feed/snapshot`;
    if (typeof link !== 'string') return own;
    try {
      return new URL(link).origin === new URL(this.baseUrl).origin ? link : own;
    } catch {
      return own;
    }
  }

  async page(after: string | undefined, limit: number): Promise<FeedPage> {
    const query = new URLSearchParams({ limit: String(limit) });
    if (after) query.set('after', after);
    const url = `${this.baseUrl}/feed?${query}`;
    const body = await this.json(url);
    if (!Array.isArray(body.events) || typeof body.cursor !== 'string' || typeof body.caughtUp !== 'boolean') {
      throw new HttpError(200, url, { detail: 'the answer is not a feed page ({events, cursor, caughtUp})' });
    }
    return { events: body.events, cursor: body.cursor, caughtUp: body.caughtUp };
  }

  async snapshot(url = `${this.baseUrl}/feed/snapshot`): Promise<Snapshot> {
    const body = await this.json(url);
    if (typeof body.cursor !== 'string' || !Array.isArray(body.features)) {
      throw new HttpError(200, url, { detail: 'the answer is not a feed snapshot ({cursor, features})' });
    }
    return { cursor: body.cursor, features: body.features };
  }

  /**
   * The live feed from `after`: calls `onEvent` for every change, in order, until `signal` aborts
   * (resolves) or the connection fails after retries (rejects). Reconnects with the last event's
   * cursor; a connection silent for `idleMs` (no heartbeat) is dropped and reopened.
   */
  async stream(after: string, onEvent: (event: FeedEvent) => Promise<void> | void, signal: AbortSignal, idleMs = 45_000): Promise<void> {
    let cursor = after;
    let failures = 0;
    while (!signal.aborted) {
      const connection = new AbortController();
      const abort = () => connection.abort(signal.reason);
      signal.addEventListener('abort', abort, { once: true });
      let idle: NodeJS.Timeout | undefined;
      const touch = () => {
        clearTimeout(idle);
        idle = setTimeout(() => connection.abort(new Error('no heartbeat')), idleMs);
      };
      try {
        const url = `${this.baseUrl}/feed/stream?${new URLSearchParams({ after: cursor })}`;
        const response = await this.get(url, { accept: 'text/event-stream' }, connection.signal);
        if (response.status === 410) {
          const body = await response.json().catch(() => undefined);
          throw new GoneError(url, body, this.snapshotLink(body?.snapshot));
        }
        if (!response.ok || !response.body) {
          const text = await response.text().catch(() => '');
          let problem: any;
          try { problem = JSON.parse(text); } catch { problem = { detail: text.slice(0, 200) }; }
          throw new HttpError(response.status, url, problem);
        }
        failures = 0;
        touch();
        const decoder = new TextDecoder();
        let buffer = '';
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
          touch();
          buffer += decoder.decode(chunk, { stream: true });
          let boundary: number;
          while ((boundary = buffer.search(/\r?\n\r?\n/)) >= 0) {
            const block = buffer.slice(0, boundary);
            buffer = buffer.slice(boundary).replace(/^\r?\n\r?\n/, '');
            let name = 'message';
            const data: string[] = [];
            for (const line of block.split(/\r?\n/)) {
              if (line.startsWith(':')) continue;
              const colon = line.indexOf(':');
              const field = colon < 0 ? line : line.slice(0, colon);
              const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
              if (field === 'event') name = value;
              else if (field === 'data') data.push(value);
            }
            if (name !== 'change' || data.length === 0) continue;
            const event = JSON.parse(data.join('\n')) as FeedEvent;
            await onEvent(event);
            cursor = event.cursor;
          }
        }
        // The server ended the stream (restart, shutdown): reconnect from the last cursor.
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof HttpError) throw error;
        if (error instanceof MirrorInconsistency) throw error;
        if (!(error instanceof UnavailableError) && !(error instanceof TypeError) && !(error as any)?.name?.startsWith?.('Abort') && (error as Error).message !== 'no heartbeat') throw error;
        failures++;
        if (failures >= this.attempts) throw new UnavailableError(`live feed: gave up after ${failures} reconnections (${(error as Error).message})`, error);
        const delayMs = this.backoff(failures);
        this.options.onRetry?.({ url: `${this.baseUrl}/feed/stream`, attempt: failures, delayMs, reason: (error as Error).message });
        await sleep(delayMs, signal).catch(() => undefined);
      } finally {
        clearTimeout(idle);
        signal.removeEventListener('abort', abort);
        connection.abort();
      }
    }
  }
}

export interface MirrorFeature {
  id: string;
  recordKind: RecordKind;
  /** undefined: unchanged by these events (the target keeps what it holds). */
  geometry: GeoJSON.Geometry | null | undefined;
  properties: Record<string, unknown>;
}

/** The outcome of a batch of events for one record: its new state, or null when it left the view. */
export type MirrorChange = { recordKind: RecordKind; id: string; feature: MirrorFeature | null };

const keyOf = (kind: string, id: string) => `${kind}\u0000${id}`;

/**
 * Folds events, in order, over what the mirror holds (`current` gives a record's properties, or
 * undefined when the mirror lacks it) and returns each touched record's final state. Strict: a
 * create of a record the mirror holds, or an update or delete of one it lacks, means the mirror
 * and the feed disagree — MirrorInconsistency, and nothing is applied.
 */
export function applyEvents(events: FeedEvent[], current: (kind: RecordKind, id: string) => MirrorFeature | undefined): Map<string, MirrorChange> {
  const changes = new Map<string, MirrorChange>();
  const lookup = (kind: RecordKind, id: string) => {
    const changed = changes.get(keyOf(kind, id));
    return changed ? changed.feature ?? undefined : current(kind, id);
  };
  for (const event of events) {
    const kind = event.recordKind;
    if (!isRecordKind(kind)) throw new MirrorInconsistency(`event ${event.cursor}: unknown record kind ${JSON.stringify(kind)}`);
    const held = lookup(kind, event.id);
    let next: MirrorFeature | null;
    switch (event.operation) {
      case 'create':
        if (held) throw new MirrorInconsistency(`event ${event.cursor}: create of ${kind}/${event.id}, which the mirror already holds`);
        if (!event.feature) throw new MirrorInconsistency(`event ${event.cursor}: create without a feature`);
        next = { id: event.id, recordKind: kind, geometry: event.feature.geometry ?? null, properties: event.feature.properties ?? {} };
        break;
      case 'delete':
        if (!held) throw new MirrorInconsistency(`event ${event.cursor}: delete of ${kind}/${event.id}, which the mirror does not hold`);
        next = null;
        break;
      case 'update': {
        if (!held) throw new MirrorInconsistency(`event ${event.cursor}: update of ${kind}/${event.id}, which the mirror does not hold`);
        let properties = held.properties;
        try {
          properties = jsonPatch.applyPatch(held.properties, event.patch ?? [], true, false).newDocument;
        } catch (error) {
          throw new MirrorInconsistency(`event ${event.cursor}: the patch of ${kind}/${event.id} does not apply (${(error as Error).message.split('\n')[0]})`);
        }
        const geometry = event.geometry ? (event.geometry.current ?? null) : held.geometry;
        next = { ...held, properties, geometry };
        break;
      }
      default:
        throw new MirrorInconsistency(`event ${event.cursor}: unknown operation ${JSON.stringify((event as FeedEvent).operation)}`);
    }
    changes.set(keyOf(kind, event.id), { recordKind: kind, id: event.id, feature: next });
  }
  return changes;
}

/** Where a mirror lives: a PostGIS database (targets/postgis.ts) or a folder of GeoJSON (targets/directory.ts). */
export interface Target {
  /** For messages: where the mirror is, without credentials. */
  readonly description: string;
  /** Creates what is missing and reads the saved state of `sourceUrl`. */
  open(sourceUrl: string): Promise<void>;
  /** The cursor to continue from, or undefined when the mirror was never filled. */
  cursor(): Promise<string | undefined>;
  /** Applies a page of events and moves the saved cursor from `from` to `to`, all or nothing. */
  applyPage(events: FeedEvent[], from: string | undefined, to: string): Promise<void>;
  /** Replaces the whole mirror with a snapshot and its cursor, all or nothing. */
  replace(snapshot: Snapshot): Promise<void>;
  /** Makes everything applied so far durable (a target may group pages). */
  flush(): Promise<void>;
  close(): Promise<void>;
}
