// `npm run bench:feed [-- --changes 1000000 --page 5000 --rate 50 --seconds 20 --keep --skip-live]`: the change feed.
//
// 1. Catch-up: a consumer pages through the whole change log with GET /feed (HTTP, `--page`
//    events a page), as the owner ANAMA and as GEO, which sees ANAMA's areas at `summary`
//    through an agreement made before any area exists (so no agreement fan-out is in the log).
//    The log is produced the fast way: `--areas` synthetic areas imported through the API (one
//    POST FeatureCollection per agency, one create entry each), then set-based UPDATEs of ANAMA's
//    areas in write transactions as an ANAMA editor (withViewer 'write', so the change-log
//    triggers attribute them), `--batch` areas a transaction, round after round until the log
//    holds `--changes` entries. Each update bumps priority (which a summary viewer cannot see)
//    and, for every other area of a batch, toggles status open ↔ worked-on (which it can): GEO
//    gets events for about half the updates, interleaved, so its pages stay short.
//    Changes/s = change-log entries the cursor moved past / wall time; each consumer stops
//    after `--catchup-seconds` (default 180: at the target a consumer reads the whole log of
//    1,000,000 in 50 s) and only then is the rate extrapolated to the whole log, marked so.
//    Between producing and reading, the database is vacuumed and analysed and a checkpoint made.
// 2. Live latency: `--rate` single-area write transactions a second for `--seconds` (status
//    and priority, so both viewers get an event), after two seconds of the same load that are
//    not measured (new connections' one-time costs); an SSE client per viewer on GET /feed/stream
//    from the end of the log. Latency = event delivered to the client − the write's COMMIT
//    returning (matched by record id: each live write touches its own area). The load, the service and the SSE clients
//    share this process (and the machine's 2 cores with PostgreSQL).
// Targets: catch-up ≥ 20,000 changes/s; p95 commit-to-delivery < 100 ms.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createKnex } from '../db/connection';
import { withViewer } from '../db/viewerTransaction';
import { decodeCursor, encodeCursor } from '../feed/cursor';
import type { Viewer } from '../server/auth/viewer';
import { logger } from '../server/logger';
import { startBenchService, table, type BenchService, importAreasThroughApi } from './support';

const CATCHUP_TARGET = 20_000;
const P95_TARGET_MS = 100;
const OWNER: Viewer = { agency: 'ANAMA', role: 'editor', subject: 'bench' };

const sorted = (values: number[]) => [...values].sort((a, b) => a - b);
const quantile = (values: number[], q: number) => (values.length ? sorted(values)[Math.max(0, Math.ceil(values.length * q) - 1)] : NaN);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const log = (message: string) => process.stderr.write(`${message}\n`);

async function logSize(service: BenchService): Promise<number> {
  return Number((await service.db.raw('SELECT coalesce(max(seq), 0) AS n FROM change_log')).rows[0].n);
}

/** Areas through the API: one create entry each. */
async function importAreas(service: BenchService, areas: number): Promise<void> {
  await importAreasThroughApi(service, areas, 23);
}

const UPDATE_SQL = `
  UPDATE hazardous_area SET
    priority = CASE priority WHEN 'high' THEN 'medium' WHEN 'medium' THEN 'low' ELSE 'high' END,
    status = CASE WHEN id = ANY(?::uuid[]) THEN CASE status WHEN 'open' THEN 'worked-on' WHEN 'worked-on' THEN 'open' ELSE status END ELSE status END,
    version = version + 1, updated_at = now(), updated_by = 'ANAMA/bench'
  WHERE owner_agency = 'ANAMA' AND id = ANY(?::uuid[])`;

/** Set-based updates of ANAMA's areas until the log holds `target` entries or the budget runs out. */
async function updateUntil(service: BenchService, target: number, batch: number, budgetMs: number): Promise<{ updates: number; capped: boolean }> {
  const ids: string[] = (await service.db.raw("SELECT id FROM hazardous_area WHERE owner_agency = 'ANAMA' ORDER BY id")).rows.map((r: any) => r.id);
  let remaining = target - (await logSize(service));
  let updates = 0;
  let offset = 0;
  const started = performance.now();
  let lastReport = started;
  while (remaining > 0) {
    if (performance.now() - started > budgetMs) return { updates, capped: true };
    const slice = ids.slice(offset, offset + Math.min(batch, remaining));
    offset = offset + slice.length >= ids.length ? 0 : offset + slice.length;
    const statusIds = slice.filter((_, i) => i % 2 === 0);
    const count = await withViewer(service.db, OWNER, async (trx) => (await trx.raw(UPDATE_SQL, [statusIds, slice])).rowCount as number, 'write');
    updates += count;
    remaining -= count;
    if (performance.now() - lastReport > 10_000) {
      lastReport = performance.now();
      log(`  … ${fmt(updates)} updates, ${fmt(updates / ((lastReport - started) / 1000))}/s`);
    }
  }
  return { updates, capped: false };
}

interface CatchUp { changes: number; events: number; pages: number; seconds: number; rate: number; complete: boolean; slowestPageMs: number; bytes: number }

/** GET /feed from the start until caught up or out of time. */
async function catchUp(service: BenchService, agency: string, page: number, budgetMs: number): Promise<CatchUp> {
  const token = service.token(agency, 'viewer');
  let cursor = '';
  let events = 0;
  let pages = 0;
  let bytes = 0;
  let slowestPageMs = 0;
  const started = performance.now();
  for (;;) {
    const pageStarted = performance.now();
    const response = await fetch(`${service.baseUrl}/feed?limit=${page}${cursor ? `&after=${cursor}` : ''}`, { headers: { authorization: `Bearer ${token}` } });
    const text = await response.text();
    if (response.status !== 200) throw new Error(`GET /feed: ${response.status} ${text.slice(0, 300)}`);
    const body = JSON.parse(text);
    slowestPageMs = Math.max(slowestPageMs, performance.now() - pageStarted);
    bytes += text.length;
    pages++;
    events += body.events.length;
    cursor = body.cursor;
    if (body.caughtUp) break;
    if (performance.now() - started > budgetMs) break;
  }
  const seconds = (performance.now() - started) / 1000;
  const changes = decodeCursor(cursor).seq;
  const complete = changes >= (await logSize(service));
  return { changes, events, pages, seconds, rate: changes / seconds, complete, slowestPageMs, bytes };
}

/** An SSE client: the time the first change event of each record arrived. */
function sseClient(service: BenchService, agency: string, after: string) {
  const arrivals = new Map<string, number>();
  const controller = new AbortController();
  let buffer = '';
  let done: Promise<void> = Promise.resolve();
  // Resolves once the stream is open; `done` when it ends (a promise inside a promise would be flattened).
  const opened = (async () => {
    const response = await fetch(`${service.baseUrl}/feed/stream?after=${after}`, {
      headers: { authorization: `Bearer ${service.token(agency, 'viewer')}`, accept: 'text/event-stream' },
      signal: controller.signal,
    });
    if (response.status !== 200) throw new Error(`GET /feed/stream: ${response.status} ${await response.text()}`);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    done = (async () => {
      try {
        for (;;) {
          const { done: ended, value } = await reader.read();
          if (ended) return;
          const now = performance.now();
          buffer += decoder.decode(value, { stream: true });
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const message = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = message.split('\n').find((line) => line.startsWith('data: '));
            if (!data) continue;
            const event = JSON.parse(data.slice(6));
            // Each live write touches a distinct area, so the id names the write; the version
            // would not do, since viewers below full are not shown it.
            const key = event.id;
            if (!arrivals.has(key)) arrivals.set(key, now);
          }
        }
      } catch (error) {
        if ((error as Error).name !== 'AbortError') throw error;
      }
    })();
  })();
  return { arrivals, opened, done: () => done, stop: () => controller.abort() };
}

async function liveLatency(service: BenchService, rate: number, seconds: number) {
  const after = encodeCursor({ seq: await logSize(service), after: null });
  const clients = { ANAMA: sseClient(service, 'ANAMA', after), GEO: sseClient(service, 'GEO', after) };
  await Promise.all(Object.values(clients).map((c) => c.opened));
  // Distinct open / worked-on areas, so no two writes wait on one row lock and GEO sees each one.
  const total = Math.round(rate * seconds);
  // The first two seconds of load are a warm-up, not measured: each new connection of the
  // writers' pool makes its change-log staging table and each reader connection plans the feed's
  // query once (one-time costs of a connection, not of a steady write load).
  const warmUp = Math.round(rate * 2);
  const ids: string[] = (await service.db.raw(
    "SELECT id FROM hazardous_area WHERE owner_agency = 'ANAMA' AND status IN ('open', 'worked-on') ORDER BY md5(id::text) LIMIT ?", [total + warmUp],
  )).rows.map((r: any) => r.id);
  // The writers have their own pool (as another instance of the service would), so they never
  // queue the feed's own queries behind them.
  const writer = createKnex(service.databaseUrl, 20);
  const commits = new Map<string, number>();
  const writeMs: number[] = [];
  const pending: Promise<void>[] = [];
  let failed = 0;
  let started = performance.now();
  for (let n = 0; n < ids.length; n++) {
    if (n === warmUp) {
      await Promise.all(pending.splice(0));
      started = performance.now();
    }
    const due = started + ((n < warmUp ? n : n - warmUp) * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const id = ids[n];
    const measured = n >= warmUp;
    const begun = performance.now();
    pending.push(
      withViewer(writer, OWNER, async (trx) => (await trx.raw(`${UPDATE_SQL} RETURNING version`, [[id], [id]])).rows[0].version as number, 'write')
        .then(() => {
          if (!measured) return;
          const committed = performance.now();
          commits.set(id, committed);
          writeMs.push(committed - begun);
        })
        .catch(() => { if (measured) failed++; }),
    );
  }
  await Promise.all(pending);
  await writer.destroy();
  const writeSeconds = (performance.now() - started) / 1000;
  // Let the last events arrive.
  const deadline = performance.now() + 3000;
  while (performance.now() < deadline && Object.values(clients).some((c) => [...commits.keys()].some((k) => !c.arrivals.has(k)))) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  for (const client of Object.values(clients)) client.stop();
  await Promise.allSettled(Object.values(clients).map((c) => c.done()));
  if (process.env.FEED_BENCH_DEBUG) {
    for (const [agency, client] of Object.entries(clients)) log(`${agency}: ${client.arrivals.size} events, e.g. ${[...client.arrivals.keys()].slice(0, 2)}; commits e.g. ${[...commits.keys()].slice(0, 2)}`);
  }
  const rows: Record<string, string | number>[] = [];
  const p95s: number[] = [];
  for (const [agency, client] of Object.entries(clients)) {
    const latencies: number[] = [];
    for (const [key, committed] of commits) {
      const arrived = client.arrivals.get(key);
      if (arrived !== undefined) latencies.push(arrived - committed);
    }
    const p95 = quantile(latencies, 0.95);
    p95s.push(latencies.length === commits.size ? p95 : Infinity);
    rows.push({
      viewer: agency === 'ANAMA' ? 'ANAMA (owner)' : 'GEO (summary)', writes: commits.size, delivered: latencies.length,
      'median ms': quantile(latencies, 0.5).toFixed(1), 'p95 ms': p95.toFixed(1), 'p99 ms': quantile(latencies, 0.99).toFixed(1),
      'max ms': Math.max(...latencies).toFixed(1),
    });
  }
  return { rows, p95: Math.max(...p95s), achievedRate: commits.size / writeSeconds, failed, writeMedian: quantile(writeMs, 0.5), writeP95: quantile(writeMs, 0.95) };
}

async function main() {
  const { values } = parseArgs({
    options: {
      changes: { type: 'string', default: '1000000' },
      areas: { type: 'string', default: '100000' },
      batch: { type: 'string', default: '10000' },
      page: { type: 'string', default: '5000' },
      'catchup-seconds': { type: 'string', default: '180' },
      'produce-seconds': { type: 'string', default: '240' },
      rate: { type: 'string', default: '50' },
      seconds: { type: 'string', default: '20' },
      // Reuse the log a previous run left (when it holds enough entries): for measuring the reader alone.
      keep: { type: 'boolean', default: false },
      'skip-live': { type: 'boolean', default: false },
    },
  });
  const wanted = Number(values.changes);
  const areas = Math.min(Number(values.areas), wanted);
  const page = Number(values.page);
  logger.level = 'warn';
  const service = await startBenchService('minefield_bench_feed', { keepDatabase: values.keep });
  const say = (line = '') => console.log(line);
  try {
    const reused = values.keep && (await logSize(service)) >= wanted;
    if (!reused) await service.db('sharing_agreement').insert({ owner_agency: 'ANAMA', grantee: 'GEO', record_kind: 'hazardous_area', level: 'summary', updated_by: 'bench' });

    // --- Producing the log ---------------------------------------------------------------
    let t = performance.now();
    if (!reused) {
      log(`importing ${fmt(areas)} hazardous areas through the API…`);
      await importAreas(service, areas);
    }
    const importSeconds = (performance.now() - t) / 1000;
    const creates = reused ? areas : await logSize(service);
    if (!reused) log(`  ${fmt(creates)} entries in ${importSeconds.toFixed(1)} s; updating ANAMA's areas up to ${fmt(wanted)} entries…`);
    t = performance.now();
    const { updates, capped } = reused ? { updates: 0, capped: false } : await updateUntil(service, wanted, Number(values.batch), Number(values['produce-seconds']) * 1000);
    const updateSeconds = (performance.now() - t) / 1000;
    if (!reused) {
      // Settle after producing: every table vacuumed and analysed, dirty pages written, so the
      // measurements below do not share the machine with autovacuum and the checkpointer working
      // off a million writes (the audit trail, status history, overview cells and the log).
      log('vacuuming and analysing the database, then a checkpoint…');
      await service.db.raw('VACUUM ANALYZE');
      await service.db.raw('CHECKPOINT').catch((error) => log(`  (no CHECKPOINT: ${(error as Error).message})`));
    }
    const total = await logSize(service);

    say(`\nbench:feed — change log of ${fmt(total)} entries (asked for ${fmt(wanted)}), page size ${page}\n`);
    say('Producing the log');
    say(table([
      { step: 'import through the API (creates)', entries: fmt(creates), seconds: importSeconds.toFixed(1), 'entries/s': fmt(creates / importSeconds) },
      { step: `set-based UPDATEs, ${values.batch}/transaction`, entries: fmt(updates), seconds: updateSeconds.toFixed(1), 'entries/s': fmt(updates / updateSeconds) },
      { step: 'total', entries: fmt(total), seconds: (importSeconds + updateSeconds).toFixed(1), 'entries/s': fmt(total / (importSeconds + updateSeconds)) },
    ]));
    if (capped) {
      const extrapolated = importSeconds * (areas / creates) + ((wanted - creates) / (updates / updateSeconds));
      say(`producing ${fmt(wanted)} entries did not fit the ${values['produce-seconds']} s budget: stopped at ${fmt(total)}; ` +
        `at the measured rates the whole log would take ≈ ${extrapolated.toFixed(0)} s`);
    }

    // --- Catch-up -----------------------------------------------------------------------
    const budget = Number(values['catchup-seconds']) * 1000;
    const catchUps: Record<string, string | number>[] = [];
    const rates: number[] = [];
    for (const [agency, label] of [['ANAMA', 'ANAMA (owner)'], ['GEO', 'GEO (ANAMA at summary)']]) {
      log(`catching up as ${label}…`);
      const result = await catchUp(service, agency, page, budget);
      rates.push(result.rate);
      catchUps.push({
        consumer: label, changes: fmt(result.changes), events: fmt(result.events), pages: result.pages, 'MB': (result.bytes / 1e6).toFixed(1),
        seconds: result.seconds.toFixed(1), 'changes/s': fmt(result.rate), 'slowest page s': (result.slowestPageMs / 1000).toFixed(2),
        [`s for ${fmt(wanted)}`]: result.complete && total >= wanted ? result.seconds.toFixed(0) : `≈ ${(wanted / result.rate).toFixed(0)} (extrapolated)`,
      });
    }
    say('\nCatch-up through GET /feed (HTTP)');
    say(table(catchUps));
    const worstRate = Math.min(...rates);

    // --- Live latency -------------------------------------------------------------------
    if (values['skip-live']) {
      say(`\ncatch-up: slowest consumer ${fmt(worstRate)} changes/s (target ≥ ${fmt(CATCHUP_TARGET)}: ${worstRate >= CATCHUP_TARGET ? 'met' : 'NOT met'})`);
      return;
    }
    log(`live: ${values.rate} writes/s for ${values.seconds} s with an SSE client per viewer…`);
    const live = await liveLatency(service, Number(values.rate), Number(values.seconds));
    say(`\nLive: ${fmt(live.achievedRate)} single-area write transactions/s for ${values.seconds} s ` +
      `(write median ${live.writeMedian.toFixed(1)} ms, p95 ${live.writeP95.toFixed(1)} ms${live.failed ? `, ${live.failed} failed` : ''}); ` +
      'commit returned → event delivered on GET /feed/stream');
    say(table(live.rows));

    say('');
    say(`catch-up: slowest consumer ${fmt(worstRate)} changes/s (target ≥ ${fmt(CATCHUP_TARGET)}: ${worstRate >= CATCHUP_TARGET ? 'met' : 'NOT met'})`);
    say(`live: worst p95 ${live.p95.toFixed(1)} ms (target < ${P95_TARGET_MS} ms: ${live.p95 < P95_TARGET_MS ? 'met' : 'NOT met'})`);
  } finally {
    await service.stop();
  }
}

main().then(() => process.exit(0), (error) => {
  console.error(error);
  process.exit(1);
});
