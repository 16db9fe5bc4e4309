// The cell node process: `tsx cell/main.ts --node-id n1 --az az1 --data-dir ... --nats nats://...`
// Serves /metrics and /healthz on --metrics-port; SIGTERM/SIGINT stop it gracefully.

import { createServer } from 'node:http';
import { Command } from 'commander';
import { initTelemetry } from '../shared/telemetry.js';
import { loadNodeConfig, parseBootstrap } from './node/config.js';
import { CellNode } from './node/node.js';
import { createLogger } from './node/log.js';
import { CellTracing } from './node/tracing.js';

const program = new Command()
  .name('cellkv-node')
  .description('cellkv storage node: hosts Raft replicas of cells over LevelDB, served over NATS')
  .option('--config <file>', 'JSON config file')
  .option('--node-id <id>', 'node id, e.g. n1')
  .option('--az <az>', 'availability zone, e.g. az1')
  .option('--data-dir <dir>', 'data directory (LevelDB)')
  .option('--nats <urls>', 'comma-separated NATS URLs')
  .option('--nats-user <user>', 'NATS user (password from CELLKV_NATS_PASSWORD)')
  .option('--metrics-port <port>', 'HTTP port for /metrics and /healthz (0 = any)')
  .option('--bootstrap <spec>', 'initial cluster for an empty data dir, e.g. n1:az1,n2:az2,n3:az3')
  .option('--tick-ms <ms>', 'Raft tick interval')
  .option('--snapshot-every <entries>', 'compact the log after this many entries')
  .option('--log-retain <entries>', 'entries kept after compaction')
  .option('--rebalance-interval-ms <ms>', 'how often a cell leader considers splitting its cell (0 = no automatic splits)')
  .option('--split-max-bytes <n>', 'split a cell by size above this many bytes (default 144 MiB)')
  .option('--split-size-bytes <n>', 'a size split cuts about this far from the start (default 96 MiB)')
  .option('--split-min-keys <n>', 'no split leaves a half with fewer keys (default 100)')
  .option('--split-load-qps <n>', 'split a cell by load above this many weighted ops/s, sustained 10 s (default 3000)')
  .option('--merge-cooldown-ms <n>', 'wait this long after a split before merging small neighbours automatically (default 600000)')
  .option('--placement-interval-ms <ms>', 'how often the meta leader plans replica moves and drains (0 = off; default 5000)')
  .option('--dead-node-timeout-ms <ms>', 're-create the replicas of a node silent this long, in its AZ (default 30000)')
  .option('--placement-max-moves <n>', 'replica moves running at once, fleet-wide (default 1)')
  .option('--placement-move-cooldown-ms <ms>', 'no balance move of a cell moved less than this ago (default 60000)')
  .option('--placement-load-gap-qps <n>', 'move leaderships for load when two leaders differ by this many ops/s (default 0 = off)')
  .option('--snapshot-max-bytes-per-sec <n>', 'pace snapshot chunks sent to other nodes to this many bytes/s (default 64 MiB/s)')
  .option('--otlp-endpoint <url>', 'OTLP/HTTP base URL for traces (else OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT; none = off)')
  .option('--trace-sample-ratio <r>', 'share of new traces sampled, 0..1')
  .parse();

const o = program.opts<Record<string, string | undefined>>();
const log = createLogger('cellkv-node');
const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));

async function main(): Promise<void> {
  const cfg = loadNodeConfig({
    config: o['config'],
    nodeId: o['nodeId'],
    az: o['az'],
    dataDir: o['dataDir'],
    natsUrls: o['nats']?.split(','),
    natsUser: o['natsUser'],
    metricsPort: num(o['metricsPort']),
    bootstrap: o['bootstrap'] !== undefined ? parseBootstrap(o['bootstrap']) : undefined,
    tickMs: num(o['tickMs']),
    snapshotEveryEntries: num(o['snapshotEvery']),
    logRetainEntries: num(o['logRetain']),
    rebalanceIntervalMs: num(o['rebalanceIntervalMs']),
    splitMaxBytes: num(o['splitMaxBytes']),
    splitSizeBytes: num(o['splitSizeBytes']),
    splitMinKeys: num(o['splitMinKeys']),
    splitLoadQps: num(o['splitLoadQps']),
    mergeCooldownMs: num(o['mergeCooldownMs']),
    placementIntervalMs: num(o['placementIntervalMs']),
    deadNodeTimeoutMs: num(o['deadNodeTimeoutMs']),
    placementMaxMoves: num(o['placementMaxMoves']),
    placementMoveCooldownMs: num(o['placementMoveCooldownMs']),
    placementLoadGapQps: num(o['placementLoadGapQps']),
    snapshotMaxBytesPerSec: num(o['snapshotMaxBytesPerSec']),
    otlpEndpoint: o['otlpEndpoint'],
    traceSampleRatio: num(o['traceSampleRatio']),
  });
  let exportFailedAt = 0;
  const telemetry = initTelemetry({
    serviceName: 'cellkv-node',
    instanceId: cfg.nodeId,
    attributes: { 'cellkv.node.id': cfg.nodeId, 'cellkv.az': cfg.az },
    otlpEndpoint: cfg.otlpEndpoint,
    sampleRatio: cfg.traceSampleRatio,
    // At most one line a minute while the collector is unreachable.
    onExportError: (err) => {
      if (Date.now() - exportFailedAt < 60_000) return;
      exportFailedAt = Date.now();
      log.warn({ err: err.message }, 'trace export failed; spans are dropped until the collector is back');
    },
  });
  if (telemetry.enabled) log.info({ endpoint: telemetry.endpoint }, 'tracing enabled');
  const node = await CellNode.start(cfg, log, CellTracing.create(telemetry, cfg.nodeId));
  const http = createServer((req, res) => {
    if (req.url === '/metrics') {
      void node.metrics.registry.metrics().then((body) => {
        res.writeHead(200, { 'content-type': node.metrics.registry.contentType });
        res.end(body);
      });
    } else if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, node: cfg.nodeId }));
    } else {
      res.writeHead(404).end();
    }
  });
  http.listen(cfg.metricsPort, cfg.metricsHost, () => {
    const addr = http.address();
    const port = typeof addr === 'object' && addr ? addr.port : cfg.metricsPort;
    // A machine-readable line so supervisors and tests learn the port.
    process.stdout.write(`cellkv-node ready node=${cfg.nodeId} metrics=http://${cfg.metricsHost}:${port}\n`);
  });
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ sig }, 'stopping: transferring leadership, flushing, closing LevelDB');
    void node
      .stop()
      // Spans of the requests failed or drained by the stop are flushed last.
      .then(() => telemetry.shutdown().catch((e: unknown) => log.warn({ err: (e as Error).message }, 'trace flush failed')))
      .then(() => http.close())
      .then(() => process.exit(0))
      .catch((e: unknown) => {
        log.error({ err: e }, 'unclean stop');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((e: unknown) => {
  process.stderr.write(`cellkv-node: ${(e as Error).message}\n`);
  process.exit(1);
});
