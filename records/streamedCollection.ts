// A large bulk import read as its body arrives: the import starts on the first features while
// the rest is still being uploaded, instead of waiting for the whole body (for 85,000 areas,
// about a second in which the database had nothing to do).
//
// - The bytes go into one buffer of the announced Content-Length as they come.
// - The collection's members before `features` are parsed as soon as they are complete. When
//   `type` is "FeatureCollection" by then, the features are handed out one chunk at a time as
//   each is complete (records/geometrySpans.ts cuts them; a cut that runs out of bytes is made
//   again when more have come); otherwise the body is read whole first.
// - What follows the features is read at the end. A member there that changes how the
//   features read (`crs`, `type`, a second `features`), or bytes that are not the expected
//   JSON, end the streamed import with RestartWithWholeBody: the caller rolls back and imports
//   the whole body the usual way, so a streamed body never reads differently from a whole one.
// - The import's transaction is open while the body arrives; a client that stops sending
//   fails the import (nothing is written).
import type { Request } from 'express';
import type { InputRules } from './featureInput';
import { declaredCrs } from './featureInput';
import type { FeatureInput } from './featureInput';
import type { FeatureSource } from './hazardousAreaImport';
import {
  CLOSE_BRACE, CLOSE_BRACKET, COLON, COMMA, GiveUp, OPEN_BRACE, OPEN_BRACKET, QUOTE,
  importInputOf, parseFeatureText, scanFeature, skipString, skipValue, skipWhitespace,
} from './geometrySpans';
import { FieldProblem, badRequest } from '../server/problem';

/** The streamed reading cannot go on the way it began: import the whole body as usual. */
export class RestartWithWholeBody extends Error {
  constructor(reason: string) {
    super(`the body is imported whole: ${reason}`);
  }
}

/** Members after the features that would change how they read. */
const DECISIVE_MEMBERS = new Set(['crs', 'type', 'features']);

/** The request's bytes as they arrive, in one buffer of the announced length. */
class ArrivingBytes {
  readonly bytes: Buffer;
  received = 0;
  private complete = false;
  private failure: Error | undefined;
  private wake: (() => void)[] = [];

  constructor(req: Request, length: number) {
    this.bytes = Buffer.allocUnsafe(length);
    req.on('data', (chunk: Buffer) => {
      if (this.received + chunk.length > length) return this.fail(badRequest('the body is longer than its Content-Length'));
      chunk.copy(this.bytes, this.received);
      this.received += chunk.length;
      this.notify();
    });
    req.on('end', () => {
      if (this.received !== length) return this.fail(badRequest(`the body ended after ${this.received} of ${length} bytes`));
      this.complete = true;
      this.notify();
    });
    req.on('error', (error) => this.fail(error));
    req.on('close', () => { if (!this.complete) this.fail(new Error('the client stopped sending the body')); });
  }

  get done(): boolean {
    return this.complete;
  }

  /** The bytes received so far. */
  view(): Uint8Array {
    return this.bytes.subarray(0, this.received);
  }

  /** Resolves when more bytes (or the end) have come; rejects if the body cannot be read. */
  more(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.complete) return Promise.resolve();
    return new Promise((resolve, reject) => this.wake.push(() => (this.failure ? reject(this.failure) : resolve())));
  }

  /** The whole body, once it has come. */
  async whole(): Promise<Buffer> {
    while (!this.complete) await this.more();
    return this.bytes;
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = [];
    for (const resume of wake) resume();
  }
}

/**
 * Runs `scan` on the bytes received so far, again after each arrival while it runs out of
 * them; undefined once the whole body has come and it still gives up (not the shape expected).
 */
async function scanArriving<T>(body: ArrivingBytes, scan: (text: Uint8Array) => T): Promise<T | undefined> {
  for (;;) {
    try {
      return scan(body.view());
    } catch (error) {
      if (!(error instanceof GiveUp || error instanceof SyntaxError)) throw error;
      if (body.done) return undefined;
      await body.more();
    }
  }
}

/** The member whose name starts at `from`: its name (parsed) and where its value starts. */
function memberAt(bytes: Uint8Array, from: number): { key: string; valueStart: number } {
  if (bytes[from] !== QUOTE) throw new SyntaxError('a member name is expected');
  const keyEnd = skipString(bytes, from);
  const colon = skipWhitespace(bytes, keyEnd);
  if (bytes[colon] !== COLON) throw new SyntaxError('":" is expected');
  const key = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + from, keyEnd - from).toString('utf8')) as string;
  return { key, valueStart: skipWhitespace(bytes, colon + 1) };
}

export class StreamedCollection implements FeatureSource {
  total: number | undefined;
  /** The collection's members before `features`, parsed. */
  readonly members: Record<string, unknown> = {};
  private readonly body: ArrivingBytes;
  /** Where the next feature (or the end of the features) starts. */
  private at = 0;
  private count = 0;
  private srid = 4326;
  private rules: InputRules | undefined;

  constructor(req: Request, length: number) {
    this.body = new ArrivingBytes(req, length);
  }

  /** The whole body, once it has come (to import it the usual way). */
  whole(): Promise<Buffer> {
    return this.body.whole();
  }

  /**
   * Reads the members before the features: true when the features can be read as they come
   * (a FeatureCollection says so before them), false when the body should be read whole.
   */
  async begin(): Promise<boolean> {
    const text = (bytes: Uint8Array, start: number, end: number) => Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('utf8');
    const opening = await scanArriving(this.body, (bytes) => {
      const start = skipWhitespace(bytes, bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0);
      if (bytes[start] !== OPEN_BRACE) throw new SyntaxError('not an object');
      return skipWhitespace(bytes, start + 1);
    });
    if (opening === undefined) return false;
    let i = opening;
    type Member = { key: string; value?: unknown; next: number; closed?: true };
    for (;;) {
      const from = i;
      const member: Member | undefined = await scanArriving(this.body, (bytes): Member => {
        const { key, valueStart: j } = memberAt(bytes, from);
        if (key === 'features' && bytes[j] === OPEN_BRACKET) return { key, next: j + 1 };
        const valueEnd = skipValue(bytes, j);
        const value: unknown = JSON.parse(text(bytes, j, valueEnd));
        const k = skipWhitespace(bytes, valueEnd);
        if (bytes[k] === CLOSE_BRACE) return { key, value, next: k, closed: true };
        if (bytes[k] !== COMMA) throw new SyntaxError('"," or "}" is expected');
        return { key, value, next: skipWhitespace(bytes, k + 1) };
      });
      if (!member) return false;
      if (member.key === 'features') {
        this.at = member.next;
        return this.members.type === 'FeatureCollection';
      }
      // A member repeated before the features: the last one counts, as in JSON.parse.
      this.members[member.key] = member.value;
      // An object without features is no collection to stream.
      if (member.closed) return false;
      i = member.next;
    }
  }

  /** How the features are read: the collection's CRS (given the Content-Crs header) and the kind's rules. */
  readWith(contentCrs: string | undefined, rules: InputRules): this {
    this.srid = declaredCrs(contentCrs, this.members.crs, '/crs');
    this.rules = rules;
    return this;
  }

  async read(n: number, problems: FieldProblem[]): Promise<FeatureInput[] | undefined> {
    if (this.total !== undefined) return undefined;
    const inputs: FeatureInput[] = [];
    while (inputs.length < n) {
      const from = this.at;
      const next = await scanArriving(this.body, (bytes) => {
        const start = skipWhitespace(bytes, from);
        if (bytes[start] === CLOSE_BRACKET) return { end: true as const, after: start + 1 };
        const { end, geometry } = scanFeature(bytes, start);
        // The separator must have come too: it tells the element is complete.
        const separator = skipWhitespace(bytes, end);
        if (bytes[separator] !== COMMA && bytes[separator] !== CLOSE_BRACKET) throw new SyntaxError('"," or "]" is expected');
        return { end: false as const, start, stop: end, geometry, after: bytes[separator] === COMMA ? separator + 1 : separator };
      });
      if (!next) throw new RestartWithWholeBody('a feature could not be cut out');
      if (next.end) {
        await this.finish(next.after);
        break;
      }
      this.at = next.after;
      const bytes = this.body.bytes;
      const feature = parseFeatureText(bytes.toString('utf8', next.start, next.stop), this.count);
      const geometryText = next.geometry ? bytes.toString('utf8', next.geometry[0], next.geometry[1]) : undefined;
      const input = importInputOf(feature, geometryText, this.count, this.srid, this.rules!, problems);
      this.count++;
      if (input) inputs.push(input);
    }
    return inputs.length > 0 || this.total === undefined ? inputs : undefined;
  }

  /** After the features: the rest of the body must be members that change nothing, then the end. */
  private async finish(after: number): Promise<void> {
    const bytes = await this.body.whole();
    try {
      let i = skipWhitespace(bytes, after);
      while (bytes[i] === COMMA) {
        const { key, valueStart: j } = memberAt(bytes, skipWhitespace(bytes, i + 1));
        if (DECISIVE_MEMBERS.has(key)) throw new RestartWithWholeBody(`"${key}" follows the features`);
        const valueEnd = skipValue(bytes, j);
        JSON.parse(bytes.toString('utf8', j, valueEnd));
        i = skipWhitespace(bytes, valueEnd);
      }
      if (bytes[i] !== CLOSE_BRACE) throw new GiveUp();
      for (let k = i + 1; k < bytes.length; k++) {
        const c = bytes[k];
        if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) throw new GiveUp();
      }
    } catch (error) {
      if (error instanceof GiveUp || error instanceof SyntaxError) throw new RestartWithWholeBody('the body is not the JSON expected after the features');
      throw error;
    }
    if (this.count === 0) throw badRequest('the FeatureCollection is empty', [{ field: '/features', reason: 'must hold at least one feature' }]);
    this.total = this.count;
  }
}
