// The ports of the gateway: the types through which the core meets the cell link (and the
// tracing wrapper around it), logging and quota accounting. This file imports no gateway
// module, so the implementations depend on it rather than on each other; before it existed,
// core -> cell-link -> log -> tracing -> core and core <-> quota-writes were import cycles
// (test/layers/ now fails on any new one).

import type pino from 'pino';
import type { CellOp, CellRequest, CellResponse, KeyMeta } from '../shared/cell-protocol.js';
import type { RequestOptions } from '../shared/cell-client.js';
import type { DirectoryView } from '../shared/directory.js';
import type { KvError } from '../shared/errors.js';

/** The gateway's JSON logger (created in log.ts). */
export type Logger = pino.Logger;

/** What the core needs from the cell tier (CellClient has this shape; tests may fake it). */
export interface CellPort {
  directory(refresh?: boolean): Promise<DirectoryView>;
  request(tenant: string, ops: CellOp[], opts?: RequestOptions, scan?: CellRequest['scan'], scanKey?: Uint8Array): Promise<CellResponse>;
}

/** What the core needs from the NATS link (CellLink; GatewayTracing.wrapAccess wraps it). */
export interface CellAccess {
  port(): CellPort;
  maxRequestBytes(): number;
}

/** How one op of a batch ended, as the core answers it and as quota accounting settles it. */
export type BatchOpOutcome =
  | { readonly ok: true; readonly op: 'get'; readonly value: Uint8Array; readonly meta: KeyMeta; readonly session: string }
  | { readonly ok: true; readonly op: 'put'; readonly version: bigint; readonly created: boolean; readonly session: string }
  | { readonly ok: true; readonly op: 'delete'; readonly session: string }
  | { readonly ok: false; readonly error: KvError };
