// NATS JetStream KV as a comparison peer: three nats-servers with JetStream (file storage in a
// temporary directory) clustered over loopback routes, and one KV bucket with 3 replicas and
// history 1, created with allow_direct so the driver can offer both read paths (see
// jetstream-client.ts). nats-server is found (or installed) as `npm start` finds it.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { launchNats, type NatsProc } from '../../scripts/cluster/nats.js';
import { distinctFreePorts } from '../../scripts/cluster/ports.js';
import { killHard, sleep, trackTempDir, untrackTempDir } from '../../scripts/cluster/procs.js';
import { ensureNatsServer } from '../../scripts/nats-cluster.js';
import type { OpKind } from '../workloads.js';
import type { PeerStartOptions, RunningPeer } from './types.js';

export const BUCKET = 'bench';

/** Creates the bucket once the JetStream meta group has a leader (retrying while it elects one). */
async function createBucket(servers: string[], valueBytes: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // The servers were just spawned and may not listen yet: retry the first connect too.
  const nc = await (async () => {
    for (;;) {
      try {
        return await connect({ servers, name: 'cellkv-bench-setup', maxReconnectAttempts: -1 });
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`cannot connect to the JetStream servers: ${(e as Error).message}`);
        await sleep(100);
      }
    }
  })();
  try {
    const kvm = new Kvm(jetstream(nc, { timeout: 5000 }));
    for (;;) {
      try {
        const kv = await kvm.create(BUCKET, { replicas: 3, history: 1, allow_direct: true, maxValueSize: Math.max(valueBytes * 2, 1 << 20) });
        // One write and read prove the stream has a leader and a quorum.
        await kv.put('user-probe', new Uint8Array([1]));
        await kv.get('user-probe');
        await kv.purge('user-probe');
        return;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`JetStream bucket not ready within ${timeoutMs / 1000}s: ${(e as Error).message}`);
        await sleep(250);
      }
    }
  } finally {
    await nc.close().catch(() => undefined);
  }
}

export async function startJetStream(o: PeerStartOptions): Promise<RunningPeer> {
  const nats = await ensureNatsServer(o.log, o.allowInstall);
  const dir = await mkdtemp(join(tmpdir(), 'cellkv-bench-js-'));
  trackTempDir(dir);
  const all = await distinctFreePorts(6);
  const servers = [0, 1, 2].map((i) => ({ name: `js${i + 1}`, client: all[i]!, route: all[i + 3]!, store: join(dir, `js${i + 1}`) }));
  const spawned: NatsProc[] = [];
  const stopAll = async () => {
    for (const s of spawned) await killHard(s.child);
    await rm(dir, { recursive: true, force: true });
    untrackTempDir(dir);
  };
  try {
    o.log(`jetstream: starting 3 nats-servers with JetStream (${nats.version}) in ${dir}`);
    for (const s of servers) {
      const routes = servers.filter((x) => x !== s).map((x) => `nats-route://127.0.0.1:${x.route}`);
      spawned.push(
        await launchNats({
          name: s.name,
          confFile: join(dir, `${s.name}.conf`),
          clientPort: s.client,
          cwd: dir,
          logFile: join(dir, `${s.name}.log`),
          config: {
            serverName: s.name,
            listen: `127.0.0.1:${s.client}`,
            extra: [`jetstream { store_dir: "${s.store}", max_memory_store: 1GB, max_file_store: 200GB }`],
            cluster: { name: 'cellkv-bench-js', listen: `127.0.0.1:${s.route}`, routes },
          },
        }),
      );
    }
    const urls = servers.map((s) => `nats://127.0.0.1:${s.client}`);
    await createBucket(urls, o.valueBytes, 60_000);
    o.log(`jetstream: bucket "${BUCKET}" ready (R3, history 1, file storage)`);
    const pids = servers.map((s, i) => ({ name: `nats-${s.name}`, pid: spawned[i]!.child.proc.pid ?? 0 }));
    return {
      peer: 'jetstream',
      version: `${nats.version} (JetStream), @nats-io/kv 3.4.0`,
      targets: [{ front: 'nats', spec: { kind: 'jetstream', servers: urls, bucket: BUCKET } }],
      unsupported: new Map<OpKind, string>([['scan', 'JetStream KV has no ordered range scan (keys are subjects; listing keys is an unordered consumer)']]),
      notes: [
        `jetstream: ${nats.version}, 3 servers, KV bucket R3 history 1, file storage. This nats-server has no sync_interval setting:`,
        '  the file store does not fsync each write (a put is acknowledged once a quorum holds it, not once it is on disk) — weaker durability than cellkv/etcd;',
        '  get = kv.get on a handle with allow_direct=false (STREAM.MSG.GET answered by the stream leader: leader reads, not confirmed by quorum, so',
        '  not linearizable in the ReadIndex sense); get-stale = direct get (allow_direct=true, any replica); cas = kv.update(key, value, revision); scan and E are n/a.',
      ],
      preload: { batch: 500, inFlight: 4 },
      processes: () => pids,
      dataDirs: () => servers.map((s) => ({ name: `nats-${s.name}`, dir: s.store })),
      stop: async () => {
        o.log('jetstream: stopping');
        await stopAll();
      },
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
