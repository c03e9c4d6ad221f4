import type { Request } from 'express';
import { preconditionFailed, preconditionRequired } from './problem';

export const etagOf = (version: number) => `"${version}"`;

/** The version named by If-Match; 428 without one, since a blind write could undo another's edit. */
export function requireIfMatch(req: Request, currentVersion: number): void {
  const header = req.get('if-match');
  if (!header) throw preconditionRequired(`send If-Match with the ETag of the version you edited (current: ${etagOf(currentVersion)})`);
  const versions = header.split(',').map((tag) => tag.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1'));
  if (!versions.includes(String(currentVersion))) {
    throw preconditionFailed(
      `the record has changed since version ${versions.join(', ')}: it is now at version ${currentVersion}; fetch it again and reapply your edit`,
      currentVersion,
    );
  }
}
