// The node's disk in the whole-node simulation: an in-memory ordered key-value store with
// LevelDB's contract, and faults. A batch is atomic and batches complete in order, each after
// a (seeded) latency; a synced batch makes every earlier batch durable with it. A crash keeps
// what was durable plus a seeded prefix of the batches written since (unsynced, or in flight
// when the power went): LevelDB's log drops a torn record whole, so a crash can lose any
// suffix of the unsynced writes but never half a batch or a batch before a kept one.
// Faults besides crashes: slow writes, and a failing fsync (the batch errors; whether its
// bytes reached the disk is again for the crash to decide).

import { assert } from '../../../shared/assert.js';
import type { BatchOp, IteratorRange, NodeDb, PinnedView } from '../../../cell/storage/node-db.js';
import type { KvDb } from '../../../cell/kv/kv-db.js';
import type { Rng } from '../rng.js';
import type { SimScheduler } from './scheduler.js';

export interface DiskFaults {
  /** Probability that a write takes `slowMs`-ish instead of about a millisecond. */
  readonly slowRate: number;
  readonly slowMs: number;
  /** Probability that a synced write fails (EIO). */
  readonly fsyncFailRate: number;
}

/** The simulated EIO: a node that meets it must restart from its disk, nothing worse. */
export class SimulatedDiskError extends Error {}

export const CALM_DISK: DiskFaults = { slowRate: 0, slowMs: 0, fsyncFailRate: 0 };

/** Keys as strings of bytes (one char per byte) compare exactly like the bytes. */
function keyString(k: Uint8Array): string {
  let s = '';
  for (let i = 0; i < k.length; i++) s += String.fromCharCode(k[i]!);
  return s;
}

function keyBytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

/** A sorted map of byte keys (small data: a sorted array and binary search suffice). */
class SortedStore {
  private keys: string[] = [];
  private readonly values = new Map<string, Uint8Array>();

  clone(): SortedStore {
    const c = new SortedStore();
    c.keys = this.keys.slice();
    for (const [k, v] of this.values) c.values.set(k, v);
    return c;
  }

  get size(): number {
    return this.keys.length;
  }

  get(k: string): Uint8Array | undefined {
    return this.values.get(k);
  }

  private lowerBound(k: string): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.keys[mid]! < k) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  apply(ops: readonly BatchOp[]): void {
    for (const op of ops) {
      const k = keyString(op.key);
      if (op.type === 'put') {
        if (!this.values.has(k)) this.keys.splice(this.lowerBound(k), 0, k);
        this.values.set(k, op.value.slice());
      } else if (this.values.delete(k)) {
        this.keys.splice(this.lowerBound(k), 1);
      }
    }
  }

  /** The pairs in `range`, copied now (a LevelDB iterator reads from a snapshot too). */
  range(range: IteratorRange): [Uint8Array, Uint8Array][] {
    let lo = 0;
    if (range.gte !== undefined) lo = this.lowerBound(keyString(range.gte));
    if (range.gt !== undefined) {
      const g = keyString(range.gt);
      lo = Math.max(lo, this.lowerBound(g));
      if (this.keys[lo] === g) lo++;
    }
    const hi = range.lt !== undefined ? this.lowerBound(keyString(range.lt)) : this.keys.length;
    const picked = hi > lo ? this.keys.slice(lo, hi) : [];
    if (range.reverse === true) picked.reverse();
    const limited = range.limit !== undefined && range.limit >= 0 ? picked.slice(0, range.limit) : picked;
    return limited.map((k) => [keyBytes(k), this.values.get(k)!.slice()]);
  }

  digest(): number {
    let h = 0x811c9dc5;
    for (const k of this.keys) {
      for (let i = 0; i < k.length; i++) h = Math.imul(h ^ k.charCodeAt(i), 0x01000193);
      for (const b of this.values.get(k)!) h = Math.imul(h ^ b, 0x01000193);
    }
    return h >>> 0;
  }
}

interface Write {
  readonly ops: readonly BatchOp[];
  readonly sync: boolean;
}

export interface DiskStats {
  batches: number;
  syncs: number;
  failedSyncs: number;
  crashes: number;
  /** Batches written since the last sync that a crash kept, and that it lost. */
  keptAtCrash: number;
  lostAtCrash: number;
}

/** One node's disk; it outlives the node's boots. `open()` gives the handle of one boot. */
export class SimDisk {
  /** What survives a crash for sure. */
  private durable = new SortedStore();
  /** What reads see: durable plus completed unsynced writes. */
  private visible = new SortedStore();
  /** Completed since the last sync, in order (a crash keeps a prefix of these + inFlight). */
  private unsynced: Write[] = [];
  /** Issued, not yet completed, in order. */
  private inFlight: Write[] = [];
  /** When the last issued write completes: writes complete in issue order. */
  private lastCompletion = 0;
  private boot = 0;
  faults: DiskFaults = CALM_DISK;
  /** Called when a synced write is issued (a crash point: the run may pull the plug here). */
  onSyncIssued: () => void = () => undefined;
  readonly stats: DiskStats = { batches: 0, syncs: 0, failedSyncs: 0, crashes: 0, keptAtCrash: 0, lostAtCrash: 0 };

  constructor(
    readonly nodeId: string,
    private readonly sched: SimScheduler,
    private readonly rng: Rng,
  ) {}

  /** Owner name of this boot's disk events (cancelled by a crash). */
  private owner(): string {
    return `disk:${this.nodeId}:${this.boot}`;
  }

  /** The database handle of a new boot. */
  open(): NodeDb {
    this.sched.revive(this.owner());
    return new SimNodeDb(this, this.boot);
  }

  isCurrent(boot: number): boolean {
    return boot === this.boot;
  }

  read(boot: number, fn: (s: SortedStore) => void): void {
    assert(boot === this.boot, 'read from a dead boot');
    fn(this.visible);
  }

  /** A reply after the usual thread-pool hop: same virtual time, a later event. */
  later<T>(boot: number, value: () => T): Promise<T> {
    return new Promise<T>((resolve) => {
      this.sched.at(0, this.owner(), () => {
        if (this.isCurrent(boot)) resolve(value());
      });
    });
  }

  write(boot: number, ops: readonly BatchOp[], sync: boolean): Promise<void> {
    assert(boot === this.boot, 'write from a dead boot');
    const w: Write = { ops: ops.map((o) => (o.type === 'put' ? { type: 'put', key: o.key.slice(), value: o.value.slice() } : { type: 'del', key: o.key.slice() })), sync };
    this.inFlight.push(w);
    this.stats.batches++;
    const latency = this.rng.chance(this.faults.slowRate) ? this.rng.range(1, Math.max(1, this.faults.slowMs)) : this.rng.range(0, 1);
    const at = Math.max(this.sched.now + latency, this.lastCompletion);
    this.lastCompletion = at;
    const fails = sync && this.rng.chance(this.faults.fsyncFailRate);
    const promise = new Promise<void>((resolve, reject) => {
      this.sched.at(at - this.sched.now, this.owner(), () => {
        const head = this.inFlight.shift();
        assert(head === w, 'disk writes complete in issue order');
        this.visible.apply(w.ops);
        if (fails) {
          // Whether the bytes made it is unknown: the next crash decides (it is unsynced).
          this.unsynced.push(w);
          this.stats.failedSyncs++;
          reject(new SimulatedDiskError(`EIO: fsync failed on node ${this.nodeId} (simulated)`));
          return;
        }
        if (sync) {
          for (const u of this.unsynced) this.durable.apply(u.ops);
          this.durable.apply(w.ops);
          this.unsynced = [];
          this.stats.syncs++;
        } else {
          this.unsynced.push(w);
        }
        resolve();
      });
    });
    if (sync) this.onSyncIssued();
    return promise;
  }

  /** What a crash right now would certainly keep under `key`. */
  durableGet(key: Uint8Array): Uint8Array | undefined {
    return this.durable.get(keyString(key));
  }

  /**
   * A crash. Power loss keeps the durable state and a seeded prefix of what was written
   * since; a process crash (kill -9) keeps every completed write (the OS has it) and a
   * prefix of those in flight.
   */
  crash(powerLoss: boolean): void {
    const since = [...this.unsynced, ...this.inFlight];
    const floor = powerLoss ? 0 : this.unsynced.length;
    const keep = floor + this.rng.int(since.length - floor + 1);
    for (const w of since.slice(0, keep)) this.durable.apply(w.ops);
    this.stats.keptAtCrash += keep;
    this.stats.lostAtCrash += since.length - keep;
    this.stats.crashes++;
    this.visible = this.durable.clone();
    this.unsynced = [];
    this.inFlight = [];
    this.sched.kill(this.owner());
    this.boot++;
    this.lastCompletion = 0;
  }

  /** A clean shutdown: everything written is on disk (nothing in flight by then). */
  shutdown(): void {
    assert(this.inFlight.length === 0, 'shutdown with writes in flight');
    for (const u of this.unsynced) this.durable.apply(u.ops);
    this.unsynced = [];
    this.visible = this.durable.clone();
    this.sched.kill(this.owner());
    this.boot++;
  }

  /** Durable and visible state digests (for tests of the disk itself). */
  digests(): { durable: number; visible: number } {
    return { durable: this.durable.digest(), visible: this.visible.digest() };
  }
}

class SimNodeDb implements NodeDb {
  readonly location: string;
  readonly kv: KvDb = this;

  constructor(
    private readonly disk: SimDisk,
    private readonly boot: number,
  ) {
    this.location = `sim://${disk.nodeId}`;
  }

  /** A dead boot's calls never complete: its node is gone, its promises with it. */
  private alive(): boolean {
    return this.disk.isCurrent(this.boot);
  }

  get(key: Uint8Array): Promise<Uint8Array | undefined> {
    if (!this.alive()) return new Promise(() => undefined);
    let v: Uint8Array | undefined;
    this.disk.read(this.boot, (s) => (v = s.get(keyString(key))?.slice()));
    return this.disk.later(this.boot, () => v);
  }

  getMany(keys: Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    if (!this.alive()) return new Promise(() => undefined);
    let vs: (Uint8Array | undefined)[] = [];
    this.disk.read(this.boot, (s) => (vs = keys.map((k) => s.get(keyString(k))?.slice())));
    return this.disk.later(this.boot, () => vs);
  }

  async *iterator(range: IteratorRange): AsyncIterable<[Uint8Array, Uint8Array]> {
    if (!this.alive()) await new Promise(() => undefined);
    let pairs: [Uint8Array, Uint8Array][] = [];
    this.disk.read(this.boot, (s) => (pairs = s.range(range)));
    await this.disk.later(this.boot, () => undefined);
    for (const p of pairs) yield p;
  }

  batch(ops: readonly BatchOp[], sync: boolean): Promise<void> {
    if (!this.alive()) return new Promise(() => undefined);
    return this.disk.write(this.boot, ops, sync);
  }

  pinnedView(): PinnedView {
    let pairs: [Uint8Array, Uint8Array][] = [];
    this.disk.read(this.boot, (s) => (pairs = s.range({})));
    const frozen = new SortedStore();
    frozen.apply(pairs.map(([key, value]) => ({ type: 'put', key, value })));
    const boot = this.boot;
    const disk = this.disk;
    return {
      get: (key) => disk.later(boot, () => frozen.get(keyString(key))?.slice()),
      getMany: (keys) => disk.later(boot, () => keys.map((k) => frozen.get(keyString(k))?.slice())),
      async *iterator(range: IteratorRange) {
        for (const p of frozen.range(range)) yield p;
      },
      close: () => Promise.resolve(),
    };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
