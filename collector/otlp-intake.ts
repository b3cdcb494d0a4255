// What the OTLP logs and metrics receivers do with a converted request, whatever the transport:
// count it, write its rows (acknowledged only once stored, through a bounded batcher per table, like
// spans), and only then hand what it says about calls to the edge sink — a refused request is
// retried by its sender and would otherwise count twice.
import { OverloadError, ShuttingDownError } from './batcher.ts';
import type { CollectorMetrics, Receiver } from './metrics.ts';
import type { TableExporter } from './table-exporter.ts';
import type { IntakeResult } from './trace-intake.ts';

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
