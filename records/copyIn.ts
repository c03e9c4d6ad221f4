// COPY … FROM STDIN on a connection of the pool, fed from memory while the statement runs.
// A bulk import writes its rows this way: the database reads each value in its binary form
// instead of a JSON document per statement (measured with COPY's text format already: half the
// parsing work per row), and one COPY can stay open while the next rows are still being
// checked, so the two overlap.
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

/** One COPY FROM STDIN statement: write() its data (BinaryCopyRows), then end() or fail(). */
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

  /** Starts `COPY <table> (<columns>) FROM STDIN …` on the transaction's connection. */
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
  /** Sends data; resolves once the socket can take more, so memory stays bounded. */
  async write(bytes: Buffer): Promise<void> {
    if (this.done || this.error) throw this.error ?? new Error('COPY already finished');
    const connection = this.connection!;
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

/** The signature, flags and header extension that open COPY's binary format. */
const BINARY_HEADER = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)]);
/** A field count of -1: the end of the rows. */
const BINARY_TRAILER = Buffer.from([0xff, 0xff]);
const TEXT_OID = 25;
/** Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch for dates. */
const POSTGRES_EPOCH_DAYS = 10957;
const MS_PER_DAY = 86_400_000;

/**
 * Rows in COPY's binary format, made straight into bytes: each value in its type's binary form
 * (as the type's receive function reads it), so the database parses no text — no hex for the
 * geometries, no digits for the numbers and dates — and nothing needs escaping. Measured on a
 * bulk import of 85,000 areas: 0.35 s less of the database's CPU than the text format.
 */
export class BinaryCopyRows {
  private buffer: Buffer;
  private length = 0;
  private days = new Map<string, number>();

  constructor(private readonly initialBytes = 1 << 22) {
    this.buffer = Buffer.allocUnsafe(initialBytes);
    this.raw(BINARY_HEADER);
  }

  private room(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + bytes));
    this.buffer.copy(bigger, 0, 0, this.length);
    this.buffer = bigger;
  }

  private raw(bytes: Uint8Array): this {
    this.room(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
    return this;
  }

  private int32(value: number): void {
    this.buffer.writeInt32BE(value, this.length);
    this.length += 4;
  }

  /** Starts a row of `fields` values. */
  row(fields: number): this {
    this.room(2);
    this.buffer.writeInt16BE(fields, this.length);
    this.length += 2;
    return this;
  }

  null(): this {
    this.room(4);
    this.int32(-1);
    return this;
  }

  /** text, varchar and json (whose binary form is its text). */
  text(value: string): this {
    // At most 3 bytes of UTF-8 per UTF-16 unit.
    this.room(4 + value.length * 3);
    const bytes = this.buffer.write(value, this.length + 4, 'utf8');
    this.int32(bytes);
    this.length += bytes;
    return this;
  }

  /** jsonb: a version byte, then the JSON text. */
  jsonb(json: string): this {
    this.room(5 + json.length * 3);
    this.buffer[this.length + 4] = 1;
    const bytes = this.buffer.write(json, this.length + 5, 'utf8');
    this.int32(bytes + 1);
    this.length += bytes + 1;
    return this;
  }

  int4(value: number | null | undefined): this {
    if (value === null || value === undefined) return this.null();
    this.room(8);
    this.int32(4);
    this.int32(value);
    return this;
  }

  float8(value: number): this {
    this.room(12);
    this.int32(8);
    this.buffer.writeDoubleBE(value, this.length);
    this.length += 8;
    return this;
  }

  /** A date given as YYYY-MM-DD: days since 2000-01-01. A date that does not exist is an error, never moved to one that does. */
  date(iso: string): this {
    let days = this.days.get(iso);
    if (days === undefined) {
      const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso);
      const ms = match ? Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) : NaN;
      if (!match || new Date(ms).toISOString().slice(0, 10) !== iso) throw new RangeError(`not a date: ${iso}`);
      days = ms / MS_PER_DAY - POSTGRES_EPOCH_DAYS;
      // Rows share few dates (an import's information dates): each is worked out once.
      this.days.set(iso, days);
    }
    return this.int4(days);
  }

  /** A uuid given in its canonical text form. */
  uuid(value: string): this {
    this.room(20);
    this.int32(16);
    const b = this.buffer;
    let at = this.length;
    at += b.write(value.slice(0, 8), at, 'hex');
    at += b.write(value.slice(9, 13), at, 'hex');
    at += b.write(value.slice(14, 18), at, 'hex');
    at += b.write(value.slice(19, 23), at, 'hex');
    at += b.write(value.slice(24, 36), at, 'hex');
    if (at - this.length !== 16) throw new RangeError(`not a uuid: ${value}`);
    this.length = at;
    return this;
  }

  /** bytea, or a type whose binary form is given as it is (geometry: EWKB). */
  bytes(value: Uint8Array): this {
    this.room(4 + value.length);
    this.int32(value.length);
    return this.raw(value);
  }

  /** text[]: dimensions, no nulls, the element type, then each element. */
  textArray(values: readonly string[]): this {
    const start = this.length;
    this.room(24);
    this.length += 4; // the field's length, written last
    this.int32(values.length === 0 ? 0 : 1);
    this.int32(0);
    this.int32(TEXT_OID);
    if (values.length > 0) {
      this.int32(values.length);
      this.int32(1);
    }
    for (const value of values) this.text(value);
    this.buffer.writeInt32BE(this.length - start - 4, start);
    return this;
  }

  /** The rows so far; the next ones go into a new buffer. */
  take(): Buffer {
    const rows = this.buffer.subarray(0, this.length);
    this.buffer = Buffer.allocUnsafe(Math.max(this.initialBytes, this.length));
    this.length = 0;
    return rows;
  }

  /** The end of the rows, to be sent last. */
  static trailer(): Buffer {
    return BINARY_TRAILER;
  }
}
