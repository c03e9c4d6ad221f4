// Live feed over Server-Sent Events. Commits are signalled by NOTIFY minefield_changes (sent
// by the sequencing trigger, heard as feed/changeSignal.ts describes), with a slow poll as a
// safety net for a lost connection. Each client pulls pages from its own cursor only when its
// socket has drained, so a slow client holds at most one page in the server's memory, however
// far behind it falls.
import type { Response } from 'express';
import type { Viewer } from '../server/auth/viewer';
import type { ChangeSignal } from './changeSignal';
import type { FeedService } from './feedService';

/**
 * Resolves once a response that refused a write has drained, or closed. Both listeners go once
 * either fires: a long catch-up waits for 'drain' many times on one response.
 */
export function drained(res: Response): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

interface Subscriber {
  wake: () => void;
}

export class FeedStream {
  private unsubscribe: (() => void) | undefined;
  private readonly subscribers = new Set<Subscriber>();
  private poll: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly feed: FeedService,
    private readonly changes: ChangeSignal,
    private readonly options = { heartbeatMs: 15_000, pollMs: 2_000, pageSize: 200 },
  ) {}

  get clients(): number {
    return this.subscribers.size;
  }

  private listen(): void {
    if (this.unsubscribe || this.closed) return;
    this.unsubscribe = this.changes.subscribe(() => this.wakeAll());
    this.poll ??= setInterval(() => this.wakeAll(), this.options.pollMs);
    this.poll.unref();
  }

  private wakeAll(): void {
    for (const subscriber of this.subscribers) subscriber.wake();
  }

  async serve(viewer: Viewer, startCursor: string | undefined, res: Response, snapshotUrl: string): Promise<void> {
    this.listen();
    // Check the cursor (410 for a pruned one) before the stream starts, so errors stay problem+json.
    let page = await this.feed.page(viewer, startCursor, this.options.pageSize, snapshotUrl);
    res.status(200).set({
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    res.write('retry: 2000\n\n');

    let cursor = page.cursor;
    let pending = true;
    let wakeUp: (() => void) | undefined;
    const subscriber: Subscriber = {
      wake: () => {
        pending = true;
        wakeUp?.();
      },
    };
    this.subscribers.add(subscriber);
    const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), this.options.heartbeatMs);
    let open = true;
    res.on('close', () => {
      open = false;
      wakeUp?.();
    });

    try {
      while (open && !this.closed) {
        for (const event of page.events) {
          if (!res.write(`id: ${event.cursor}\nevent: change\ndata: ${JSON.stringify(event)}\n\n`)) await drained(res);
          if (!open) break;
        }
        cursor = page.cursor;
        if (!page.caughtUp) {
          page = await this.feed.page(viewer, cursor, this.options.pageSize, snapshotUrl);
          continue;
        }
        if (!pending) await new Promise<void>((resolve) => { wakeUp = resolve; });
        wakeUp = undefined;
        pending = false;
        // Woken by close(): no more reads (the database may be closing next).
        if (!open || this.closed) break;
        page = await this.feed.page(viewer, cursor, this.options.pageSize, snapshotUrl);
      }
    } finally {
      clearInterval(heartbeat);
      this.subscribers.delete(subscriber);
      if (open) res.end();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.poll) clearInterval(this.poll);
    this.wakeAll();
    // The signal belongs to the database (server/start.ts); this stream only stops hearing it.
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }
}
