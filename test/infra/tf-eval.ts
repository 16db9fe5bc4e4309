// The real terraform binary, used where it needs no provider: `terraform fmt` and `terraform
// console` in an empty directory, which evaluates expressions (validation conditions,
// templatefile) with Terraform's own functions.

import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const CANDIDATES = ['/usr/local/bin/terraform', '/usr/bin/terraform'];
const TIMEOUT_MS = 60_000;
const MAX_OUTPUT = 16 * 1024 * 1024;

/** The terraform binary ($TERRAFORM, then the usual paths), or null when none runs. */
export async function findTerraform(): Promise<{ bin: string; version: string } | null> {
  for (const bin of [process.env['TERRAFORM'], ...CANDIDATES]) {
    if (!bin || !existsSync(bin)) continue;
    try {
      const { stdout } = await run(bin, ['version', '-json'], { timeout: TIMEOUT_MS, env: tfEnv() });
      return { bin, version: (JSON.parse(stdout) as { terraform_version: string }).terraform_version };
    } catch {
      // not runnable: try the next one
    }
  }
  return null;
}

function tfEnv(): NodeJS.ProcessEnv {
  // No CLI config file (silences its warning), no checkpoint calls to the network.
  return { ...process.env, TF_CLI_CONFIG_FILE: '/dev/null', CHECKPOINT_DISABLE: '1', TF_IN_AUTOMATION: '1' };
}

export interface FmtResult {
  readonly ok: boolean;
  /** Files that are not formatted, as terraform lists them. */
  readonly files: readonly string[];
  readonly diff: string;
}

export async function fmtCheck(bin: string, dir: string): Promise<FmtResult> {
  try {
    await run(bin, ['fmt', '-check', '-recursive', '-diff', dir], { timeout: TIMEOUT_MS, env: tfEnv(), maxBuffer: MAX_OUTPUT });
    return { ok: true, files: [], diff: '' };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    if (err.code !== 3 && err.code !== 1) throw new Error(`terraform fmt failed unexpectedly: ${err.stderr ?? String(e)}`);
    const out = err.stdout ?? '';
    const files = out.split('\n').filter((l) => /\.tf(vars)?$/.test(l.trim()));
    return { ok: false, files, diff: out };
  }
}

/** A console session in an empty directory: one expression in, its value (via jsonencode) out. */
export class TfConsole {
  private constructor(
    private readonly bin: string,
    private readonly dir: string,
  ) {}

  static async open(bin: string): Promise<TfConsole> {
    return new TfConsole(bin, await mkdtemp(join(tmpdir(), 'cellkv-tf-console-')));
  }

  /** Evaluates an HCL expression; errors (e.g. a failing function) are thrown with terraform's text. */
  async eval(expr: string): Promise<unknown> {
    // Console reads one expression per line: fold the expression onto one line.
    const line = `jsonencode(${expr.replace(/\s*\n\s*/g, ' ')})\n`;
    const { stdout, stderr, code } = await new Promise<{ stdout: string; stderr: string; code: number | null }>((resolve, reject) => {
      const p = spawn(this.bin, ['console'], { cwd: this.dir, env: tfEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      const timer = setTimeout(() => p.kill('SIGKILL'), TIMEOUT_MS);
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => (err += d.toString()));
      p.once('error', reject);
      p.once('close', (c) => {
        clearTimeout(timer);
        resolve({ stdout: out, stderr: err, code: c });
      });
      p.stdin.end(line);
    });
    if (code !== 0 || stdout.trim() === '') throw new Error(`terraform console: ${(stderr.trim() || stdout.trim() || `exit ${code}`).replace(/\x1b\[[0-9;]*m/g, '')}\n  expression: ${expr.slice(0, 500)}`);
    // The console prints an HCL string literal whose content is the JSON text.
    return JSON.parse(JSON.parse(stdout.trim()) as string) as unknown;
  }

  /** templatefile(path, vars) with vars given as an HCL object expression. */
  async render(templatePath: string, varsHcl: string): Promise<string> {
    return (await this.eval(`templatefile(${JSON.stringify(templatePath)}, ${varsHcl})`)) as string;
  }

  async close(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Writes `files` (name => text) into a fresh temp directory, for negative cases. */
export async function tempTree(files: Record<string, string>): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'cellkv-tf-case-'));
  for (const [name, text] of Object.entries(files)) {
    const p = join(dir, name);
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, text);
  }
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
