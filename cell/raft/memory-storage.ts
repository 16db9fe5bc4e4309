// An in-memory RaftStorage: the stable storage of the deterministic simulation and unit tests.
// It models what a disk would hold; the caller writes to it while handling a Ready.

import { assert } from '../../shared/assert.js';
import {
  CompactedError,
  UnavailableError,
  type ConfState,
  type Entry,
  type HardState,
  type RaftStorage,
  type Snapshot,
} from './types.js';
import { entryBytes, limitBySize } from './log-util.js';

export const EMPTY_CONF_STATE: ConfState = {
  voters: [],
  learners: [],
  votersOutgoing: [],
  learnersNext: [],
  autoLeave: false,
};

export class MemoryStorage implements RaftStorage {
  private hardState: HardState = { term: 0, vote: null, commit: 0 };
  private snap: Snapshot;
  // ents[0] is a sentinel holding the snapshot's index and term.
  private ents: Entry[];

  constructor(confState: ConfState = EMPTY_CONF_STATE) {
    this.snap = { metadata: { index: 0, term: 0, confState }, data: new Uint8Array(0) };
    this.ents = [{ index: 0, term: 0, kind: 'normal', data: new Uint8Array(0) }];
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.hardState, confState: this.snap.metadata.confState };
  }

  /**
   * Starts a fresh group: the initial membership becomes a snapshot at index 1, term 1, so a
   * node added later (with empty storage) learns it from the leader's snapshot like any other
   * lagging replica. Empty snapshot data means the initial (empty) state machine.
   */
  bootstrap(confState: ConfState): void {
    assert(this.lastIndex() === 0, 'bootstrap of a non-empty storage');
    this.snap = { metadata: { index: 1, term: 1, confState }, data: new Uint8Array(0) };
    this.ents = [{ index: 1, term: 1, kind: 'normal', data: new Uint8Array(0) }];
    this.hardState = { term: 1, vote: null, commit: 1 };
  }

  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  hardStateNow(): HardState {
    return this.hardState;
  }

  private offset(): number {
    return this.ents[0]!.index;
  }

  firstIndex(): number {
    return this.offset() + 1;
  }

  lastIndex(): number {
    return this.offset() + this.ents.length - 1;
  }

  term(index: number): number {
    const off = this.offset();
    if (index < off) throw new CompactedError(index);
    if (index - off >= this.ents.length) throw new UnavailableError(index);
    return this.ents[index - off]!.term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const off = this.offset();
    if (lo <= off) throw new CompactedError(lo);
    assert(hi <= this.lastIndex() + 1, `entries hi ${hi} beyond last ${this.lastIndex()}`);
    return limitBySize(this.ents.slice(lo - off, hi - off), maxBytes);
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Appends entries, truncating any stored suffix they conflict with. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return; // all already compacted
    const from = entries[0]!.index < first ? entries.slice(first - entries[0]!.index) : entries;
    const start = from[0]!.index;
    assert(start <= this.lastIndex() + 1, `append gap: ${start} after ${this.lastIndex()}`);
    this.ents = this.ents.slice(0, start - this.offset()).concat(from);
  }

  /** Replaces the whole log with a received snapshot. */
  applySnapshot(snap: Snapshot): void {
    assert(snap.metadata.index >= this.snap.metadata.index, 'snapshot out of date');
    this.snap = snap;
    this.ents = [{ index: snap.metadata.index, term: snap.metadata.term, kind: 'normal', data: new Uint8Array(0) }];
  }

  /** Records a snapshot of the applied state at `index` (which must be stored). */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    assert(index > this.snap.metadata.index, 'snapshot index not newer');
    assert(index <= this.lastIndex(), 'snapshot beyond the log');
    this.snap = { metadata: { index, term: this.term(index), confState }, data };
    return this.snap;
  }

  /** Discards entries before `index` (they are covered by a snapshot). */
  compact(index: number): void {
    const off = this.offset();
    if (index <= off) return;
    assert(index <= this.lastIndex(), 'compact beyond the log');
    this.ents = this.ents.slice(index - off);
    this.ents[0] = { index, term: this.ents[0]!.term, kind: 'normal', data: new Uint8Array(0) };
  }

  /** Bytes of log held (for size-triggered snapshots). */
  logBytes(): number {
    let n = 0;
    for (let i = 1; i < this.ents.length; i++) n += entryBytes(this.ents[i]!);
    return n;
  }
}
