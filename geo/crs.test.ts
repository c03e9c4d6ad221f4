import { expect } from 'chai';
import { CrsError, SERVICE_REGION, SUPPORTED_CRS, crsLabel, crsUri, isSupportedSrid, parseCrs } from './crs';

describe('geo/crs', () => {
  describe('parseCrs', () => {
    const spellings: [string, number][] = [
      ['EPSG:32638', 32638],
      ['epsg:32638', 32638],
      ['http://www.opengis.net/def/crs/EPSG/0/32638', 32638],
      ['<http://www.opengis.net/def/crs/EPSG/0/32638>', 32638],
      ['urn:ogc:def:crs:EPSG::32638', 32638],
      ['urn:ogc:def:crs:EPSG:6.6:32638', 32638],
      ['http://www.opengis.net/def/crs/OGC/1.3/CRS84', 4326],
      ['<http://www.opengis.net/def/crs/OGC/1.3/CRS84>', 4326],
      ['urn:ogc:def:crs:OGC:1.3:CRS84', 4326],
      ['EPSG:4326', 4326],
      ['http://www.opengis.net/def/crs/EPSG/0/4326', 4326],
      ['EPSG:32637', 32637],
      ['EPSG:32639', 32639],
      ['urn:ogc:def:crs:EPSG::28408', 28408],
      ['http://www.opengis.net/def/crs/EPSG/0/28409', 28409],
      ['  EPSG:32638  ', 32638],
    ];
    for (const [spelling, code] of spellings) {
      it(`reads ${spelling.trim()} as ${code}`, () => {
        expect(parseCrs(spelling)).to.equal(code);
      });
    }

    it('refuses a real but unsupported EPSG code, naming what is supported', () => {
      let caught: unknown;
      try {
        parseCrs('EPSG:3857');
      } catch (error) {
        caught = error;
      }
      expect(caught).to.be.instanceOf(CrsError);
      const error = caught as CrsError;
      expect(error.value).to.equal('EPSG:3857');
      expect(error.message).to.match(/EPSG:3857 is not supported/);
      for (const code of [4326, 32637, 32638, 32639, 28408, 28409]) {
        expect(error.message).to.contain(`EPSG:${code}`);
      }
    });

    it('refuses text that is not a CRS identifier', () => {
      for (const junk of ['', 'WGS84', '32638', 'EPSG:', 'http://example.com/crs/32638', 'urn:ogc:def:crs:OGC:1.3:CRS83']) {
        expect(() => parseCrs(junk), junk).to.throw(CrsError, /not a recognised CRS identifier/);
      }
    });

    it('keeps the value as given on the error', () => {
      expect(() => parseCrs('<urn:ogc:def:crs:EPSG::2039>'))
        .to.throw(CrsError)
        .with.property('value', '<urn:ogc:def:crs:EPSG::2039>');
    });
  });

  describe('crsUri and crsLabel', () => {
    it('names 4326 as CRS84, since the service sends longitude first', () => {
      expect(crsUri(4326)).to.equal('http://www.opengis.net/def/crs/OGC/1.3/CRS84');
    });

    it('names projected systems by their EPSG URI', () => {
      expect(crsUri(32638)).to.equal('http://www.opengis.net/def/crs/EPSG/0/32638');
      expect(crsUri(28409)).to.equal('http://www.opengis.net/def/crs/EPSG/0/28409');
    });

    it('round-trips through parseCrs', () => {
      for (const code of Object.keys(SUPPORTED_CRS).map(Number)) {
        expect(parseCrs(crsUri(code))).to.equal(code);
        expect(parseCrs(crsLabel(code))).to.equal(code);
      }
    });

    it('labels as EPSG:<code>', () => {
      expect(crsLabel(32638)).to.equal('EPSG:32638');
      expect(crsLabel(4326)).to.equal('EPSG:4326');
    });

    it('refuses unsupported codes rather than inventing a URI', () => {
      expect(() => crsUri(3857)).to.throw(CrsError);
      expect(() => crsLabel(3857)).to.throw(CrsError);
    });
  });

  describe('SUPPORTED_CRS', () => {
    it('puts the zone number in front of Gauss-Krüger eastings', () => {
      expect(SUPPORTED_CRS[28408].validRange).to.deep.equal({ minX: 8_100_000, maxX: 8_900_000, minY: 0, maxY: 9_400_000 });
      expect(SUPPORTED_CRS[28409].validRange).to.deep.equal({ minX: 9_100_000, maxX: 9_900_000, minY: 0, maxY: 9_400_000 });
    });

    it('describes UTM and WGS 84 ranges', () => {
      expect(SUPPORTED_CRS[32638]).to.include({ kind: 'projected', name: 'WGS 84 / UTM zone 38N' });
      expect(SUPPORTED_CRS[32637].validRange).to.deep.equal({ minX: 100_000, maxX: 900_000, minY: 0, maxY: 9_400_000 });
      expect(SUPPORTED_CRS[4326]).to.deep.include({
        kind: 'geographic',
        validRange: { minX: -180, maxX: 180, minY: -90, maxY: 90 },
      });
    });

    it('knows which codes it supports', () => {
      expect(isSupportedSrid(32639)).to.equal(true);
      expect(isSupportedSrid(3857)).to.equal(false);
      expect(isSupportedSrid(Number('toString'))).to.equal(false);
    });
  });

  it('bounds the service region around the South Caucasus', () => {
    expect(SERVICE_REGION).to.deep.equal({ minLon: 38, maxLon: 52, minLat: 37, maxLat: 45 });
  });
});
