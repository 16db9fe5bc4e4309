// Binary encodings of the state machine's own records (applied state, dedupe records), next
// to the shared codec's stored values and entry payloads that the state machine also uses.

import type { ConfState } from '../raft/types.js';
import type { OpResult } from '../../shared/cell-protocol.js';
import { decodeConfState, encodeConfState } from '../raft/codec.js';
import { BinaryReader, BinaryWriter, decodeOpResult, encodeOpResult } from '../../shared/codec/index.js';
import type { AppliedState } from './cell-data.js';

export {
  decodeCellEntryPayload,
  decodeStoredValue,
  encodeCellEntryPayload,
  encodeStoredValue,
  type StoredValue,
} from '../../shared/codec/index.js';

const APPLIED_STATE_VERSION = 1;

export function encodeAppliedState(s: AppliedState): Uint8Array {
  const w = new BinaryWriter();
  w.u8(APPLIED_STATE_VERSION);
  w.varuint(s.index);
  w.bytes(encodeConfState(s.confState));
  w.varuint(s.dedupeCutoffMs);
  return w.finish().slice();
}

export function decodeAppliedState(b: Uint8Array): AppliedState {
  const r = new BinaryReader(b);
  r.u8();
  const index = r.varuint();
  const confState: ConfState = decodeConfState(r.bytes());
  const dedupeCutoffMs = r.varuint();
  return { index, confState, dedupeCutoffMs };
}

export function encodeDedupeRecord(rec: { atMs: number; results: readonly OpResult[] }): Uint8Array {
  const w = new BinaryWriter();
  w.varuint(rec.atMs);
  w.varuint(rec.results.length);
  for (const r of rec.results) w.bytes(encodeOpResult(r));
  return w.finish().slice();
}

export function decodeDedupeRecord(b: Uint8Array): { atMs: number; results: OpResult[] } {
  const r = new BinaryReader(b);
  const atMs = r.varuint();
  const n = r.varuint();
  const results: OpResult[] = [];
  for (let i = 0; i < n; i++) results.push(decodeOpResult(r.bytes()));
  return { atMs, results };
}
