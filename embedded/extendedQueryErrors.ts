// Makes PGlite answer an error in an extended-protocol query the way a PostgreSQL server does.
//
// pglite-socket hands PGlite one protocol message at a time. PGlite then ends an
// ErrorResponse with its own ReadyForQuery and runs the messages that follow, where a server
// answers the error alone and discards every message up to the next Sync, which alone answers
// ReadyForQuery. Measured with pg (Parse, Bind, Describe, Execute failing with "permission denied",
// Sync): PGlite sends `E Z` for the Execute and `Z` for the Sync. The client takes the first
// `Z` as the end of the query, so every later reply is one message off: "Received unexpected
// commandComplete message from backend", and the connection is lost — after any database error
// inside a transaction (a permission check, a constraint, a refused geometry).
//
// So: after an ErrorResponse to an extended-protocol message, its trailing ReadyForQuery is
// dropped and the following extended-protocol messages are discarded unanswered until Sync,
// which runs as usual. The state is per database, not per connection: the service's pool has
// one connection (EMBEDDED_POOL_SIZE), and a transaction holds the session for its connection.
import type { PGlite } from '@electric-sql/pglite';

/** Frontend messages of the extended query protocol that a server discards after an error. */
const EXTENDED = new Set(['P', 'B', 'D', 'E', 'C', 'H'].map((c) => c.charCodeAt(0)));
const SYNC = 'S'.charCodeAt(0);
const ERROR_RESPONSE = 'E'.charCodeAt(0);
const READY_FOR_QUERY = 'Z'.charCodeAt(0);

type RawStream = PGlite['execProtocolRawStream'];

/** The backend messages of a response, as [type, start, end) in `bytes`. */
function messagesOf(bytes: Uint8Array): { type: number; start: number; end: number }[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const messages = [];
  for (let at = 0; at + 5 <= bytes.length;) {
    const end = at + 1 + view.getInt32(at + 1);
    messages.push({ type: bytes[at], start: at, end });
    at = end;
  }
  return messages;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) { out.set(chunk, at); at += chunk.length; }
  return out;
}

export function answerExtendedQueryErrorsLikePostgres(db: PGlite): void {
  const run: RawStream = db.execProtocolRawStream.bind(db);
  let discardUntilSync = false;
  db.execProtocolRawStream = async (message, options) => {
    const type = message[0];
    if (type === SYNC) {
      discardUntilSync = false;
      return run(message, options);
    }
    if (!EXTENDED.has(type)) return run(message, options);
    if (discardUntilSync) return;
    const chunks: Uint8Array[] = [];
    await run(message, { ...options, onRawData: (data) => { chunks.push(data.slice()); } });
    if (chunks.length === 0) return;
    let response = concat(chunks);
    const messages = messagesOf(response);
    if (messages.some((m) => m.type === ERROR_RESPONSE)) {
      discardUntilSync = true;
      const last = messages.at(-1)!;
      if (last.type === READY_FOR_QUERY) response = response.subarray(0, last.start);
    }
    if (response.length) options?.onRawData?.(response);
  };
}
