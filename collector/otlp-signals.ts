// OTLP logs and metrics, past their receivers: each signal is written to its table (`logs`,
// `metrics`) and, once stored, what it says about calls becomes edge rows — access-log records as
// samples (signal `otlp-logs`), proxy request counters as increments (`otlp-metrics`).
import type { MeshlensConfig } from './config.ts';
import type { EdgeSink } from './edge-sink.ts';
import type { CollectorMetrics } from './metrics.ts';
import { accessLogSample } from './otlp/access-log-edges.ts';
import { OtlpMetricEdges } from './otlp/metric-edges.ts';
import { LOG_COLUMNS, type LogRecordRow, encodeLogRow } from './otlp/logs.ts';
import { METRIC_COLUMNS, type MetricPoint, encodeMetricRow } from './otlp/metrics.ts';
import { SignalIntake } from './otlp-intake.ts';
import { TableExporter } from './table-exporter.ts';
import type { EdgeSample } from './service-graph/edge-rows.ts';
import type { ClickHouseStore } from './storage/store.ts';

export class OtlpSignals {
  readonly logs: SignalIntake<LogRecordRow>;
  readonly metrics: SignalIntake<MetricPoint>;
  private readonly exporters: TableExporter[];

  constructor(store: ClickHouseStore, metrics: CollectorMetrics, edges: EdgeSink, config: MeshlensConfig) {
    const options = { maxBatchRows: config.batch.maxRows, maxDelayMs: config.batch.maxDelayMs, maxQueuedBytes: config.limits.queueBytes };
    const logRows = new TableExporter(store, metrics, { table: 'logs', columns: LOG_COLUMNS }, options);
    const metricRows = new TableExporter(store, metrics, { table: 'metrics', columns: METRIC_COLUMNS }, options);
    this.exporters = [logRows, metricRows];
    this.logs = new SignalIntake(metrics, {
      signal: 'otlp-logs',
      exporter: logRows,
      encode: encodeLogRow,
      observe: (records) => {
        const samples: EdgeSample[] = [];
        for (const record of records) {
          const sample = accessLogSample(record);
          if (sample !== null) samples.push(sample);
        }
        if (samples.length > 0) edges.addSamples(samples, 'otlp-logs');
      },
    });
    const metricEdges = new OtlpMetricEdges({ maxSeries: config.limits.labelCardinality });
    this.metrics = new SignalIntake(metrics, {
      signal: 'otlp-metrics',
      exporter: metricRows,
      encode: encodeMetricRow,
      observe: (points) => {
        const increments = metricEdges.derive(points);
        if (increments.length > 0) edges.addIncrements(increments, 'otlp-metrics');
      },
    });
  }

  /** Stops taking rows and writes everything already taken. */
  async close(): Promise<void> {
    await Promise.all(this.exporters.map((e) => e.close()));
  }
}
