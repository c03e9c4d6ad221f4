import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { Problem, forbidden, unauthorized } from '../problem';
import type { AgencyKeyStore } from './keys';
import { verifyToken } from './verifyToken';
import type { VerifiedTokenCache } from './tokenCache';
import { Viewer, canEdit } from './viewer';

declare module 'express-serve-static-core' {
  interface Request {
    viewer?: Viewer;
  }
}

/** Reads a bearer token when one is sent; a bad token is always refused, never ignored. */
export function identify(keys: AgencyKeyStore, verified: VerifiedTokenCache): RequestHandler {
  return async (req: Request, _res: Response, next: NextFunction) => {
    const header = req.get('authorization');
    if (!header) return next();
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    try {
      if (!match) throw unauthorized('Authorization header must be "Bearer <token>"');
      req.viewer = await verifyToken(match[1], keys, verified);
      req.log?.setBindings?.({ agency: req.viewer.agency, role: req.viewer.role });
      next();
    } catch (error) {
      next(error instanceof Problem ? error : unauthorized((error as Error).message));
    }
  };
}

export const requireViewer: RequestHandler = (req, _res, next) => {
  next(req.viewer ? undefined : unauthorized('this resource needs a bearer token of an agency'));
};

export function editorOf(req: Request): Viewer {
  const viewer = req.viewer;
  if (!viewer) throw unauthorized('this resource needs a bearer token of an agency');
  if (viewer.role === 'facilitator') throw forbidden('facilitators of the liaison mechanism edit no records');
  if (!canEdit(viewer)) throw forbidden(`role "${viewer.role}" may read but not edit; an editor of ${viewer.agency} must make this change`);
  return viewer;
}
