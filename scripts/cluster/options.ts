// Options of the launcher (launcher.ts): the NATS layout, how nodes start, where things go,
// and the Runner that spawns every process.

import type { NodeProc } from './node-proc.js';
import { spawnChild, type Child, type ChildSpec, type ExitStatus } from './procs.js';

export type ProcessRole = 'nats' | 'node' | 'gateway';

/** Spawns the launcher's processes: directly (default) or under npm start's Supervisor. */
export interface Runner {
  start(role: ProcessRole, name: string, spec: ChildSpec): Promise<Child>;
}

export const directRunner: Runner = { start: (_role, _name, spec) => spawnChild(spec) };

export interface NatsOptions {
  /** 'single': one server on a free port (tests, benches); 'per-az': one per AZ, clustered (npm start, chaos). */
  readonly layout: 'single' | 'per-az';
  /** Fixed client and route ports per AZ (npm start); without them per-az servers pick their own and log them. */
  readonly clientPorts?: readonly number[];
  readonly clusterPorts?: readonly number[];
  readonly serverName?: (az: string) => string;
  readonly clusterName?: string;
  readonly header?: string;
  /** Config lines after the client settings. */
  readonly extraConfig?: readonly string[];
  /** Route URLs server i dials; default every other server's route port. */
  readonly routes?: (i: number) => readonly string[];
  readonly advertise?: string;
  readonly noAdvertise?: boolean;
  /** Where server i's config goes; default <dir>/nats-<az>.conf (single: a temp dir). */
  readonly confFile?: (az: string, i: number) => string;
}

export interface NodeOptions {
  readonly tickMs?: number;
  readonly snapshotEvery?: number;
  readonly logRetain?: number;
  readonly extraArgs?: readonly string[];
  readonly nodeArgs?: readonly string[];
  readonly logLevel?: string;
  readonly scrubEnv?: boolean;
  readonly env?: Readonly<Record<string, string>>;
  readonly readyTimeoutMs?: number;
  /** 'if-empty': bootstrap only an empty data dir, reopen the rest (npm start). */
  readonly bootstrap?: 'always' | 'if-empty';
  /** The NATS URLs a node dials; default its AZ's server first, the others for failover. */
  readonly natsUrl?: (node: NodeProc) => string;
}

export interface LauncherOptions {
  /** Run directory (configs, logs, data); default a fresh temp dir. */
  readonly dir?: string;
  /** Remove `dir` in stop(); default only when the launcher made it. */
  readonly removeDir?: boolean;
  /** Parent of the node data dirs <dataDir>/<node-id>; default `dir`. */
  readonly dataDir?: string;
  /** Log files <logDir>/<name>.log; null = recent output in memory only. Default `dir`. */
  readonly logDir?: string | null;
  readonly nodes?: number;
  readonly nats?: NatsOptions;
  readonly node?: NodeOptions;
  readonly runner?: Runner;
  readonly root?: string;
  /** A node exited while the launcher was not stopping it (a crash, or a failpoint). */
  readonly onNodeExit?: (node: NodeProc, status: ExitStatus) => void;
}
