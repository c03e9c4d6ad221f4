import { expect } from 'chai';
import { api, createHazardousArea, freshSquare, getHarness, hazardousAreaFeature, tokenFor } from './harness';

describe('OGC API - Features: capabilities and items', () => {
  it('landing page links service-desc (OpenAPI), conformance and data with absolute URLs', async () => {
    const response = await api('GET', '/');
    expect(response.status).to.equal(200);
    const rels = Object.fromEntries(response.body.links.map((link: any) => [link.rel, link]));
    expect(rels['service-desc'].href).to.equal(`${getHarness().baseUrl}/api`);
    expect(rels['service-desc'].type).to.match(/application\/vnd\.oai\.openapi\+json/);
    expect(rels.conformance.href).to.equal(`${getHarness().baseUrl}/conformance`);
    expect(rels.data.href).to.equal(`${getHarness().baseUrl}/collections`);
    const openapi = await api('GET', '/api');
    expect(openapi.status).to.equal(200);
    expect(openapi.body.openapi).to.match(/^3\./);
  });

  it('declares core and GeoJSON conformance', async () => {
    const response = await api('GET', '/conformance');
    expect(response.body.conformsTo).to.include.members([
      'http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core',
      'http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson',
    ]);
  });

  it('lists the four collections; the extent follows what the viewer sees', async () => {
    const token = tokenFor('GEO', 'editor');
    const area = await createHazardousArea(token, { geometry: freshSquare(100, [44.5, 41.9]) });
    const response = await api('GET', '/collections', { token });
    expect(response.body.collections.map((c: any) => c.id)).to.deep.equal(['hazardous-areas', 'land-releases', 'minefield-records', 'testimonies']);
    const areas = response.body.collections[0];
    const [minX, minY, maxX, maxY] = areas.extent.spatial.bbox[0];
    const [lon, lat] = area.body.geometry.coordinates[0][0][0];
    expect(minX).to.be.at.most(lon);
    expect(minY).to.be.at.most(lat);
    expect(maxX).to.be.at.least(lon);
    expect(maxY).to.be.at.least(lat);
    expect(areas.links.find((link: any) => link.rel === 'items').href).to.equal(`${getHarness().baseUrl}/collections/hazardous-areas/items`);
    expect((await api('GET', '/collections/nothing-here')).status).to.equal(404);
  });

  it('filters items by bbox, datetime and attributes, and pages with absolute next links', async () => {
    const token = tokenFor('CHDE', 'editor');
    const origin: [number, number] = [45.6, 39.6];
    const made = [];
    for (let n = 0; n < 5; n++) {
      made.push(await createHazardousArea(token, {
        geometry: freshSquare(80, origin),
        properties: { classification: n % 2 ? 'SHA' : 'CHA', hazardTypes: n === 4 ? ['AT', 'UXO'] : ['AP'], informationDate: `2024-0${n + 1}-15` },
      }));
    }
    const lons = made.map((r) => r.body.geometry.coordinates[0][0][0][0]);
    const lats = made.map((r) => r.body.geometry.coordinates[0][0][0][1]);
    const bbox = [Math.min(...lons) - 1e-5, Math.min(...lats) - 1e-5, Math.max(...lons) + 0.002, Math.max(...lats) + 0.002].join(',');

    const all = await api('GET', `/collections/hazardous-areas/items?bbox=${bbox}`, { token });
    expect(all.body.numberMatched).to.equal(5);
    const page = await api('GET', `/collections/hazardous-areas/items?bbox=${bbox}&limit=2`, { token });
    expect(page.body.numberReturned).to.equal(2);
    expect(page.body.numberMatched).to.equal(5);
    const next = page.body.links.find((link: any) => link.rel === 'next').href;
    expect(next).to.match(/^http:\/\/127\.0\.0\.1:\d+\/collections\/hazardous-areas\/items\?/);
    const second = await fetch(next, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.json());
    expect(second.features.map((f: any) => f.id)).to.not.include.members(page.body.features.map((f: any) => f.id));
    expect(second.numberReturned).to.equal(2);

    expect((await api('GET', `/collections/hazardous-areas/items?bbox=${bbox}&classification=SHA`, { token })).body.numberMatched).to.equal(2);
    expect((await api('GET', `/collections/hazardous-areas/items?bbox=${bbox}&hazardType=UXO`, { token })).body.numberMatched).to.equal(1);
    expect((await api('GET', `/collections/hazardous-areas/items?bbox=${bbox}&datetime=2024-02-01/2024-03-31`, { token })).body.numberMatched).to.equal(2);
    expect((await api('GET', `/collections/hazardous-areas/items?bbox=${bbox}&datetime=../2024-01-15`, { token })).body.numberMatched).to.equal(1);
    expect((await api('GET', `/collections/hazardous-areas/items?bbox=${bbox}&datetime=2024-05-15`, { token })).body.numberMatched).to.equal(1);
  });

  it('rejects bad and unknown query parameters with 400 naming them', async () => {
    const token = tokenFor('CHDE', 'viewer');
    const bad = await api('GET', '/collections/hazardous-areas/items?bbox=1,2,3&limit=-4&classification=XYZ&colour=red', { token });
    expect(bad.status).to.equal(400);
    expect(bad.body.errors.map((e: any) => e.field)).to.have.members(['bbox', 'limit', 'classification', 'colour']);
  });

  it('the OpenAPI document declares each filter the items route applies', async () => {
    const openapi = (await api('GET', '/api')).body;
    const parameters = openapi.paths['/collections/hazardous-areas/items'].get.parameters.map((p: any) => p.name);
    expect(parameters).to.include.members(['bbox', 'datetime', 'limit', 'classification', 'status', 'hazardType', 'ownerAgency']);
    const token = tokenFor('CHDE', 'viewer');
    for (const name of parameters.filter((n: string) => !['bbox', 'datetime', 'limit', 'offset'].includes(n))) {
      const schema = openapi.paths['/collections/hazardous-areas/items'].get.parameters.find((p: any) => p.name === name).schema;
      const value = schema.enum ? schema.enum[0] : 'x';
      const response = await api('GET', `/collections/hazardous-areas/items?${name}=${encodeURIComponent(value)}`, { token });
      expect(response.status, `${name}: ${response.text}`).to.equal(200);
    }
  });

  it('bulk import is all or nothing, with a per-feature error report', async () => {
    const token = tokenFor('GEO', 'editor');
    const good = [hazardousAreaFeature(), hazardousAreaFeature()];
    const bad = { ...hazardousAreaFeature(), properties: { ...hazardousAreaFeature().properties, classification: 'XHA' } };
    const selfIntersecting = { ...hazardousAreaFeature(), geometry: { type: 'Polygon', coordinates: [[[46.0, 41.0], [46.01, 41.01], [46.01, 41.0], [46.0, 41.01], [46.0, 41.0]]] } };
    const rejected = await api('POST', '/collections/hazardous-areas/items', { token, body: { type: 'FeatureCollection', features: [...good, bad, selfIntersecting] } });
    expect(rejected.status).to.equal(422);
    expect(rejected.body.detail).to.match(/2 of 4 features were rejected; nothing was imported/);
    expect(rejected.body.errors.map((e: any) => e.feature)).to.include.members([2, 3]);
    for (const feature of good) {
      const found = await api('GET', `/collections/hazardous-areas/items?localRef=${feature.properties.localRef}`, { token });
      expect(found.body.numberMatched).to.equal(0);
    }
    const accepted = await api('POST', '/collections/hazardous-areas/items', { token, body: { type: 'FeatureCollection', features: good } });
    expect(accepted.status, accepted.text).to.equal(201);
    expect(accepted.body.imported).to.equal(2);
    expect(accepted.body.ids).to.have.length(2);
  });

  it('answers problems as application/problem+json, with request ids', async () => {
    const response = await api('POST', '/collections/hazardous-areas/items', { token: tokenFor('GEO', 'editor'), body: '{"type": "Feature", ', headers: { 'x-request-id': 'req-abc-1' } });
    expect(response.status).to.equal(400);
    expect(response.headers.get('content-type')).to.match(/application\/problem\+json/);
    expect(response.headers.get('x-request-id')).to.equal('req-abc-1');
    expect(response.body).to.include({ status: 400, requestId: 'req-abc-1' });
  });

  it('health and readiness', async () => {
    expect((await api('GET', '/health')).body.status).to.equal('ok');
    expect((await api('GET', '/ready')).body.status).to.equal('ready');
  });
});
