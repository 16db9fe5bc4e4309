// The operations of the cellkv model: inputs and outputs (the model and its facts both use them).

import type { Operation } from '../model.js';

export type CellkvInput =
  | { readonly op: 'get'; readonly key: string }
  | { readonly op: 'put'; readonly key: string; readonly value: string }
  | { readonly op: 'delete'; readonly key: string }
  | { readonly op: 'cas'; readonly key: string; readonly ifVersion: bigint; readonly value: string };

/** Outputs by op; a cas whose version did not match is a definite outcome and is checked. */
export type CellkvOutput =
  | { readonly found: false }
  | { readonly found: true; readonly value: string; readonly version: bigint } // get
  | { readonly version: bigint } // put
  | { readonly existed: boolean } // delete
  | { readonly swapped: true; readonly version: bigint } // cas applied
  | { readonly swapped: false; readonly currentVersion: bigint | null }; // cas refused (null = absent)

export type CellkvOp = Operation<CellkvInput, CellkvOutput>;
