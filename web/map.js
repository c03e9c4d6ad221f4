// The web map: MapLibre GL JS from /vendor, the default style from /styles/default.json,
// per-viewer vector tiles. Plain browser JavaScript (an ES module), no build step.
import * as maplibregl from '/vendor/maplibre-gl/maplibre-gl.mjs';

const TOKEN_KEY = 'minefield.token';
const DEMO_CHOICE_KEY = 'minefield.demoViewer';

const LAYER_TITLES = {
  'hazardous-areas': 'Hazardous area (remaining)',
  'land-releases': 'Land release',
  'minefield-records': 'Minefield record',
  'testimonies': 'Testimony place',
};

const $ = (id) => document.getElementById(id);

// --- Token handling -------------------------------------------------------------------

function storedToken() {
  try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}

function storeToken(token, demoChoice) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token); else sessionStorage.removeItem(TOKEN_KEY);
    if (demoChoice) sessionStorage.setItem(DEMO_CHOICE_KEY, demoChoice); else sessionStorage.removeItem(DEMO_CHOICE_KEY);
  } catch { /* storage disabled: the token lives for this page only */ }
}

/** The token's claims, for display only: the server verifies every request. */
function claimsOf(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(Array.from(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '=')),
      (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join(''));
    const claims = JSON.parse(json);
    return claims && typeof claims === 'object' ? claims : null;
  } catch {
    return null;
  }
}

const expired = (claims) => typeof claims?.exp === 'number' && claims.exp * 1000 <= Date.now();

async function fetchDemoTokens() {
  try {
    const response = await fetch('/demo/tokens', { headers: { Accept: 'application/json' }, cache: 'no-store' });
    if (!response.ok) return null;
    const body = await response.json();
    return Array.isArray(body.tokens) ? body.tokens : null;
  } catch {
    return null;
  }
}

const demoKey = (entry) => `${entry.agency}/${entry.role}`;

// --- Header ---------------------------------------------------------------------------

function showViewer(token) {
  const viewing = $('viewing');
  const claims = token ? claimsOf(token) : null;
  if (!claims) {
    viewing.textContent = 'Not signed in: choose who is viewing';
    viewing.classList.add('anonymous');
    return;
  }
  viewing.classList.remove('anonymous');
  const who = claims.agency === 'LIAISON' ? 'Liaison mechanism' : String(claims.agency ?? '?');
  viewing.textContent = `Viewing as ${who} — ${claims.role ?? '?'}${expired(claims) ? ' (token expired)' : ''}`;
  if (claims.sub) viewing.title = `subject ${claims.sub}`;
}

function showStatus(message) {
  const status = $('status');
  status.textContent = message || '';
  status.hidden = !message;
}

function setUpDemoChoice(entries, currentToken) {
  const select = $('demo-select');
  const placeholder = document.createElement('option');
  placeholder.value = '';
  placeholder.textContent = 'choose an agency and role…';
  select.append(placeholder);
  for (const entry of entries) {
    const option = document.createElement('option');
    option.value = demoKey(entry);
    option.textContent = entry.agency === 'LIAISON' ? `Liaison mechanism — ${entry.role}` : `${entry.agency} — ${entry.role}`;
    select.append(option);
  }
  let choice = '';
  try { choice = sessionStorage.getItem(DEMO_CHOICE_KEY) || ''; } catch { /* no storage */ }
  if (!choice && currentToken) {
    const claims = claimsOf(currentToken);
    if (claims) choice = `${claims.agency}/${claims.role}`;
  }
  // A demo link may name the viewer: /?as=CHDE/viewer
  const asked = new URLSearchParams(location.search).get('as');
  if (asked && entries.some((entry) => demoKey(entry) === asked)) choice = asked;
  select.value = entries.some((entry) => demoKey(entry) === choice) ? choice : '';
  select.addEventListener('change', () => {
    const entry = entries.find((candidate) => demoKey(candidate) === select.value);
    storeToken(entry ? entry.token : '', entry ? demoKey(entry) : '');
    // A fresh page: no tile of the previous viewer stays in MapLibre's cache.
    location.reload();
  });
  $('demo-choice').hidden = false;
  $('demo-note').hidden = false;
  return select.value ? entries.find((entry) => demoKey(entry) === select.value) : null;
}

function setUpTokenForm(currentToken) {
  const form = $('token-form');
  const input = $('token-input');
  input.value = currentToken;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    storeToken(input.value.trim(), '');
    location.reload();
  });
  $('token-clear').addEventListener('click', () => {
    storeToken('', '');
    location.reload();
  });
  form.hidden = false;
}

// --- Legend ---------------------------------------------------------------------------

function swatch(item) {
  const element = document.createElement('span');
  element.className = `swatch ${item.swatch}`;
  if (item.colour) {
    element.style.setProperty('--colour', item.colour);
    const alpha = Math.round((item.opacity ?? 1) * 255).toString(16).padStart(2, '0');
    if (/^#[0-9a-f]{6}$/i.test(item.colour)) element.style.setProperty('--fill', `${item.colour}${alpha}`);
  }
  element.setAttribute('aria-hidden', 'true');
  return element;
}

function renderLegend(style, map) {
  const body = $('legend-body');
  body.replaceChildren();
  const groups = style.metadata?.['minefield:legend'] ?? [];
  for (const group of groups) {
    const heading = document.createElement('h3');
    if (Array.isArray(group.layers) && group.layers.length) {
      const toggle = document.createElement('input');
      toggle.type = 'checkbox';
      toggle.checked = true;
      toggle.setAttribute('aria-label', `show ${group.title}`);
      toggle.addEventListener('change', () => {
        for (const id of group.layers) {
          if (map.getLayer(id)) map.setLayoutProperty(id, 'visibility', toggle.checked ? 'visible' : 'none');
        }
      });
      heading.append(toggle);
    }
    heading.append(document.createTextNode(group.title));
    const list = document.createElement('ul');
    for (const item of group.items ?? []) {
      const row = document.createElement('li');
      row.append(swatch(item), document.createTextNode(item.label));
      list.append(row);
    }
    body.append(heading, list);
  }
}

// --- Popup ----------------------------------------------------------------------------

function formatValue(value) {
  if (typeof value === 'number') return Number.isInteger(value) ? value.toLocaleString('en') : value.toLocaleString('en', { maximumFractionDigits: 2 });
  return String(value);
}

/** Exactly the properties the tile carried for each feature: nothing added, nothing looked up. */
function popupContent(features) {
  const container = document.createElement('div');
  container.className = 'feature-popup';
  for (const feature of features) {
    const heading = document.createElement('h4');
    heading.textContent = LAYER_TITLES[feature.sourceLayer] ?? feature.sourceLayer;
    const table = document.createElement('table');
    for (const [name, value] of Object.entries(feature.properties ?? {})) {
      const row = table.insertRow();
      const key = document.createElement('th');
      key.scope = 'row';
      key.textContent = name;
      const cell = document.createElement('td');
      cell.textContent = formatValue(value);
      row.append(key, cell);
    }
    container.append(heading, table);
  }
  return container;
}

// --- Map ------------------------------------------------------------------------------

function sameOrigin(url) {
  try { return new URL(url, location.href).origin === location.origin; } catch { return false; }
}

/**
 * Frames what this viewer may see: the collection extents are computed through the viewer's
 * access views, so they reveal nothing hidden. Without visible records the server answers
 * the service region, and the map says so.
 */
async function fitToVisibleRecords(map, token, region) {
  try {
    const response = await fetch('/collections', { headers: { Accept: 'application/json', Authorization: `Bearer ${token}` } });
    if (!response.ok) return;
    const { collections } = await response.json();
    const boxes = (collections ?? []).map((c) => c.extent?.spatial?.bbox?.[0]).filter((b) => Array.isArray(b) && b.length === 4);
    const own = boxes.filter((b) => b.some((value, i) => value !== region[i]));
    if (!own.length) {
      showStatus('No records are visible to this viewer: nothing has been shared with it yet.');
      return;
    }
    const bounds = [
      Math.min(...own.map((b) => b[0])), Math.min(...own.map((b) => b[1])),
      Math.max(...own.map((b) => b[2])), Math.max(...own.map((b) => b[3])),
    ];
    map.fitBounds(bounds, { padding: { top: 100, bottom: 40, left: 300, right: 60 }, maxZoom: 13, duration: 0 });
  } catch (error) {
    console.warn('could not frame the visible records:', error);
  }
}

async function start() {
  let token = storedToken();
  const demoTokens = await fetchDemoTokens();
  if (demoTokens) {
    const chosen = setUpDemoChoice(demoTokens, token);
    // Demo tokens are signed afresh on every load, so a stored one never goes stale.
    if (chosen) {
      token = chosen.token;
      storeToken(token, demoKey(chosen));
    }
  } else {
    setUpTokenForm(token);
  }
  showViewer(token);
  if (token && expired(claimsOf(token))) showStatus('The token has expired: choose or paste a new one.');

  const style = await (await fetch('/styles/default.json', { headers: { Accept: 'application/json' } })).json();
  const recordsStyle = token
    ? style
    // Without a token the tiles would be refused: draw the background only.
    : { ...style, sources: {}, layers: style.layers.filter((layer) => !layer.source) };
  if (!token) showStatus(demoTokens ? 'Choose an agency and role above to see its records.' : 'Paste a bearer token of your agency above to see its records.');

  const linkedView = Boolean(location.hash); // MapLibre writes the hash as soon as it starts
  const map = new maplibregl.Map({
    container: 'map',
    style: recordsStyle,
    center: style.center ?? [46.5, 40.3],
    zoom: style.zoom ?? 7,
    hash: true,
    attributionControl: { compact: true },
    transformRequest: (url, resourceType) => {
      if (token && (resourceType === 'Source' || resourceType === 'Tile') && sameOrigin(url)) {
        return { url, headers: { Authorization: `Bearer ${token}` } };
      }
      return { url };
    },
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');
  map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-right');
  renderLegend(style, map);

  const reported = new Set();
  map.on('error', (event) => {
    const status = event.error?.status;
    const message = status === 401 ? 'The server refused the token (401): choose or paste another.'
      : status === 403 ? 'This token may not read the tiles (403).'
      : status === 404 ? 'Vector tiles are not available on this server yet (404).'
      : status ? `Tiles could not be loaded (HTTP ${status}).` : null;
    if (message && !reported.has(message)) {
      reported.add(message);
      showStatus(message);
    }
    console.warn('map:', event.error?.message ?? event.error);
  });

  const interactive = style.layers.filter((layer) => layer.source === 'records').map((layer) => layer.id);
  map.on('click', (event) => {
    if (!token) return;
    const pad = 3;
    const box = [[event.point.x - pad, event.point.y - pad], [event.point.x + pad, event.point.y + pad]];
    const seen = new Set();
    const features = map.queryRenderedFeatures(box, { layers: interactive.filter((id) => map.getLayer(id)) })
      .filter((feature) => {
        // Fill and outline layers return the same feature; so do tiles a shape crosses.
        const key = `${feature.sourceLayer}|${JSON.stringify(feature.properties)}`;
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      })
      .slice(0, 8);
    if (!features.length) return;
    new maplibregl.Popup({ maxWidth: '360px' }).setLngLat(event.lngLat).setDOMContent(popupContent(features)).addTo(map);
  });
  for (const id of interactive) {
    map.on('mouseenter', id, () => { map.getCanvas().style.cursor = 'pointer'; });
    map.on('mouseleave', id, () => { map.getCanvas().style.cursor = ''; });
  }
  if (token && !linkedView) map.once('load', () => fitToVisibleRecords(map, token, style.metadata?.['minefield:serviceRegion'] ?? [38, 37, 52, 45]));
  window.minefieldMap = map;
}

start().catch((error) => {
  console.error(error);
  showStatus(`The map could not start: ${error.message}`);
});
