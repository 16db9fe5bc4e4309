// Worker-thread side of pool.ts: runs the seeds it is sent and posts back a summary each.

import { parentPort } from 'node:worker_threads';
import { assert } from '../../shared/assert.js';
import { summarize, type SeedJob } from './pool.js';
import { runSeed } from './run.js';

const port = parentPort;
assert(port !== null, 'worker.ts must run in a worker thread');

port.on('message', (job: SeedJob | null) => {
  if (job === null) {
    port.close();
    return;
  }
  const t0 = performance.now();
  const result = runSeed(job.seed, job.options);
  port.postMessage(summarize(result, performance.now() - t0));
});
