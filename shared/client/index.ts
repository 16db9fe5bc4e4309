// cellkv's typed public client: `CellkvHttpClient` for the HTTP API, `CellkvNatsClient` for the
// NATS front door; same methods, results, errors and retry rules.
//
//   const kv = new CellkvHttpClient({ url: 'http://127.0.0.1:8080', token });
//   const { version } = await kv.put('user/42', '{"name":"Ada"}', { ttlSeconds: 3600 });
//   const e = await kv.get('user/42');            // null when absent
//   for await (const page of kv.scan({ prefix: 'user/' })) for (const it of page.items) ...

export { CellkvError, parseRetryAfter, type CellkvErrorCode, type CellkvErrorInit, type ClientErrorCode, type ServerErrorCode } from './errors.js';
export { CellkvHttpClient, type CellkvHttpClientOptions } from './http.js';
export { CellkvNatsClient, API_SUBJECT_PREFIX, type CellkvNatsClientOptions } from './nats.js';
export { delayMs, retryPolicy, type RetryPolicy } from './retry.js';
export { percentEncodeAll, utf8 } from './wire.js';
export type * from './types.js';
