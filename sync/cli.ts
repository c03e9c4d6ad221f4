// npm run sync -- --url http://host:3000 --token <bearer> --into postgres://user@host/db | --into dir/
//
// Mirrors what the token's viewer sees into a PostGIS database or a folder of GeoJSON files:
// a snapshot the first time, then the change feed from the saved cursor; a snapshot again when
// the cursor is older than the feed's retention (410). With --follow it keeps the mirror
// current over /feed/stream after catching up; otherwise it exits once caught up.
import { parseArgs } from 'node:util';
import { FeedClient, FeedEvent, GoneError, HttpError, MirrorInconsistency, Target, UnavailableError } from './client';
import { DirectoryTarget } from './targets/directory';
import { CursorConflict, PostgisTarget } from './targets/postgis';

export const EXIT = { ok: 0, failed: 1, usage: 2, rejected: 3, inconsistent: 4 } as const;

export interface SyncStats {
  pages: number;
  applied: number;
  resyncs: number;
  snapshotFeatures: number;
  cursor: string | undefined;
  lastChangeTime: string | undefined;
  caughtUp: boolean;
}

export interface SyncOptions {
  client: FeedClient;
  target: Target;
  limit?: number;
  /** Start from a snapshot whatever cursor the mirror holds. */
  resync?: boolean;
  /** Keep streaming after catching up, until `signal` aborts. */
  follow?: boolean;
  signal?: AbortSignal;
  onProgress?: (stats: SyncStats, phase: 'snapshot' | 'catch-up' | 'live' | 'done') => void;
  /** Live events are grouped into one commit when they arrive within this time of each other. */
  liveBatchMs?: number;
}

/** The sync itself, apart from the command line: opens nothing, closes nothing. */
export async function runSync(options: SyncOptions): Promise<SyncStats> {
  const { client, target, limit = 500, signal } = options;
  const stats: SyncStats = { pages: 0, applied: 0, resyncs: 0, snapshotFeatures: 0, cursor: undefined, lastChangeTime: undefined, caughtUp: false };
  const progress = (phase: Parameters<NonNullable<SyncOptions['onProgress']>>[1]) => options.onProgress?.(stats, phase);
  let justResynced = false;

  const resync = async (snapshotUrl?: string) => {
    progress('snapshot');
    const snapshot = await client.snapshot(snapshotUrl);
    await target.replace(snapshot);
    stats.resyncs++;
    stats.snapshotFeatures = snapshot.features.length;
    stats.cursor = snapshot.cursor;
    justResynced = true;
    progress('snapshot');
  };

  stats.cursor = options.resync ? undefined : await target.cursor();
  if (stats.cursor === undefined) await resync();

  const catchUp = async () => {
    stats.caughtUp = false;
    for (;;) {
      if (signal?.aborted) return;
      let page;
      try {
        page = await client.page(stats.cursor, limit);
      } catch (error) {
        if (!(error instanceof GoneError)) throw error;
        if (justResynced) {
          // The snapshot's own cursor is already pruned: resyncing again would loop forever.
          throw new GoneError(error.url, { ...error.problem, detail: `the cursor of a fresh snapshot is already gone (${error.problem?.detail ?? '410'}): the service's snapshot cursor is behind its pruning horizon` }, error.snapshotUrl);
        }
        await resync(error.snapshotUrl);
        continue;
      }
      justResynced = false;
      await target.applyPage(page.events, stats.cursor, page.cursor);
      stats.pages++;
      stats.applied += page.events.length;
      stats.cursor = page.cursor;
      if (page.events.length > 0) stats.lastChangeTime = page.events[page.events.length - 1].time;
      progress('catch-up');
      if (page.caughtUp) {
        await target.flush();
        stats.caughtUp = true;
        return;
      }
    }
  };

  await catchUp();
  if (!options.follow || signal?.aborted) {
    await target.flush();
    progress('done');
    return stats;
  }

  // Live: events arriving close together are applied (with the last one's cursor) in one commit.
  const liveBatchMs = options.liveBatchMs ?? 200;
  while (!signal?.aborted) {
    let batch: FeedEvent[] = [];
    let timer: NodeJS.Timeout | undefined;
    let applying: Promise<void> = Promise.resolve();
    let failure: unknown;
    const live = new AbortController();
    const stop = () => live.abort(signal?.reason);
    signal?.addEventListener('abort', stop, { once: true });
    const commit = () => {
      clearTimeout(timer);
      timer = undefined;
      if (batch.length === 0) return applying;
      const events = batch;
      batch = [];
      applying = applying.then(async () => {
        const to = events[events.length - 1].cursor;
        await target.applyPage(events, stats.cursor, to);
        await target.flush();
        stats.pages++;
        stats.applied += events.length;
        stats.cursor = to;
        stats.lastChangeTime = events[events.length - 1].time;
        progress('live');
      }).catch((error) => {
        failure ??= error;
        live.abort(error);
      });
      return applying;
    };
    progress('live');
    try {
      await client.stream(stats.cursor!, async (event) => {
        batch.push(event);
        if (batch.length >= limit) await commit();
        else {
          clearTimeout(timer);
          timer = setTimeout(commit, liveBatchMs);
        }
      }, live.signal);
      await commit();
      if (failure) throw failure;
      return stats;
    } catch (error) {
      await commit();
      if (failure) throw failure;
      if (!(error instanceof GoneError)) throw error;
      await resync(error.snapshotUrl);
      await catchUp();
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', stop);
    }
  }
  await target.flush();
  return stats;
}

// ---------------------------------------------------------------------------------------------
// The command line.

const USAGE = `usage: npm run sync -- --url <service> --token <bearer> --into <postgres://…|folder/> [options]

  --url URL        the service, e.g. http://localhost:3000
  --token TOKEN    bearer token of the viewer whose view is mirrored (or env SYNC_TOKEN)
  --into TARGET    postgres://user@host/db (PostGIS) or a folder for GeoJSON files
  --schema NAME    schema of the PostGIS mirror (default mirror)
  --limit N        events per page, 1–10000 (default 500)
  --follow         keep streaming changes after catching up (until Ctrl-C)
  --resync         start from a fresh snapshot, whatever cursor the mirror holds
  --quiet          no progress output
  --json           print a summary as JSON on stdout at the end
  -h, --help       this text

exit codes: 0 done, 1 failed (network, service, target), 2 usage, 3 token rejected (401/403),
4 mirror and feed disagree (rerun with --resync)`;

class UsageError extends Error {}

export function parseCommandLine(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      url: { type: 'string' },
      token: { type: 'string' },
      into: { type: 'string' },
      schema: { type: 'string' },
      limit: { type: 'string' },
      follow: { type: 'boolean', default: false },
      resync: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return { help: true as const };
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const token = values.token ?? process.env.SYNC_TOKEN;
  if (!values.url) throw new UsageError('--url is required');
  if (!token) throw new UsageError('--token (or SYNC_TOKEN) is required');
  if (!values.into) throw new UsageError('--into is required: a postgres:// URL or a folder');
  try {
    const url = new URL(values.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error();
  } catch {
    throw new UsageError(`--url must be an http(s) URL, not ${JSON.stringify(values.url)}`);
  }
  const limit = values.limit === undefined ? 500 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10000) throw new UsageError('--limit must be an integer from 1 to 10000');
  const postgres = /^postgres(ql)?:\/\//i.test(values.into);
  if (values.schema !== undefined && !postgres) throw new UsageError('--schema applies to a postgres:// target only');
  if (values.schema !== undefined && !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(values.schema)) throw new UsageError('--schema must be a plain SQL identifier');
  return {
    help: false as const,
    url: values.url.replace(/\/+$/, ''),
    token,
    into: values.into,
    postgres,
    schema: values.schema ?? 'mirror',
    limit,
    follow: values.follow!,
    resync: values.resync!,
    quiet: values.quiet!,
    json: values.json!,
  };
}

/** Progress on stderr: one line rewritten in place on a terminal, plain lines (less often) otherwise. */
export function progressReporter(stream: NodeJS.WriteStream = process.stderr) {
  const tty = Boolean(stream.isTTY);
  const interval = tty ? 250 : 5000;
  const started = Date.now();
  let last = 0;
  let lastLength = 0;
  const ago = (time: string | undefined) => {
    if (!time) return 'none yet';
    const seconds = Math.max(0, Math.round((Date.now() - Date.parse(time)) / 1000));
    const span = seconds < 120 ? `${seconds}s` : seconds < 7200 ? `${Math.round(seconds / 60)}min` : seconds < 172800 ? `${Math.round(seconds / 3600)}h` : `${Math.round(seconds / 86400)}d`;
    return `${time.replace(/\.\d+Z$/, 'Z')} (${span} ago)`;
  };
  const line = (stats: SyncStats, phase: string) => {
    const elapsed = (Date.now() - started) / 1000;
    const rate = elapsed > 0 ? stats.applied / elapsed : 0;
    const parts = [
      phase === 'snapshot' ? (stats.resyncs > 0 ? `snapshot: ${stats.snapshotFeatures} features` : 'snapshot: fetching') : phase,
      `${stats.applied} changes applied`,
      `${rate.toFixed(rate < 10 ? 1 : 0)}/s`,
      `${stats.pages} pages`,
      `last change ${ago(stats.lastChangeTime)}`,
    ];
    if (stats.caughtUp && phase !== 'live') parts.push('caught up');
    return `sync ${parts.join(' · ')}`;
  };
  return {
    update(stats: SyncStats, phase: 'snapshot' | 'catch-up' | 'live' | 'done') {
      const now = Date.now();
      const force = phase === 'done' || phase === 'snapshot' || (phase === 'live' && stats.caughtUp && last === 0);
      if (!force && now - last < interval) return;
      last = now;
      const text = line(stats, phase);
      if (tty) {
        stream.write(`\r${text}${' '.repeat(Math.max(0, lastLength - text.length))}${phase === 'done' ? '\n' : ''}`);
        lastLength = text.length;
      } else {
        stream.write(`${text}\n`);
      }
    },
    message(text: string) {
      if (tty && lastLength > 0) stream.write(`\r${' '.repeat(lastLength)}\r`);
      lastLength = 0;
      stream.write(`${text}\n`);
    },
  };
}

export async function main(argv: string[]): Promise<number> {
  let args: ReturnType<typeof parseCommandLine>;
  try {
    args = parseCommandLine(argv);
  } catch (error) {
    process.stderr.write(`sync: ${(error as Error).message}\n\n${USAGE}\n`);
    return EXIT.usage;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  const reporter = progressReporter();
  const say = (text: string) => { if (!args.quiet) reporter.message(text); };
  const controller = new AbortController();
  let interrupted = 0;
  const onSignal = (name: string) => {
    interrupted++;
    if (interrupted > 1) process.exit(130);
    say(`sync: ${name}: stopping after the change in hand (again to quit at once)`);
    controller.abort(new Error(name));
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  const client = new FeedClient({
    url: args.url,
    token: args.token,
    signal: controller.signal,
    onRetry: ({ url, attempt, delayMs, reason }) => say(`sync: ${new URL(url).pathname} failed (${reason}); retry ${attempt} in ${(delayMs / 1000).toFixed(1)}s`),
  });
  const target: Target = args.postgres ? new PostgisTarget(args.into, args.schema) : new DirectoryTarget(args.into);
  let stats: SyncStats | undefined;
  try {
    await target.open(client.baseUrl);
    const saved = args.resync ? undefined : await target.cursor();
    say(`sync: ${client.baseUrl} → ${target.description}${saved ? ', resuming from the saved cursor' : ', starting from a snapshot'}`);
    stats = await runSync({
      client, target, limit: args.limit, resync: args.resync, follow: args.follow, signal: controller.signal,
      onProgress: args.quiet ? undefined : (s, phase) => reporter.update(s, phase),
    });
    if (args.json) process.stdout.write(`${JSON.stringify(stats)}\n`);
    return EXIT.ok;
  } catch (error) {
    if (controller.signal.aborted && !(error instanceof HttpError) && !(error instanceof MirrorInconsistency)) {
      // Interrupted: pages applied in full are kept (a folder target may still hold some in
      // memory); the page in flight is dropped, and the next run resumes after the last kept one.
      await target.flush().catch(() => undefined);
      say('sync: interrupted; the next run resumes from the saved cursor');
      return 130;
    }
    process.stderr.write(`\nsync: ${describe(error)}\n`);
    if (error instanceof HttpError && (error.status === 401 || error.status === 403)) return EXIT.rejected;
    if (error instanceof MirrorInconsistency) return EXIT.inconsistent;
    return EXIT.failed;
  } finally {
    await target.close();
  }
}

function describe(error: unknown): string {
  if (error instanceof GoneError) return `${error.message}`;
  if (error instanceof HttpError) {
    const reasons = Array.isArray(error.problem?.errors) ? ` (${error.problem.errors.map((e: any) => `${e.field}: ${e.reason}`).join('; ')})` : '';
    const hint = error.status === 401 ? ' — is the token valid and unexpired?' : error.status === 403 ? ' — the token may not read the feed' : '';
    return `${error.message}${reasons}${hint}`;
  }
  if (error instanceof MirrorInconsistency) return `${error.message}\nthe mirror and the feed disagree; nothing of this page was applied. Rerun with --resync to rebuild from a snapshot.`;
  if (error instanceof UnavailableError) return `the service is unreachable: ${error.message}`;
  if (error instanceof CursorConflict) return error.message;
  const code = (error as any)?.code;
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === '28P01' || code === '3D000') return `the target is unreachable: ${(error as Error).message}`;
  return (error as Error)?.message ?? String(error);
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  }, (error) => {
    process.stderr.write(`sync: ${(error as Error)?.stack ?? error}\n`);
    process.exitCode = EXIT.failed;
  });
}
