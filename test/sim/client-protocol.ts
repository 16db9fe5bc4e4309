// Messages between simulated clients and nodes. They travel on their own simulated network
// (delays, drops) so a reply can be lost after the write took effect.

import type { NodeId } from '../../cell/raft/types.js';
import type { KvCommand, KvOutput } from './kv-state-machine.js';

export interface ClientRequest {
  readonly kind: 'request';
  readonly from: string;
  readonly to: NodeId;
  readonly client: number;
  readonly seq: number;
  readonly attempt: number;
  readonly cmd: KvCommand;
  /** For gets: read through the log instead of ReadIndex. */
  readonly viaLog: boolean;
}

/**
 * ok: the op took effect with this output. rejected: this attempt was refused before anything
 * was proposed (safe to call "not applied" if every attempt was). dropped: this attempt's
 * proposal was superseded; an earlier attempt may still have been applied.
 */
export type ReplyBody =
  | { readonly type: 'ok'; readonly output: KvOutput }
  | { readonly type: 'rejected'; readonly error: string; readonly leaderHint: NodeId | null }
  | { readonly type: 'dropped' };

export interface ClientReply {
  readonly kind: 'reply';
  readonly from: NodeId;
  readonly to: string;
  readonly client: number;
  readonly seq: number;
  readonly attempt: number;
  readonly body: ReplyBody;
}

export type ClientMsg = ClientRequest | ClientReply;

export function clientAddress(client: number): string {
  return `c${client}`;
}
