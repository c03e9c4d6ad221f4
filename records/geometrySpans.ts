// A FeatureCollection request body as bytes: where each feature and its geometry are, so a bulk
// import can read the features one chunk at a time (splitFeatureCollection, featureSourceOf)
// and pass each geometry on exactly as it was sent, instead of serialising the parsed object
// again (turning every coordinate back into decimal text is most of the work of
// JSON.stringify, and a bulk import does it for millions of numbers).
//
// The walk only finds byte offsets, with JSON.parse's rules for repeated keys (the last one
// counts); validity is JSON.parse's: every member name and value outside the features is
// parsed with it, and each feature when it is read. Anything unexpected gives up (undefined):
// the caller parses the whole body instead.

import { FeatureInput, InputRules, declaredCrs, readFeature } from './featureInput';
import { multiPolygonEwkb } from '../geo/ewkb';
import { FieldProblem, badRequest } from '../server/problem';
import type { FeatureSource } from './hazardousAreaImport';

export const QUOTE = 0x22, BACKSLASH = 0x5c, OPEN_BRACE = 0x7b, CLOSE_BRACE = 0x7d, OPEN_BRACKET = 0x5b, CLOSE_BRACKET = 0x5d;
export const COLON = 0x3a, COMMA = 0x2c;

/** The bytes do not have the expected shape (or end before it is complete). */
export class GiveUp extends Error {}

export function skipWhitespace(text: Uint8Array, i: number): number {
  while (i < text.length) {
    const c = text[i];
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
    i++;
  }
  throw new GiveUp();
}

/** End (exclusive) of the string starting at the quote at i. */
export function skipString(text: Uint8Array, i: number): number {
  i++;
  while (i < text.length) {
    const c = text[i];
    if (c === QUOTE) return i + 1;
    i += c === BACKSLASH ? 2 : 1;
  }
  throw new GiveUp();
}

/** End (exclusive) of the value starting at i. */
export function skipValue(text: Uint8Array, i: number): number {
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

export function keyIs(text: Uint8Array, start: number, end: number, key: string): boolean {
  // start/end include the quotes
  let escaped = false;
  for (let k = start + 1; k < end - 1; k++) if (text[k] === BACKSLASH) { escaped = true; break; }
  if (escaped) return JSON.parse(Buffer.from(text.buffer, text.byteOffset + start, end - start).toString('utf8')) === key;
  if (end - start - 2 !== key.length) return false;
  for (let k = 0; k < key.length; k++) if (text[start + 1 + k] !== key.charCodeAt(k)) return false;
  return true;
}

/** Calls member(keyStart, keyEnd, valueStart) for each member of the object at i; returns its end. */
export function eachMember(text: Uint8Array, i: number, member: (keyStart: number, keyEnd: number, valueStart: number) => number): number {
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

/** The end of the features element at i and, where it is an object with one, its geometry value's [start, end). */
export function scanFeature(body: Uint8Array, i: number): { end: number; geometry?: [number, number] } {
  let geometry: [number, number] | undefined;
  const end = body[i] === OPEN_BRACE
    ? eachMember(body, i, (k0, k1, v) => {
      const valueEnd = skipValue(body, v);
      if (keyIs(body, k0, k1, 'geometry')) geometry = [v, valueEnd];
      return valueEnd;
    })
    : skipValue(body, i);
  return { end, geometry };
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
        const { end, geometry } = scanFeature(body, i);
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

/** A FeatureCollection body cut at its features, each still JSON text (records/geometrySpans.ts). */
export interface SplitFeatureCollection {
  /** The collection's other members (type, crs, …), parsed. */
  members: Record<string, unknown>;
  /** [start, end) of each element of `features`. */
  features: [number, number][];
  /** [start, end) of each element's geometry value, where it is an object with one. */
  geometries: ([number, number] | undefined)[];
}

/**
 * Cuts a UTF-8 FeatureCollection body at its features without parsing them: undefined when the
 * body is not an object whose last `features` member is an array, or is not valid JSON around
 * the features (every member name and every other value is checked with JSON.parse, so a body
 * JSON.parse rejects is never accepted here; the features are checked when each is parsed).
 */
export function splitFeatureCollection(body: Uint8Array): SplitFeatureCollection | undefined {
  try {
    const entries: [string, unknown][] = [];
    let features: [number, number][] | undefined;
    let geometries: ([number, number] | undefined)[] = [];
    const text = (start: number, end: number) => Buffer.from(body.buffer, body.byteOffset + start, end - start).toString('utf8');
    const start = skipWhitespace(body, body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? 3 : 0);
    const end = eachMember(body, start, (keyStart, keyEnd, valueStart) => {
      const key = JSON.parse(text(keyStart, keyEnd)) as string;
      if (key !== 'features' || body[valueStart] !== OPEN_BRACKET) {
        const valueEnd = skipValue(body, valueStart);
        entries.push([key, JSON.parse(text(valueStart, valueEnd))]);
        if (key === 'features') features = undefined;
        return valueEnd;
      }
      features = [];
      geometries = [];
      let i = skipWhitespace(body, valueStart + 1);
      if (body[i] === CLOSE_BRACKET) return i + 1;
      for (;;) {
        const { end: elementEnd, geometry } = scanFeature(body, i);
        features.push([i, elementEnd]);
        geometries.push(geometry);
        i = skipWhitespace(body, elementEnd);
        if (body[i] === CLOSE_BRACKET) return i + 1;
        if (body[i] !== COMMA) throw new GiveUp();
        i = skipWhitespace(body, i + 1);
      }
    });
    for (let i = end; i < body.length; i++) {
      const c = body[i];
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return undefined;
    }
    if (!features) return undefined;
    return { members: Object.fromEntries(entries.filter(([key]) => key !== 'features')), features, geometries };
  } catch (error) {
    if (error instanceof GiveUp || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

/**
 * Each feature of a split collection, parsed one at a time, as JSON.parse would have it, with
 * the geometry's text as sent. Parsing the whole body at once kept every coordinate of every
 * feature alive as a JS object until the import ended: on 85,000 areas the garbage collector
 * went through that graph again and again (seconds of a bulk import's time).
 */
export function* featuresOf(body: Buffer, split: SplitFeatureCollection): Generator<{ index: number; feature: unknown; geometryText?: string }> {
  for (let index = 0; index < split.features.length; index++) {
    const [start, end] = split.features[index];
    const geometry = split.geometries[index];
    yield {
      index,
      feature: parseFeatureText(body.toString('utf8', start, end), index),
      ...(geometry ? { geometryText: body.toString('utf8', geometry[0], geometry[1]) } : {}),
    };
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

/** A feature cut out of a collection, parsed; a 400 naming it when it is not JSON (the whole body is not). */
export function parseFeatureText(text: string, index: number): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const reason = `is not valid JSON: ${(error as Error).message}`;
    throw badRequest(`the body is not valid JSON: feature ${index} ${reason}`, [{ feature: index, field: `/features/${index}`, reason }]);
  }
}

/**
 * One feature of a bulk import, parsed and checked as readFeatures would (its problems go to
 * `problems`), keeping the geometry as the text it was sent as and as EWKB; the parsed
 * coordinates are dropped (made again, once, only if something asks for them).
 */
export function importInputOf(feature: unknown, geometryText: string | undefined, index: number, srid: number, rules: InputRules, problems: FieldProblem[]): FeatureInput | undefined {
  const input = readFeature(feature, index, srid, rules, problems);
  if (!input || geometryText === undefined || input.geometry === null) return input;
  // Written now, while the parsed coordinates are at hand: they are dropped here.
  return new ImportedFeature(input.index, input.properties, input.srid, geometryText, multiPolygonEwkb(input.geometry, input.srid) ?? null);
}

/**
 * A feature of a bulk import whose geometry is kept as the text it was sent as (and EWKB):
 * parsed again, once, only if something asks for it. A class, so that the many of an import
 * share one shape (an accessor defined on each object made each a slower dictionary of its own).
 */
class ImportedFeature implements FeatureInput {
  private parsed: FeatureInput['geometry'] | undefined;

  constructor(
    readonly index: number,
    readonly properties: Record<string, any>,
    readonly srid: number,
    readonly geometryText: string,
    public ewkb: Buffer | null,
  ) {}

  get geometry(): FeatureInput['geometry'] {
    return (this.parsed ??= JSON.parse(this.geometryText));
  }

  set geometry(value: FeatureInput['geometry']) {
    this.parsed = value;
  }
}

/**
 * The features of a split FeatureCollection for a bulk import, each parsed and checked as
 * readFeatures (records/featureInput.ts) would, but only when the import asks for the next
 * ones: checks of the collection itself (its CRS, not empty) are made here, at once. The
 * geometry an input keeps is its text as sent; the parsed object is made again (once) only if
 * something asks for it.
 */
export function featureSourceOf(body: Buffer, split: SplitFeatureCollection, contentCrs: string | undefined, rules: InputRules): FeatureSource {
  const srid = declaredCrs(contentCrs, split.members.crs, '/crs');
  if (split.features.length === 0) throw badRequest('the FeatureCollection is empty', [{ field: '/features', reason: 'must hold at least one feature' }]);
  const features = featuresOf(body, split);
  let left = split.features.length;
  return {
    total: split.features.length,
    read(n: number, problems: FieldProblem[]): FeatureInput[] | undefined {
      if (left === 0) return undefined;
      const inputs: FeatureInput[] = [];
      for (let k = Math.min(n, left); k > 0; k--, left--) {
        const { index, feature, geometryText } = features.next().value!;
        const input = importInputOf(feature, geometryText, index, srid, rules, problems);
        if (input) inputs.push(input);
      }
      return inputs;
    },
  };
}
