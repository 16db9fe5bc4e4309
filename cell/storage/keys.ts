// The key layouts and record encodings of the node's LevelDB live in records.ts; this module
// only keeps the name group-commit.ts imports.

export { SYNC_MARKER_KEY } from './records.js';
