// The service-graph processor: stored spans → halves → in-memory pairing → per-minute edge rows,
// written to `edges_1m` every flush interval; the spans a service served also become per-minute rows per
// operation in `operations_1m`. Pairing and folding are pure (collector/service-graph/);
// this file only keeps time and does the I/O. It sees spans only after they were stored and
// acknowledged, so a span a sender retries is never counted twice.
import type { FastifyBaseLogger } from 'fastify';
import type { CollectorMetrics } from './metrics.ts';
import type { SpanRecord } from './model.ts';
import { EdgeMinutes } from './service-graph/edge-rows.ts';
import { type SpanHalf, toHalf } from './service-graph/halves.ts';
import { OperationMinutes } from './service-graph/operation-rows.ts';
import { type Closed, HalfPairer } from './service-graph/pairer.ts';
import { encodeHalf } from './service-graph/reconcile.ts';
import { RowWriter } from './row-writer.ts';
import { EDGE_COLUMNS, LEFTOVER_COLUMNS, OPERATION_COLUMNS } from './storage/schema.ts';
import type { ClickHouseStore } from './storage/store.ts';

/** What the graph keeps of a request's spans until they are stored: halves, and the operation of each. */
export interface PreparedSpans {
  halves: SpanHalf[];
  operations: string[];
}

export interface GraphOptions {
  waitMs: number;
  maxHalves: number;
  flushIntervalMs: number;
  /** 0: no storage pass, so leftover halves are not stored. */
  lateWindowMs: number;
  /** Names this process in the leftovers it stores (with a sequence number per tick). */
  processId: string;
}

export class GraphProcessor {
  private readonly pairer: HalfPairer;
  private readonly minutes = new EdgeMinutes();
  private readonly operations = new OperationMinutes();
  private readonly writer: RowWriter;
  /** Leftover halves (JSONCompactEachRow lines for graph_halves) since the last flush. */
  private leftoverLines: string[] = [];
  private closeSequence = 0;
  /** Halves of the spans stored since the last tick: paired once per tick, so a trace whose halves
   * arrive in many requests is re-paired once a second rather than once per request. */
  private arrived: SpanHalf[] = [];
  private expireTimer: NodeJS.Timeout | undefined;
  private flushTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: ClickHouseStore,
    private readonly metrics: CollectorMetrics,
    private readonly log: FastifyBaseLogger,
    private readonly options: GraphOptions,
  ) {
    this.pairer = new HalfPairer({ waitMs: options.waitMs, maxHalves: options.maxHalves });
    this.writer = new RowWriter(store, metrics, log);
  }

  start(): void {
    this.expireTimer = setInterval(() => this.tick(), Math.min(1000, this.options.waitMs));
    this.flushTimer = setInterval(() => void this.flush(), this.options.flushIntervalMs);
    this.expireTimer.unref();
    this.flushTimer.unref();
  }

  /**
   * Spans just received, turned into what the graph keeps of them — their halves and operation names —
   * at once, while they are still young in V8's heap: a request's spans then need not outlive the
   * encoding while their insert is pending (the graph must only count stored spans, so it waits for it);
   * with many requests in flight that is most of the heap, and holding it made each span survive into
   * the old generation (bench:ingest, graph on against off: +2.4 CPU s per 100k spans before, +0.07–1.0
   * after; docs/performance.md).
   */
  prepare(spans: readonly SpanRecord[]): PreparedSpans {
    const started = performance.now();
    const halves: SpanHalf[] = new Array(spans.length);
    const operations: string[] = new Array(spans.length);
    for (let i = 0; i < spans.length; i++) {
      const span = spans[i]!;
      halves[i] = toHalf(span);
      operations[i] = span.name;
    }
    this.busy(started);
    return { halves, operations };
  }

  /** Prepared spans, now stored: operation rows now, pairing at the next tick. */
  observe({ halves, operations }: PreparedSpans): void {
    const started = performance.now();
    for (let i = 0; i < halves.length; i++) {
      const half = halves[i]!;
      this.operations.add(operations[i]!, half, 'spans');
      this.arrived.push(half);
    }
    this.busy(started);
  }

  /** Counts main-thread time since `started` as the graph's upkeep (meshlens_graph_busy_seconds_total). */
  private busy(started: number): void {
    this.metrics.graphBusySeconds.inc((performance.now() - started) / 1000);
  }

  /** Pairs what arrived since the last tick, then closes the traces quiet for graph.wait. */
  private tick(): void {
    const started = performance.now();
    this.pairArrived();
    this.busy(started);
  }

  private pairArrived(): void {
    const arrived = this.arrived;
    this.arrived = [];
    const now = Date.now();
    if (arrived.length > 0) {
      const closed = this.pairer.add(arrived, now);
      if (closed.closedEarly > 0) this.metrics.graphClosedEarly.inc(closed.closedEarly);
      this.take(closed);
    }
    this.take(this.pairer.expire(now));
  }

  /** Writes every complete row so far; resolves when written (or failed and kept for a retry). */
  flush(): Promise<void> {
    const started = performance.now();
    const edges = this.minutes.drain();
    if (edges) this.writer.enqueue({ table: 'edges_1m', columns: EDGE_COLUMNS, ...edges });
    const operations = this.operations.drain();
    if (operations) this.writer.enqueue({ table: 'operations_1m', columns: OPERATION_COLUMNS, ...operations });
    if (this.leftoverLines.length > 0) {
      const lines = this.leftoverLines;
      this.leftoverLines = [];
      this.writer.enqueue({ table: 'graph_halves', columns: LEFTOVER_COLUMNS, body: Buffer.from(lines.join('\n') + '\n'), rows: lines.length });
    }
    this.busy(started);
    return this.writer.write();
  }

  /** Closes every waiting trace and writes the rows: nothing counted in memory is lost on a clean stop. */
  async stop(): Promise<void> {
    clearInterval(this.expireTimer);
    clearInterval(this.flushTimer);
    this.tick();
    this.take(this.pairer.closeAll());
    await this.flush();
  }

  private take({ edges, leftovers }: Closed): void {
    this.metrics.graphHalvesWaiting.set(this.pairer.size);
    if (edges.length > 0) {
      this.metrics.graphEdges.inc(edges.length);
      this.minutes.add(edges, 'spans');
    }
    if (leftovers.length > 0 && this.options.lateWindowMs > 0) {
      // Halves closed together were paired together: the storage pass must know which close each came from.
      const closedBy = `${this.options.processId}:${++this.closeSequence}`;
      for (const { half, emitted } of leftovers) this.leftoverLines.push(JSON.stringify([half.traceId, encodeHalf(half), emitted, closedBy]));
      this.metrics.graphLeftovers.inc(leftovers.length);
    }
  }
}
