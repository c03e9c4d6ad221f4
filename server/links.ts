import type { Request } from 'express';
import type { Config } from './config';

/** Absolute base URL: PUBLIC_URL behind a proxy, else what the client called. */
export function baseUrl(req: Request, config: Config): string {
  if (config.publicUrl) return config.publicUrl.replace(/\/$/, '');
  return `${req.protocol}://${req.get('host')}`;
}

export interface Link { href: string; rel: string; type?: string; title?: string }

export const GEOJSON = 'application/geo+json';
export const JSON_TYPE = 'application/json';
export const OPENAPI_TYPE = 'application/vnd.oai.openapi+json;version=3.1';
