// Edge rows from the signals that are not spans — Envoy access logs and metrics, OTLP metrics and logs,
// StatsD, Prometheus. Their receivers derive who called whom themselves (no pairing needed) and hand
// the result here: samples (one per call) or increments (calls counted over an interval). They are
// folded into per-minute rows and written to edges_1m every graph.flush_interval; the `signal` column
// keeps them apart from span-derived rows, and the query sums them alike.
import type { FastifyBaseLogger } from 'fastify';
import type { CollectorMetrics } from './metrics.ts';
import { RowWriter } from './row-writer.ts';
import { type EdgeIncrement, EdgeMinutes, type EdgeSample, type Signal } from './service-graph/edge-rows.ts';
import { EDGE_COLUMNS } from './storage/schema.ts';
import type { ClickHouseStore } from './storage/store.ts';

export class EdgeSink {
  private readonly minutes = new EdgeMinutes();
  private readonly writer: RowWriter;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    store: ClickHouseStore,
    metrics: CollectorMetrics,
    log: FastifyBaseLogger,
    private readonly flushIntervalMs: number,
  ) {
    this.writer = new RowWriter(store, metrics, log);
  }

  addSamples(samples: readonly EdgeSample[], signal: Signal): void {
    this.minutes.add(samples, signal);
  }

  addIncrements(increments: readonly EdgeIncrement[], signal: Signal): void {
    this.minutes.addIncrements(increments, signal);
  }

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.flushIntervalMs);
    this.timer.unref();
  }

  /** Writes every row so far; resolves when written (or failed and kept for the next flush). */
  flush(): Promise<void> {
    const drained = this.minutes.drain();
    if (drained) this.writer.enqueue({ table: 'edges_1m', columns: EDGE_COLUMNS, ...drained });
    return this.writer.write();
  }

  /** Writes what is still in memory: nothing taken is lost on a clean stop. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
