// The last stage of the trace pipeline: encodes spans as rows and hands them to the batcher, whose
// batches go to `spans_ingest` (and from there, through materialized views, to every span table).
import type { CollectorMetrics } from './metrics.ts';
import type { SpanRecord } from './model.ts';
import { encodeSpanRows } from './span-rows.ts';
import { SPAN_INGEST_COLUMNS } from './storage/schema.ts';
import type { ClickHouseStore } from './storage/store.ts';
import { TableExporter, type TableExporterOptions } from './table-exporter.ts';

export class SpanExporter {
  private readonly rows: TableExporter;

  constructor(store: ClickHouseStore, metrics: CollectorMetrics, options: TableExporterOptions) {
    this.rows = new TableExporter(store, metrics, { table: 'spans_ingest', columns: SPAN_INGEST_COLUMNS, label: 'spans' }, options);
  }

  /** Resolves once the spans are stored; rejects with OverloadError, ShuttingDownError or a storage error. */
  export(spans: readonly SpanRecord[]): Promise<void> {
    const body = encodeSpanRows(spans);
    return this.rows.submit(body, spans.length);
  }

  /** Stops taking spans and writes everything already taken. */
  close(): Promise<void> {
    return this.rows.close();
  }
}
