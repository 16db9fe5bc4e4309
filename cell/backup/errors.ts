// Typed failures of backup, restore and verify, with stable codes the CLI prints as
// `cellkv: CODE: detail` (and tests match on).

export type BackupErrorCode =
  /** A flag or argument is malformed. */
  | 'INVALID_ARGUMENT'
  /** The target directory already holds a complete backup. */
  | 'BACKUP_EXISTS'
  /** The directory holds no complete backup (no manifest.json: missing or crashed mid-way). */
  | 'BACKUP_INCOMPLETE'
  /** A manifest or data file does not match what it should be (checksum, size, decoding). */
  | 'BACKUP_CORRUPT'
  /** An incremental's base is missing, another backup, or does not continue where it ends. */
  | 'BACKUP_CHAIN_BROKEN'
  /** No node answered for a cell (or the cluster is unreachable). */
  | 'UNAVAILABLE'
  /** A restore target data directory exists and is not empty. */
  | 'RESTORE_TARGET_NOT_EMPTY'
  /** --to-time lies before the first restorable point of the chain. */
  | 'PITR_OUT_OF_RANGE'
  | 'INTERNAL';

export class BackupError extends Error {
  constructor(
    readonly code: BackupErrorCode,
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`);
    this.name = 'BackupError';
  }
}
