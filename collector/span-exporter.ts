// The last stage of the trace pipeline: encodes spans as rows and hands them to the batcher, whose
// batches go to `spans_ingest` (and from there, through materialized views, to every span table).
import type { CollectorMetrics } from './metrics.ts';
import type { SpanRecord } from './model.ts';
import { encodeSpanRow } from './span-rows.ts';
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
    // Rows are written into one exactly-sized buffer: concatenating them into a string first and
    // encoding that costs more than encoding the rows themselves.
    const rows: string[] = new Array(spans.length);
    let bytes = 0;
    for (let i = 0; i < spans.length; i++) {
      const row = encodeSpanRow(spans[i]!);
      rows[i] = row;
      bytes += Buffer.byteLength(row);
    }
    const body = Buffer.allocUnsafe(bytes);
    let offset = 0;
    for (const row of rows) offset += body.write(row, offset);
    return this.rows.submit(body, spans.length);
  }

  /** Stops taking spans and writes everything already taken. */
  close(): Promise<void> {
    return this.rows.close();
  }
}
