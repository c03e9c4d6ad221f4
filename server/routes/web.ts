// The web map: the page a browser gets at `/`, its script and stylesheet, MapLibre GL JS from
// the project's own dependencies, the default map style, and — in demo mode only — demo
// tokens to view the map as each agency. OGC clients asking `/` for JSON still get the
// landing page (ogcCore), so this router is mounted before it.
import { existsSync } from 'node:fs';
import path from 'node:path';
import express, { NextFunction, Request, Response, Router } from 'express';
import { defaultStyle } from '../../web/style';
import { DEMO_KID, readDemoKey } from '../auth/demoKeys';
import { issueToken } from '../auth/issueToken';
import type { Role } from '../auth/viewer';
import type { Config } from '../config';
import { baseUrl } from '../links';
import { Problem } from '../problem';

/** Who the demo map can be viewed as. */
export const DEMO_VIEWERS: readonly { agency: string; role: Role }[] = [
  { agency: 'ANAMA', role: 'editor' },
  { agency: 'ANAMA', role: 'viewer' },
  { agency: 'CHDE', role: 'editor' },
  { agency: 'CHDE', role: 'viewer' },
  { agency: 'GEO', role: 'editor' },
  { agency: 'GEO', role: 'viewer' },
  { agency: 'LIAISON', role: 'facilitator' },
];

const DEMO_TOKEN_HOURS = 12;

// web/ beside server/ when run from source (tsx); compiled code in dist/ looks one level up
// and then in the working directory, so the static files need not be copied into dist/.
function findWebDirectory(): string {
  const candidates = [
    path.resolve(__dirname, '../../web'),
    path.resolve(__dirname, '../../../web'),
    path.resolve(process.cwd(), 'web'),
  ];
  const found = candidates.find((dir) => existsSync(path.join(dir, 'index.html')));
  if (!found) throw new Error(`web map files not found (looked in ${candidates.join(', ')})`);
  return found;
}

function maplibreDist(): string {
  return path.join(path.dirname(require.resolve('maplibre-gl/package.json')), 'dist');
}

// The page loads only its own origin's resources; MapLibre runs its worker as a module from
// /vendor and draws images from blobs.
const PAGE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "worker-src 'self' blob:",
  "img-src 'self' data: blob:",
  "style-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

export function webRoutes(config: Config & { demo?: boolean }, options: { demo: boolean; dataDir: string }): Router {
  const router = Router();
  const webDir = findWebDirectory();
  const indexFile = path.join(webDir, 'index.html');
  const demo = options.demo || config.demo === true;

  // Browsers get the map; everyone else (OGC clients, curl, `Accept: application/json`) the
  // JSON landing page further down the chain.
  router.get('/', (req: Request, res: Response, next: NextFunction) => {
    res.vary('Accept');
    if (req.accepts(['json', 'html']) !== 'html') return next();
    res.setHeader('Content-Security-Policy', PAGE_CSP);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(indexFile);
  });

  // Only the page's script and stylesheet: web/ also holds style.ts, which is served as JSON.
  const webStatic = express.static(webDir, { index: false, fallthrough: true, maxAge: 0 });
  router.use('/web', (req, res, next) => {
    if (!/^\/[\w-]+\.(js|css)$/.test(req.path)) return next();
    res.setHeader('X-Content-Type-Options', 'nosniff');
    webStatic(req, res, next);
  });

  router.use('/vendor/maplibre-gl', express.static(maplibreDist(), {
    index: false,
    fallthrough: true,
    maxAge: '1d',
    setHeaders: (res) => res.setHeader('X-Content-Type-Options', 'nosniff'),
  }));

  router.get('/styles/default.json', (req, res) => {
    res.setHeader('Cache-Control', 'no-cache');
    res.json(defaultStyle(baseUrl(req, config)));
  });

  if (demo) {
    // Demo keys only: production agencies sign their own tokens and never expose a key here.
    router.get('/demo/tokens', (_req, res) => {
      const expiresAt = new Date(Date.now() + DEMO_TOKEN_HOURS * 3600 * 1000).toISOString();
      let tokens;
      try {
        tokens = DEMO_VIEWERS.map(({ agency, role }) => ({
          agency,
          role,
          label: `${agency} — ${role}`,
          expiresAt,
          token: issueToken({ agency, role, privateKey: readDemoKey(options.dataDir, agency), kid: DEMO_KID, expiresIn: `${DEMO_TOKEN_HOURS}h` }),
        }));
      } catch (error) {
        throw new Problem(503, 'Demo tokens unavailable', (error as Error).message);
      }
      res.setHeader('Cache-Control', 'no-store');
      res.json({ demo: true, note: 'Synthetic demo data. These tokens are signed with demo keys and expire after 12 hours.', tokens });
    });
  }

  return router;
}
