// The default MapLibre style (v8) of the web map: one vector source, `records`, with the
// four tile layers of the tile contract. No basemap, no glyphs, no sprites: the map works
// offline and draws no borders or place names. The legend in `metadata` is what
// web/map.js renders, so the colours below are stated once.
//
// Filters use the legacy `$type` form (Point / LineString / Polygon, multi-geometries
// included), combined with attribute tests. Attributes a viewer's level does not carry
// (status and hazardTypes at footprint and overview levels) are simply absent: a test such
// as ["!=", "status", "closed"] is true when the attribute is missing.

import { SERVICE_REGION } from '../geo/crs';

export const SOURCE_LAYERS = ['hazardous-areas', 'land-releases', 'minefield-records', 'testimonies'] as const;

export const COLOURS = {
  background: '#eef0ea',
  CHA: '#c8281e',
  SHA: '#f08a24',
  unknownClassification: '#8c6d62',
  cancelled: '#9ed39a',
  reduced: '#3aa6a0',
  cleared: '#2b6cb0',
  unknownMethod: '#7fa7a0',
  perimeter: '#2b2b2b',
  testimony: '#7a3fa0',
  pointStroke: '#ffffff',
  statusSwatch: '#5a5a5a',
} as const;

/** Fill opacity of a remaining hazardous polygon by working status. */
export const STATUS_OPACITY = { open: 0.6, 'worked-on': 0.28, unknown: 0.4 } as const;
const DASH = [3, 2];

type Filter = unknown[];
type Layer = Record<string, unknown> & { id: string; type: string };

const isPolygon: Filter = ['==', '$type', 'Polygon'];
const isLine: Filter = ['==', '$type', 'LineString'];
const isPoint: Filter = ['==', '$type', 'Point'];
const isGeneralised: Filter = ['==', 'generalised', true];
const isExact: Filter = ['!=', 'generalised', true];
const notClosed: Filter = ['!=', 'status', 'closed'];

const classificationColour = ['match', ['get', 'classification'], 'CHA', COLOURS.CHA, 'SHA', COLOURS.SHA, COLOURS.unknownClassification];
const methodColour = ['match', ['get', 'method'], 'cancelled', COLOURS.cancelled, 'reduced', COLOURS.reduced, 'cleared', COLOURS.cleared, COLOURS.unknownMethod];
const statusOpacity = ['match', ['get', 'status'], 'open', STATUS_OPACITY.open, 'worked-on', STATUS_OPACITY['worked-on'], STATUS_OPACITY.unknown];
// Generalised shapes (footprints, overview cells) are drawn fainter than exact ones.
const fainterWhenGeneralised = (opacity: unknown) => ['*', opacity, ['case', ['==', ['get', 'generalised'], true], 0.6, 1]];
const lineWidth = (base: number) => ['interpolate', ['linear'], ['zoom'], 6, base * 0.6, 12, base, 16, base * 1.6];
const pointRadius = ['interpolate', ['linear'], ['zoom'], 6, 3, 12, 5, 16, 7];

const all = (...filters: Filter[]) => ['all', ...filters];

function outlines(id: string, sourceLayer: string, base: Filter, colour: unknown, width: number, opacity: unknown = 1): Layer[] {
  const paint = { 'line-color': colour, 'line-width': lineWidth(width), 'line-opacity': opacity };
  return [
    { id: `${id}-line`, type: 'line', source: 'records', 'source-layer': sourceLayer, filter: all(base, isExact), paint },
    { id: `${id}-line-generalised`, type: 'line', source: 'records', 'source-layer': sourceLayer, filter: all(base, isGeneralised), paint: { ...paint, 'line-dasharray': DASH } },
  ];
}

function points(id: string, sourceLayer: string, filter: Filter, colour: unknown, opacity: unknown = 0.9): Layer {
  return {
    id,
    type: 'circle',
    source: 'records',
    'source-layer': sourceLayer,
    filter,
    paint: {
      'circle-color': colour,
      'circle-opacity': opacity,
      'circle-radius': pointRadius,
      'circle-stroke-color': COLOURS.pointStroke,
      'circle-stroke-width': 1,
    },
  };
}

export const LAYER_IDS = {
  landReleases: ['land-releases-fill', 'land-releases-line', 'land-releases-line-generalised', 'land-releases-point'],
  hazardousAreas: ['hazardous-areas-fill', 'hazardous-areas-line', 'hazardous-areas-line-generalised', 'hazardous-areas-point'],
  minefieldRecords: ['minefield-records-line', 'minefield-records-line-generalised', 'minefield-records-point'],
  testimonies: ['testimonies-fill', 'testimonies-line', 'testimonies-line-generalised', 'testimonies-point'],
} as const;

/** Legend entries, read by web/map.js: swatch kinds `fill`, `line`, `dashed`, `point`. */
function legend() {
  return [
    {
      title: 'Hazardous areas (remaining)',
      layers: LAYER_IDS.hazardousAreas,
      items: [
        { label: 'CHA — confirmed hazardous area', swatch: 'fill', colour: COLOURS.CHA, opacity: STATUS_OPACITY.open },
        { label: 'SHA — suspected hazardous area', swatch: 'fill', colour: COLOURS.SHA, opacity: STATUS_OPACITY.open },
        { label: 'open', swatch: 'fill', colour: COLOURS.statusSwatch, opacity: STATUS_OPACITY.open },
        { label: 'worked on (part released)', swatch: 'fill', colour: COLOURS.statusSwatch, opacity: STATUS_OPACITY['worked-on'] },
        { label: 'closed (nothing remaining, not drawn)', swatch: 'none' },
      ],
    },
    {
      title: 'Land release',
      layers: LAYER_IDS.landReleases,
      items: [
        { label: 'cancelled (non-technical survey)', swatch: 'fill', colour: COLOURS.cancelled, opacity: 0.5 },
        { label: 'reduced (technical survey)', swatch: 'fill', colour: COLOURS.reduced, opacity: 0.5 },
        { label: 'cleared', swatch: 'fill', colour: COLOURS.cleared, opacity: 0.5 },
      ],
    },
    {
      title: 'Minefield records',
      layers: LAYER_IDS.minefieldRecords,
      items: [{ label: 'perimeter', swatch: 'line', colour: COLOURS.perimeter }],
    },
    {
      title: 'Testimony',
      layers: LAYER_IDS.testimonies,
      items: [
        { label: 'place described (area or line)', swatch: 'fill', colour: COLOURS.testimony, opacity: 0.2 },
        { label: 'place described (point)', swatch: 'point', colour: COLOURS.testimony },
      ],
    },
    {
      title: 'Shapes',
      items: [
        { label: 'generalised footprint or overview cell', swatch: 'dashed', colour: '#555555' },
        { label: 'too small for the zoom, drawn as a point', swatch: 'point', colour: '#777777' },
      ],
    },
  ];
}

export function defaultStyle(baseUrl: string) {
  const base = baseUrl.replace(/\/$/, '');
  const layers: Layer[] = [
    { id: 'background', type: 'background', paint: { 'background-color': COLOURS.background } },

    // Land release below the hazardous areas: released land is what is no longer hazardous.
    {
      id: 'land-releases-fill', type: 'fill', source: 'records', 'source-layer': 'land-releases',
      filter: isPolygon,
      paint: { 'fill-color': methodColour, 'fill-opacity': fainterWhenGeneralised(0.5) },
    },
    ...outlines('land-releases', 'land-releases', isPolygon, methodColour, 1),

    // Remaining hazardous polygons: colour by classification, opacity by status.
    {
      id: 'hazardous-areas-fill', type: 'fill', source: 'records', 'source-layer': 'hazardous-areas',
      filter: all(isPolygon, notClosed),
      paint: { 'fill-color': classificationColour, 'fill-opacity': fainterWhenGeneralised(statusOpacity) },
    },
    ...outlines('hazardous-areas', 'hazardous-areas', all(isPolygon, notClosed), classificationColour, 1.4),

    // Minefield record perimeters: dark lines, whether drawn as polygons or as lines.
    ...outlines('minefield-records', 'minefield-records', ['any', isPolygon, isLine], COLOURS.perimeter, 1.6),

    // Places described in testimony.
    {
      id: 'testimonies-fill', type: 'fill', source: 'records', 'source-layer': 'testimonies',
      filter: isPolygon,
      paint: { 'fill-color': COLOURS.testimony, 'fill-opacity': fainterWhenGeneralised(0.2) },
    },
    ...outlines('testimonies', 'testimonies', ['any', isPolygon, isLine], COLOURS.testimony, 1.8),

    // Points: collapsed shapes of every layer and testimony points, above all areas.
    points('land-releases-point', 'land-releases', isPoint, methodColour),
    points('hazardous-areas-point', 'hazardous-areas', all(isPoint, notClosed), classificationColour, statusOpacity),
    points('minefield-records-point', 'minefield-records', isPoint, COLOURS.perimeter),
    points('testimonies-point', 'testimonies', isPoint, COLOURS.testimony),
  ];

  return {
    version: 8,
    name: 'Shared minefield records',
    metadata: {
      'minefield:legend': legend(),
      // What /collections answers as the extent when the viewer can see no record.
      'minefield:serviceRegion': [SERVICE_REGION.minLon, SERVICE_REGION.minLat, SERVICE_REGION.maxLon, SERVICE_REGION.maxLat],
    },
    center: [46.5, 40.3],
    zoom: 7,
    sources: {
      records: {
        type: 'vector',
        url: `${base}/tiles/${SOURCE_LAYERS.join(',')}.json`,
        attribution: 'Shared minefield-record service',
      },
    },
    layers,
  };
}
