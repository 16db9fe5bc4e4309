// The binary wire and disk codec (the Raft types' encodings live in cell/raft/codec.ts:
// shared/ never imports cell/). Decoders accept untrusted bytes and only ever throw
// CodecError; decoded byte fields are views of the input (copy to keep them independently).

export * from './binary.js';
export * from './crc32.js';
export * from './checksum.js';
export * from './cell-codec.js';
