// TileJSON 3.0.0 for map clients, and a tippecanoe-style metadata.json, which GDAL's MVT
// driver reads for field types. Both describe the service region, not any viewer's data.
import { SERVICE_REGION } from '../geo/crs';
import { TILE_FLAGS, TileLayer } from './layers';
import { EXACT_FROM_ZOOM } from './tileSql';

const BOUNDS = [SERVICE_REGION.minLon, SERVICE_REGION.minLat, SERVICE_REGION.maxLon, SERVICE_REGION.maxLat];
const CENTER = [46.5, 40.3, 7];

function fields(layer: TileLayer) {
  return Object.fromEntries([...layer.attributes, ...TILE_FLAGS].map((field) => [field.name, `${field.type}: ${field.description}`]));
}

export function tileJson(baseUrl: string, layersPath: string, layers: TileLayer[]) {
  return {
    tilejson: '3.0.0',
    name: layers.map((layer) => layer.title).join(', '),
    description: `Per-viewer vector tiles; features merge into grid cells below zoom ${EXACT_FROM_ZOOM}.`,
    attribution: 'Shared minefield-record service — demo data is synthetic',
    scheme: 'xyz',
    tiles: [`${baseUrl}/tiles/${layersPath}/{z}/{x}/{y}.mvt`],
    minzoom: 0,
    maxzoom: 22,
    bounds: BOUNDS,
    center: CENTER,
    vector_layers: layers.map((layer) => ({ id: layer.id, description: layer.title, minzoom: 0, maxzoom: 22, fields: fields(layer) })),
  };
}

export function tippecanoeMetadata(layersPath: string, layers: TileLayer[]) {
  const vectorLayers = layers.map((layer) => ({
    id: layer.id,
    description: layer.title,
    minzoom: 0,
    maxzoom: 22,
    fields: Object.fromEntries([...layer.attributes, ...TILE_FLAGS].map((field) => [field.name, field.type])),
  }));
  return {
    name: layersPath,
    format: 'pbf',
    type: 'overlay',
    minzoom: '0',
    maxzoom: '22',
    bounds: BOUNDS.join(','),
    center: CENTER.join(','),
    json: JSON.stringify({ vector_layers: vectorLayers }),
  };
}
