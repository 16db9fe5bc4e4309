// The meta cell as seen from a node that hosts no replica of it (a new, empty node, or one whose
// meta replica moved away): its heartbeats and other meta commands go to the meta leader over
// the admin subject, and its directory (for `cellkv.dir` lookups that land on it, and for what
// it needs to know of other nodes) is fetched from a node that has one. It finds the leader
// from a hint (the last node that accepted, or one a NOT_LEADER answer named), else asks the
// nodes it knows of: the cached directory's, then the bootstrap list.

import { KvError } from '../../shared/errors.js';
import type { DirectoryView } from '../../shared/directory.js';
import type { NodeConfig } from './config.js';
import type { NodeTransportPort } from './ports.js';

export interface MetaLinkHost {
  readonly cfg: Pick<NodeConfig, 'nodeId' | 'bootstrap'>;
  transport(): NodeTransportPort | null;
}

const ATTEMPT_TIMEOUT_MS = 1000;
/** Nodes asked per command at most: a hint, the leader it names, and a few others. */
const MAX_ATTEMPTS = 4;

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const dec = (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b)) as Record<string, unknown>;

export class MetaLink {
  private leaderHint: string | null = null;
  private cached: DirectoryView | null = null;
  private fetching: Promise<DirectoryView> | null = null;

  constructor(private readonly host: MetaLinkHost) {}

  /** The last directory fetched (null before the first). */
  directory(): DirectoryView | null {
    return this.cached;
  }

  /** Proposes a meta command on the meta leader, wherever it is. */
  async propose(json: string): Promise<void> {
    const transport = this.transport();
    const tried = new Set<string>();
    let next: string | undefined = this.leaderHint ?? undefined;
    let last = 'no node to ask';
    for (let i = 0; i < MAX_ATTEMPTS; i++) {
      const to = next ?? this.candidates().find((c) => !tried.has(c));
      if (to === undefined) break;
      tried.add(to);
      next = undefined;
      let r: Record<string, unknown>;
      try {
        r = dec(await transport.requestAdmin(to, enc({ op: 'meta', json }), ATTEMPT_TIMEOUT_MS));
      } catch (e) {
        last = `${to}: ${(e as Error).message}`;
        if (this.leaderHint === to) this.leaderHint = null;
        continue;
      }
      if (r['ok'] === true) {
        this.leaderHint = to;
        return;
      }
      last = `${to}: ${String(r['code'])} ${String(r['message'] ?? '')}`;
      if (r['code'] !== 'NOT_LEADER') throw new KvError(r['code'] === 'INVALID_ARGUMENT' ? 'INVALID_ARGUMENT' : 'UNAVAILABLE', last);
      if (this.leaderHint === to) this.leaderHint = null;
      const named = typeof r['leader'] === 'string' ? r['leader'] : null;
      if (named !== null && named !== this.host.cfg.nodeId && !tried.has(named)) next = named;
    }
    throw new KvError('UNAVAILABLE', `no meta leader reached (${last})`);
  }

  /** A fresh directory from a node that hosts the meta cell (concurrent callers share one fetch). */
  fetchDirectory(): Promise<DirectoryView> {
    this.fetching ??= this.fetchOnce().finally(() => {
      this.fetching = null;
    });
    return this.fetching;
  }

  private async fetchOnce(): Promise<DirectoryView> {
    const transport = this.transport();
    const order = [...new Set([...(this.leaderHint ? [this.leaderHint] : []), ...this.candidates()])].slice(0, MAX_ATTEMPTS);
    for (const to of order) {
      try {
        const r = dec(await transport.requestAdmin(to, enc({ op: 'directory' }), ATTEMPT_TIMEOUT_MS));
        const view = r['directory'] as DirectoryView | undefined;
        // A node without the meta cell answers with no cells: ask the next one.
        if (r['ok'] !== true || !view || !Array.isArray(view.cells) || view.cells.length === 0) continue;
        this.cached = view;
        const leader = view.leaders['meta'];
        if (typeof leader === 'string' && leader !== this.host.cfg.nodeId) this.leaderHint = leader;
        return view;
      } catch {
        // next candidate
      }
    }
    throw new KvError('UNAVAILABLE', 'no node with the meta cell answered a directory request');
  }

  /** Nodes that may host the meta cell, other than this one, in a stable order. */
  private candidates(): string[] {
    const me = this.host.cfg.nodeId;
    const fromDir = this.cached?.nodes.map((n) => n.id) ?? [];
    const boot = this.host.cfg.bootstrap.map((n) => n.id);
    return [...new Set([...boot, ...fromDir])].filter((id) => id !== me);
  }

  private transport(): NodeTransportPort {
    const t = this.host.transport();
    if (!t) throw new KvError('UNAVAILABLE', 'not connected');
    return t;
  }
}
