// Short readable forms of Raft messages and configurations for the event trace.

import type { ConfState, Message } from '../../cell/raft/types.js';

export function describeConf(cs: ConfState): string {
  let s = `voters ${cs.voters.join(',')}`;
  if (cs.votersOutgoing.length > 0) s += ` outgoing ${cs.votersOutgoing.join(',')}`;
  if (cs.learners.length > 0) s += ` learners ${cs.learners.join(',')}`;
  if (cs.learnersNext.length > 0) s += ` learnersNext ${cs.learnersNext.join(',')}`;
  return s;
}

export function describeMessage(m: Message): string {
  let s = `${m.from}->${m.to} ${m.type} t${m.term}`;
  if (m.type === 'append') s += ` prev=${m.index}/${m.logTerm} n=${m.entries.length} commit=${m.commit}`;
  else if (m.type === 'appendResp') s += ` idx=${m.index}${m.reject ? ` REJECT hint=${m.rejectHint}/${m.hintTerm}` : ''}`;
  else if (m.type === 'vote' || m.type === 'preVote') s += ` last=${m.index}/${m.logTerm}`;
  else if (m.type.endsWith('Resp') && m.reject) s += ' REJECT';
  else if (m.type === 'snapshot' && m.snapshot) s += ` @${m.snapshot.metadata.index} off=${m.snapshot.offset}/${m.snapshot.totalBytes}`;
  else if (m.type === 'heartbeat') s += ` commit=${m.commit}`;
  return s;
}
