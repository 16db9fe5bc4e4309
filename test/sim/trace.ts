// The event trace of a run. Off by default (building strings for every message is the cost);
// 'hash' folds every line into a fingerprint (the determinism test compares two runs);
// 'print' also writes the lines out for `--trace`.

import { hashString } from './rng.js';

export type TraceMode = 'off' | 'hash' | 'print';

export class Tracer {
  private h1 = 0x811c9dc5;
  private h2 = 0x2545f491;
  private count = 0;

  constructor(
    readonly mode: TraceMode,
    private readonly sink: (line: string) => void = (line) => process.stdout.write(line + '\n'),
  ) {}

  get enabled(): boolean {
    return this.mode !== 'off';
  }

  /** `text` is only built when tracing, so callers pass a closure. */
  event(tick: number, text: () => string): void {
    if (this.mode === 'off') return;
    const line = `[${String(tick).padStart(5)}] ${text()}`;
    this.h1 = hashString(line, this.h1);
    this.h2 = hashString(line, Math.imul(this.h2 ^ this.count, 0x9e3779b1) >>> 0);
    this.count++;
    if (this.mode === 'print') this.sink(line);
  }

  /** Fingerprint of every line so far (two 32-bit hashes and the line count). */
  fingerprint(): string {
    return `${this.h1.toString(16)}-${this.h2.toString(16)}-${this.count}`;
  }
}
