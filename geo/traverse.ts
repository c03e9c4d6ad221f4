// Minefield perimeters recorded as a traverse (CCW Amended Protocol II, technical annex):
// from a landmark, a chain of bearings and distances leads to the first turning point, and
// the rest of the chain walks round the minefield back to it.
//
// Legs are walked geodesically from a WGS 84 start. Bearings are taken as true bearings; a
// record drawn with grid or magnetic bearings must be corrected before it gets here, since
// grid convergence and declination in the region reach several degrees.

import type { Polygon } from 'geojson';
import { destination, distance } from '@turf/turf';

export interface TraverseLeg {
  /** Degrees clockwise from true north, 0 ≤ bearing < 360. */
  bearing: number;
  /** Metres, > 0. */
  distance: number;
}

export interface TraversedPerimeter {
  perimeter: Polygon;
  /** TP1..TPn as walked; the perimeter ring is these closed back to TP1. */
  turningPoints: [number, number][];
  /**
   * Metres between where the last leg ends and TP1: the survey's closing error, 0 when the
   * record closes exactly.
   */
  misclosureM: number;
}

export class TraverseError extends Error {
  override readonly name = 'TraverseError';
}

const MIN_TURNING_POINTS = 3;

/**
 * Computes the perimeter of a minefield from its traverse.
 *
 * @param start the reference point (landmark), longitude and latitude in WGS 84
 * @param legs every leg in the order recorded
 * @param approachLegs how many of the first legs lead from the reference point to TP1
 */
export function traversePerimeter(
  start: [number, number],
  legs: TraverseLeg[],
  approachLegs: number,
): TraversedPerimeter {
  checkStart(start);
  if (!Array.isArray(legs)) throw new TraverseError('traverse legs must be an array of { bearing, distance }');
  legs.forEach(checkLeg);
  if (!Number.isInteger(approachLegs) || approachLegs < 0) {
    throw new TraverseError(`approachLegs must be a whole number of legs, 0 or more; got ${approachLegs}`);
  }
  // Each perimeter leg starts at a turning point; the last one returns to TP1.
  const perimeterLegs = legs.length - approachLegs;
  if (approachLegs > legs.length || perimeterLegs < MIN_TURNING_POINTS) {
    throw new TraverseError(
      `the traverse has ${legs.length} leg${legs.length === 1 ? '' : 's'} of which ${approachLegs} lead to ` +
        `the first turning point, leaving ${Math.max(perimeterLegs, 0)} for the perimeter; a perimeter needs at ` +
        `least ${MIN_TURNING_POINTS} turning points, so at least ${MIN_TURNING_POINTS} legs after the approach`,
    );
  }

  let here: [number, number] = [start[0], start[1]];
  for (let i = 0; i < approachLegs; i++) here = walk(here, legs[i]);

  const turningPoints: [number, number][] = [here];
  for (let i = approachLegs; i < legs.length - 1; i++) {
    here = walk(here, legs[i]);
    turningPoints.push(here);
  }
  const closingPoint = walk(here, legs[legs.length - 1]);
  const misclosureM = distance(closingPoint, turningPoints[0], { units: 'meters' });

  // The ring closes on TP1 itself rather than on where the last leg ended: the perimeter is
  // the turning points, and the gap is reported as misclosure instead of bending the shape.
  const ring = turningPoints.map(([lon, lat]) => [lon, lat]);
  ring.push([turningPoints[0][0], turningPoints[0][1]]);
  return { perimeter: { type: 'Polygon', coordinates: [ring] }, turningPoints, misclosureM };
}

function walk(from: [number, number], leg: TraverseLeg): [number, number] {
  const [lon, lat] = destination(from, leg.distance, leg.bearing, { units: 'meters' }).geometry.coordinates;
  return [normaliseLongitude(lon), lat];
}

// turf can return longitudes just past ±180 on the antimeridian side; keep them in range so
// the polygon is valid GeoJSON even for absurd inputs.
function normaliseLongitude(lon: number): number {
  return lon > 180 ? lon - 360 : lon < -180 ? lon + 360 : lon;
}

function checkStart(start: unknown): void {
  if (
    !Array.isArray(start) ||
    start.length < 2 ||
    !Number.isFinite(start[0]) ||
    !Number.isFinite(start[1]) ||
    Math.abs(start[0]) > 180 ||
    Math.abs(start[1]) > 90
  ) {
    throw new TraverseError(
      `the reference point must be [longitude, latitude] in WGS 84; got ${show(start)}`,
    );
  }
}

function checkLeg(leg: TraverseLeg, index: number): void {
  const label = `leg ${index + 1}`;
  if (leg === null || typeof leg !== 'object') {
    throw new TraverseError(`${label} must be { bearing, distance }; got ${show(leg)}`);
  }
  const { bearing, distance: length } = leg;
  if (typeof bearing !== 'number' || !Number.isFinite(bearing) || bearing < 0 || bearing >= 360) {
    throw new TraverseError(
      `${label}: bearing ${show(bearing)} must be degrees clockwise from true north, from 0 up to but not including 360`,
    );
  }
  if (typeof length !== 'number' || !Number.isFinite(length) || length <= 0) {
    throw new TraverseError(`${label}: distance ${show(length)} must be a number of metres greater than 0`);
  }
}

// JSON.stringify would print NaN and Infinity as null, hiding what was actually sent.
function show(value: unknown): string {
  return typeof value === 'number' ? String(value) : JSON.stringify(value) ?? String(value);
}
