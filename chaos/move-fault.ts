// The `move` fault: the data cell's az1 replica goes to the other az1 node (n1 <-> n4,
// whichever hosts it now) through the admin `move`, sent to a node of the cell (which forwards
// it to the leader), optionally with a node killed, paused or cut off while it runs. A refusal
// (joint config, a move running, a lost leadership) is noted, not an error: the checks decide.

import { cellViewWithLeader } from './cell-view.js';
import type { ChaosCluster } from './cluster.js';
import type { FaultSpec, MoveDisruption } from './schedule.js';

type MoveSpec = Extract<FaultSpec, { kind: 'move' }>;

export interface MoveRecord {
  readonly from: string;
  readonly to: string;
  /** ok; refused (one of the node's refusals, nothing changed); failed (began, then gave up); no-answer. */
  readonly outcome: 'ok' | 'refused' | 'failed' | 'no-answer';
  /** Request to answer, as the harness saw it. */
  readonly ms: number;
  /** The refusal's reason or the error code ('' when ok). */
  readonly reason: string;
  /** The moved replica led the cell when the move was asked for (it hands the leadership over first). */
  readonly leaderMoved: boolean;
  readonly disrupted: boolean;
}

export interface MoveContext {
  readonly cluster: ChaosCluster;
  readonly cell: string;
  readonly now: () => number;
  /** Sleeps, cut short by an abort. */
  readonly hold: (ms: number) => Promise<void>;
  /** SIGKILL through the nemesis (it counts leader kills). */
  readonly kill: (id: string, wasLeader: boolean) => Promise<void>;
  readonly notes: string[];
}

interface MoveReply {
  readonly ok: boolean;
  readonly code?: string;
  readonly reason?: string;
  readonly message?: string;
  readonly finishedBy?: string;
  readonly snapshotBytes?: number;
  readonly steps?: readonly { readonly step: string; readonly ms: number }[];
  readonly seconds?: number;
}

/** Longer than a small cell's move under faults; the node may keep going after it. */
const ANSWER_TIMEOUT_MS = 30_000;

/** The node's refusals (replica-mover.ts checkMove, prepareReplica on the target): nothing was changed. */
const REFUSALS = new Set(['NO_REPLICA', 'NOT_LEADER', 'FROZEN', 'SAME_NODE', 'MOVE_IN_PROGRESS', 'JOINT_CONFIG', 'NOT_A_VOTER', 'NO_LEARNER', 'ALREADY_MEMBER', 'AZ_MISMATCH', 'NODE_UNREACHABLE', 'LOCAL_MEMBER']);

export async function injectMove(x: MoveContext, s: MoveSpec): Promise<MoveRecord | null> {
  const c = x.cluster;
  const v = await cellViewWithLeader(c, x.cell);
  if (!v) {
    x.notes.push(`no node reports cell ${x.cell}; skipped`);
    return null;
  }
  const az1 = c.nodesInAz(0);
  const from = az1.find((id) => v.voters.includes(id));
  const to = az1.find((id) => id !== from);
  if (!from || !to) {
    x.notes.push(`no az1 voter to move to another az1 node (az1: ${az1.join(',')}; voters ${v.voters.join(',')}); skipped`);
    return null;
  }
  const followers = v.voters.filter((id) => id !== v.leader);
  let via = s.via.role === 'leader' || !v.leader ? (v.leader ?? from) : (followers[s.via.pick % followers.length] ?? v.leader);
  const leaderMoved = v.leader === from;
  x.notes.push(`${x.cell} ${from} -> ${to} via ${via} (leader ${v.leader ?? 'none'}, voters ${v.voters.join(',')}${v.learners.length ? `, learners ${v.learners.join(',')}` : ''}${v.joint ? ', joint' : ''})`);
  if (leaderMoved) x.notes.push('the leader is the moved replica: it hands the leadership over first');

  const t0 = x.now();
  let answered = false;
  const ask = (node: string) =>
    c.adminRequest<MoveReply>(node, { op: 'move', cell: x.cell, from, to }, ANSWER_TIMEOUT_MS).catch((e: Error): MoveReply => ({ ok: false, code: 'NO_ANSWER', message: e.message }));
  const first = ask(via).finally(() => (answered = true));
  const disruption = s.during ? disrupt(x, s.during, { from, to }, () => answered) : Promise.resolve();
  let reply = await first;
  // A leader that changed just before the request: asked again of the new one (undisturbed moves only).
  for (let retry = 0; retry < 2 && !s.during && !reply.ok && (reply.reason === 'NOT_LEADER' || reply.reason === 'NO_REPLICA'); retry++) {
    x.notes.push(`${via} answered ${reply.reason}; asking the current leader`);
    await x.hold(500);
    via = (await c.leaderOf(x.cell)) ?? via;
    reply = await ask(via);
  }
  const ms = Math.round(x.now() - t0);
  await disruption;

  let outcome: MoveRecord['outcome'];
  if (reply.ok) {
    outcome = 'ok';
    const steps = (reply.steps ?? []).map((st) => `${st.step} ${st.ms}`).join(', ');
    x.notes.push(`moved in ${ms} ms (finished by ${reply.finishedBy ?? '?'}; snapshot ${reply.snapshotBytes ?? '?'} B; steps ms: ${steps})`);
  } else if (reply.code === 'NO_ANSWER') {
    outcome = 'no-answer';
    x.notes.push(`no answer within ${ANSWER_TIMEOUT_MS} ms (${reply.message ?? ''}); the move may go on`);
  } else {
    outcome = reply.reason && REFUSALS.has(reply.reason) ? 'refused' : 'failed';
    x.notes.push(`move ${outcome} after ${ms} ms: ${reply.code ?? ''}${reply.reason ? `/${reply.reason}` : ''}: ${reply.message ?? ''}`);
  }
  const after = await cellViewWithLeader(c, x.cell);
  if (after) x.notes.push(`now voters ${after.voters.join(',')}${after.learners.length ? `, learners ${after.learners.join(',')}` : ''}${after.joint ? ' (joint)' : ''}, leader ${after.leader ?? 'none'}`);
  return { from, to, outcome, ms, reason: reply.ok ? '' : (reply.reason ?? reply.code ?? ''), leaderMoved, disrupted: s.during !== null };
}

/** Kills, pauses or isolates one node `afterMs` into the move (or as soon as it answered). */
async function disrupt(x: MoveContext, d: MoveDisruption, ends: { from: string; to: string }, answered: () => boolean): Promise<void> {
  const c = x.cluster;
  const start = x.now();
  const until = start + d.afterMs;
  while (!answered() && x.now() < until) await x.hold(Math.min(50, until - x.now()));
  // Done already: the disruption still hits the cell right after its membership changed.
  if (answered()) x.notes.push(`the move answered within ${d.afterMs} ms`);
  const leader = await c.leaderOf(x.cell);
  const id = d.who === 'leader' ? leader : ends[d.who];
  if (!id) {
    x.notes.push(`no leader to ${d.what}`);
    return;
  }
  x.notes.push(`${d.what} ${id}${id === leader ? ' (leader)' : ''} ${Math.round(x.now() - start)} ms into the move`);
  try {
    switch (d.what) {
      case 'kill':
        await x.kill(id, id === leader);
        await x.hold(d.forMs);
        await c.startNode(id);
        return;
      case 'pause':
        c.pause(id);
        await x.hold(d.forMs);
        c.resume(id);
        return;
      case 'isolate':
        c.isolateNode(id);
        await x.hold(d.forMs);
        c.link(id).heal();
        return;
    }
  } catch (e) {
    // The heal after the fault brings everything back.
    x.notes.push(`${d.what} of ${id}: ${(e as Error).message}`);
  }
}
