import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Entry, Message } from '../../../cell/raft/types.js';
import { BinaryWriter, CodecError } from '../../../shared/codec/index.js';
import {
  decodeEntry,
  decodeHardState,
  decodeMessage,
  decodeRaftEnvelope,
  encodeEntry,
  encodeHardState,
  encodeMessage,
  encodeRaftEnvelope,
  raftEnvelopeSizeHint,
  writeRaftEnvelope,
  type RaftEnvelope,
} from '../../../cell/raft/codec.js';

const isMalformed = (e: unknown): boolean => e instanceof CodecError && e.code === 'CODEC_MALFORMED';
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function msg(over: Partial<Message>): Message {
  return {
    type: 'heartbeat',
    from: '',
    to: '',
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    hintTerm: 0,
    context: '',
    snapshot: null,
    ...over,
  };
}

describe('raft codec', () => {
  it('encodes a 100-entry append of 256-byte entries into one exactly pre-sized buffer', () => {
    const entries: Entry[] = [];
    for (let i = 0; i < 100; i++) entries.push({ term: 7, index: 1000 + i, kind: 'normal', data: new Uint8Array(256).fill(i) });
    const env: RaftEnvelope = {
      fromNode: 'node-1',
      items: [{ cellId: 'cell-42', message: msg({ type: 'append', from: 'node-1', to: 'node-2', term: 7, logTerm: 7, index: 999, entries, commit: 990 }) }],
    };
    const hint = raftEnvelopeSizeHint(env);
    const w = new BinaryWriter(hint);
    writeRaftEnvelope(w, env);
    assert.equal(w.growths, 0, 'the writer never reallocated');
    const out = encodeRaftEnvelope(env);
    assert.equal(out.buffer.byteLength, hint, 'one allocation of the hinted size');
    assert.ok(out.length <= hint && out.length > 0.9 * hint, `hint ${hint} is tight for ${out.length} bytes`);
    assert.deepStrictEqual(decodeRaftEnvelope(out), env);
  });

  it('decodes entry data as views of the envelope (zero copy)', () => {
    const env: RaftEnvelope = {
      fromNode: 'a',
      items: [{ cellId: 'c', message: msg({ type: 'append', entries: [{ term: 1, index: 1, kind: 'normal', data: Uint8Array.of(1, 2, 3) }] }) }],
    };
    const b = encodeRaftEnvelope(env);
    const back = decodeRaftEnvelope(b);
    assert.equal(back.items[0]!.message.entries[0]!.data.buffer, b.buffer);
  });

  it('round-trips minimal values (every field at its smallest encoding)', () => {
    const items = Array.from({ length: 50 }, () => ({ cellId: '', message: msg({}) }));
    const env: RaftEnvelope = { fromNode: '', items };
    assert.deepStrictEqual(decodeRaftEnvelope(encodeRaftEnvelope(env)), env);
    const m = msg({ type: 'append', entries: Array.from({ length: 20 }, () => ({ term: 0, index: 0, kind: 'normal' as const, data: new Uint8Array(0) })) });
    assert.deepStrictEqual(decodeMessage(encodeMessage(m)), m);
    const withSnap = msg({
      type: 'snapshot',
      snapshot: {
        metadata: { index: 0, term: 0, confState: { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } },
        offset: 0,
        totalBytes: 0,
        data: new Uint8Array(0),
      },
    });
    assert.deepStrictEqual(decodeMessage(encodeMessage(withSnap)), withSnap);
  });

  it('pins the envelope layout (format version 1)', () => {
    const env: RaftEnvelope = {
      fromNode: 'n1',
      items: [{ cellId: 'c', message: msg({ type: 'append', from: 'n1', to: 'n2', term: 3, logTerm: 2, index: 5, commit: 4, entries: [{ term: 3, index: 6, kind: 'conf', data: Uint8Array.of(0xab) }] }) }],
    };
    assert.equal(
      hex(encodeRaftEnvelope(env)),
      '01' + '026e31' + '01' + '0163' + // version, fromNode, item count, cellId
        '04' + '026e31' + '026e32' + '03' + '02' + '05' + // type append, from, to, term, logTerm, index
        '01' + '03060101ab' + // one entry: term, index, kind conf, data
        '04' + '00' + '00' + '00' + '00' + '00', // commit, reject, rejectHint, hintTerm, context, no snapshot
    );
  });

  it('rejects unknown versions, message types and entry kinds', () => {
    const good = encodeRaftEnvelope({ fromNode: 'n', items: [] });
    assert.throws(() => decodeRaftEnvelope(Uint8Array.from([2, ...good.subarray(1)])), isMalformed);
    assert.throws(() => decodeRaftEnvelope(new Uint8Array(0)), isMalformed);
    const m = encodeMessage(msg({})).slice();
    m[1] = 13; // one past readIndexResp
    assert.throws(() => decodeMessage(m), isMalformed);
    const e = encodeEntry({ term: 1, index: 1, kind: 'normal', data: new Uint8Array(0) }).slice();
    e[3] = 2;
    assert.throws(() => decodeEntry(e), isMalformed);
  });

  it('fails fast on forged counts instead of allocating', () => {
    // version 1, fromNode '', items count 2^52
    const forged = Uint8Array.from([1, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x08]);
    assert.throws(() => decodeRaftEnvelope(forged), isMalformed);
    const forgedEntries = encodeMessage(msg({})).slice();
    forgedEntries[7] = 0x7f; // entries count 127 with a dozen bytes left
    assert.throws(() => decodeMessage(forgedEntries), isMalformed);
  });

  it('round-trips hard state with and without a vote', () => {
    for (const hs of [
      { term: 0, vote: null, commit: 0 },
      { term: 5, vote: 'node-3', commit: 17 },
      { term: Number.MAX_SAFE_INTEGER, vote: '', commit: Number.MAX_SAFE_INTEGER },
    ]) {
      assert.deepStrictEqual(decodeHardState(encodeHardState(hs)), hs);
    }
  });

  it('rejects unrepresentable values on encode with CODEC_RANGE', () => {
    const range = (e: unknown): boolean => e instanceof CodecError && e.code === 'CODEC_RANGE';
    assert.throws(() => encodeMessage(msg({ term: -1 })), range);
    assert.throws(() => encodeMessage(msg({ type: 'bogus' as Message['type'] })), range);
    assert.throws(() => encodeEntry({ term: 1.5, index: 1, kind: 'normal', data: new Uint8Array(0) }), range);
  });
});
