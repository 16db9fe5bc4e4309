// What a cell node needs from the world, as ports: its database, its network, its clock,
// its randomness and what to do when the Raft loop cannot go on. `CellNode.start` plugs in
// LevelDB, NATS and the wall clock; the whole-node simulation (test/sim/node/) plugs in an
// in-memory, fault-injecting disk, a simulated network and a virtual clock, so the same
// node code runs in both.

import type { NodeDb } from '../storage/node-db.js';
import type { NodeClock } from './clock.js';
import type { CellTracing } from './tracing.js';
import type { NodeMutation } from './mutations.js';

/** Callbacks the transport calls for what arrives for this node. */
export interface TransportHandlers {
  onRaft(data: Uint8Array): void;
  onRequest(data: Uint8Array, reply: (bytes: Uint8Array) => void): void;
  onDirectory(reply: (bytes: Uint8Array) => void): void;
  onAdmin(data: Uint8Array, reply: (bytes: Uint8Array) => void): void;
}

export interface NodeTransportPort {
  /** Fire and forget: Raft tolerates loss, so a failed send is a lost message, never an error. */
  sendRaft(toNode: string, data: Uint8Array): void;
  /** Request-reply to another node's admin surface; rejects on timeout or when nobody answers. */
  requestAdmin(toNode: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

export interface NodeDeps {
  readonly db: NodeDb;
  readonly clock: NodeClock;
  /** Randomness of election timeouts (seeded in the simulation). */
  readonly random: () => number;
  /** Tells reads in flight of this boot from those of an earlier one (ReadIndex contexts). */
  readonly bootId: string;
  readonly connect: (handlers: TransportHandlers) => Promise<NodeTransportPort>;
  /** The Raft loop failed (e.g. an fsync failed): the node must restart from its disk. */
  readonly onFatal: (err: unknown) => void;
  readonly tracing: CellTracing | null;
  /** Process-wide metrics (CPU, memory, event loop); off when many nodes share a process. */
  readonly processMetrics: boolean;
  /** Simulation only: deliberately broken variants (mutations.ts). */
  readonly mutations?: ReadonlySet<NodeMutation>;
}
