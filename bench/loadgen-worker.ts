// A generator thread (worker_threads): opens its own driver for the target, runs phases on
// request and posts back each phase's tallies with its histograms encoded (hdr compressed
// base64), then closes the driver. Loaded through tsx's loader by generators.ts.

import { parentPort } from 'node:worker_threads';
import { createDriver } from './peers/drivers.js';
import type { DriverOptions, KvDriver, TargetSpec } from './peers/types.js';
import { runThreadPhase, type ThreadPhaseSpec } from './loadgen.js';

type ToWorker =
  | { type: 'open'; target: TargetSpec; options: DriverOptions }
  | { type: 'run'; spec: ThreadPhaseSpec; shared: SharedArrayBuffer }
  | { type: 'close' };

const port = parentPort;
if (!port) throw new Error('loadgen-worker.ts runs only as a worker thread');
let driver: KvDriver | null = null;

port.on('message', (m: ToWorker) => {
  void (async () => {
    try {
      switch (m.type) {
        case 'open':
          driver = await createDriver(m.target, m.options);
          port.postMessage({ type: 'opened' });
          break;
        case 'run':
          if (!driver) throw new Error('run before open');
          port.postMessage({ type: 'result', result: await runThreadPhase(driver, m.spec, m.shared) });
          break;
        case 'close':
          await driver?.close();
          driver = null;
          port.postMessage({ type: 'closed' });
          break;
      }
    } catch (e) {
      port.postMessage({ type: 'error', message: (e as Error).stack ?? String(e) });
    }
  })();
});
