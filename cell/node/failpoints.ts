// Named failpoints for fault-injection tests: inert unless armed through configuration
// (CELLKV_FAILPOINTS="name=action[,name=action]"), where action is `panic` (exit at once,
// like a crash), `sleep(ms)` or `panic@N` (panic the N-th time the point is reached).

export const FAILPOINT_NAMES = [
  'beforeLogSync',
  'afterLogSync',
  'beforeApply',
  'beforeLeaderSend',
  'duringSnapshotSend',
  'duringSnapshotInstall',
] as const;

export type FailpointName = (typeof FAILPOINT_NAMES)[number];

type Action = { kind: 'panic'; after: number } | { kind: 'sleep'; ms: number };

export class Failpoints {
  private readonly armed = new Map<FailpointName, Action>();
  private readonly hits = new Map<FailpointName, number>();

  constructor(spec: string) {
    for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
      const [name, action] = part.split('=') as [string, string | undefined];
      if (!(FAILPOINT_NAMES as readonly string[]).includes(name)) {
        throw new Error(`unknown failpoint "${name}"; known: ${FAILPOINT_NAMES.join(', ')}`);
      }
      const sleep = /^sleep\((\d+)\)$/.exec(action ?? '');
      const panic = /^panic(?:@(\d+))?$/.exec(action ?? '');
      if (sleep) this.armed.set(name as FailpointName, { kind: 'sleep', ms: Number(sleep[1]) });
      else if (panic) this.armed.set(name as FailpointName, { kind: 'panic', after: Number(panic[1] ?? 1) });
      else throw new Error(`failpoint ${name}: action must be panic, panic@N or sleep(ms), got "${action}"`);
    }
  }

  get active(): boolean {
    return this.armed.size > 0;
  }

  /** Reached a named point: does nothing unless armed. */
  async hit(name: FailpointName): Promise<void> {
    const a = this.armed.get(name);
    if (!a) return;
    const n = (this.hits.get(name) ?? 0) + 1;
    this.hits.set(name, n);
    if (a.kind === 'sleep') {
      await new Promise((r) => setTimeout(r, a.ms));
    } else if (n >= a.after) {
      process.stderr.write(`failpoint ${name}: panic\n`);
      process.kill(process.pid, 'SIGKILL');
    }
  }
}
