// The chaos harness's fault-injecting TCP proxy against a local echo server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { FaultProxy } from '../../chaos/proxy.js';
import { Rng } from '../../chaos/rng.js';

let echo: Server;
let echoPort = 0;
/** Bytes the echo server received, per connection (to see one-way holds). */
const received: Buffer[][] = [];

before(async () => {
  echo = createServer((s) => {
    const got: Buffer[] = [];
    received.push(got);
    s.on('data', (d: Buffer) => {
      got.push(d);
      s.write(d);
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  const a = echo.address();
  echoPort = typeof a === 'object' && a ? a.port : 0;
});
after(() => new Promise<void>((r) => echo.close(() => r())));

async function proxy(name = 'test'): Promise<FaultProxy> {
  return FaultProxy.start({ name, targetPort: echoPort, rng: new Rng(7) });
}

function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

/** Collects what comes back until `n` bytes arrived or the socket closed. */
function readN(s: Socket, n: number, timeoutMs = 3000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let len = 0;
    const t = setTimeout(() => reject(new Error(`timed out with ${len}/${n} bytes`)), timeoutMs);
    const onData = (d: Buffer) => {
      chunks.push(d);
      len += d.length;
      if (len >= n) {
        clearTimeout(t);
        s.off('data', onData);
        resolve(Buffer.concat(chunks));
      }
    };
    s.on('data', onData);
  });
}

function closed(s: Socket, timeoutMs = 3000): Promise<boolean> {
  return new Promise((resolve) => {
    if (s.destroyed) return resolve(true);
    const t = setTimeout(() => resolve(false), timeoutMs);
    s.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
    s.on('error', () => undefined);
  });
}

test('passes bytes both ways unchanged', async () => {
  const p = await proxy();
  const s = await dial(p.port);
  const msg = Buffer.from('hello through the proxy');
  s.write(msg);
  assert.deepEqual(await readN(s, msg.length), msg);
  assert.equal(p.stats.accepted, 1);
  s.destroy();
  await p.close();
});

test('delay with jitter keeps the stream in order and adds latency', async () => {
  const p = await proxy();
  p.set({ delayMs: 40, jitterMs: 30 });
  const s = await dial(p.port);
  const parts: Buffer[] = [];
  const t0 = performance.now();
  for (let i = 0; i < 50; i++) {
    const b = Buffer.from(`chunk-${i};`);
    parts.push(b);
    s.write(b);
    await new Promise((r) => setImmediate(r));
  }
  const all = Buffer.concat(parts);
  const back = await readN(s, all.length);
  assert.equal(back.toString(), all.toString(), 'order and content survive jitter');
  // Each direction adds at least delayMs.
  assert.ok(performance.now() - t0 >= 80, `round trip took ${performance.now() - t0} ms`);
  s.destroy();
  await p.close();
});

test('partition resets existing connections and new ones until healed', async () => {
  const p = await proxy();
  const s = await dial(p.port);
  s.write('x');
  await readN(s, 1);
  p.set({ partitioned: true });
  assert.ok(await closed(s), 'existing connection cut');
  const s2 = connect(p.port, '127.0.0.1');
  assert.ok(await closed(s2), 'new connection refused');
  assert.ok(p.stats.refused >= 1);
  p.heal();
  const s3 = await dial(p.port);
  s3.write('back');
  assert.equal((await readN(s3, 4)).toString(), 'back');
  s3.destroy();
  await p.close();
});

test('a one-way hold stops one direction only, and releasing it delivers what was held', async () => {
  const p = await proxy();
  const s = await dial(p.port);
  s.write('a');
  await readN(s, 1);
  const conn = received[received.length - 1]!;
  p.set({ holdUp: true });
  s.write('held');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(Buffer.concat(conn).toString(), 'a', 'nothing new reached the server while held');
  p.heal();
  assert.equal((await readN(s, 4)).toString(), 'held', 'delivered (and echoed) after release');
  // Down direction: the server's echo is held, the request still arrives.
  p.set({ holdDown: true });
  s.write('zz');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(Buffer.concat(conn).toString(), 'aheldzz', 'upstream still flows');
  const late = readN(s, 2);
  p.heal();
  assert.equal((await late).toString(), 'zz');
  s.destroy();
  await p.close();
});

test('loss is modelled as spikes and resets, never as missing bytes', async () => {
  const p = await proxy();
  p.set({ spikeProb: 1, spikeMs: 50 });
  const s = await dial(p.port);
  const t0 = performance.now();
  s.write('spike');
  assert.equal((await readN(s, 5)).toString(), 'spike');
  assert.ok(performance.now() - t0 >= 100, 'a spike each way');
  assert.ok(p.stats.spikes >= 2);
  p.set({ resetProb: 1 });
  s.write('boom');
  assert.ok(await closed(s), 'reset on the next chunk');
  assert.ok(p.stats.resets >= 1);
  await p.close();
});
