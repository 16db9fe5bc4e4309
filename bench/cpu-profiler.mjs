// Preloaded into every cellkv process by `npm run bench -- --cpu-prof` (NODE_OPTIONS=--import;
// Node 20 refuses --cpu-prof there). Sampling starts on SIGUSR2, which the harness sends after
// the preload, so start-up and module loading stay out of the profile; the profile is written
// to <dir>/cellkv-<pid>.cpuprofile when the process exits. Plain JavaScript because it loads
// before tsx does. The directory comes from BENCH_CPU_PROF_DIR; without it this does nothing.

import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.BENCH_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  let started = false;
  // Also keeps SIGUSR2 from killing the process (its default action).
  process.on('SIGUSR2', () => {
    if (started) return;
    started = true;
    session.connect();
    session.post('Profiler.enable');
    // 1 ms between samples keeps the overhead small on a busy 2-core machine.
    session.post('Profiler.setSamplingInterval', { interval: 1000 });
    session.post('Profiler.start');
  });
  // The main thread's inspector session answers synchronously, so this works in 'exit'.
  process.on('exit', () => {
    if (!started) return;
    session.post('Profiler.stop', (err, result) => {
      if (!err && result) writeFileSync(join(dir, `cellkv-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
