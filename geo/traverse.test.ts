import { area, distance, polygon as turfPolygon } from '@turf/turf';
import { expect } from 'chai';
import { TraverseError, traversePerimeter, type TraverseLeg } from './traverse';

// A synthetic landmark near 40.0 N 47.0 E; not a real minefield.
const LANDMARK: [number, number] = [47.0, 40.0];

const SQUARE_100M: TraverseLeg[] = [
  { bearing: 0, distance: 100 },
  { bearing: 90, distance: 100 },
  { bearing: 180, distance: 100 },
  { bearing: 270, distance: 100 },
];

function areaM2(perimeter: { coordinates: number[][][] }): number {
  return area(turfPolygon(perimeter.coordinates));
}

describe('geo/traverse', () => {
  it('walks a 100 m square into a closed 10 000 m² perimeter', () => {
    const { perimeter, turningPoints, misclosureM } = traversePerimeter(LANDMARK, SQUARE_100M, 0);
    expect(turningPoints).to.have.length(4);
    expect(turningPoints[0]).to.deep.equal(LANDMARK);
    expect(perimeter.type).to.equal('Polygon');
    expect(perimeter.coordinates).to.have.length(1);
    const ring = perimeter.coordinates[0];
    expect(ring).to.have.length(5);
    expect(ring[4]).to.deep.equal(ring[0]);
    expect(areaM2(perimeter)).to.be.closeTo(10_000, 10);
    expect(misclosureM).to.be.below(0.01);
    // TP2 is 100 m north of TP1.
    expect(distance(turningPoints[0], turningPoints[1], { units: 'meters' })).to.be.closeTo(100, 1e-6);
    expect(turningPoints[1][0]).to.be.closeTo(LANDMARK[0], 1e-9);
  });

  it('starts the perimeter where the approach legs end', () => {
    const approach: TraverseLeg[] = [{ bearing: 45, distance: 300 }, { bearing: 90, distance: 200 }];
    const direct = traversePerimeter(LANDMARK, SQUARE_100M, 0);
    const approached = traversePerimeter(LANDMARK, [...approach, ...SQUARE_100M], approach.length);

    const shift = distance(LANDMARK, approached.turningPoints[0], { units: 'meters' });
    // 300 m north-east then 200 m east: about 463 m from the landmark.
    expect(shift).to.be.closeTo(Math.hypot(300 * Math.SQRT1_2 + 200, 300 * Math.SQRT1_2), 0.5);
    expect(approached.turningPoints).to.have.length(4);
    expect(areaM2(approached.perimeter)).to.be.closeTo(areaM2(direct.perimeter), 1);
    expect(approached.misclosureM).to.be.below(0.01);
    for (const point of approached.turningPoints) {
      expect(point[0]).to.be.greaterThan(LANDMARK[0]);
      expect(point[1]).to.be.greaterThan(LANDMARK[1]);
    }
  });

  it('reports the closing error of a traverse that does not return', () => {
    const short = SQUARE_100M.map((leg) => ({ ...leg }));
    short[3].distance = 90;
    const { perimeter, misclosureM } = traversePerimeter(LANDMARK, short, 0);
    expect(misclosureM).to.be.closeTo(10, 0.01);
    // The shape stays on the turning points; the gap is reported, not drawn.
    expect(areaM2(perimeter)).to.be.closeTo(10_000, 10);
  });

  it('walks a triangle, the smallest perimeter', () => {
    const legs: TraverseLeg[] = [
      { bearing: 90, distance: 100 },
      { bearing: 210, distance: 100 },
      { bearing: 330, distance: 100 },
    ];
    const { turningPoints, misclosureM, perimeter } = traversePerimeter(LANDMARK, legs, 0);
    expect(turningPoints).to.have.length(3);
    expect(misclosureM).to.be.below(0.01);
    expect(areaM2(perimeter)).to.be.closeTo((Math.sqrt(3) / 4) * 100 * 100, 5);
  });

  it('does not alter its inputs', () => {
    const legs = SQUARE_100M.map((leg) => ({ ...leg }));
    const start: [number, number] = [...LANDMARK];
    const result = traversePerimeter(start, legs, 0);
    result.turningPoints[0][0] = 0;
    expect(start).to.deep.equal(LANDMARK);
    expect(legs).to.deep.equal(SQUARE_100M);
    expect(result.perimeter.coordinates[0][0][0]).to.equal(LANDMARK[0]);
  });

  describe('refuses', () => {
    it('fewer than three perimeter turning points', () => {
      expect(() => traversePerimeter(LANDMARK, SQUARE_100M.slice(0, 2), 0))
        .to.throw(TraverseError, /leaving 2 for the perimeter; a perimeter needs at least 3 turning points/);
      expect(() => traversePerimeter(LANDMARK, SQUARE_100M, 2)).to.throw(TraverseError, /leaving 2 for the perimeter/);
      expect(() => traversePerimeter(LANDMARK, [], 0)).to.throw(TraverseError);
    });

    it('approach legs out of range', () => {
      expect(() => traversePerimeter(LANDMARK, SQUARE_100M, 5)).to.throw(TraverseError, /leaving 0 for the perimeter/);
      expect(() => traversePerimeter(LANDMARK, SQUARE_100M, -1)).to.throw(TraverseError, /approachLegs must be a whole number/);
      expect(() => traversePerimeter(LANDMARK, SQUARE_100M, 0.5)).to.throw(TraverseError, /approachLegs must be a whole number/);
    });

    it('bearings outside 0 to 360', () => {
      for (const bearing of [360, -0.5, Number.NaN, 400]) {
        const legs = SQUARE_100M.map((leg) => ({ ...leg }));
        legs[2].bearing = bearing;
        expect(() => traversePerimeter(LANDMARK, legs, 0), String(bearing))
          .to.throw(TraverseError, new RegExp(`^leg 3: bearing ${bearing} must be degrees clockwise from true north`));
      }
    });

    it('distances that are not positive metres', () => {
      for (const length of [0, -100, Number.POSITIVE_INFINITY]) {
        const legs = SQUARE_100M.map((leg) => ({ ...leg }));
        legs[1].distance = length;
        expect(() => traversePerimeter(LANDMARK, legs, 0), String(length))
          .to.throw(TraverseError, /^leg 2: distance .* must be a number of metres greater than 0/);
      }
      const legs = SQUARE_100M.map((leg) => ({ ...leg })) as unknown as TraverseLeg[];
      (legs[0] as unknown as { distance: string }).distance = '100';
      expect(() => traversePerimeter(LANDMARK, legs, 0)).to.throw(TraverseError, /^leg 1: distance "100"/);
    });

    it('a reference point that is not longitude, latitude', () => {
      expect(() => traversePerimeter([628_000, 4_428_000], SQUARE_100M, 0))
        .to.throw(TraverseError, /reference point must be \[longitude, latitude\] in WGS 84/);
    });
  });
});
