// JSON logs (pino) on stderr, so stdout stays free for the machine-readable ready line.
import pino from 'pino';

export type Logger = pino.Logger;

export function createLogger(level = process.env['CELLKV_LOG_LEVEL'] ?? 'info'): Logger {
  return pino({ name: 'cellkv-gateway', level, base: { pid: process.pid } }, pino.destination(2));
}

/** A logger that writes nothing (tests, embedding). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
