import { expect } from 'chai';
import type { Geometry } from 'geojson';
import { getHarness } from '../test/harness';
import { multiPolygonEwkb } from './ewkb';

describe('geo/ewkb', () => {
  const square = (x: number, y: number, d: number) => [[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]];
  const cases: [string, Geometry, number][] = [
    ['a polygon', { type: 'Polygon', coordinates: [square(45.123456789012345, 40.98765432109876, 0.01)] }, 4326],
    ['a polygon with a hole', { type: 'Polygon', coordinates: [square(46, 39, 0.1), square(46.02, 39.02, 0.01).reverse()] }, 4326],
    ['a multipolygon', { type: 'MultiPolygon', coordinates: [[square(44, 41, 0.001)], [square(44.5, 41.5, 0.002), square(44.5005, 41.5005, 0.0005)]] }, 4326],
    ['projected coordinates', { type: 'Polygon', coordinates: [square(412345.678, 4512345.125, 250)] }, 32638],
    ['the smallest and largest doubles', { type: 'Polygon', coordinates: [[[0, 0], [1e-300, 0], [1.7976931348623157e308, 5e-324], [0, 0]]] }, 4326],
  ];

  for (const [name, geometry, srid] of cases) {
    it(`writes ${name} exactly as PostGIS reads the GeoJSON, as a multipolygon`, async () => {
      const { db } = getHarness();
      const ewkb = multiPolygonEwkb(geometry, srid);
      expect(ewkb).to.be.instanceOf(Buffer);
      const result = await db.raw(
        `SELECT encode(ST_AsEWKB(ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON(?), ?)), 'NDR'), 'hex') AS postgis,
           encode(ST_AsEWKB(ST_GeomFromEWKB(?), 'NDR'), 'hex') AS bytes, encode(ST_AsEWKB(?::geometry, 'NDR'), 'hex') AS text`,
        [JSON.stringify(geometry), srid, ewkb!, ewkb!.toString('hex')],
      );
      expect(ewkb!.toString('hex')).to.equal(result.rows[0].postgis);
      expect(result.rows[0].bytes).to.equal(result.rows[0].postgis);
      expect(result.rows[0].text).to.equal(result.rows[0].postgis);
    });
  }

  it('leaves anything but plain 2D polygons to PostGIS (undefined)', () => {
    expect(multiPolygonEwkb({ type: 'Polygon', coordinates: [[[44, 41, 5], [44.1, 41, 5], [44.1, 41.1, 5], [44, 41, 5]]] }, 4326)).to.equal(undefined);
    expect(multiPolygonEwkb({ type: 'Point', coordinates: [44, 41] } as Geometry, 4326)).to.equal(undefined);
    expect(multiPolygonEwkb({ type: 'Polygon', coordinates: [[[44, 41], [44.1, 'x'], [44.1, 41.1], [44, 41]]] } as unknown as Geometry, 4326)).to.equal(undefined);
    expect(multiPolygonEwkb({ type: 'MultiPolygon', coordinates: null } as unknown as Geometry, 4326)).to.equal(undefined);
    expect(multiPolygonEwkb(null, 4326)).to.equal(undefined);
  });
});
