// The one command that replays a seed with the same options (printed on every failure).

import type { PoolRunOptions } from './pool.js';

export function replayCommand(seed: number, o: PoolRunOptions): string {
  let cmd = `npm run sim -- --seed ${seed} --trace`;
  if (o.mutation !== undefined && o.mutation !== 'none') cmd += ` --mutation ${o.mutation}`;
  if (o.faults !== undefined) cmd += ` --faults ${o.faults.join(',')}`;
  if (o.nodes !== undefined) cmd += ` --nodes ${o.nodes}`;
  return cmd;
}
