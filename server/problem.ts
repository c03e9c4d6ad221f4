// RFC 7807 problem details. Every error the API returns is one of these, with the field
// and the reason where a particular input was at fault.
import type { ErrorRequestHandler, Response } from 'express';
import { logger } from './logger';

export interface FieldProblem {
  /** JSON pointer or parameter name of the offending input, e.g. `/properties/classification`. */
  field: string;
  reason: string;
  /** Index of the feature in a bulk import. */
  feature?: number;
  location?: [number, number];
}

export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail?: string,
    readonly extensions: Record<string, unknown> & { errors?: FieldProblem[] } = {},
  ) {
    super(detail ?? title);
  }
}

export const badRequest = (detail: string, errors?: FieldProblem[]) =>
  new Problem(400, 'Bad request', detail, errors ? { errors } : {});
export const unprocessable = (detail: string, errors?: FieldProblem[], extra: Record<string, unknown> = {}) =>
  new Problem(422, 'Unprocessable record', detail, { ...(errors ? { errors } : {}), ...extra });
export const notFound = (detail: string) => new Problem(404, 'Not found', detail);
export const forbidden = (detail: string) => new Problem(403, 'Forbidden', detail);
export const unauthorized = (detail: string) => new Problem(401, 'Unauthorized', detail);
export const conflict = (detail: string, errors?: FieldProblem[]) =>
  new Problem(409, 'Conflict', detail, errors ? { errors } : {});
export const preconditionFailed = (detail: string, currentVersion: number) =>
  new Problem(412, 'Precondition failed', detail, { currentVersion });
export const preconditionRequired = (detail: string) => new Problem(428, 'Precondition required', detail);

export function sendProblem(res: Response, problem: Problem): void {
  res.status(problem.status).type('application/problem+json');
  if (problem.status === 401) res.set('WWW-Authenticate', 'Bearer realm="minefield-records"');
  res.send(JSON.stringify({
    type: 'about:blank',
    title: problem.title,
    status: problem.status,
    ...(problem.detail ? { detail: problem.detail } : {}),
    instance: res.req.originalUrl,
    requestId: res.req.id,
    ...problem.extensions,
  }));
}

/** Maps body-parser and database errors onto problems; anything else is a 500 and logged. */
export const problemHandler: ErrorRequestHandler = (error, req, res, _next) => {
  if (error instanceof Problem) return sendProblem(res, error);
  const status = (error as { status?: number; type?: string }).status;
  const type = (error as { type?: string }).type;
  if (type === 'entity.too.large') {
    return sendProblem(res, new Problem(413, 'Payload too large', `request body exceeds the limit of ${(error as { limit?: number }).limit} bytes`));
  }
  if (type === 'entity.parse.failed') {
    return sendProblem(res, badRequest(`request body is not valid JSON: ${(error as Error).message}`, [{ field: 'body', reason: 'invalid JSON' }]));
  }
  if (status && status >= 400 && status < 500) {
    return sendProblem(res, new Problem(status, 'Bad request', (error as Error).message));
  }
  // Driver errors quote the whole statement; a bulk import's would flood the log.
  const failure = error as Error & { code?: string };
  (req.log ?? logger).error({ err: { type: failure.name, message: String(failure.message).slice(0, 1000), code: failure.code, stack: failure.stack?.slice(0, 2000) } }, 'unhandled error');
  sendProblem(res, new Problem(500, 'Internal server error', 'the request failed; the request id identifies it in the service logs'));
};
