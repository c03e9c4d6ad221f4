// Where each feature's geometry is in the text of a FeatureCollection request body, so a bulk
// import can pass the geometry on exactly as it was sent, instead of serialising the parsed
// object again (turning every coordinate back into decimal text is most of the work of
// JSON.stringify, and a bulk import does it for millions of numbers).
//
// The body has already been parsed by JSON.parse, so it is valid JSON; this walk only finds
// the byte offsets of `features[i].geometry`, with JSON.parse's rules for repeated keys (the
// last one counts). Anything unexpected gives up (undefined): the caller serialises instead.

const QUOTE = 0x22, BACKSLASH = 0x5c, OPEN_BRACE = 0x7b, CLOSE_BRACE = 0x7d, OPEN_BRACKET = 0x5b, CLOSE_BRACKET = 0x5d;
const COLON = 0x3a, COMMA = 0x2c;

class GiveUp extends Error {}

function skipWhitespace(text: Uint8Array, i: number): number {
  while (i < text.length) {
    const c = text[i];
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
    i++;
  }
  throw new GiveUp();
}

/** End (exclusive) of the string starting at the quote at i. */
function skipString(text: Uint8Array, i: number): number {
  i++;
  while (i < text.length) {
    const c = text[i];
    if (c === QUOTE) return i + 1;
    i += c === BACKSLASH ? 2 : 1;
  }
  throw new GiveUp();
}

/** End (exclusive) of the value starting at i. */
function skipValue(text: Uint8Array, i: number): number {
  const c = text[i];
  if (c === QUOTE) return skipString(text, i);
  if (c === OPEN_BRACE || c === OPEN_BRACKET) {
    let depth = 0;
    while (i < text.length) {
      const d = text[i];
      if (d === QUOTE) { i = skipString(text, i); continue; }
      if (d === OPEN_BRACE || d === OPEN_BRACKET) depth++;
      else if (d === CLOSE_BRACE || d === CLOSE_BRACKET) {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    throw new GiveUp();
  }
  // number, true, false, null
  while (i < text.length) {
    const d = text[i];
    if (d === COMMA || d === CLOSE_BRACE || d === CLOSE_BRACKET || d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09) return i;
    i++;
  }
  return i;
}

function keyIs(text: Uint8Array, start: number, end: number, key: string): boolean {
  // start/end include the quotes
  let escaped = false;
  for (let k = start + 1; k < end - 1; k++) if (text[k] === BACKSLASH) { escaped = true; break; }
  if (escaped) return JSON.parse(Buffer.from(text.buffer, text.byteOffset + start, end - start).toString('utf8')) === key;
  if (end - start - 2 !== key.length) return false;
  for (let k = 0; k < key.length; k++) if (text[start + 1 + k] !== key.charCodeAt(k)) return false;
  return true;
}

/** Calls member(keyStart, keyEnd, valueStart) for each member of the object at i; returns its end. */
function eachMember(text: Uint8Array, i: number, member: (keyStart: number, keyEnd: number, valueStart: number) => number): number {
  if (text[i] !== OPEN_BRACE) throw new GiveUp();
  i = skipWhitespace(text, i + 1);
  if (text[i] === CLOSE_BRACE) return i + 1;
  for (;;) {
    if (text[i] !== QUOTE) throw new GiveUp();
    const keyEnd = skipString(text, i);
    let j = skipWhitespace(text, keyEnd);
    if (text[j] !== COLON) throw new GiveUp();
    j = skipWhitespace(text, j + 1);
    const valueEnd = member(i, keyEnd, j);
    i = skipWhitespace(text, valueEnd);
    if (text[i] === CLOSE_BRACE) return i + 1;
    if (text[i] !== COMMA) throw new GiveUp();
    i = skipWhitespace(text, i + 1);
  }
}

/**
 * For a FeatureCollection body (UTF-8), the [start, end) byte offsets of each feature's
 * geometry value, in feature order (undefined for a feature without one); undefined when
 * the body does not have that shape.
 */
export function geometrySpans(body: Uint8Array): ([number, number] | undefined)[] | undefined {
  try {
    let spans: ([number, number] | undefined)[] | undefined;
    const start = skipWhitespace(body, body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? 3 : 0);
    eachMember(body, start, (keyStart, keyEnd, valueStart) => {
      if (!keyIs(body, keyStart, keyEnd, 'features') || body[valueStart] !== OPEN_BRACKET) return skipValue(body, valueStart);
      const found: ([number, number] | undefined)[] = [];
      let i = skipWhitespace(body, valueStart + 1);
      if (body[i] === CLOSE_BRACKET) { spans = found; return i + 1; }
      for (;;) {
        let geometry: [number, number] | undefined;
        const end = body[i] === OPEN_BRACE
          ? eachMember(body, i, (k0, k1, v) => {
            const valueEnd = skipValue(body, v);
            if (keyIs(body, k0, k1, 'geometry')) geometry = [v, valueEnd];
            return valueEnd;
          })
          : skipValue(body, i);
        found.push(geometry);
        i = skipWhitespace(body, end);
        if (body[i] === CLOSE_BRACKET) { spans = found; return i + 1; }
        if (body[i] !== COMMA) throw new GiveUp();
        i = skipWhitespace(body, i + 1);
      }
    });
    return spans;
  } catch (error) {
    if (error instanceof GiveUp) return undefined;
    throw error;
  }
}

/**
 * Gives each input of a bulk import the text of its geometry as sent (`geometryText`), when the
 * body was UTF-8 and has the expected shape; otherwise leaves them to be serialised.
 */
export function attachGeometryText(inputs: { index: number; geometryText?: string }[], body: Buffer | undefined, featureCount: number): void {
  if (!body) return;
  const spans = geometrySpans(body);
  if (!spans || spans.length !== featureCount) return;
  for (const input of inputs) {
    const span = spans[input.index];
    if (span) input.geometryText = body.toString('utf8', span[0], span[1]);
  }
}
