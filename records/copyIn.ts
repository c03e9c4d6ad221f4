// COPY … FROM STDIN on a connection of the pool, fed from memory while the statement runs.
// A bulk import writes its rows this way: the database parses plain text columns instead of a
// JSON document per statement (measured: half the parsing work per row), and one COPY can stay
// open while the next rows are still being checked, so the two overlap.
//
// pg has no COPY API of its own; a query object with submit() (the "submittable" interface
// pg-cursor and pg-query-stream use) receives the protocol messages. This is the whole of it.
import type { Knex } from 'knex';

interface PgConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
  stream: NodeJS.WritableStream & { writableNeedDrain?: boolean };
}

interface PgClient {
  query(submittable: object): void;
}

/** One COPY FROM STDIN statement: write() rows (text format), then end() or fail(). */
export class CopyIn {
  private connection?: PgConnection;
  private ready: Promise<void>;
  private markReady!: () => void;
  private finished: Promise<number>;
  private settle!: (error: Error | null, rows?: number) => void;
  private error: Error | null = null;
  private rows = 0;
  private done = false;

  private constructor(private readonly sql: string) {
    this.ready = new Promise((resolve) => { this.markReady = resolve; });
    this.finished = new Promise((resolve, reject) => {
      this.settle = (error, rows) => (error ? reject(error) : resolve(rows ?? 0));
    });
    // Awaited by end()/fail(); a failure before that must not count as unhandled.
    this.finished.catch(() => {});
  }

  /** Starts `COPY <table> (<columns>) FROM STDIN` on the transaction's connection. */
  static async start(trx: Knex.Transaction, sql: string): Promise<CopyIn> {
    const client = (await trx.client.acquireConnection()) as PgClient;
    const copy = new CopyIn(sql);
    client.query(copy);
    await Promise.race([copy.ready, copy.finished]);
    return copy;
  }

  // --- the submittable interface pg's client calls -------------------------------------------
  submit(connection: PgConnection) {
    this.connection = connection;
    connection.query(this.sql);
  }
  handleCopyInResponse() { this.markReady(); }
  handleCommandComplete(message: { text?: string; rowCount?: number }) {
    this.rows = message.rowCount ?? Number(/\d+$/.exec(message.text ?? '')?.[0] ?? 0);
  }
  // pg forgets the query on an error (the ReadyForQuery that follows is not passed on): final.
  handleError(error: Error) {
    this.error = error;
    this.done = true;
    this.markReady();
    this.settle(error);
  }
  handleReadyForQuery() {
    this.done = true;
    this.settle(this.error, this.rows);
  }
  handleRowDescription() {}
  handleDataRow() {}
  handleEmptyQuery() {}
  handlePortalSuspended() {}
  handleCopyData() {}

  // --- writing -------------------------------------------------------------------------------
  /** Sends rows; resolves once the socket can take more, so memory stays bounded. */
  async write(text: string): Promise<void> {
    if (this.done || this.error) throw this.error ?? new Error('COPY already finished');
    const connection = this.connection!;
    connection.sendCopyFromChunk(Buffer.from(text, 'utf8'));
    if (connection.stream.writableNeedDrain) {
      await new Promise<void>((resolve) => connection.stream.once('drain', () => resolve()));
    }
  }

  /** Ends the data; resolves with the number of rows copied, or rejects with the statement's error. */
  async end(): Promise<number> {
    if (!this.done && !this.error) this.connection!.endCopyFrom();
    return this.finished;
  }

  /** Abandons the statement (and with it the transaction); resolves once the server has answered. */
  async fail(reason: string): Promise<void> {
    if (!this.done && !this.error) this.connection!.sendCopyFail(reason);
    await this.finished.catch(() => {});
  }
}

/** A value in COPY's text format: \N for null, backslash, tab, newline and return escaped. */
export function copyText(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '\\N';
  const text = String(value);
  return /[\\\t\n\r]/.test(text) ? text.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')) : text;
}

/** A text[] literal in COPY's text format. */
export function copyTextArray(values: readonly string[]): string {
  return copyText(`{${values.map((value) => `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`).join(',')}}`);
}
