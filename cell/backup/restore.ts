// Restore into a fresh cluster: builds one LevelDB data directory per new node with every cell
// installed as a Raft snapshot at the backup's (or the point in time's) index, so nodes
// started on those directories form the cluster with the data and elect leaders as usual.
//
// How: the first node's directory is built under a temporary name: each cell's snapshot pairs
// are installed with the node's own install code (snapshotInstallOps), log segments replayed
// through the node's state machine (replay.ts), the membership and the meta cell's directory
// rewritten to the new nodes, and the Raft log store given the snapshot metadata and a hard
// state at that index. The directory is closed and copied for the other nodes (the database
// holds no node identity), and each copy is renamed into place only when complete: a crashed
// restore never leaves a directory a node would start from.

import { cp, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { readFile } from 'node:fs/promises';
import type { ConfState } from '../raft/types.js';
import { GroupCommit } from '../storage/group-commit.js';
import { openNodeDb, type BatchOp, type NodeDb } from '../storage/node-db.js';
import { RaftLogStore } from '../storage/raft-log-store.js';
import { ReplicaRegistry } from '../node/replica-registry.js';
import { snapshotInstallOps } from '../node/snapshots.js';
import { metaDocKey, metaDocRange } from '../storage/records.js';
import { META_CELL_ID, bytesOfHex, type CellDescriptor } from '../../shared/directory.js';
import { BackupError } from './errors.js';
import { planRestore, replayLogs, type CellPlan, type ReplayResult } from './replay.js';
import { verifyBackup } from './verify.js';
import type { BackupProgress } from './backup.js';
import { silentProgress } from './backup.js';

export interface RestoreNode {
  readonly id: string;
  readonly az: string;
}

export interface RestoreOptions {
  readonly from: string;
  readonly dataDirRoot: string;
  readonly nodes: readonly RestoreNode[];
  /** Restore to the state at this time (ms since the epoch, leader clock); null: the latest. */
  readonly toTimeMs: number | null;
  readonly progress?: BackupProgress;
}

export interface RestoredCell {
  readonly cell: string;
  readonly index: number;
  readonly term: number;
  readonly snapshotIndex: number;
  readonly replayedEntries: number;
  /** Proposal time of the newest entry known to be included (snapshot capture time if none). */
  readonly upToMs: number;
  readonly note: string | null;
}

export interface RestoreResult {
  readonly dataDirs: Record<string, string>;
  readonly cells: readonly RestoredCell[];
}

/** Ops per LevelDB write while installing a snapshot (bounded memory per write). */
const INSTALL_BATCH_OPS = 20_000;
const NODE_ID_RE = /^[a-z0-9-]{1,32}$/;

/** Parses "n1:az1,n2:az2,n3:az3". */
export function parseRestoreNodes(spec: string): RestoreNode[] {
  const nodes = spec.split(',').map((p) => p.trim()).filter(Boolean).map((p) => {
    const [id, az, extra] = p.split(':');
    if (!id || !az || extra !== undefined || !NODE_ID_RE.test(id) || az.length > 32) {
      throw new BackupError('INVALID_ARGUMENT', `--nodes entry "${p}" must be id:az with id of [a-z0-9-]{1,32}`);
    }
    return { id, az };
  });
  if (nodes.length === 0) throw new BackupError('INVALID_ARGUMENT', '--nodes needs at least one id:az');
  if (new Set(nodes.map((n) => n.id)).size !== nodes.length) throw new BackupError('INVALID_ARGUMENT', '--nodes lists a node twice');
  return nodes;
}

/** Parses --to-time: an ISO 8601 time or milliseconds since the epoch. */
export function parseToTime(s: string): number {
  const ms = /^\d{1,16}$/.test(s) ? Number(s) : Date.parse(s);
  if (!Number.isFinite(ms) || ms <= 0) throw new BackupError('INVALID_ARGUMENT', `--to-time "${s}" is neither an ISO 8601 time nor milliseconds since the epoch`);
  return ms;
}

async function isEmptyOrAbsent(dir: string): Promise<boolean> {
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) return false;
    return (await readdir(dir)).length === 0;
  } catch {
    return true;
  }
}

async function writeInBatches(db: NodeDb, ops: readonly BatchOp[]): Promise<void> {
  for (let i = 0; i < ops.length; i += INSTALL_BATCH_OPS) await db.batch(ops.slice(i, i + INSTALL_BATCH_OPS), false);
}

/** The meta cell's directory documents, pointed at the new nodes (same cells, ranges, epochs). */
async function rewriteDirectory(db: NodeDb, nodes: readonly RestoreNode[]): Promise<void> {
  const enc = new TextEncoder();
  const ops: BatchOp[] = [];
  const cellsKey = metaDocKey(META_CELL_ID, 'cells');
  const raw = await db.get(cellsKey);
  if (raw) {
    const cells = JSON.parse(new TextDecoder().decode(raw)) as CellDescriptor[];
    const replicas = nodes.map((n) => ({ node: n.id, az: n.az, role: 'voter' as const }));
    ops.push({ type: 'put', key: cellsKey, value: enc.encode(JSON.stringify(cells.map((c) => ({ ...c, replicas })))) });
  }
  const nodePrefix = metaDocKey(META_CELL_ID, 'node/');
  for await (const [k] of db.iterator(metaDocRange(META_CELL_ID))) {
    if (Buffer.from(k.subarray(0, nodePrefix.length)).equals(nodePrefix)) ops.push({ type: 'del', key: k.slice() });
  }
  for (const n of nodes) ops.push({ type: 'put', key: metaDocKey(META_CELL_ID, `node/${n.id}`), value: enc.encode(JSON.stringify({ id: n.id, az: n.az, lastHeartbeatMs: 0 })) });
  await db.batch(ops, true);
}

async function restoreCell(db: NodeDb, gc: GroupCommit, plan: CellPlan, nodes: readonly RestoreNode[], toTimeMs: number | null, progress: (bytes: number, what: string) => void): Promise<RestoredCell> {
  const range = { start: bytesOfHex(plan.start), end: plan.cell === META_CELL_ID ? new Uint8Array(0) : plan.end === null ? null : bytesOfHex(plan.end) };
  const conf: ConfState = { voters: nodes.map((n) => n.id).sort(), learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
  const snapPath = join(plan.snapshot.dir, plan.snapshot.item.file);
  const snapData = new Uint8Array(await readFile(snapPath));
  await writeInBatches(db, await snapshotInstallOps(db, plan.cell, range, snapData));
  progress(snapData.length, `${plan.cell} snapshot installed`);
  const replayed: ReplayResult = await replayLogs(db, plan, range, conf, toTimeMs);
  if (plan.logs.length > 0) progress(plan.logs.reduce((n, l) => n + l.item.bytes, 0), `${plan.cell} log replayed`);
  if (plan.cell === META_CELL_ID) await rewriteDirectory(db, nodes);
  // The Raft side: the log starts right after a snapshot at the restored index.
  const { store } = await RaftLogStore.load(db, plan.cell, gc);
  store.stageSnapshot({ metadata: { index: replayed.index, term: replayed.term, confState: conf }, data: new Uint8Array(0) });
  store.stageHardState({ term: replayed.term, vote: null, commit: replayed.index });
  new ReplicaRegistry(db).stage(gc, { cellId: plan.cell, start: plan.start, end: plan.cell === META_CELL_ID ? '' : plan.end, epoch: plan.epoch });
  await gc.flush();
  const notes = [
    replayed.stoppedAtIndex !== null ? `stopped before entry ${replayed.stoppedAtIndex}, the first proposed after the target time` : null,
    plan.stoppedBy,
  ].filter((x): x is string => x !== null);
  return {
    cell: plan.cell,
    index: replayed.index,
    term: replayed.term,
    snapshotIndex: plan.snapshot.item.index,
    replayedEntries: replayed.entries,
    upToMs: replayed.lastTimeMs ?? plan.snapshot.item.capturedAtMs,
    note: notes.length ? notes.join('; ') : null,
  };
}

export async function runRestore(opts: RestoreOptions): Promise<RestoreResult> {
  const progress = opts.progress ?? silentProgress;
  if (opts.nodes.length === 0) throw new BackupError('INVALID_ARGUMENT', 'restore needs at least one node');
  const root = resolve(opts.dataDirRoot);
  const targets = opts.nodes.map((n) => ({ node: n, dir: join(root, n.id), tmp: join(root, `.${n.id}.restoring`) }));
  for (const t of targets) {
    if (!(await isEmptyOrAbsent(t.dir))) {
      throw new BackupError('RESTORE_TARGET_NOT_EMPTY', `${t.dir} exists and is not empty; restore only into fresh directories (move it away or pick another --data-dir-root)`);
    }
  }
  progress.line(`verifying ${resolve(opts.from)} and its base chain`);
  const report = await verifyBackup(opts.from);
  if (!report.ok) {
    const p = report.problems[0]!;
    throw new BackupError(p.code, `${p.file}: ${p.message} (run \`cellkv verify ${opts.from}\` for every problem)`);
  }
  const plans = planRestore(report.chain, opts.toTimeMs);
  await mkdir(root, { recursive: true });
  for (const t of targets) await rm(t.tmp, { recursive: true, force: true });
  try {
    return await build(targets, plans, opts, progress);
  } catch (e) {
    // No half-built copy stays behind under the temporary names.
    for (const t of targets) await rm(t.tmp, { recursive: true, force: true }).catch(() => undefined);
    throw e;
  }
}

async function build(targets: readonly { node: RestoreNode; dir: string; tmp: string }[], plans: readonly CellPlan[], opts: RestoreOptions, progress: BackupProgress): Promise<RestoreResult> {
  const first = targets[0]!;
  const db = await openNodeDb(first.tmp);
  const cells: RestoredCell[] = [];
  try {
    const gc = new GroupCommit(db);
    let bytes = 0;
    const counted = (n: number, what: string) => progress.bytes((bytes += n), what);
    for (const plan of plans) {
      const c = await restoreCell(db, gc, plan, opts.nodes, opts.toTimeMs, counted);
      cells.push(c);
      progress.line(`cell ${c.cell}: restored at index ${c.index} (snapshot ${c.snapshotIndex} + ${c.replayedEntries} entries)${c.note ? `; ${c.note}` : ''}`);
    }
  } finally {
    await db.close();
  }
  for (const t of targets.slice(1)) await cp(first.tmp, t.tmp, { recursive: true });
  const dataDirs: Record<string, string> = {};
  for (const t of targets) {
    // Re-checked: another process may have created it meanwhile; rename must not merge.
    if (!(await isEmptyOrAbsent(t.dir))) throw new BackupError('RESTORE_TARGET_NOT_EMPTY', `${t.dir} appeared during the restore; restore again into fresh directories`);
    await rm(t.dir, { recursive: true, force: true });
    await rename(t.tmp, t.dir);
    dataDirs[t.node.id] = t.dir;
  }
  return { dataDirs, cells };
}
