// Virtual time for the whole-node simulation. Every timer, every disk completion and every
// network delivery of every node is an event in one queue ordered by (time, sequence); the
// run takes one event at a time and then lets every promise that event settled run to its
// end before the next one (the nodes' async code resumes only on microtasks, never on real
// I/O). So the interleaving of the nodes' async code is a function of the seed alone.

import { setImmediate as realImmediate } from 'node:timers/promises';
import { assert } from '../../../shared/assert.js';
import type { NodeClock, TimerHandle } from '../../../cell/node/clock.js';

/** Virtual epoch: TTLs and dedupe ages are wall-clock milliseconds in the node. */
export const SIM_EPOCH_MS = 1_700_000_000_000;
/** Bound on queued events: a node that schedules without end is a bug, not a load. */
const MAX_QUEUED_EVENTS = 2_000_000;

interface SimEvent {
  readonly at: number;
  readonly seq: number;
  /** Who owns it: a crashed node's events are cancelled with it. */
  readonly owner: string;
  readonly run: () => void;
  cancelled: boolean;
}

/** A binary min-heap of events by (at, seq). */
class EventHeap {
  private readonly items: SimEvent[] = [];

  get size(): number {
    return this.items.length;
  }

  push(e: SimEvent): void {
    const a = this.items;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  pop(): SimEvent | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l]!, a[m]!)) m = l;
        if (r < a.length && before(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }

  peek(): SimEvent | undefined {
    return this.items[0];
  }
}

function before(x: SimEvent, y: SimEvent): boolean {
  return x.at < y.at || (x.at === y.at && x.seq < y.seq);
}

export class SimScheduler {
  private readonly heap = new EventHeap();
  private seq = 0;
  private clock = SIM_EPOCH_MS;
  private readonly dead = new Set<string>();
  /** Live events per owner, so a crash cancels them all. */
  private readonly byOwner = new Map<string, Set<SimEvent>>();
  eventsRun = 0;

  /** Virtual milliseconds since the epoch. */
  get now(): number {
    return this.clock;
  }

  /** Milliseconds since the run started. */
  get elapsed(): number {
    return this.clock - SIM_EPOCH_MS;
  }

  at(delayMs: number, owner: string, run: () => void): TimerHandle {
    assert(delayMs >= 0 && Number.isFinite(delayMs), `bad delay ${delayMs}`);
    if (this.dead.has(owner)) return { cancel: () => undefined };
    assert(this.heap.size < MAX_QUEUED_EVENTS, 'simulation event queue overflow');
    const e: SimEvent = { at: this.clock + Math.floor(delayMs), seq: this.seq++, owner, run, cancelled: false };
    this.heap.push(e);
    let set = this.byOwner.get(owner);
    if (!set) this.byOwner.set(owner, (set = new Set()));
    set.add(e);
    return {
      cancel: () => {
        e.cancelled = true;
        set.delete(e);
      },
    };
  }

  /** Cancels every event of `owner` and refuses new ones until `revive`. */
  kill(owner: string): void {
    this.dead.add(owner);
    for (const e of this.byOwner.get(owner) ?? []) e.cancelled = true;
    this.byOwner.delete(owner);
  }

  revive(owner: string): void {
    this.dead.delete(owner);
  }

  /** The NodeClock of one owner (a node boot): its timers die with it. */
  clockFor(owner: string): NodeClock {
    const sched = this;
    return {
      now: () => sched.clock,
      every(ms, fn) {
        assert(ms >= 1, 'timer period');
        let handle: TimerHandle | null = null;
        let cancelled = false;
        const arm = () => {
          handle = sched.at(ms, owner, () => {
            if (cancelled) return;
            arm();
            fn();
          });
        };
        arm();
        return {
          cancel: () => {
            cancelled = true;
            handle?.cancel();
          },
        };
      },
      after: (ms, fn) => sched.at(ms, owner, fn),
      soon: (fn) => void sched.at(0, owner, fn),
      sleep: (ms) => new Promise<void>((resolve) => void sched.at(ms, owner, resolve)),
    };
  }

  /**
   * Runs events until virtual time `untilMs` (since the epoch) or `stop()` says so; after
   * each event every settled promise runs (one real macrotask turn drains the microtasks),
   * then `afterEvent` (the safety checks).
   */
  async runUntil(untilMs: number, afterEvent: () => void, stop: () => boolean = () => false): Promise<void> {
    for (;;) {
      const e = this.heap.peek();
      if (e === undefined || e.at > untilMs) break;
      this.heap.pop();
      if (e.cancelled) continue;
      this.byOwner.get(e.owner)?.delete(e);
      assert(e.at >= this.clock, 'time never goes back');
      this.clock = e.at;
      e.run();
      this.eventsRun++;
      await realImmediate();
      afterEvent();
      if (stop()) return;
    }
    if (this.clock < untilMs) this.clock = untilMs;
  }
}
