// The service-graph processor: stored spans → halves → in-memory pairing → per-minute edge rows,
// written to `edges_1m` every flush interval. Pairing and folding are pure (collector/service-graph/);
// this file only keeps time and does the I/O. It sees spans only after they were stored and
// acknowledged, so a span a sender retries is never counted twice.
import type { FastifyBaseLogger } from 'fastify';
import type { CollectorMetrics } from './metrics.ts';
import type { SpanRecord } from './model.ts';
import { EdgeMinutes } from './service-graph/edge-rows.ts';
import { toHalf } from './service-graph/halves.ts';
import { HalfPairer } from './service-graph/pairer.ts';
import type { EdgeObservation } from './service-graph/pairing.ts';
import { EDGE_COLUMNS } from './storage/schema.ts';
import type { ClickHouseStore } from './storage/store.ts';

export interface GraphOptions {
  waitMs: number;
  maxHalves: number;
  flushIntervalMs: number;
}

/** Encoded rows that failed to insert are retried at the next flush; past this many, the oldest go. */
const MAX_PENDING_INSERTS = 10;

export class GraphProcessor {
  private readonly pairer: HalfPairer;
  private readonly minutes = new EdgeMinutes();
  private readonly pending: Array<{ body: Buffer; rows: number }> = [];
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
      const { edges, closedEarly } = this.pairer.add(arrived.flat().map(toHalf), now);
      if (closedEarly > 0) this.metrics.graphClosedEarly.inc(closedEarly);
      this.take(edges);
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

  private take(edges: readonly EdgeObservation[]): void {
    this.metrics.graphHalvesWaiting.set(this.pairer.size);
    if (edges.length === 0) return;
    this.metrics.graphEdges.inc(edges.length);
    this.minutes.add(edges, 'spans');
  }

  private async write(): Promise<void> {
    const drained = this.minutes.drain();
    if (drained) this.pending.push(drained);
    while (this.pending.length > MAX_PENDING_INSERTS) {
      const dropped = this.pending.shift()!;
      this.metrics.insertFailures.inc({ table: 'edges_1m' });
      this.log.error({ rows: dropped.rows }, 'edge rows dropped after repeated insert failures');
    }
    while (this.pending.length > 0) {
      const next = this.pending[0]!;
      const stop = this.metrics.insertSeconds.startTimer({ table: 'edges_1m' });
      try {
        await this.store.insert('edges_1m', EDGE_COLUMNS, next.body);
      } catch (error) {
        this.metrics.insertFailures.inc({ table: 'edges_1m' });
        this.log.warn({ err: error }, 'edge rows not written; retrying at the next flush');
        return;
      } finally {
        stop();
      }
      this.metrics.batchRows.observe({ table: 'edges_1m' }, next.rows);
      this.pending.shift();
    }
  }
}
