// What the OTLP logs and metrics receivers do with a converted request, whatever the transport:
// count it, write its rows (acknowledged only once stored, through a bounded batcher per table, like
// spans), and only then hand what it says about calls to the edge sink — a refused request is
// retried by its sender and would otherwise count twice.
import { Batcher, OverloadError, ShuttingDownError } from './batcher.ts';
import type { CollectorMetrics, Receiver } from './metrics.ts';
import type { ClickHouseStore } from './storage/store.ts';
import type { IntakeResult } from './trace-intake.ts';

export interface TableExporterOptions {
  maxBatchRows: number;
  maxDelayMs: number;
  maxQueuedBytes: number;
}

/** Encoded rows → one table, batched; resolves per submission once its rows are stored. */
export class TableExporter {
  private readonly batcher: Batcher;

  constructor(store: ClickHouseStore, metrics: CollectorMetrics, table: string, columns: readonly string[], options: TableExporterOptions) {
    this.batcher = new Batcher({
      ...options,
      concurrency: store.insertConcurrency,
      write: async (body, rows) => {
        const stop = metrics.insertSeconds.startTimer({ table });
        try {
          await store.insert(table, columns, body);
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

  export(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return Promise.resolve();
    return this.batcher.submit(Buffer.from(lines.join('')), lines.length);
  }

  close(): Promise<void> {
    return this.batcher.close();
  }
}

/** The metric label for what was received: OTLP logs or OTLP metrics. */
export type OtlpSignal = 'otlp-logs' | 'otlp-metrics';

export interface SignalIntakeOptions<Item> {
  signal: OtlpSignal;
  exporter: TableExporter;
  encode: (item: Item) => string;
  /** Called with the stored items of each request (edge derivation). */
  observe?: (items: readonly Item[]) => void;
}

export class SignalIntake<Item> {
  constructor(
    private readonly metrics: CollectorMetrics,
    private readonly options: SignalIntakeOptions<Item>,
  ) {}

  /** Resolves once the accepted items are stored. Throws OverloadError, ShuttingDownError or a storage error. */
  async accept(receiver: Receiver, converted: { items: readonly Item[]; rejected: number; errorMessage: string }): Promise<IntakeResult> {
    const { signal, exporter, encode, observe } = this.options;
    const { items, rejected, errorMessage } = converted;
    this.metrics.receivedRecords.inc({ receiver, signal }, items.length + rejected);
    if (rejected > 0) this.metrics.rejectedRecords.inc({ receiver, signal, reason: 'invalid' }, rejected);
    try {
      await exporter.export(items.map(encode));
    } catch (error) {
      const reason = error instanceof OverloadError ? 'overload' : error instanceof ShuttingDownError ? 'shutdown' : 'storage';
      this.metrics.refusedRecords.inc({ receiver, signal, reason }, items.length);
      throw error;
    }
    this.metrics.acceptedRecords.inc({ receiver, signal }, items.length);
    observe?.(items);
    return { rejected, errorMessage };
  }
}
