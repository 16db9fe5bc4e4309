// JSON logs (pino) on stderr, so stdout stays free for the machine-readable ready line.
import pino from 'pino';
import type { Logger } from './ports.js';
import { currentTrace } from './tracing.js';

/**
 * Every line logged while serving a request carries its trace_id and span_id (the request's
 * SERVER span), so logs and traces join; lines that set them explicitly keep their own.
 * pino merges into the returned object, so it must be a fresh one each time.
 */
function traceFields(): Record<string, string> {
  const t = currentTrace();
  return t === undefined ? {} : { trace_id: t.traceId, span_id: t.spanId };
}

/** JSON logs to `destination` (stderr by default; tests capture lines with their own stream). */
export function createLogger(level = process.env['CELLKV_LOG_LEVEL'] ?? 'info', destination: pino.DestinationStream = pino.destination(2)): Logger {
  return pino({ name: 'cellkv-gateway', level, base: { pid: process.pid }, mixin: traceFields }, destination);
}

/** A logger that writes nothing (tests, embedding). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
