// Progress of long phases (cluster start, preload, each workload) on stderr, so stdout keeps
// only the results table: a redrawn bar on a terminal, one plain line per second otherwise
// (CI logs, pipes). Messages between bars are plain lines either way.

export interface ProgressSink {
  /** A one-off line (steps, warnings). */
  line(msg: string): void;
  /** Starts a phase with a total (keys or seconds); `update` redraws it; `done` ends it. */
  phase(label: string, total: number, unit: string): PhaseProgress;
}

export interface PhaseProgress {
  update(done: number, extra: string): void;
  done(summary: string): void;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

export class Progress implements ProgressSink {
  private readonly t0 = Date.now();
  private barOpen = false;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly tty = Boolean(process.stderr.isTTY) && process.env['CI'] === undefined,
  ) {
    // A closed pipe must not crash the run.
    out.on('error', () => undefined);
  }

  private stamp(): string {
    return `[${((Date.now() - this.t0) / 1000).toFixed(1).padStart(6)}s]`;
  }

  private endBar(): void {
    if (this.barOpen) {
      this.out.write('\n');
      this.barOpen = false;
    }
  }

  line(msg: string): void {
    this.endBar();
    this.out.write(`${this.stamp()} ${msg}\n`);
  }

  phase(label: string, total: number, unit: string): PhaseProgress {
    let lastPlain = 0;
    const render = (done: number, extra: string): string => {
      // No total known (total 0): a running count.
      if (total <= 0) return `${label} ${fmt(done)} ${unit} ${extra}`;
      const frac = Math.min(1, done / total);
      return `${label} ${fmt(done)}/${fmt(total)} ${unit} (${Math.floor(frac * 100)}%) ${extra}`;
    };
    return {
      update: (done, extra) => {
        if (this.tty) {
          const frac = total > 0 ? Math.min(1, done / total) : 0;
          const width = 24;
          const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
          this.out.write(`\r\x1b[2K${this.stamp()} [${bar}] ${render(done, extra)}`);
          this.barOpen = true;
        } else if (Date.now() - lastPlain >= 1000) {
          lastPlain = Date.now();
          this.out.write(`${this.stamp()} ${render(done, extra)}\n`);
        }
      },
      done: (summary) => {
        this.endBar();
        this.out.write(`${this.stamp()} ${label}: ${summary}\n`);
      },
    };
  }
}

export { fmt as formatCount };
