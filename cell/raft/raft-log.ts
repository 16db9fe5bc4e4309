// The Raft log as the core sees it: stable entries (in the caller's storage) followed by
// unstable ones (appended by the core, not yet persisted). Entries leave `unstable` only when
// the caller acknowledges that it persisted them (advance), so a crash can never make the core
// believe something is durable that is not.

import { assert } from '../../shared/assert.js';
import { limitBySize } from './log-util.js';
import { CompactedError, UnavailableError, type Entry, type RaftStorage, type Snapshot } from './types.js';

class Unstable {
  snapshot: Snapshot | null = null;
  entries: Entry[] = [];
  /** Index of entries[0]. */
  offset: number;

  constructor(offset: number) {
    this.offset = offset;
  }

  lastIndex(): number | null {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    if (this.snapshot) return this.snapshot.metadata.index;
    return null;
  }

  term(index: number): number | null {
    if (index < this.offset) {
      if (this.snapshot && this.snapshot.metadata.index === index) return this.snapshot.metadata.term;
      return null;
    }
    const last = this.lastIndex();
    if (last === null || index > last) return null;
    return this.entries[index - this.offset]!.term;
  }

  truncateAndAppend(ents: readonly Entry[]): void {
    const after = ents[0]!.index;
    if (after === this.offset + this.entries.length) {
      this.entries.push(...ents);
    } else if (after <= this.offset) {
      // Replaces everything unstable; the caller's storage truncates its conflicting suffix.
      this.offset = after;
      this.entries = ents.slice();
    } else {
      this.entries = this.entries.slice(0, after - this.offset).concat(ents);
    }
  }

  stableTo(index: number, term: number): void {
    const t = this.term(index);
    // Only when the persisted entry is still the one we hold (it may have been overwritten).
    if (t === term && index >= this.offset) {
      this.entries = this.entries.slice(index + 1 - this.offset);
      this.offset = index + 1;
    }
  }

  stableSnapTo(index: number): void {
    if (this.snapshot && this.snapshot.metadata.index === index) this.snapshot = null;
  }

  restore(snap: Snapshot): void {
    this.offset = snap.metadata.index + 1;
    this.entries = [];
    this.snapshot = snap;
  }
}

export class RaftLog {
  readonly storage: RaftStorage;
  readonly unstable: Unstable;
  committed: number;
  applied: number;

  constructor(storage: RaftStorage, applied: number) {
    this.storage = storage;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applied = Math.max(first - 1, applied);
  }

  firstIndex(): number {
    const s = this.unstable.snapshot;
    return s ? s.metadata.index + 1 : this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.lastIndex() ?? this.storage.lastIndex();
  }

  /** The term of the entry at `index`, or null when it is compacted or beyond the log. */
  term(index: number): number | null {
    const dummy = this.firstIndex() - 1;
    if (index < dummy || index > this.lastIndex()) return null;
    const t = this.unstable.term(index);
    if (t !== null) return t;
    try {
      return this.storage.term(index);
    } catch (e) {
      if (e instanceof CompactedError || e instanceof UnavailableError) return null;
      throw e;
    }
  }

  /** The last index known to be persisted (before any unstable entry). */
  stableLastIndex(): number {
    return this.unstable.entries.length > 0 ? this.unstable.offset - 1 : this.lastIndex();
  }

  lastTerm(): number {
    const t = this.term(this.lastIndex());
    assert(t !== null, 'last term unavailable');
    return t;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    assert(ents[0]!.index - 1 >= this.committed, `append at ${ents[0]!.index} below commit ${this.committed}`);
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /**
   * Appends a leader's entries after checking that the log matches at (prevIndex, prevTerm).
   * Returns the index of the last entry the message covers, or null on mismatch.
   */
  maybeAppend(prevIndex: number, prevTerm: number, leaderCommit: number, ents: readonly Entry[]): number | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const lastNew = prevIndex + ents.length;
    const conflict = this.findConflict(ents);
    if (conflict !== 0) {
      assert(conflict > this.committed, `conflict at ${conflict} with committed entry (commit ${this.committed})`);
      this.append(ents.slice(conflict - ents[0]!.index));
    }
    this.commitTo(Math.min(leaderCommit, lastNew));
    return lastNew;
  }

  /** The first index whose term differs from ours (or that we lack); 0 when all match. */
  private findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /** The largest index <= `index` whose term is <= `term` (fast backtracking). */
  findConflictByTerm(index: number, term: number): number {
    let i = Math.min(index, this.lastIndex());
    for (; i > 0; i--) {
      const t = this.term(i);
      if (t === null || t <= term) break;
    }
    return i;
  }

  commitTo(index: number): void {
    if (index > this.committed) {
      assert(index <= this.lastIndex(), `commit ${index} beyond last index ${this.lastIndex()}`);
      this.committed = index;
    }
  }

  /** Commits `index` only if its entry is of `term` (the leader's current term). */
  maybeCommit(index: number, term: number): boolean {
    if (index > this.committed && this.term(index) === term) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  /** Entries in [lo, hi) within maxBytes, from storage and then unstable. Null when compacted. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] | null {
    if (lo >= hi) return [];
    if (lo < this.firstIndex()) return null;
    assert(hi <= this.lastIndex() + 1, `slice [${lo}, ${hi}) beyond last ${this.lastIndex()}`);
    let out: Entry[] = [];
    const uo = this.unstable.offset;
    if (lo < uo) {
      try {
        out = this.storage.entries(lo, Math.min(hi, uo), maxBytes);
      } catch (e) {
        if (e instanceof CompactedError) return null;
        throw e;
      }
      if (out.length < Math.min(hi, uo) - lo) return out; // size limit reached
    }
    if (hi > uo) {
      const from = Math.max(lo, uo);
      const un = this.unstable.entries.slice(from - uo, hi - uo);
      out = out.length > 0 ? out.concat(un) : un;
    }
    return limitBySize(out, maxBytes);
  }

  /** Committed entries not yet applied (nor being applied), from `after` + 1. */
  nextCommitted(after: number, maxBytes: number): Entry[] {
    const lo = Math.max(after + 1, this.firstIndex());
    if (this.committed < lo) return [];
    return this.slice(lo, this.committed + 1, maxBytes) ?? [];
  }

  appliedTo(index: number): void {
    assert(index <= this.committed, `applied ${index} beyond commit ${this.committed}`);
    if (index > this.applied) this.applied = index;
  }

  restore(snap: Snapshot): void {
    this.committed = snap.metadata.index;
    this.unstable.restore(snap);
  }
}
