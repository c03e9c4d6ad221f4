// Mirror into a folder: `<recordKind>.geojson` (one FeatureCollection per kind, a feature per
// line, sorted by id) and `sync-state.json` with the source and cursor.
//
// Several files cannot be renamed at once, so a commit is a small redo log: the new files are
// written beside the old ones as temporaries, then sync-state.json is replaced (temp + rename)
// with the new cursor AND the list of renames still to do — that rename is the commit point —
// then the temporaries are renamed into place and the list is cleared. An interrupted run
// leaves either the previous state (temporaries are removed at the next start) or a committed
// one whose renames the next start finishes. The mirror is held in memory; pages are grouped
// into a commit at most every `commitIntervalMs`, and at every flush.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { FeedEvent, MirrorFeature, MirrorInconsistency, RECORD_KINDS, RecordKind, Snapshot, Target, applyEvents, isRecordKind } from '../client';

export const STATE_FILE = 'sync-state.json';

interface State {
  sourceUrl: string;
  cursor: string;
  updatedAt: string;
  /** Renames of a commit not finished yet: temporary → final, inside the folder. */
  pending?: { from: string; to: string }[];
}

type StoredFeature = { id: string; geometry: GeoJSON.Geometry | null; properties: Record<string, unknown> };

async function writeDurably(file: string, content: string): Promise<void> {
  const handle = await fs.open(file, 'w');
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r').catch(() => undefined);
  if (!handle) return;
  try { await handle.sync(); } catch { /* not supported on every platform */ } finally { await handle.close(); }
}

export function featureCollection(features: StoredFeature[]): string {
  const lines = features.map((f) => JSON.stringify({ type: 'Feature', id: f.id, geometry: f.geometry, properties: f.properties }));
  return `{"type":"FeatureCollection","features":[\n${lines.join(',\n')}\n]}\n`;
}

export class DirectoryTarget implements Target {
  readonly description: string;
  private readonly dir: string;
  private sourceUrl = '';
  private state: State | undefined;
  private readonly features = new Map<RecordKind, Map<string, StoredFeature>>(RECORD_KINDS.map((kind) => [kind, new Map()]));
  private readonly dirty = new Set<RecordKind>();
  private uncommittedCursor: string | undefined;
  private lastCommit = Date.now();

  constructor(dir: string, private readonly commitIntervalMs = 2000) {
    this.dir = path.resolve(dir);
    this.description = this.dir;
  }

  async open(sourceUrl: string): Promise<void> {
    this.sourceUrl = sourceUrl;
    await fs.mkdir(this.dir, { recursive: true });
    const statePath = path.join(this.dir, STATE_FILE);
    let state: State | undefined;
    try {
      state = JSON.parse(await fs.readFile(statePath, 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${statePath} is not readable: ${(error as Error).message}`);
    }
    if (state && state.sourceUrl !== sourceUrl) throw new Error(`${this.dir} mirrors ${state.sourceUrl}; use another folder for ${sourceUrl}`);
    if (state?.pending?.length) {
      // A commit was interrupted after its commit point: finish its renames.
      for (const { from, to } of state.pending) {
        await fs.rename(path.join(this.dir, path.basename(from)), path.join(this.dir, path.basename(to))).catch((error) => {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        });
      }
      await syncDirectory(this.dir);
      state = { sourceUrl: state.sourceUrl, cursor: state.cursor, updatedAt: state.updatedAt };
      await this.writeState(state);
    }
    // Temporaries of a commit that never reached its commit point.
    for (const name of await fs.readdir(this.dir)) {
      if (name.startsWith('.') && name.endsWith('.tmp')) await fs.rm(path.join(this.dir, name), { force: true });
    }
    this.state = state;
    if (!state) return;
    for (const kind of RECORD_KINDS) {
      const file = path.join(this.dir, `${kind}.geojson`);
      let collection: any;
      try {
        collection = JSON.parse(await fs.readFile(file, 'utf8'));
      } catch (error) {
        throw new MirrorInconsistency(`${file} is missing or unreadable beside ${STATE_FILE} (${(error as Error).message}): resync with --resync`);
      }
      const map = this.features.get(kind)!;
      for (const feature of collection.features ?? []) map.set(String(feature.id), { id: String(feature.id), geometry: feature.geometry ?? null, properties: feature.properties ?? {} });
    }
  }

  async cursor(): Promise<string | undefined> {
    return this.uncommittedCursor ?? this.state?.cursor;
  }

  async applyPage(events: FeedEvent[], from: string | undefined, to: string): Promise<void> {
    const held = this.uncommittedCursor ?? this.state?.cursor;
    if (held !== from) throw new Error(`the mirror is at ${held ?? 'no cursor'}, not at ${from ?? 'no cursor'} where this page starts`);
    const changes = applyEvents(events, (kind, id) => {
      const feature = this.features.get(kind)!.get(id);
      return feature && ({ ...feature, recordKind: kind } as MirrorFeature);
    });
    for (const change of changes.values()) {
      const map = this.features.get(change.recordKind)!;
      if (change.feature) map.set(change.id, { id: change.id, geometry: change.feature.geometry ?? null, properties: change.feature.properties });
      else map.delete(change.id);
      this.dirty.add(change.recordKind);
    }
    this.uncommittedCursor = to;
    if (Date.now() - this.lastCommit >= this.commitIntervalMs) await this.flush();
  }

  async replace(snapshot: Snapshot): Promise<void> {
    const next = new Map<RecordKind, Map<string, StoredFeature>>(RECORD_KINDS.map((kind) => [kind, new Map()]));
    for (const feature of snapshot.features) {
      if (!isRecordKind(feature.recordKind)) throw new MirrorInconsistency(`snapshot: unknown record kind ${JSON.stringify(feature.recordKind)}`);
      next.get(feature.recordKind)!.set(String(feature.id), { id: String(feature.id), geometry: feature.geometry ?? null, properties: feature.properties ?? {} });
    }
    for (const kind of RECORD_KINDS) {
      this.features.set(kind, next.get(kind)!);
      this.dirty.add(kind);
    }
    this.uncommittedCursor = snapshot.cursor;
    await this.flush();
  }

  async flush(): Promise<void> {
    const cursor = this.uncommittedCursor;
    if (cursor === undefined) return;
    const token = randomBytes(4).toString('hex');
    const pending: { from: string; to: string }[] = [];
    for (const kind of this.dirty) {
      const features = [...this.features.get(kind)!.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      const temporary = `.${kind}.geojson.${token}.tmp`;
      await writeDurably(path.join(this.dir, temporary), featureCollection(features));
      pending.push({ from: temporary, to: `${kind}.geojson` });
    }
    const state: State = { sourceUrl: this.sourceUrl, cursor, updatedAt: new Date().toISOString() };
    await this.writeState({ ...state, pending }); // the commit point
    for (const { from, to } of pending) await fs.rename(path.join(this.dir, from), path.join(this.dir, to));
    await syncDirectory(this.dir);
    await this.writeState(state);
    this.state = state;
    this.dirty.clear();
    this.uncommittedCursor = undefined;
    this.lastCommit = Date.now();
  }

  private async writeState(state: State): Promise<void> {
    const temporary = path.join(this.dir, `.${STATE_FILE}.${randomBytes(4).toString('hex')}.tmp`);
    await writeDurably(temporary, `${JSON.stringify(state, null, 2)}\n`);
    await fs.rename(temporary, path.join(this.dir, STATE_FILE));
    await syncDirectory(this.dir);
  }

  async close(): Promise<void> {
    // Nothing is flushed here: the caller flushes what it wants kept (an aborted page is not).
  }
}
