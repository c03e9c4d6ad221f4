import { expect } from 'chai';
import { checkGeometry, type CheckGeometryOptions, type GeometryIssue } from './checkGeometry';
import { CrsError } from './crs';

// Synthetic shapes in plausible places; not real minefields.
const AREAS: CheckGeometryOptions = { srid: 4326, allowedTypes: ['Polygon', 'MultiPolygon'] };
const AREAS_UTM38: CheckGeometryOptions = { srid: 32638, allowedTypes: ['Polygon', 'MultiPolygon'] };

// About 85 m × 110 m near 47.0 E, 40.0 N.
const SQUARE_4326 = [[47.0, 40.0], [47.001, 40.0], [47.001, 40.001], [47.0, 40.001], [47.0, 40.0]];
// 200 m square in UTM 38N, near 46.5 E, 40.0 N.
const SQUARE_32638 = [[628_000, 4_428_000], [628_200, 4_428_000], [628_200, 4_428_200], [628_000, 4_428_200], [628_000, 4_428_000]];

function polygon(...rings: unknown[]): unknown {
  return { type: 'Polygon', coordinates: rings };
}

function reasons(issues: GeometryIssue[]): string[] {
  return issues.map((issue) => issue.reason);
}

function swapAxes(ring: number[][]): number[][] {
  return ring.map(([x, y]) => [y, x]);
}

describe('geo/checkGeometry', () => {
  describe('sound geometry', () => {
    it('finds nothing wrong with a small WGS 84 polygon', () => {
      expect(checkGeometry(polygon(SQUARE_4326), AREAS)).to.deep.equal([]);
    });

    it('finds nothing wrong with a small UTM 38N polygon', () => {
      expect(checkGeometry(polygon(SQUARE_32638), AREAS_UTM38)).to.deep.equal([]);
    });

    it('accepts holes, multipolygons, heights and a bbox', () => {
      const hole = [[47.0002, 40.0002], [47.0002, 40.0004], [47.0004, 40.0004], [47.0002, 40.0002]];
      expect(checkGeometry(polygon(SQUARE_4326, hole), AREAS)).to.deep.equal([]);
      const shifted = SQUARE_4326.map(([x, y]) => [x + 0.01, y, 812.5]);
      expect(checkGeometry({ type: 'MultiPolygon', coordinates: [[SQUARE_4326], [shifted]] }, AREAS)).to.deep.equal([]);
      expect(checkGeometry({ type: 'Polygon', bbox: [47, 40, 47.001, 40.001], coordinates: [SQUARE_4326] }, AREAS)).to.deep.equal([]);
    });

    it('accepts a Gauss-Krüger zone 8 polygon with the zone prefix', () => {
      const ring = SQUARE_32638.map(([x, y]) => [x + 8_000_000, y]);
      expect(checkGeometry(polygon(ring), { srid: 28408, allowedTypes: ['Polygon'] })).to.deep.equal([]);
    });

    it('accepts points and lines where they are allowed', () => {
      const testimony: CheckGeometryOptions = { srid: 4326, allowedTypes: ['Point', 'LineString', 'Polygon'] };
      expect(checkGeometry({ type: 'Point', coordinates: [46.9, 39.8] }, testimony)).to.deep.equal([]);
      expect(checkGeometry({ type: 'LineString', coordinates: [[46.9, 39.8], [46.91, 39.81]] }, testimony)).to.deep.equal([]);
    });

    it('leaves the input untouched', () => {
      const input = { type: 'Polygon', coordinates: [[[40.0, 47.0], [47.001, 40.0], [47.001, 40.001], [47.0, 40.001]]] };
      const before = structuredClone(input);
      const issues = checkGeometry(input, AREAS);
      expect(issues).to.not.be.empty;
      expect(input).to.deep.equal(before);
    });
  });

  describe('GeoJSON structure', () => {
    it('reports a missing geometry', () => {
      expect(checkGeometry(null, AREAS)).to.deep.equal([
        { pointer: '', reason: 'geometry is missing; expected Polygon or MultiPolygon' },
      ]);
    });

    it('reports a missing or misspelt type', () => {
      expect(reasons(checkGeometry({ coordinates: [SQUARE_4326] }, AREAS))).to.deep.equal([
        'geometry has no "type" member; expected Polygon or MultiPolygon',
      ]);
      const [issue] = checkGeometry({ type: 'polygon', coordinates: [SQUARE_4326] }, AREAS);
      expect(issue.pointer).to.equal('/type');
      expect(issue.reason).to.match(/"polygon" is not a GeoJSON geometry type \(type names are case-sensitive: Polygon\)/);
    });

    it('reports coordinates that are not arrays', () => {
      expect(checkGeometry({ type: 'Polygon', coordinates: '47 40, 47.001 40' }, AREAS)).to.deep.equal([
        { pointer: '/coordinates', reason: '"coordinates" must be an array, got "47 40, 47.001 40"' },
      ]);
      expect(checkGeometry({ type: 'Polygon' }, AREAS)).to.deep.equal([
        { pointer: '', reason: 'geometry has no "coordinates" member' },
      ]);
      expect(checkGeometry({ type: 'MultiPolygon', coordinates: [SQUARE_4326] }, AREAS)).to.deep.equal([
        { pointer: '/coordinates/0', reason: 'polygon must be an array of rings, but holds positions such as [47, 40]: a level of brackets is missing' },
      ]);
      expect(checkGeometry({ type: 'Polygon', coordinates: SQUARE_4326 }, AREAS)[0].pointer).to.equal('/coordinates');
      const ring = SQUARE_4326.map((position) => [...position]) as unknown[];
      ring[2] = null;
      expect(checkGeometry(polygon(ring), AREAS)).to.deep.equal([
        { pointer: '/coordinates/0/2', reason: 'position must be an array of numbers [x, y], got null' },
      ]);
    });

    it('reports positions that are not numbers, pointing at the value', () => {
      const ring = SQUARE_4326.map((position) => [...position]) as unknown[][];
      ring[2] = ['47.001', 40.001];
      expect(checkGeometry(polygon(ring), AREAS)).to.deep.equal([
        { pointer: '/coordinates/0/2/0', reason: 'longitude is not a number: "47.001"' },
      ]);
      ring[2] = [47.001, Number.NaN];
      expect(reasons(checkGeometry(polygon(ring), AREAS))).to.deep.equal(['latitude is not a finite number: NaN']);
    });

    it('reports positions with the wrong number of values', () => {
      const ring = SQUARE_4326.map((position) => [...position]);
      ring[1] = [47.001];
      ring[3] = [47.0, 40.001, 800, 1];
      const issues = checkGeometry(polygon(ring), AREAS);
      expect(issues[0]).to.deep.equal({
        pointer: '/coordinates/0/1',
        reason: 'position has 1 value; expected 2 (x, y) or 3 (x, y, height) (also at 1 more position in this ring)',
      });
    });

    it('leaves what geojson-validation alone catches to it', () => {
      const issues = checkGeometry({ type: 'Polygon', bbox: [47, 40, 47.001], coordinates: [SQUARE_4326] }, AREAS);
      expect(issues).to.have.length(1);
      expect(issues[0].pointer).to.equal('/bbox');
      expect(issues[0].reason).to.match(/^not valid GeoJSON: bbox/);
    });

    it('does not trip on an empty ring or polygon', () => {
      expect(reasons(checkGeometry(polygon([]), AREAS))).to.deep.equal(['ring has no positions']);
      expect(reasons(checkGeometry(polygon(), AREAS))).to.deep.equal(['polygon has no rings']);
      expect(reasons(checkGeometry({ type: 'MultiPolygon', coordinates: [] }, AREAS))).to.deep.equal(['multipolygon has no polygons']);
    });
  });

  describe('geometry type', () => {
    it('refuses a type the record kind does not take', () => {
      const line = { type: 'LineString', coordinates: [[47.0, 40.0], [47.001, 40.0]] };
      expect(checkGeometry(line, AREAS)).to.deep.equal([
        { pointer: '/type', reason: 'geometry type LineString is not accepted here; expected Polygon or MultiPolygon' },
      ]);
    });

    it('names the mistake of sending a whole Feature', () => {
      const feature = { type: 'Feature', properties: {}, geometry: polygon(SQUARE_4326) };
      expect(reasons(checkGeometry(feature, AREAS))[0]).to.match(/got a Feature where a geometry belongs/);
    });
  });

  describe('rings', () => {
    it('reports an unclosed ring, pointing at its last position', () => {
      const open = SQUARE_4326.slice(0, 4);
      expect(checkGeometry(polygon(open), AREAS)).to.deep.equal([
        {
          pointer: '/coordinates/0/3',
          reason: 'ring is not closed: first position [47, 40] differs from last [47, 40.001]; repeat the first position at the end',
          location: [47.0, 40.001],
        },
      ]);
    });

    it('reports a ring with fewer than three distinct vertices', () => {
      const sliver = [[47.0, 40.0], [47.001, 40.0], [47.0, 40.0], [47.0, 40.0]];
      const issues = checkGeometry(polygon(sliver), AREAS);
      expect(issues).to.have.length(1);
      expect(issues[0].pointer).to.equal('/coordinates/0');
      expect(issues[0].reason).to.match(/^ring has fewer than three distinct vertices \(2\)/);
    });

    it('reports a three-position ring, however it is drawn', () => {
      // A triangle with no closing position, and a "ring" that is a line out and back.
      const triangle = SQUARE_4326.slice(0, 3);
      expect(reasons(checkGeometry(polygon(triangle), AREAS))).to.satisfy((found: string[]) =>
        found.some((reason) => reason.startsWith('ring is not closed')));
      const outAndBack = [[47.0, 40.0], [47.001, 40.0], [47.0, 40.0]];
      expect(reasons(checkGeometry(polygon(outAndBack), AREAS))[0]).to.match(/fewer than three distinct vertices/);
    });

    it('says which hole and which polygon of a multipolygon is at fault', () => {
      const badHole = [[47.0002, 40.0002], [47.0004, 40.0004], [47.0002, 40.0002], [47.0002, 40.0002]];
      const issues = checkGeometry({ type: 'MultiPolygon', coordinates: [[SQUARE_4326], [SQUARE_4326, badHole]] }, AREAS);
      expect(issues.map((issue) => issue.pointer)).to.deep.equal(['/coordinates/1/1']);
    });

    it('checks lines for at least two distinct positions', () => {
      const options: CheckGeometryOptions = { srid: 4326, allowedTypes: ['LineString'] };
      expect(reasons(checkGeometry({ type: 'LineString', coordinates: [[47, 40]] }, options)))
        .to.deep.equal(['line has 1 position; it needs at least two']);
      expect(reasons(checkGeometry({ type: 'LineString', coordinates: [[47, 40], [47, 40]] }, options)))
        .to.deep.equal(['line has fewer than two distinct positions']);
    });
  });

  describe('coordinate ranges', () => {
    it('reports a longitude outside -180..180', () => {
      const issues = checkGeometry({ type: 'Point', coordinates: [190, 40] }, { srid: 4326, allowedTypes: ['Point'] });
      expect(issues).to.deep.equal([
        { pointer: '/coordinates', reason: 'longitude 190 is outside -180..180', location: [190, 40] },
      ]);
    });

    it('reports an easting outside the UTM range', () => {
      const ring = SQUARE_32638.map(([x, y]) => [x, y]);
      ring[1] = [950_000, 4_428_000];
      const issues = checkGeometry(polygon(ring), AREAS_UTM38);
      expect(issues[0]).to.deep.include({ pointer: '/coordinates/0/1', location: [950_000, 4_428_000] });
      expect(issues[0].reason).to.match(/^easting 950000 is outside 100000\.\.900000/);
    });

    it('suggests the CRS the numbers look like', () => {
      const metresAsDegrees = checkGeometry(polygon(SQUARE_32638), AREAS);
      expect(metresAsDegrees).to.have.length(1);
      expect(metresAsDegrees[0].reason).to.match(
        /^longitude 628000 is outside -180\.\.180; latitude 4428000 is outside -90\.\.90 — these look like projected metres/,
      );
      expect(metresAsDegrees[0].reason).to.match(/\(also at 4 more positions in this ring\)$/);

      const degreesAsMetres = checkGeometry(polygon(SQUARE_4326), AREAS_UTM38);
      expect(degreesAsMetres[0].reason).to.match(/these look like degrees; declare EPSG:4326/);

      const noZonePrefix = checkGeometry(polygon(SQUARE_32638), { srid: 28408, allowedTypes: ['Polygon'] });
      expect(noZonePrefix[0].reason).to.match(/^easting 628000 is outside 8100000\.\.8900000 — Gauss-Krüger eastings start with the zone number/);

      const zone9InZone8 = SQUARE_32638.map(([x, y]) => [x + 9_000_000, y]);
      expect(checkGeometry(polygon(zone9InZone8), { srid: 28408, allowedTypes: ['Polygon'] })[0].reason)
        .to.match(/this easting is in zone 9; declare EPSG:28409/);
    });
  });

  describe('swapped axes and the service region', () => {
    it('reports latitude and longitude swapped, once per ring', () => {
      const issues = checkGeometry(polygon(swapAxes(SQUARE_4326)), AREAS);
      expect(issues).to.deep.equal([
        {
          pointer: '/coordinates/0/0',
          reason: 'latitude and longitude appear to be swapped (expected longitude first) (also at 4 more positions in this ring)',
          location: [40.0, 47.0],
        },
      ]);
    });

    it('reports a single swapped vertex without also reporting the gaps it causes', () => {
      const ring = SQUARE_4326.map((position) => [...position]);
      ring[2] = [40.001, 47.001];
      expect(checkGeometry(polygon(ring), AREAS)).to.deep.equal([
        {
          pointer: '/coordinates/0/2',
          reason: 'latitude and longitude appear to be swapped (expected longitude first)',
          location: [40.001, 47.001],
        },
      ]);
    });

    it('reports easting and northing swapped in UTM', () => {
      const issues = checkGeometry(polygon(swapAxes(SQUARE_32638)), AREAS_UTM38);
      expect(issues).to.have.length(1);
      expect(issues[0].pointer).to.equal('/coordinates/0/0');
      expect(issues[0].reason).to.match(/^easting and northing appear to be swapped/);
    });

    it('reports easting and northing swapped in Gauss-Krüger', () => {
      const ring = swapAxes(SQUARE_32638.map(([x, y]) => [x + 9_000_000, y]));
      const issues = checkGeometry(polygon(ring), { srid: 28409, allowedTypes: ['Polygon'] });
      expect(reasons(issues)[0]).to.match(/^easting and northing appear to be swapped/);
    });

    it('reports positions far outside the region that swapping does not explain', () => {
      const paris = SQUARE_4326.map(([x, y]) => [x - 44.65, y + 8.85]);
      const issues = checkGeometry(polygon(paris), AREAS);
      expect(reasons(issues)).to.deep.equal([
        'position is outside the service region (lon 38–52, lat 37–45) (also at 4 more positions in this ring)',
      ]);
    });

    it('applies the region to projected coordinates too', () => {
      const southOfRegion = SQUARE_32638.map(([x, y]) => [x, y - 1_000_000]);
      expect(reasons(checkGeometry(polygon(southOfRegion), AREAS_UTM38))[0]).to.match(/^position is outside the service region \(easting/);
    });
  });

  describe('vertices far apart', () => {
    it('reports consecutive WGS 84 vertices kilometres apart', () => {
      // Half a degree of longitude at 40° N is about 42.6 km.
      const strip = [[46.0, 40.0], [46.5, 40.0], [46.5, 40.01], [46.0, 40.01], [46.0, 40.0]];
      const issues = checkGeometry(polygon(strip), AREAS);
      expect(issues).to.deep.equal([
        { pointer: '/coordinates/0/1', reason: 'consecutive vertices 0 and 1 are 42.6 km apart (limit 25.0 km)', location: [46.5, 40.0] },
        { pointer: '/coordinates/0/3', reason: 'consecutive vertices 2 and 3 are 42.6 km apart (limit 25.0 km)', location: [46.0, 40.01] },
      ]);
    });

    it('measures projected vertices in grid metres', () => {
      const strip = [[600_000, 4_428_000], [630_000, 4_428_000], [630_000, 4_428_100], [600_000, 4_428_100], [600_000, 4_428_000]];
      expect(reasons(checkGeometry(polygon(strip), AREAS_UTM38))).to.deep.equal([
        'consecutive vertices 0 and 1 are 30.0 km apart (limit 25.0 km)',
        'consecutive vertices 2 and 3 are 30.0 km apart (limit 25.0 km)',
      ]);
    });

    it('honours a tighter limit', () => {
      const issues = checkGeometry(polygon(SQUARE_32638), { ...AREAS_UTM38, maxVertexGapM: 150 });
      expect(reasons(issues)).to.have.length(4);
      expect(issues[0].reason).to.equal('consecutive vertices 0 and 1 are 200 m apart (limit 150 m)');
    });
  });

  describe('options', () => {
    it('refuses an unsupported CRS', () => {
      expect(() => checkGeometry(polygon(SQUARE_4326), { srid: 3857, allowedTypes: ['Polygon'] })).to.throw(CrsError);
    });

    it('refuses a nonsensical gap limit', () => {
      expect(() => checkGeometry(polygon(SQUARE_4326), { ...AREAS, maxVertexGapM: 0 })).to.throw(RangeError);
    });
  });
});
