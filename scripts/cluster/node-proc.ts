// One cell node process of a local cluster as the launcher tracks it (its own file: the
// launcher's options refer to it too).

import type { ChildProcess } from 'node:child_process';
import { isRunning, type Child } from './procs.js';

export class NodeProc {
  child: Child | null = null;
  metricsUrl = '';
  paused = false;
  /** Set while the launcher itself stops the process, so the exit is not a crash. */
  stopping = false;
  starts = 0;
  /** Whether the last start bootstrapped (an empty data dir, or bootstrap 'always'). */
  bootstrapped = false;

  constructor(
    readonly id: string,
    readonly az: string,
    readonly index: number,
    readonly dataDir: string,
    readonly logFile: string | null,
  ) {}

  /** The running process, or null. */
  get proc(): ChildProcess | null {
    return isRunning(this.child?.proc) ? this.child!.proc : null;
  }

  /** Accepted for callers that mark a crashed node gone; the getter already reports only a running process. */
  set proc(_: ChildProcess | null) {
    // nothing to do: the exited child stays, for its output
  }

  get output(): string {
    return this.child?.output() ?? '';
  }
}
