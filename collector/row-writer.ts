// Writes derived rows (edge, operation and leftover rows) that are folded in memory and flushed on a
// timer. An insert that fails is kept and retried at the next flush, in order; past a bound the oldest
// are dropped and counted, so a storage outage cannot grow memory without limit.
import type { FastifyBaseLogger } from 'fastify';
import type { CollectorMetrics } from './metrics.ts';
import type { ClickHouseStore } from './storage/store.ts';

export interface PendingInsert {
  table: string;
  columns: readonly string[];
  /** JSONCompactEachRow lines. */
  body: Buffer;
  rows: number;
}

/** Inserts kept for a retry at most; past it the oldest are dropped (and counted). */
const MAX_PENDING_INSERTS = 30;

export class RowWriter {
  private readonly pending: PendingInsert[] = [];
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: ClickHouseStore,
    private readonly metrics: CollectorMetrics,
    private readonly log: FastifyBaseLogger,
  ) {}

  /** Queues rows for the next write(). */
  enqueue(insert: PendingInsert | undefined): void {
    if (insert !== undefined && insert.rows > 0) this.pending.push(insert);
  }

  /** Writes everything queued; resolves when written, or failed and kept for the next call. */
  write(): Promise<void> {
    // Chained so two writes never send the same rows at once; a failure must not break the chain.
    this.writing = this.writing
      .then(() => this.writeQueued())
      .catch((error: unknown) => this.log.error({ err: error }, 'writing derived rows failed'));
    return this.writing;
  }

  private async writeQueued(): Promise<void> {
    while (this.pending.length > MAX_PENDING_INSERTS) {
      const dropped = this.pending.shift()!;
      this.metrics.insertFailures.inc({ table: dropped.table });
      this.log.error({ table: dropped.table, rows: dropped.rows }, 'rows dropped after repeated insert failures');
    }
    while (this.pending.length > 0) {
      const next = this.pending[0]!;
      const stop = this.metrics.insertSeconds.startTimer({ table: next.table });
      try {
        await this.store.insert(next.table, next.columns, next.body);
      } catch (error) {
        this.metrics.insertFailures.inc({ table: next.table });
        this.log.warn({ err: error, table: next.table }, 'rows not written; retrying at the next flush');
        return;
      } finally {
        stop();
      }
      this.metrics.batchRows.observe({ table: next.table }, next.rows);
      this.pending.shift();
    }
  }
}
