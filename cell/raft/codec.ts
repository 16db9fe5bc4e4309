// Binary encodings of the Raft core's types: on the wire (all messages for one destination
// node coalesced into one envelope per flush) and on disk (log records, hard state, snapshot
// metadata). It lives beside the types it encodes (shared/ never imports cell/) and takes only
// the byte-level helpers (reader, writer, CRC-32C) from shared/codec/.
//
// Convention: `encodeX` / `decodeX` frame a standalone value with a leading format-version
// byte and reject trailing bytes; `writeX` / `readX` are the unframed building blocks for
// composing larger records. Decoded byte fields (entry and snapshot data) are views of the
// input: copy them if the input buffer may be reused.

import type {
  ConfState,
  Entry,
  EntryKind,
  HardState,
  Message,
  MessageType,
  NodeId,
  SnapshotChunk,
  SnapshotMetadata,
} from './types.js';
import {
  BinaryReader,
  BinaryWriter,
  CodecError,
  WireEnum,
  bytesSizeBound,
  decodeFramed,
  encodeFramed,
  readVersion,
  stringSizeBound,
} from '../../shared/codec/binary.js';
import { openChecksummedRecord } from '../../shared/codec/checksum.js';
import { crc32c } from '../../shared/codec/crc32.js';

/** Format version of every framed Raft encoding; bump when a layout changes. */
export const RAFT_FORMAT_VERSION = 1;

const ENTRY_KINDS = new WireEnum<EntryKind>(['normal', 'conf'], 'entry kind');
const MESSAGE_TYPES = new WireEnum<MessageType>(
  [
    'preVote',
    'preVoteResp',
    'vote',
    'voteResp',
    'append',
    'appendResp',
    'heartbeat',
    'heartbeatResp',
    'snapshot',
    'snapshotResp',
    'timeoutNow',
    'readIndex',
    'readIndexResp',
  ],
  'message type',
);

const framed = (sizeHint: number, write: (w: BinaryWriter) => void): Uint8Array => encodeFramed(RAFT_FORMAT_VERSION, sizeHint, write);
const unframed = <T>(b: Uint8Array, what: string, read: (r: BinaryReader) => T): T => decodeFramed(b, RAFT_FORMAT_VERSION, what, read);

// --- Entry ---------------------------------------------------------------------------------

export function writeEntry(w: BinaryWriter, e: Entry): void {
  w.varuint(e.term);
  w.varuint(e.index);
  ENTRY_KINDS.write(w, e.kind);
  w.bytes(e.data);
}

export function readEntry(r: BinaryReader): Entry {
  const term = r.varuint();
  const index = r.varuint();
  const kind = ENTRY_KINDS.read(r);
  const data = r.bytes();
  return { term, index, kind, data };
}

export function entrySizeBound(e: Entry): number {
  return 8 + 8 + 1 + bytesSizeBound(e.data);
}

export function encodeEntry(e: Entry): Uint8Array {
  return framed(entrySizeBound(e), (w) => writeEntry(w, e));
}

export function decodeEntry(b: Uint8Array): Entry {
  return unframed(b, 'entry', readEntry);
}

// --- HardState -----------------------------------------------------------------------------

export function writeHardState(w: BinaryWriter, hs: HardState): void {
  w.varuint(hs.term);
  w.bool(hs.vote !== null);
  if (hs.vote !== null) w.string(hs.vote);
  w.varuint(hs.commit);
}

export function readHardState(r: BinaryReader): HardState {
  const term = r.varuint();
  const vote = r.bool() ? r.string() : null;
  const commit = r.varuint();
  return { term, vote, commit };
}

export function encodeHardState(hs: HardState): Uint8Array {
  return framed(32, (w) => writeHardState(w, hs));
}

export function decodeHardState(b: Uint8Array): HardState {
  return unframed(b, 'hard state', readHardState);
}

// --- ConfState -----------------------------------------------------------------------------

function writeIds(w: BinaryWriter, ids: readonly NodeId[]): void {
  w.varuint(ids.length);
  for (const id of ids) w.string(id);
}

function readIds(r: BinaryReader): NodeId[] {
  const n = r.count(1);
  const ids: NodeId[] = new Array<NodeId>(n);
  for (let i = 0; i < n; i++) ids[i] = r.string();
  return ids;
}

export function writeConfState(w: BinaryWriter, cs: ConfState): void {
  writeIds(w, cs.voters);
  writeIds(w, cs.learners);
  writeIds(w, cs.votersOutgoing);
  writeIds(w, cs.learnersNext);
  w.bool(cs.autoLeave);
}

export function readConfState(r: BinaryReader): ConfState {
  const voters = readIds(r);
  const learners = readIds(r);
  const votersOutgoing = readIds(r);
  const learnersNext = readIds(r);
  const autoLeave = r.bool();
  return { voters, learners, votersOutgoing, learnersNext, autoLeave };
}

function confStateSizeBound(cs: ConfState): number {
  let n = 1;
  for (const l of [cs.voters, cs.learners, cs.votersOutgoing, cs.learnersNext]) {
    n += 5;
    for (const id of l) n += stringSizeBound(id);
  }
  return n;
}

export function encodeConfState(cs: ConfState): Uint8Array {
  return framed(confStateSizeBound(cs), (w) => writeConfState(w, cs));
}

export function decodeConfState(b: Uint8Array): ConfState {
  return unframed(b, 'conf state', readConfState);
}

// --- SnapshotMetadata ----------------------------------------------------------------------

export function writeSnapshotMetadata(w: BinaryWriter, m: SnapshotMetadata): void {
  w.varuint(m.index);
  w.varuint(m.term);
  writeConfState(w, m.confState);
}

export function readSnapshotMetadata(r: BinaryReader): SnapshotMetadata {
  const index = r.varuint();
  const term = r.varuint();
  const confState = readConfState(r);
  return { index, term, confState };
}

export function encodeSnapshotMetadata(m: SnapshotMetadata): Uint8Array {
  return framed(16 + confStateSizeBound(m.confState), (w) => writeSnapshotMetadata(w, m));
}

export function decodeSnapshotMetadata(b: Uint8Array): SnapshotMetadata {
  return unframed(b, 'snapshot metadata', readSnapshotMetadata);
}

// --- Message -------------------------------------------------------------------------------

function writeSnapshotChunk(w: BinaryWriter, c: SnapshotChunk): void {
  writeSnapshotMetadata(w, c.metadata);
  w.varuint(c.offset);
  w.varuint(c.totalBytes);
  w.bytes(c.data);
}

function readSnapshotChunk(r: BinaryReader): SnapshotChunk {
  const metadata = readSnapshotMetadata(r);
  const offset = r.varuint();
  const totalBytes = r.varuint();
  const data = r.bytes();
  return { metadata, offset, totalBytes, data };
}

export function writeMessage(w: BinaryWriter, m: Message): void {
  MESSAGE_TYPES.write(w, m.type);
  w.string(m.from);
  w.string(m.to);
  w.varuint(m.term);
  w.varuint(m.logTerm);
  w.varuint(m.index);
  w.varuint(m.entries.length);
  for (const e of m.entries) writeEntry(w, e);
  w.varuint(m.commit);
  w.bool(m.reject);
  w.varuint(m.rejectHint);
  w.varuint(m.hintTerm);
  w.string(m.context);
  w.bool(m.snapshot !== null);
  if (m.snapshot !== null) writeSnapshotChunk(w, m.snapshot);
}

/** Smallest possible encoded entry: term, index, kind and an empty data prefix. */
const MIN_ENTRY_BYTES = 4;

export function readMessage(r: BinaryReader): Message {
  const type = MESSAGE_TYPES.read(r);
  const from = r.string();
  const to = r.string();
  const term = r.varuint();
  const logTerm = r.varuint();
  const index = r.varuint();
  const n = r.count(MIN_ENTRY_BYTES);
  const entries: Entry[] = new Array<Entry>(n);
  for (let i = 0; i < n; i++) entries[i] = readEntry(r);
  const commit = r.varuint();
  const reject = r.bool();
  const rejectHint = r.varuint();
  const hintTerm = r.varuint();
  const context = r.string();
  const snapshot = r.bool() ? readSnapshotChunk(r) : null;
  return { type, from, to, term, logTerm, index, entries, commit, reject, rejectHint, hintTerm, context, snapshot };
}

export function messageSizeBound(m: Message): number {
  let n = 1 + stringSizeBound(m.from) + stringSizeBound(m.to) + 8 * 3 + 8 + 8 * 3 + 1 + stringSizeBound(m.context) + 1;
  for (const e of m.entries) n += entrySizeBound(e);
  if (m.snapshot !== null) n += 16 + confStateSizeBound(m.snapshot.metadata.confState) + 16 + bytesSizeBound(m.snapshot.data);
  return n;
}

export function encodeMessage(m: Message): Uint8Array {
  return framed(messageSizeBound(m), (w) => writeMessage(w, m));
}

export function decodeMessage(b: Uint8Array): Message {
  return unframed(b, 'message', readMessage);
}

// --- Envelope ------------------------------------------------------------------------------

export interface RaftEnvelopeItem {
  readonly cellId: string;
  readonly message: Message;
}

/** All Raft messages from one node to one destination node, sent as one NATS message. */
export interface RaftEnvelope {
  readonly fromNode: string;
  readonly items: readonly RaftEnvelopeItem[];
}

/** An upper bound of the encoded size: encodeRaftEnvelope allocates exactly this once. */
export function raftEnvelopeSizeHint(env: RaftEnvelope): number {
  let n = 1 + stringSizeBound(env.fromNode) + 5;
  for (const it of env.items) n += stringSizeBound(it.cellId) + messageSizeBound(it.message);
  return n;
}

/** Writes the whole envelope including its version byte. */
export function writeRaftEnvelope(w: BinaryWriter, env: RaftEnvelope): void {
  w.u8(RAFT_FORMAT_VERSION);
  w.string(env.fromNode);
  w.varuint(env.items.length);
  for (const it of env.items) {
    w.string(it.cellId);
    writeMessage(w, it.message);
  }
}

export function encodeRaftEnvelope(env: RaftEnvelope): Uint8Array {
  const w = new BinaryWriter(raftEnvelopeSizeHint(env));
  writeRaftEnvelope(w, env);
  return w.finish();
}

/** Smallest possible encoded item: an empty cell id and a message of one-byte fields. */
const MIN_ITEM_BYTES = 1 + 13;

export function decodeRaftEnvelope(b: Uint8Array): RaftEnvelope {
  const r = new BinaryReader(b);
  readVersion(r, RAFT_FORMAT_VERSION, 'raft envelope');
  const fromNode = r.string();
  const n = r.count(MIN_ITEM_BYTES);
  const items: RaftEnvelopeItem[] = new Array<RaftEnvelopeItem>(n);
  for (let i = 0; i < n; i++) {
    const cellId = r.string();
    items[i] = { cellId, message: readMessage(r) };
  }
  r.expectEnd();
  return { fromNode, items };
}

// --- Checksummed records (the on-disk log) -------------------------------------------------

/**
 * A log record: [u32 LE CRC-32C of the rest][version][entry], so a torn or corrupted write
 * is detected on read instead of being replayed as a different entry.
 */
export function encodeLogRecord(e: Entry): Uint8Array {
  const w = new BinaryWriter(4 + 1 + entrySizeBound(e));
  w.u32(0);
  w.u8(RAFT_FORMAT_VERSION);
  writeEntry(w, e);
  const out = w.finish();
  w.patchU32(0, crc32c(out.subarray(4)));
  return out;
}

/** Throws CodecError 'CODEC_CHECKSUM' on a checksum mismatch, 'CODEC_MALFORMED' otherwise. */
export function decodeLogRecord(record: Uint8Array): Entry {
  return decodeEntry(openChecksummedRecord(record, 'log record'));
}
