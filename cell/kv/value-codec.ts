// The record encodings of the node's LevelDB live in cell/storage/records.ts; this module only
// keeps the name the replica imports.

export { encodeCellEntryPayload } from '../storage/records.js';
