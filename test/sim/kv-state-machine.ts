// The replicated key-value state machine the simulation runs on top of Raft: get, put, delete
// and compare-and-set on version, with a per-client session table so a retried write applies
// at most once and returns its original result (Raft dissertation §6.3).
// A key's version is the log index of the entry that wrote it: strictly increasing, never reused.

import { assert } from '../../shared/assert.js';
import type { Entry } from '../../cell/raft/types.js';

export type KvOpName = 'get' | 'put' | 'delete' | 'cas';

export interface KvCommand {
  readonly client: number;
  /** The client's request id; one op at a time per client, retries reuse it. */
  readonly seq: number;
  readonly op: KvOpName;
  readonly key: string;
  readonly value?: string;
  readonly ifVersion?: string;
}

export type KvOutput =
  | { readonly found: false }
  | { readonly found: true; readonly value: string; readonly version: string }
  | { readonly version: string }
  | { readonly existed: boolean }
  | { readonly swapped: true; readonly version: string }
  | { readonly swapped: false; readonly currentVersion: string | null };

/** What applying one command did: 'stale' = an older request id than the client's latest (ignored). */
export type ApplyOutcome =
  | { readonly kind: 'applied'; readonly cmd: KvCommand; readonly output: KvOutput }
  | { readonly kind: 'duplicate'; readonly cmd: KvCommand; readonly output: KvOutput }
  | { readonly kind: 'stale'; readonly cmd: KvCommand }
  | { readonly kind: 'none' };

interface Cell {
  readonly value: string;
  readonly version: number;
}

interface Session {
  readonly seq: number;
  readonly output: KvOutput;
  /** Log index of the last write, for deterministic eviction of the least recent session. */
  readonly at: number;
}

/**
 * Sessions kept (the least recently written is evicted, deterministically on every replica).
 * The simulation has far fewer clients, so at-most-once never depends on an evicted session.
 */
export const MAX_SESSIONS = 256;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeCommand(cmd: KvCommand): Uint8Array {
  return encoder.encode(JSON.stringify(cmd));
}

export function decodeCommand(data: Uint8Array): KvCommand {
  const v = JSON.parse(decoder.decode(data)) as KvCommand;
  assert(typeof v.client === 'number' && typeof v.seq === 'number' && typeof v.key === 'string', 'malformed command');
  return v;
}

/** FNV-1a over bytes, continuing from `h`. */
export function hashBytes(data: Uint8Array, h = 0x811c9dc5): number {
  for (let i = 0; i < data.length; i++) {
    h ^= data[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Identity of a log entry, for comparing what different nodes hold or applied at an index. */
export function entryHash(e: Entry): number {
  let h = hashBytes(e.data);
  h = Math.imul(h ^ e.term, 0x01000193);
  h = Math.imul(h ^ (e.kind === 'conf' ? 7 : 3), 0x01000193);
  return h >>> 0;
}

export class KvStateMachine {
  private readonly data = new Map<string, Cell>();
  private readonly sessions = new Map<number, Session>();
  private appliedIndex = 0;
  /** Rolling digest of every entry applied so far: equal digests at an index = same history. */
  private digestValue = 0;

  get applied(): number {
    return this.appliedIndex;
  }

  get digest(): number {
    return this.digestValue;
  }

  /** Applies the next committed entry (any kind); returns what a KV command did. */
  applyEntry(e: Entry): ApplyOutcome {
    assert(e.index === this.appliedIndex + 1, `apply gap: entry ${e.index} after applied ${this.appliedIndex}`);
    this.appliedIndex = e.index;
    this.digestValue = Math.imul(this.digestValue ^ entryHash(e), 0x9e3779b1) >>> 0;
    this.digestValue = (this.digestValue ^ e.index) >>> 0;
    if (e.kind !== 'normal' || e.data.length === 0) return { kind: 'none' };
    return this.applyCommand(decodeCommand(e.data), e.index);
  }

  private applyCommand(cmd: KvCommand, index: number): ApplyOutcome {
    if (cmd.op === 'get') return { kind: 'applied', cmd, output: this.read(cmd.key) };
    const s = this.sessions.get(cmd.client);
    if (s !== undefined && cmd.seq === s.seq) return { kind: 'duplicate', cmd, output: s.output };
    if (s !== undefined && cmd.seq < s.seq) return { kind: 'stale', cmd };
    const output = this.write(cmd, index);
    if (s === undefined && this.sessions.size >= MAX_SESSIONS) this.evictOldestSession();
    this.sessions.set(cmd.client, { seq: cmd.seq, output, at: index });
    return { kind: 'applied', cmd, output };
  }

  private write(cmd: KvCommand, index: number): KvOutput {
    const cur = this.data.get(cmd.key);
    assert(cur === undefined || cur.version < index, `version would not increase on ${cmd.key}`);
    switch (cmd.op) {
      case 'put':
        assert(cmd.value !== undefined, 'put without value');
        this.data.set(cmd.key, { value: cmd.value, version: index });
        return { version: String(index) };
      case 'delete':
        this.data.delete(cmd.key);
        return { existed: cur !== undefined };
      case 'cas':
        assert(cmd.value !== undefined && cmd.ifVersion !== undefined, 'cas without value or version');
        if (cur === undefined || String(cur.version) !== cmd.ifVersion) {
          return { swapped: false, currentVersion: cur === undefined ? null : String(cur.version) };
        }
        this.data.set(cmd.key, { value: cmd.value, version: index });
        return { swapped: true, version: String(index) };
      case 'get':
        return this.read(cmd.key);
    }
  }

  private evictOldestSession(): void {
    let oldest: number | null = null;
    let at = Infinity;
    for (const [client, s] of this.sessions) {
      if (s.at < at) {
        at = s.at;
        oldest = client;
      }
    }
    assert(oldest !== null, 'no session to evict');
    this.sessions.delete(oldest);
  }

  read(key: string): KvOutput {
    const cur = this.data.get(key);
    return cur === undefined ? { found: false } : { found: true, value: cur.value, version: String(cur.version) };
  }

  sessionCount(): number {
    return this.sessions.size;
  }

  /** Canonical bytes: sorted, so equal states snapshot to equal bytes. */
  toSnapshot(): Uint8Array {
    const kv = [...this.data.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([k, c]) => [k, c.value, c.version]);
    const sessions = [...this.sessions.entries()].sort((a, b) => a[0] - b[0]).map(([c, s]) => [c, s.seq, s.at, s.output]);
    return encoder.encode(JSON.stringify({ applied: this.appliedIndex, digest: this.digestValue, kv, sessions }));
  }

  static fromSnapshot(bytes: Uint8Array, index: number): KvStateMachine {
    const sm = new KvStateMachine();
    if (bytes.length === 0) {
      // Empty data is the bootstrap snapshot (storage puts the initial membership at index 1):
      // the initial, empty state machine. Snapshots this driver takes are never empty.
      assert(index <= 1, `empty snapshot data at index ${index}`);
      sm.appliedIndex = index;
      return sm;
    }
    const v = JSON.parse(decoder.decode(bytes)) as {
      applied: number;
      digest: number;
      kv: [string, string, number][];
      sessions: [number, number, number, KvOutput][];
    };
    assert(v.applied === index, `snapshot data at ${v.applied} labelled ${index}`);
    sm.appliedIndex = v.applied;
    sm.digestValue = v.digest;
    for (const [k, value, version] of v.kv) sm.data.set(k, { value, version });
    for (const [c, seq, at, output] of v.sessions) sm.sessions.set(c, { seq, at, output });
    return sm;
  }
}
