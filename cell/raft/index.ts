export * from './types.js';
export { RaftNode } from './raft.js';
export { MemoryStorage, EMPTY_CONF_STATE } from './memory-storage.js';
export { encodeConfChange, decodeConfChange } from './confchange.js';
