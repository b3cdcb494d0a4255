// The service-graph processor: stored spans → halves → in-memory pairing → per-minute edge rows,
// written to `edges_1m` every flush interval; the spans a service served also become per-minute rows per
// operation in `operations_1m`. Pairing and folding are pure (collector/service-graph/);
// this file only keeps time and does the I/O. It sees spans only after they were stored and
// acknowledged, so a span a sender retries is never counted twice.
import type { FastifyBaseLogger } from 'fastify';
import type { CollectorMetrics } from './metrics.ts';
import type { SpanRecord } from './model.ts';
import { EdgeMinutes } from './service-graph/edge-rows.ts';
import { toHalf } from './service-graph/halves.ts';
import { OperationMinutes } from './service-graph/operation-rows.ts';
import { type Closed, HalfPairer } from './service-graph/pairer.ts';
import { encodeHalf } from './service-graph/reconcile.ts';
import { EDGE_COLUMNS, LEFTOVER_COLUMNS } from './storage/schema.ts';
import { OPERATION_COLUMNS } from './storage/schema.ts';
import type { ClickHouseStore } from './storage/store.ts';

export interface GraphOptions {
  waitMs: number;
  maxHalves: number;
  flushIntervalMs: number;
  /** 0: no storage pass, so leftover halves are not stored. */
  lateWindowMs: number;
  /** Names this process in the leftovers it stores (with a sequence number per tick). */
  processId: string;
}

interface PendingInsert {
  table: 'edges_1m' | 'graph_halves' | 'operations_1m';
  columns: readonly string[];
  body: Buffer;
  rows: number;
}

/** Encoded rows that failed to insert are retried at the next flush; past this many, the oldest go. */
const MAX_PENDING_INSERTS = 10;

export class GraphProcessor {
  private readonly pairer: HalfPairer;
  private readonly minutes = new EdgeMinutes();
  private readonly operations = new OperationMinutes();
  private readonly pending: PendingInsert[] = [];
  /** Leftover halves (JSONCompactEachRow lines for graph_halves) since the last flush. */
  private leftoverLines: string[] = [];
  private closeSequence = 0;
  /** Spans stored since the last tick: paired once per tick, so a trace whose halves arrive in many
   * requests is re-paired once a second rather than once per request. */
  private arrived: SpanRecord[][] = [];
  private expireTimer: NodeJS.Timeout | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: ClickHouseStore,
    private readonly metrics: CollectorMetrics,
    private readonly log: FastifyBaseLogger,
    private readonly options: GraphOptions,
  ) {
    this.pairer = new HalfPairer({ waitMs: options.waitMs, maxHalves: options.maxHalves });
  }

  start(): void {
    this.expireTimer = setInterval(() => this.tick(), Math.min(1000, this.options.waitMs));
    this.flushTimer = setInterval(() => void this.flush(), this.options.flushIntervalMs);
    this.expireTimer.unref();
    this.flushTimer.unref();
  }

  /** Spans just stored; they are paired at the next tick. */
  observe(spans: SpanRecord[]): void {
    this.arrived.push(spans);
  }

  /** Pairs what arrived since the last tick, then closes the traces quiet for graph.wait. */
  private tick(): void {
    const arrived = this.arrived;
    this.arrived = [];
    const now = Date.now();
    if (arrived.length > 0) {
      const spans = arrived.flat();
      const halves = spans.map(toHalf);
      for (let i = 0; i < spans.length; i++) this.operations.add(spans[i]!, halves[i]!, 'spans');
      const closed = this.pairer.add(halves, now);
      if (closed.closedEarly > 0) this.metrics.graphClosedEarly.inc(closed.closedEarly);
      this.take(closed);
    }
    this.take(this.pairer.expire(now));
  }

  /** Writes every complete row so far; resolves when written (or failed and kept for a retry). */
  flush(): Promise<void> {
    // Chained so two flushes never write the same rows at once; a failure must not break the chain.
    this.flushing = this.flushing
      .then(() => this.write())
      .catch((error: unknown) => this.log.error({ err: error }, 'writing edge rows failed'));
    return this.flushing;
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

  private async write(): Promise<void> {
    const drained = this.minutes.drain();
    if (drained) this.pending.push({ table: 'edges_1m', columns: EDGE_COLUMNS, ...drained });
    const operationRows = this.operations.drain();
    if (operationRows) this.pending.push({ table: 'operations_1m', columns: OPERATION_COLUMNS, ...operationRows });
    if (this.leftoverLines.length > 0) {
      const lines = this.leftoverLines;
      this.leftoverLines = [];
      this.pending.push({ table: 'graph_halves', columns: LEFTOVER_COLUMNS, body: Buffer.from(lines.join('\n') + '\n'), rows: lines.length });
    }
    while (this.pending.length > MAX_PENDING_INSERTS) {
      const dropped = this.pending.shift()!;
      this.metrics.insertFailures.inc({ table: dropped.table });
      this.log.error({ table: dropped.table, rows: dropped.rows }, 'service-graph rows dropped after repeated insert failures');
    }
    while (this.pending.length > 0) {
      const next = this.pending[0]!;
      const stop = this.metrics.insertSeconds.startTimer({ table: next.table });
      try {
        await this.store.insert(next.table, next.columns, next.body);
      } catch (error) {
        this.metrics.insertFailures.inc({ table: next.table });
        this.log.warn({ err: error, table: next.table }, 'service-graph rows not written; retrying at the next flush');
        return;
      } finally {
        stop();
      }
      this.metrics.batchRows.observe({ table: next.table }, next.rows);
      this.pending.shift();
    }
  }
}
