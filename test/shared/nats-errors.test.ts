// Whether a failed NATS request may have been delivered decides between 503 UNAVAILABLE (it
// never left, or nobody received it) and 504 OUTCOME_UNKNOWN (a write that may have applied).
// The classification reads the client's typed errors, never their messages: checked here
// against the errors a real nats-server produces, and through CellClient's retry loop.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { CellClient } from '../../shared/cell-client.js';
import type { DirectoryView } from '../../shared/directory.js';
import { KvError } from '../../shared/errors.js';
import { classifyRequestError, mayHaveBeenDelivered, NotSentError } from '../../shared/nats-errors.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';

let nats: NatsServer;
let nc: NatsConnection;

before(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
});

after(async () => {
  if (!nc.isClosed()) await nc.close();
  await nats.stop();
});

async function failureOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  assert.fail('the request should have failed');
}

test('a real server: no responders, timeout, closed connection', async () => {
  const noResponders = await failureOf(nc.request('nobody.listens.here', new Uint8Array(0), { timeout: 2000 }));
  assert.equal(classifyRequestError(noResponders), 'no-responders');

  const sub = nc.subscribe('listens.but.never.answers');
  const timedOut = await failureOf(nc.request('listens.but.never.answers', new Uint8Array(0), { timeout: 200 }));
  assert.equal(classifyRequestError(timedOut), 'timeout');
  sub.unsubscribe();

  const other = await connect({ servers: nats.url });
  await other.close();
  const closed = await failureOf(other.request('anything', new Uint8Array(0), { timeout: 200 }));
  assert.equal(classifyRequestError(closed), 'not-sent');

  assert.equal(classifyRequestError(new NotSentError('NATS is disconnected')), 'not-sent');
  assert.equal(classifyRequestError(new Error('timeout', { cause: new NotSentError('wrapped') })), 'not-sent');
  // Message text means nothing: an untyped error is "may have been delivered".
  assert.equal(classifyRequestError(new Error('no responders available for request')), 'transport');
  assert.deepEqual(
    (['not-sent', 'no-responders', 'timeout', 'transport'] as const).map(mayHaveBeenDelivered),
    [false, false, true, true],
  );
});

const DIR: DirectoryView = {
  epoch: 1,
  cells: [{ id: 'c1', start: '', end: null, epoch: 1, replicas: [{ node: 'n1', az: 'az1', role: 'voter' }] }],
  nodes: [],
  leaders: { c1: 'n1' },
  servedBy: 'n1',
} as unknown as DirectoryView;

/** A connection whose directory answers and whose cell requests all fail with `fail()`. */
function failingConnection(fail: () => Error): NatsConnection {
  const request = (subject: string): Promise<unknown> => {
    if (subject === 'cellkv.dir') return Promise.resolve({ data: new TextEncoder().encode(JSON.stringify(DIR)) });
    return Promise.reject(fail());
  };
  return new Proxy(nc, { get: (t, p) => (p === 'request' ? request : Reflect.get(t, p, t)) });
}

const put = { op: 'put', key: new Uint8Array([1]), value: new Uint8Array([2]), ttlMs: null, ifVersion: null, ifAbsent: false, attrs: null } as const;

async function codeOf(client: CellClient): Promise<string> {
  const e = await failureOf(client.request('t1', [put]));
  assert.ok(e instanceof KvError, String(e));
  return e.code;
}

test('CellClient: a write that never left is UNAVAILABLE, one that timed out is OUTCOME_UNKNOWN', async () => {
  const opts = { attemptTimeoutMs: 100, maxAttempts: 2 };
  assert.equal(await codeOf(new CellClient(failingConnection(() => new NotSentError('NATS is disconnected')), opts)), 'UNAVAILABLE');
  const sub = nc.subscribe('silent.subject');
  const realTimeout = await failureOf(nc.request('silent.subject', new Uint8Array(0), { timeout: 100 }));
  sub.unsubscribe();
  assert.equal(await codeOf(new CellClient(failingConnection(() => realTimeout as Error), opts)), 'OUTCOME_UNKNOWN');
});
