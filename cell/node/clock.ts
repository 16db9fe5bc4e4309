// Time as the node sees it: the wall clock and timers in production, a virtual clock in the
// whole-node simulation (test/sim/node/), so that one seed replays one schedule exactly.
// Everything in cell/node that reads the time or waits goes through a NodeClock.

import { setTimeout as sleepReal } from 'node:timers/promises';

export interface TimerHandle {
  cancel(): void;
  /**
   * Lets the process exit while only this timer is pending (a housekeeping timer must not hold
   * a stopping process open). Real timers have it; a virtual clock may leave it out.
   */
  unref?(): void;
}

export interface NodeClock {
  /** Milliseconds since the epoch (TTLs and dedupe ages are stored in this unit). */
  now(): number;
  /** Runs `fn` every `ms` until cancelled. */
  every(ms: number, fn: () => void): TimerHandle;
  /** Runs `fn` once after `ms`. */
  after(ms: number, fn: () => void): TimerHandle;
  /** Runs `fn` on a later turn of the event loop, after pending I/O callbacks. */
  soon(fn: () => void): void;
  sleep(ms: number): Promise<void>;
}

export const systemClock: NodeClock = {
  now: () => Date.now(),
  every(ms, fn) {
    const t = setInterval(fn, ms);
    return { cancel: () => clearInterval(t), unref: () => void t.unref() };
  },
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t), unref: () => void t.unref() };
  },
  soon(fn) {
    setImmediate(fn);
  },
  sleep: (ms) => sleepReal(ms),
};
