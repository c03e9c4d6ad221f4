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
  async write(rows: string | Buffer): Promise<void> {
    if (this.done || this.error) throw this.error ?? new Error('COPY already finished');
    const connection = this.connection!;
    const bytes = typeof rows === 'string' ? Buffer.from(rows, 'utf8') : rows;
    // A CopyData message is its 5-byte header and the bytes as they are. Written straight to
    // the socket: pg's sendCopyFromChunk copies every chunk twice into its own buffer first
    // (measured: 0.4 s of the service's thread on a bulk import of 85,000 areas).
    const header = Buffer.allocUnsafe(5);
    header[0] = 0x64; // 'd'
    header.writeInt32BE(bytes.length + 4, 1);
    connection.stream.write(header);
    connection.stream.write(bytes);
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

/**
 * Rows in COPY's text format made straight into bytes. Built as one long string instead, the
 * text of a chunk of 2,000 areas (≈ 7 MB) had to be flattened, held as UTF-16 as soon as one
 * name was not Latin-1, and encoded again: measured on a bulk import of 85,000 areas, that and
 * the garbage it left cost the service's thread seconds.
 */
export class CopyRows {
  private buffer: Buffer;
  private length = 0;

  constructor(private readonly initialBytes = 1 << 22) {
    this.buffer = Buffer.allocUnsafe(initialBytes);
  }

  private room(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + bytes));
    this.buffer.copy(bigger, 0, 0, this.length);
    this.buffer = bigger;
  }

  /** Text known to be ASCII and to need no escaping (ids, numbers, hex, separators). */
  plain(text: string): this {
    this.room(text.length);
    this.length += this.buffer.write(text, this.length, 'latin1');
    return this;
  }

  /** Any value, as copyText writes it. */
  value(value: string | number | null | undefined): this {
    return this.escaped(copyText(value));
  }

  /** Text already in COPY's format (copyText, copyTextArray). */
  escaped(text: string): this {
    // At most 3 bytes of UTF-8 per UTF-16 unit.
    this.room(text.length * 3);
    this.length += this.buffer.write(text, this.length, 'utf8');
    return this;
  }

  /** The rows so far; the next ones go into a new buffer. */
  take(): Buffer {
    const rows = this.buffer.subarray(0, this.length);
    this.buffer = Buffer.allocUnsafe(Math.max(this.initialBytes, this.length));
    this.length = 0;
    return rows;
  }
}
