import pino from 'pino';

// One JSON line per event; request logs carry the request id (see server/app.ts).
export const logger = pino({
  level: process.env.LOG_LEVEL || (process.env.NODE_ENV === 'test' ? 'silent' : 'info'),
  base: { service: 'minefield-records' },
  timestamp: pino.stdTimeFunctions.isoTime,
});
