// Cell-side tracing: continues the gateway's trace (CellRequest.traceparent, W3C) with a
// SERVER span per cell request and child spans for the Raft phases of that request:
//
//   cellkv.node/write (SERVER)      the request on this node, until the answer is sent
//     raft.propose                  queued until the pump put it into a Raft entry
//     raft.commit                   proposed until the entry is committed (majority durable)
//     raft.apply                    committed until applied to the state machine (answered)
//   cellkv.node/read (SERVER)
//     raft.read_index               linearizable: ReadIndex confirmation (a heartbeat round
//                                   with a quorum) plus waiting for apply to reach the index
//
// Why spans and not span events: the phases are intervals, and the question a trace answers
// is which one was slow (queueing behind the pump, replication + fsync, or apply); a waterfall
// shows that directly where events would need subtraction. Many requests ride one Raft entry,
// so the spans are per request (each ends at its own commit/apply) rather than per entry: one
// request's trace is complete on its own. The cost is three small spans per traced write,
// only when tracing is enabled, and bounded by sampling (`traceSampleRatio`) and by the
// exporter's bounded queue. Disabled, the node holds no CellTracing (null) and the request
// path does one null check: no span, context or wrapper is created.

import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { ATTR_ERROR_TYPE } from '@opentelemetry/semantic-conventions';
import type { CellRequest, CellResponse } from '../../shared/cell-protocol.js';
import type { KvError } from '../../shared/errors.js';
import { recordGetter, type Telemetry } from '../../shared/telemetry.js';
import type { ReadWaiter, WriteTraceHooks, WriteWaiter } from './replica.js';

/** The trace id in a W3C traceparent, for log lines when tracing is off; undefined if none. */
export function traceIdOf(traceparent: string): string | undefined {
  return traceparent.length >= 55 && traceparent.startsWith('00-') ? traceparent.slice(3, 35) : undefined;
}

function kindOf(req: CellRequest): 'scan' | 'write' | 'read' {
  if (req.scan) return 'scan';
  return req.ops.some((o) => o.op !== 'get') ? 'write' : 'read';
}

function fail(span: Span, e: KvError): void {
  span.setAttribute(ATTR_ERROR_TYPE, e.code);
  span.setStatus({ code: SpanStatusCode.ERROR, message: e.code });
  span.end();
}

export class CellTracing {
  private constructor(
    private readonly telemetry: Telemetry,
    private readonly tracer: Tracer,
    private readonly nodeId: string,
  ) {}

  /** Null when telemetry is disabled: callers test for null once per request. */
  static create(telemetry: Telemetry, nodeId: string): CellTracing | null {
    return telemetry.tracer === null ? null : new CellTracing(telemetry, telemetry.tracer, nodeId);
  }

  /** The SERVER span of one cell request, a child of the caller's span when it sent one. */
  startRequest(req: CellRequest): RequestTrace {
    const parent = req.traceparent === '' ? ROOT_CONTEXT : this.telemetry.extract({ traceparent: req.traceparent }, recordGetter);
    const span = this.tracer.startSpan(
      `cellkv.node/${kindOf(req)}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'messaging.system': 'nats',
          'cellkv.cell.id': req.cellId,
          'cellkv.node.id': this.nodeId,
          'cellkv.tenant': req.tenant,
          'cellkv.ops': req.ops.length,
          'cellkv.consistency': req.consistency,
        },
      },
      parent,
    );
    return new RequestTrace(this.tracer, span, trace.setSpan(parent, span));
  }
}

export class RequestTrace {
  constructor(
    private readonly tracer: Tracer,
    readonly span: Span,
    private readonly ctx: Context,
  ) {}

  get traceId(): string {
    return this.span.spanContext().traceId;
  }

  get spanId(): string {
    return this.span.spanContext().spanId;
  }

  /** The write waiter with its Raft phases traced (resolve = applied, reject = failed). */
  traceWrite(w: WriteWaiter): WriteWaiter {
    const t = new WriteTrace(this.tracer, this.ctx);
    return {
      cmd: w.cmd,
      deadline: w.deadline,
      trace: t,
      resolve: (r) => {
        t.applied(r.index);
        w.resolve(r);
      },
      reject: (e) => {
        t.failed(e);
        w.reject(e);
      },
    };
  }

  /** The linearizable read waiter with its ReadIndex confirmation (and apply wait) traced. */
  traceReadIndex(w: ReadWaiter): ReadWaiter {
    const span = this.tracer.startSpan('raft.read_index', { kind: SpanKind.INTERNAL }, this.ctx);
    return {
      deadline: w.deadline,
      run: (applied) => {
        span.setAttribute('raft.applied_index', applied);
        span.end();
        w.run(applied);
      },
      reject: (e) => {
        fail(span, e);
        w.reject(e);
      },
    };
  }

  /** Ends the SERVER span with the answer's outcome. */
  end(resp: CellResponse): void {
    this.span.setAttributes({ 'cellkv.outcome': resp.code ?? 'ok', 'raft.index': Number(resp.index) });
    if (resp.status === 'error') {
      this.span.setAttribute(ATTR_ERROR_TYPE, resp.code ?? 'INTERNAL');
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: resp.code ?? 'INTERNAL' });
    }
    this.span.end();
  }
}

/** The phase spans of one write; every method is a no-op once the write failed or finished. */
class WriteTrace implements WriteTraceHooks {
  private propose: Span | null;
  private commit: Span | null = null;
  private apply: Span | null = null;
  private index = 0;

  constructor(
    private readonly tracer: Tracer,
    private readonly ctx: Context,
  ) {
    this.propose = tracer.startSpan('raft.propose', { kind: SpanKind.INTERNAL }, ctx);
  }

  proposed(index: number, term: number, commands: number): void {
    if (this.propose === null) return;
    this.index = index;
    this.propose.setAttributes({ 'raft.index': index, 'raft.term': term, 'raft.entry.commands': commands });
    this.propose.end();
    this.propose = null;
    this.commit = this.tracer.startSpan('raft.commit', { kind: SpanKind.INTERNAL, attributes: { 'raft.index': index } }, this.ctx);
  }

  committed(): void {
    if (this.commit === null) return;
    this.commit.end();
    this.commit = null;
    this.apply = this.tracer.startSpan('raft.apply', { kind: SpanKind.INTERNAL, attributes: { 'raft.index': this.index } }, this.ctx);
  }

  applied(index: number): void {
    // Robust to a missed hook: close the phases in order so the trace stays well formed.
    if (this.propose !== null) this.proposed(index, 0, 0);
    if (this.commit !== null) this.committed();
    this.apply?.end();
    this.apply = null;
  }

  failed(e: KvError): void {
    for (const s of [this.propose, this.commit, this.apply]) if (s !== null) fail(s, e);
    this.propose = this.commit = this.apply = null;
  }
}
