import { expect } from 'chai';
import { api, createHazardousArea, freshRef, tokenFor } from './harness';

const TESTIMONIES = '/collections/testimonies/items';
const JSON_BODY = { 'content-type': 'application/json' };

let placeCounter = 0;
/** A fresh place per testimony, away from the other tests' grids. */
function freshPlace(): [number, number] {
  const n = placeCounter++;
  return [round7(45.05 + (n % 40) * 0.005), round7(40.85 + Math.floor(n / 40) * 0.005)];
}
/** Coordinates come back with 9 decimals; inputs with 7 compare exactly. */
const round7 = (v: number) => Math.round(v * 1e7) / 1e7;

const point = (): GeoJSON.Point => ({ type: 'Point', coordinates: freshPlace() });

function testimonyFeature(informantCode: string, geometry: GeoJSON.Geometry = point(), properties: Record<string, unknown> = {}) {
  return {
    type: 'Feature',
    geometry,
    properties: {
      localRef: freshRef('TST'),
      informantCode,
      interview: { date: '2025-04-12', place: 'village community centre', language: 'hy', interviewers: 'NTS team 3' },
      narrative: { language: 'en', text: 'The informant saw mines laid along the road edge in 1993.' },
      uncertaintyM: 250,
      sourceReliability: 'C',
      informationReliability: '3',
      ...properties,
    },
  };
}

/** Registers an informant as an editor of `agency` and returns the created informant with the identity used. */
async function registerInformant(agency: string, code = freshRef('INF')) {
  const identity = { code, fullName: `Synthetic Person ${code} Zakaryan-Beridze`, contact: `${code.toLowerCase()}@informant.example.invalid` };
  const response = await api('POST', '/informants', { token: tokenFor(agency, 'editor'), body: identity, headers: JSON_BODY });
  if (response.status !== 201) throw new Error(`could not register informant: ${response.status} ${response.text}`);
  return { ...identity, id: response.body.id as string };
}

describe('oral testimony and informants', () => {
  const editor = () => tokenFor('CHDE', 'editor');

  describe('informants', () => {
    it('only an editor registers an informant: a viewer and a facilitator get 403 and nothing is stored', async () => {
      const identity = { code: freshRef('INF'), fullName: 'Synthetic Person Refused', contact: '+000 refused' };
      const asViewer = await api('POST', '/informants', { token: tokenFor('CHDE', 'viewer'), body: identity, headers: JSON_BODY });
      expect(asViewer.status).to.equal(403);
      const asFacilitator = await api('POST', '/informants', { token: tokenFor('LIAISON', 'facilitator'), body: identity, headers: JSON_BODY });
      expect(asFacilitator.status).to.equal(403);
      const anonymous = await api('POST', '/informants', { body: identity, headers: JSON_BODY });
      expect(anonymous.status).to.equal(401);
      const codes = await api('GET', '/informants', { token: editor() });
      expect(codes.status).to.equal(200);
      expect(codes.body.informants.map((i: any) => i.code)).not.to.include(identity.code);

      const created = await api('POST', '/informants', { token: editor(), body: identity, headers: JSON_BODY });
      expect(created.status, created.text).to.equal(201);
      expect(created.body).to.include({ code: identity.code, fullName: identity.fullName, contact: identity.contact, ownerAgency: 'CHDE' });
      expect(created.body.id).to.match(/^[0-9a-f-]{36}$/);
    });

    it('refuses a duplicate code in the same agency with 409; another agency may use the same code', async () => {
      const informant = await registerInformant('CHDE');
      const again = await api('POST', '/informants', { token: editor(), body: { code: informant.code, fullName: 'Someone Else' }, headers: JSON_BODY });
      expect(again.status).to.equal(409);
      expect(again.body.errors[0].field).to.equal('/code');
      const elsewhere = await api('POST', '/informants', { token: tokenFor('GEO', 'editor'), body: { code: informant.code, fullName: 'Synthetic Georgian Person' }, headers: JSON_BODY });
      expect(elsewhere.status, elsewhere.text).to.equal(201);
      expect(elsewhere.body.id).not.to.equal(informant.id);
    });

    it('refuses an informant without a full name, naming the field', async () => {
      const response = await api('POST', '/informants', { token: editor(), body: { code: freshRef('INF') }, headers: JSON_BODY });
      expect(response.status).to.equal(422);
      expect(response.body.errors.map((e: any) => e.field)).to.include('/fullName');
    });

    it('GET /informants lists codes only; GET /informants/{id} gives the identity to the owner agency\'s editors alone', async () => {
      const informant = await registerInformant('CHDE');
      const list = await api('GET', '/informants', { token: editor() });
      expect(list.status).to.equal(200);
      expect(list.body.informants).to.deep.include({ id: informant.id, code: informant.code });
      expect(list.text).not.to.include(informant.fullName);
      expect(list.text).not.to.include(informant.contact);
      expect(Object.keys(list.body.informants[0]).sort()).to.deep.equal(['code', 'id']);

      const own = await api('GET', `/informants/${informant.id}`, { token: editor() });
      expect(own.status).to.equal(200);
      expect(own.body).to.include({ id: informant.id, code: informant.code, fullName: informant.fullName, contact: informant.contact });
      expect(own.headers.get('cache-control')).to.equal('no-store');

      const asViewer = await api('GET', `/informants/${informant.id}`, { token: tokenFor('CHDE', 'viewer') });
      expect(asViewer.status).to.equal(403);
      expect(asViewer.text).not.to.include(informant.fullName);
      const viewerList = await api('GET', '/informants', { token: tokenFor('CHDE', 'viewer') });
      expect(viewerList.status).to.equal(403);

      const otherAgency = await api('GET', `/informants/${informant.id}`, { token: tokenFor('ANAMA', 'editor') });
      expect(otherAgency.status).to.equal(404);
      expect(otherAgency.text).not.to.include(informant.fullName);
      const otherList = await api('GET', '/informants', { token: tokenFor('ANAMA', 'editor') });
      expect(otherList.body.informants.map((i: any) => i.id)).not.to.include(informant.id);
    });
  });

  describe('testimonies', () => {
    it('a testimony carries the informant code and no identity: not in the item, the list or the collection extents', async () => {
      const informant = await registerInformant('CHDE');
      const created = await api('POST', TESTIMONIES, { token: editor(), body: testimonyFeature(informant.code) });
      expect(created.status, created.text).to.equal(201);
      expect(created.body.properties.informantCode).to.equal(informant.code);
      expect(created.body.properties.ownerAgency).to.equal('CHDE');

      const item = await api('GET', `${TESTIMONIES}/${created.body.id}`, { token: editor() });
      const list = await api('GET', `${TESTIMONIES}?informantCode=${encodeURIComponent(informant.code)}`, { token: editor() });
      const collections = await api('GET', '/collections', { token: editor() });
      const collection = await api('GET', '/collections/testimonies', { token: editor() });
      expect(item.status).to.equal(200);
      expect(list.status).to.equal(200);
      expect(list.body.features.map((f: any) => f.id)).to.deep.equal([created.body.id]);
      expect(collections.status).to.equal(200);
      expect(collection.status).to.equal(200);
      for (const [what, response] of [['create', created], ['item', item], ['list', list], ['collections', collections], ['collection', collection]] as const) {
        expect(response.text, what).not.to.include(informant.fullName);
        expect(response.text, what).not.to.include(informant.contact);
        expect(response.text, what).not.to.include(informant.id);
      }
      expect(item.body.properties).not.to.have.any.keys('informantId', 'informant', 'fullName', 'contact');
    });

    it('accepts a Point, a LineString and a Polygon as the place described, and refuses a MultiPolygon', async () => {
      const informant = await registerInformant('CHDE');
      const [lon, lat] = freshPlace();
      const at = (dx: number, dy: number) => [round7(lon + dx), round7(lat + dy)];
      const line: GeoJSON.LineString = { type: 'LineString', coordinates: [at(0, 0), at(0.003, 0.001), at(0.006, 0.0005)] };
      const square: GeoJSON.Polygon = { type: 'Polygon', coordinates: [[at(0, 0), at(0.002, 0), at(0.002, 0.002), at(0, 0.002), at(0, 0)]] };
      for (const geometry of [point(), line, square]) {
        const created = await api('POST', TESTIMONIES, { token: editor(), body: testimonyFeature(informant.code, geometry) });
        expect(created.status, `${geometry.type}: ${created.text}`).to.equal(201);
        expect(created.body.geometry.type).to.equal(geometry.type);
        expect(created.body.geometry.coordinates).to.deep.equal(geometry.coordinates);
        expect(created.body.properties.inputGeometry).to.deep.equal(geometry);
      }
      const multi: GeoJSON.MultiPolygon = { type: 'MultiPolygon', coordinates: [square.coordinates] };
      const body = testimonyFeature(informant.code, multi);
      const refused = await api('POST', TESTIMONIES, { token: editor(), body });
      expect(refused.status).to.equal(422);
      expect(refused.body.errors[0].field).to.match(/^\/geometry/);
      expect(refused.body.errors[0].reason).to.match(/MultiPolygon/);
      const stored = await api('GET', `${TESTIMONIES}?localRef=${encodeURIComponent(body.properties.localRef)}`, { token: editor() });
      expect(stored.body.numberMatched).to.equal(0);
    });

    it('refuses an unknown informant code, and a code registered only by another agency, naming /properties/informantCode', async () => {
      const unknown = await api('POST', TESTIMONIES, { token: editor(), body: testimonyFeature(freshRef('NOBODY')) });
      expect(unknown.status).to.equal(422);
      expect(unknown.body.errors.map((e: any) => e.field)).to.deep.equal(['/properties/informantCode']);

      const georgian = await registerInformant('GEO');
      const foreign = await api('POST', TESTIMONIES, { token: editor(), body: testimonyFeature(georgian.code) });
      expect(foreign.status).to.equal(422);
      expect(foreign.body.errors.map((e: any) => e.field)).to.deep.equal(['/properties/informantCode']);
      expect(foreign.text).not.to.include(georgian.fullName);
    });

    it('links to hazardous areas as supports / contradicts round-trip; an area of another agency is refused', async () => {
      const informant = await registerInformant('CHDE');
      const [a, b] = [(await createHazardousArea(editor())).body.id, (await createHazardousArea(editor())).body.id];
      const links = [{ hazardousAreaId: a, relation: 'supports' }, { hazardousAreaId: b, relation: 'contradicts' }];
      const created = await api('POST', TESTIMONIES, { token: editor(), body: testimonyFeature(informant.code, point(), { hazardousAreaLinks: links }) });
      expect(created.status, created.text).to.equal(201);
      const byId = (x: any, y: any) => x.hazardousAreaId.localeCompare(y.hazardousAreaId);
      expect([...created.body.properties.hazardousAreaLinks].sort(byId)).to.deep.equal([...links].sort(byId));
      const read = await api('GET', `${TESTIMONIES}/${created.body.id}`, { token: editor() });
      expect([...read.body.properties.hazardousAreaLinks].sort(byId)).to.deep.equal([...links].sort(byId));

      const foreignArea = (await createHazardousArea(tokenFor('ANAMA', 'editor'))).body.id;
      const refused = await api('POST', TESTIMONIES, { token: editor(), body: testimonyFeature(informant.code, point(), { hazardousAreaLinks: [{ hazardousAreaId: foreignArea, relation: 'supports' }] }) });
      expect(refused.status).to.equal(422);
      expect(refused.body.errors.map((e: any) => e.field)).to.deep.equal(['/properties/hazardousAreaLinks/0/hazardousAreaId']);
    });

    it('keeps narratives in Armenian, Georgian and Russian script byte for byte', async () => {
      const informant = await registerInformant('CHDE');
      const narratives = [
        { language: 'hy', text: 'Տեղեկատուն պատմում է, որ 1993 թվականին ճանապարհի եզրով ական է տեղադրվել։ «Շարքերը» ձգվում էին դեպի հյուսիս։' },
        { language: 'ka', text: 'ინფორმატორი ამბობს, რომ 1993 წელს „გზის“ კიდეზე ნაღმები ჩაიდო. რიგები ჩრდილოეთისკენ მიემართებოდა.' },
        // Russian with a decomposed й (и + U+0306) and a non-breaking space: nothing may normalise them.
        { language: 'ru', text: 'Информант сообщает: мины ставили вдоль дороги — ряды шли на север. Краи\u0306\u00a0поля «заминирован».', translations: { en: 'Mines were laid along the road.' } },
      ];
      for (const narrative of narratives) {
        const created = await api('POST', TESTIMONIES, {
          token: editor(),
          body: testimonyFeature(informant.code, point(), { narrative, interview: { date: '2025-05-02', place: 'Գյուղ', language: narrative.language } }),
        });
        expect(created.status, created.text).to.equal(201);
        const read = await api('GET', `${TESTIMONIES}/${created.body.id}`, { token: editor() });
        expect(read.body.properties.narrative).to.deep.equal(narrative);
        expect(Buffer.from(read.body.properties.narrative.text, 'utf8').equals(Buffer.from(narrative.text, 'utf8')), narrative.language).to.equal(true);
        expect(read.body.properties.interview.place).to.equal('Գյուղ');
      }
    });

    it('refuses a negative uncertainty radius, naming /properties/uncertaintyM', async () => {
      const informant = await registerInformant('CHDE');
      const response = await api('POST', TESTIMONIES, { token: editor(), body: testimonyFeature(informant.code, point(), { uncertaintyM: -5 }) });
      expect(response.status).to.equal(422);
      expect(response.body.errors.map((e: any) => e.field)).to.deep.equal(['/properties/uncertaintyM']);
      const zero = await api('POST', TESTIMONIES, { token: editor(), body: testimonyFeature(informant.code, point(), { uncertaintyM: 0 }) });
      expect(zero.status, zero.text).to.equal(201);
      expect(zero.body.properties.uncertaintyM).to.equal(0);
    });

    it('filters the items list by interview language and source reliability', async () => {
      const informant = await registerInformant('CHDE');
      const specs = [['hy', 'B'], ['ru', 'B'], ['ru', 'D'], ['ka', 'E']] as const;
      const ids: Record<string, string> = {};
      for (const [language, sourceReliability] of specs) {
        const created = await api('POST', TESTIMONIES, {
          token: editor(),
          body: testimonyFeature(informant.code, point(), { sourceReliability, interview: { date: '2025-06-01', place: 'village', language } }),
        });
        expect(created.status, created.text).to.equal(201);
        ids[`${language}${sourceReliability}`] = created.body.id;
      }
      const idsOf = async (query: string) => {
        const response = await api('GET', `${TESTIMONIES}?informantCode=${encodeURIComponent(informant.code)}&${query}`, { token: tokenFor('CHDE', 'viewer') });
        expect(response.status, response.text).to.equal(200);
        return response.body.features.map((f: any) => f.id).sort();
      };
      expect(await idsOf('limit=100')).to.deep.equal(Object.values(ids).sort());
      expect(await idsOf('language=ru')).to.deep.equal([ids.ruB, ids.ruD].sort());
      expect(await idsOf('language=ka')).to.deep.equal([ids.kaE]);
      expect(await idsOf('language=az')).to.deep.equal([]);
      expect(await idsOf('sourceReliability=B')).to.deep.equal([ids.hyB, ids.ruB].sort());
      expect(await idsOf('language=ru&sourceReliability=D')).to.deep.equal([ids.ruD]);

      // Without the informant filter, every feature returned has the language asked for.
      const all = await api('GET', `${TESTIMONIES}?language=ru&limit=1000`, { token: editor() });
      expect(all.body.features.length).to.be.at.least(2);
      expect(all.body.features.every((f: any) => f.properties.interview.language === 'ru')).to.equal(true);
      expect(all.body.features.map((f: any) => f.id)).to.include.members([ids.ruB, ids.ruD]).and.not.include(ids.hyB);

      const bad = await api('GET', `${TESTIMONIES}?sourceReliability=G`, { token: editor() });
      expect(bad.status).to.equal(400);
      expect(bad.body.errors[0].field).to.equal('sourceReliability');
    });

    it('another agency sees none of the testimonies', async () => {
      const informant = await registerInformant('CHDE');
      const created = await api('POST', TESTIMONIES, { token: editor(), body: testimonyFeature(informant.code) });
      expect(created.status, created.text).to.equal(201);
      const other = await api('GET', `${TESTIMONIES}/${created.body.id}`, { token: tokenFor('GEO', 'editor') });
      expect(other.status).to.equal(404);
      const list = await api('GET', `${TESTIMONIES}?informantCode=${encodeURIComponent(informant.code)}`, { token: tokenFor('GEO', 'editor') });
      expect(list.body.numberMatched).to.equal(0);
    });
  });
});
