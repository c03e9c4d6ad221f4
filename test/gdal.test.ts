// GDAL's OGC API - Features driver (OAPIF) reads the service as QGIS and ogr2ogr would.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { api, getHarness, hazardousAreaFeature, tokenFor } from './harness';

const run = promisify(execFile);

describe('GDAL reads the service (ogrinfo, OAPIF driver)', () => {
  it('lists the collections and reads the hazardous areas back with the right count and fields', async function () {
    this.timeout(60000);
    const token = tokenFor('GEO', 'viewer');
    const editor = tokenFor('GEO', 'editor');
    const features = Array.from({ length: 7 }, () => hazardousAreaFeature({ properties: { classification: 'SHA', priority: 'high', hazardTypes: ['AT'] } }));
    const imported = await api('POST', '/collections/hazardous-areas/items', { token: editor, body: { type: 'FeatureCollection', features } });
    expect(imported.status, imported.text).to.equal(201);
    const expected = (await api('GET', '/collections/hazardous-areas/items?limit=1', { token })).body.numberMatched;
    expect(expected).to.be.at.least(7);

    const env = { ...process.env, GDAL_HTTP_HEADERS: `Authorization: Bearer ${token}`, CPL_DEBUG: 'OFF' };
    const url = `OAPIF:${getHarness().baseUrl}`;
    const layers = await run('ogrinfo', ['-ro', '-q', url], { env });
    for (const id of ['hazardous-areas', 'land-releases', 'minefield-records', 'testimonies']) expect(layers.stdout).to.include(id);

    const summary = await run('ogrinfo', ['-ro', '-so', '-al', url, 'hazardous-areas'], { env });
    expect(summary.stdout).to.match(new RegExp(`Feature Count: ${expected}\\b`));
    expect(summary.stdout).to.match(/Geometry: Multi Polygon/);
    for (const field of ['classification: String', 'status: String', 'originalAreaM2: Real', 'version: Integer', 'ownerAgency: String', 'informationDate: (Date|String)']) {
      expect(summary.stdout).to.match(new RegExp(field));
    }

    const where = await run('ogrinfo', ['-ro', '-al', '-q', url, 'hazardous-areas', '-where', `localRef = '${features[3].properties.localRef}'`], { env });
    expect(where.stdout).to.include(`localRef (String) = ${features[3].properties.localRef}`);
    expect(where.stdout).to.match(/classification \(String\) = SHA/);
    expect(where.stdout).to.match(/MULTIPOLYGON \(\(\(4\d\.\d+ 4\d\.\d+/);
  });
});
