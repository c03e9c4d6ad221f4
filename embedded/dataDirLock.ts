// An exclusive lock on an embedded database's data directory, between processes.
//
// PGlite takes no lock of its own: two processes opening the same directory each run their
// own PostgreSQL over the same files and silently lose data. Node has no flock() without a
// native module, so the lock is a file created with O_CREAT|O_EXCL (atomic on local file
// systems) that holds who owns it: pid, the process's start time and the boot id. The start
// time and boot id make a stale lock recognisable even when its pid has since been reused by
// another process (after a reboot, or a long time later); process.kill(pid, 0) says whether the
// pid is alive at all (EPERM: alive, another user's). A stale lock — its owner died without
// releasing it, e.g. kill -9 — is taken over under a second O_EXCL file, so two processes that
// both found it stale cannot both remove it and both believe they hold the lock.
//
// Limits: on a network file system O_EXCL and pid checks across machines are not reliable;
// a lock naming another host is treated as held and must be removed by hand.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';

export const LOCK_FILE_NAME = 'embedded.lock';

export class DataDirectoryInUseError extends Error {
  constructor(readonly dataDir: string, readonly pid: number, readonly host: string) {
    super(`the data directory ${dataDir} is in use by process ${pid}${host === os.hostname() ? '' : ` on ${host}`}` +
      ` (lock file ${path.join(dataDir, LOCK_FILE_NAME)})`);
    this.name = 'DataDirectoryInUseError';
  }
}

interface LockOwner {
  pid: number;
  host: string;
  bootId: string | null;
  startTime: string | null;
  token: string;
  createdAt: string;
}

export interface DataDirLock {
  readonly path: string;
  release(): void;
}

function readFileOrNull(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

const bootId = (): string | null => readFileOrNull('/proc/sys/kernel/random/boot_id')?.trim() ?? null;

/** Start time of a process in clock ticks after boot (Linux /proc), or null where unknown. */
function processStartTime(pid: number): string | null {
  const stat = readFileOrNull(`/proc/${pid}/stat`);
  if (!stat) return null;
  // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19] ?? null; // field 22 of the whole line
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the owner recorded in a lock file is certainly gone. */
function isStale(owner: LockOwner): boolean {
  if (owner.host !== os.hostname()) return false;
  const boot = bootId();
  if (owner.bootId && boot && owner.bootId !== boot) return true;
  if (!isAlive(owner.pid)) return true;
  const started = processStartTime(owner.pid);
  return Boolean(owner.startTime && started && owner.startTime !== started);
}

function parseOwner(text: string): LockOwner | null {
  try {
    const owner = JSON.parse(text) as LockOwner;
    return Number.isInteger(owner.pid) && owner.pid > 0 ? owner : null;
  } catch {
    return null;
  }
}

function createExclusive(file: string, content: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    fs.writeSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return true;
}

const ageMs = (file: string): number => {
  try {
    return Date.now() - fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
};

/** Removes the lock file if it still holds exactly `staleText`, under a takeover lock. */
function removeStaleLock(lockFile: string, staleText: string): void {
  const takeover = `${lockFile}.takeover`;
  // A takeover file is held for microseconds; one older than 10 s belongs to a dead process.
  if (!createExclusive(takeover, String(process.pid))) {
    if (ageMs(takeover) > 10_000) fs.rmSync(takeover, { force: true });
    return; // someone else is taking over: the caller retries
  }
  try {
    if (readFileOrNull(lockFile) === staleText) fs.rmSync(lockFile, { force: true });
  } finally {
    fs.rmSync(takeover, { force: true });
  }
}

/**
 * Takes the data directory's lock or throws DataDirectoryInUseError. The directory is created
 * if it does not exist. The lock is released by release(), and at the latest when the process
 * exits normally; a process killed outright leaves a lock that the next start recognises as stale.
 */
export async function lockDataDirectory(dataDir: string): Promise<DataDirLock> {
  fs.mkdirSync(dataDir, { recursive: true });
  const lockFile = path.join(dataDir, LOCK_FILE_NAME);
  const owner: LockOwner = {
    pid: process.pid, host: os.hostname(), bootId: bootId(), startTime: processStartTime(process.pid),
    token: randomUUID(), createdAt: new Date().toISOString(),
  };
  const content = JSON.stringify(owner);

  for (let attempt = 0; ; attempt++) {
    if (createExclusive(lockFile, content)) break;
    const text = readFileOrNull(lockFile);
    if (text === null) continue; // released in between: try again
    const current = parseOwner(text);
    if (current && !isStale(current)) throw new DataDirectoryInUseError(dataDir, current.pid, current.host);
    // Unreadable content is a lock being written (created, not yet filled) unless it is old.
    const stale = current !== null || ageMs(lockFile) > 5_000;
    if (attempt >= 50) {
      throw new Error(`could not take the lock ${lockFile}: ${current ? 'its stale owner could not be removed' : 'it holds no owner'}`);
    }
    if (stale) removeStaleLock(lockFile, text);
    else await new Promise((resolve) => setTimeout(resolve, 100));
  }

  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.removeListener('exit', release);
    // Only our own lock: never one another process took over after a mistaken stale verdict.
    if (readFileOrNull(lockFile) === content) fs.rmSync(lockFile, { force: true });
  };
  process.on('exit', release);
  return { path: lockFile, release };
}
