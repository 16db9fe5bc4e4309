// Loads the key space before the workloads: keys [from, to) in batches of the peer's batch size
// (cellkv: /v1/batch, etcd: one txn, JetStream: pipelined puts), a few batches in flight,
// with progress. A failed batch counts all its keys as failed and the load goes on: the
// workloads then read some absent keys, which shows in their not-found counts.

import { errorLabel, type KvDriver, type KvEntryInput, type RunningPeer } from './peers/types.js';
import type { ProgressSink } from './progress.js';
import { formatCount } from './progress.js';
import { keyName, ValuePool } from './workloads.js';
import { Rng } from './zipfian.js';

export interface LoadStats {
  readonly keys: number;
  readonly seconds: number;
  readonly keysPerSec: number;
  readonly failed: number;
  readonly errorLabels: Record<string, number>;
  readonly batch: number;
  readonly inFlight: number;
}

export async function preload(
  driver: KvDriver,
  peer: RunningPeer,
  range: { readonly from: number; readonly to: number },
  valueBytes: number,
  seed: number,
  ui: ProgressSink,
  aborted: () => boolean,
): Promise<LoadStats> {
  const { batch, inFlight } = peer.preload;
  const total = range.to - range.from;
  const values = new ValuePool(valueBytes, new Rng(seed));
  const labels = new Map<string, number>();
  let next = range.from;
  let done = 0;
  let failed = 0;
  const t0 = performance.now();
  const bar = ui.phase(`preload ${peer.peer}`, total, 'keys');
  const tick = setInterval(() => {
    const s = (performance.now() - t0) / 1000;
    const rate = done / Math.max(s, 1e-3);
    const eta = rate > 0 ? (total - done) / rate : 0;
    bar.update(done, `${formatCount(rate)} keys/s, ETA ${Math.ceil(eta)}s${failed ? `, ${formatCount(failed)} failed` : ''}`);
  }, 250);
  const lane = async (): Promise<void> => {
    while (next < range.to && !aborted()) {
      const start = next;
      const end = Math.min(range.to, start + batch);
      next = end;
      const entries: KvEntryInput[] = [];
      for (let k = start; k < end; k++) entries.push({ key: keyName(k), value: values.next() });
      try {
        failed += await driver.putMany(entries);
      } catch (e) {
        failed += entries.length;
        const l = errorLabel(e);
        labels.set(l, (labels.get(l) ?? 0) + entries.length);
      }
      done += entries.length;
    }
  };
  try {
    await Promise.all(Array.from({ length: inFlight }, () => lane()));
  } finally {
    clearInterval(tick);
  }
  const seconds = (performance.now() - t0) / 1000;
  const keysPerSec = Math.round(total / Math.max(seconds, 1e-3));
  bar.done(`${formatCount(done)} keys in ${seconds.toFixed(1)}s (${formatCount(keysPerSec)} keys/s)${failed ? `, ${formatCount(failed)} FAILED` : ''}`);
  return { keys: total, seconds: Math.round(seconds * 1000) / 1000, keysPerSec, failed, errorLabels: Object.fromEntries(labels), batch, inFlight };
}
