// Encoded rows → one table, through a bounded batcher: a submission resolves once its rows are stored
// (the ack a receiver gives waits for it), and overload or shutdown reject it so the sender retries.
// Every ingest table (spans, logs, metrics) is written this way, with the same metrics per table.
import { Batcher } from './batcher.ts';
import type { CollectorMetrics } from './metrics.ts';
import type { ClickHouseStore } from './storage/store.ts';

export interface TableExporterOptions {
  maxBatchRows: number;
  maxDelayMs: number;
  maxQueuedBytes: number;
}

export interface TableTarget {
  /** The table inserted into. */
  table: string;
  columns: readonly string[];
  /** The `table` label of meshlens' own metrics (spans go in through spans_ingest, counted as spans). */
  label?: string;
}

export class TableExporter {
  private readonly batcher: Batcher;

  constructor(store: ClickHouseStore, metrics: CollectorMetrics, target: TableTarget, options: TableExporterOptions) {
    const table = target.label ?? target.table;
    this.batcher = new Batcher({
      ...options,
      concurrency: store.insertConcurrency,
      write: async (body, rows) => {
        const stop = metrics.insertSeconds.startTimer({ table });
        try {
          await store.insert(target.table, target.columns, body);
        } catch (error) {
          metrics.insertFailures.inc({ table });
          throw error;
        } finally {
          stop();
        }
        metrics.batchRows.observe({ table }, rows);
      },
      onQueueChange: (rows, bytes) => {
        metrics.queueRows.set({ table }, rows);
        metrics.queueBytes.set({ table }, bytes);
      },
    });
  }

  /** JSONCompactEachRow rows, each ending in a newline; resolves once stored. */
  submit(body: Buffer, rows: number): Promise<void> {
    return this.batcher.submit(body, rows);
  }

  /** Lines as they come; resolves once stored. */
  export(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return Promise.resolve();
    return this.submit(Buffer.from(lines.join('')), lines.length);
  }

  /** Stops taking rows and writes everything already taken. */
  close(): Promise<void> {
    return this.batcher.close();
  }
}
