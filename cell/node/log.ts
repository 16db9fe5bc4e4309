// JSON logs (pino) on stderr; trace ids are added by callers as fields.
import pino from 'pino';

export type Logger = pino.Logger;

export function createLogger(name: string, level = process.env['CELLKV_LOG_LEVEL'] ?? 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination(2));
}
