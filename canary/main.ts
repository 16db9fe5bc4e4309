// The canary process: `node --import tsx canary/main.ts --url URL --token JWT` (or
// `npx cellkv canary ...`). Prints `metrics=<url>` on stdout once serving, JSON logs and a
// progress line every 10 s on stderr, and a summary line on stderr when it stops (SIGTERM,
// SIGINT, --max-ops, --max-windows). Exit code: 0, 1 when some window was not linearizable,
// 2 on bad flags or an unreachable setup.

import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import pino from 'pino';
import { Canary, CanaryConfigError, type CanarySummary } from './canary.js';
import { CanaryMetrics, serveMetrics } from './metrics.js';
import { addCanaryOptions, canaryClient, canaryConfig, canaryToken, type CanaryCliOptions } from './options.js';

const PROGRESS_EVERY_MS = 10_000;

export function summaryLine(s: CanarySummary): string {
  const c = s.checks;
  return `canary: ${s.ops.ok + s.ops.fail + s.ops.unknown} ops (${s.ops.ok} ok, ${s.ops.fail} fail, ${s.ops.unknown} unknown), windows: ${c.linearizable} linearizable, ${c.violation} violation, ${c.unknown} unknown, ${c.skipped} skipped`;
}

/** Runs the canary until it stops; returns the exit code. `token` overrides the flags' token. */
export async function runCanaryProcess(o: CanaryCliOptions, token?: string): Promise<number> {
  const tok = token ?? canaryToken(o);
  if (tok === null) throw new CanaryConfigError('no token: pass --token, --token-file or set CELLKV_CANARY_TOKEN (kv:read kv:write for the canary tenant)');
  const cfg = canaryConfig(o);
  const client = canaryClient(o, tok);
  const logger = pino({ name: 'cellkv-canary', level: o.logLevel, base: { pid: process.pid } }, pino.destination(2));
  const metrics = new CanaryMetrics({ defaultMetrics: true });
  const canary = new Canary(cfg, { client, metrics, logger });
  const server = await serveMetrics(metrics, o.metricsPort, o.metricsHost);
  process.stdout.write(`metrics=${server.url} run=${canary.runId}\n`);
  const onSignal = () => void canary.stop();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  const progress = setInterval(() => process.stderr.write(`${summaryLine(canary.summary())}\n`), PROGRESS_EVERY_MS);
  progress.unref();
  try {
    const summary = await canary.run();
    process.stderr.write(`${summaryLine(summary)}\n`);
    for (const f of summary.files) process.stderr.write(`canary: kept ${f} (re-check: npm run lincheck -- ${f})\n`);
    return summary.checks.violation > 0 ? 1 : 0;
  } finally {
    clearInterval(progress);
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await server.close();
    await client.close();
  }
}

export function reportFailure(e: unknown): number {
  const code = (e as { code?: unknown }).code;
  process.stderr.write(`canary: ${typeof code === 'string' ? code : 'INTERNAL'}: ${(e as Error)?.message ?? String(e)}\n`);
  return 2;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const program = addCanaryOptions(new Command().name('canary').description('live linearizability canary for cellkv').showHelpAfterError());
  program.action(async (o: CanaryCliOptions) => {
    process.exitCode = await runCanaryProcess(o).catch(reportFailure);
  });
  program.parseAsync(process.argv).catch((e: unknown) => {
    process.exitCode = reportFailure(e);
  });
}
