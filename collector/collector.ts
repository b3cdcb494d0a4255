// The collector: receivers → trace intake (convert, validate, limit) → span exporter (batch, write),
// and stored spans → graph processor (pair calls, write per-minute edge rows).
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { FastifyBaseLogger } from 'fastify';
import type { MeshlensConfig } from './config.ts';
import { EdgeSink } from './edge-sink.ts';
import { GraphProcessor } from './graph-processor.ts';
import { GraphReconciler } from './graph-reconciler.ts';
import type { CollectorMetrics } from './metrics.ts';
import { GrpcServer } from './receivers/grpc-server.ts';
import { registerEnvoyAccessLogs } from './receivers/envoy-als.ts';
import { registerEnvoyMetrics } from './receivers/envoy-metrics.ts';
import { registerOtlpTraces } from './receivers/otlp-grpc.ts';
import { registerOtlpLogs, registerOtlpMetrics } from './receivers/otlp-grpc-signals.ts';
import { OtlpSignals } from './otlp-signals.ts';
import { OtlpHttpReceiver } from './receivers/otlp-http.ts';
import { registerRemoteWrite } from './receivers/remote-write.ts';
import { PrometheusScrapeReceiver } from './receivers/prometheus-scrape.ts';
import { StatsdReceiver } from './receivers/statsd.ts';
import { ZipkinHttpReceiver } from './receivers/zipkin-http.ts';
import { SpanExporter } from './span-exporter.ts';
import type { ClickHouseStore } from './storage/store.ts';
import { TraceIntake } from './trace-intake.ts';

export class Collector {
  /** The gRPC endpoint (4317): OTLP and Envoy's services. */
  readonly grpc: GrpcServer;
  readonly http: OtlpHttpReceiver;
  readonly zipkin: ZipkinHttpReceiver;
  private readonly exporter: SpanExporter;
  readonly graph: GraphProcessor | undefined;
  readonly reconciler: GraphReconciler | undefined;
  /** Edge rows from signals that are not spans (Envoy, metrics, logs). */
  readonly edges: EdgeSink;
  /** OTLP logs and metrics: stored, and turned into edges where they describe calls. */
  private readonly otlpSignals: OtlpSignals;
  /** Prometheus scraping of configured targets and Kubernetes pods → edges (signal `prometheus`). */
  readonly scrape: PrometheusScrapeReceiver;
  /** StatsD / DogStatsD on UDP and TCP (8125) → edges (signal `statsd`). */
  readonly statsd: StatsdReceiver;

  constructor(store: ClickHouseStore, config: MeshlensConfig, metrics: CollectorMetrics, log: FastifyBaseLogger) {
    this.exporter = new SpanExporter(store, metrics, {
      maxBatchRows: config.batch.maxRows,
      maxDelayMs: config.batch.maxDelayMs,
      maxQueuedBytes: config.limits.queueBytes,
    });
    // Names this collector in stored leftovers and in storage-pass claims: unique per process.
    const processId = `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
    this.graph = config.graph.enabled ? new GraphProcessor(store, metrics, log, { ...config.graph, processId }) : undefined;
    this.reconciler =
      config.graph.enabled && config.graph.lateWindowMs > 0
        ? new GraphReconciler(store, metrics, log, { intervalMs: config.graph.reconcileIntervalMs, lateWindowMs: config.graph.lateWindowMs, runnerId: processId })
        : undefined;
    this.edges = new EdgeSink(store, metrics, log, config.graph.flushIntervalMs);
    const intake = new TraceIntake(this.exporter, metrics, this.graph);
    const { host } = config.server;
    const maxBodyBytes = config.limits.maxBodyBytes;
    this.grpc = new GrpcServer(metrics, { host, port: config.server.otlp_grpc_port, maxBodyBytes });
    registerOtlpTraces(this.grpc, intake, metrics, log, config.limits);
    registerEnvoyAccessLogs(this.grpc, this.edges, metrics, log);
    registerEnvoyMetrics(this.grpc, this.edges, metrics, log, { maxSeries: config.limits.labelCardinality, countersAreDeltas: config.envoy.reportCountersAsDeltas });
    this.otlpSignals = new OtlpSignals(store, metrics, this.edges, config);
    registerOtlpLogs(this.grpc, this.otlpSignals.logs, metrics, log, config.limits);
    registerOtlpMetrics(this.grpc, this.otlpSignals.metrics, metrics, log, config.limits);
    this.http = new OtlpHttpReceiver(intake, metrics, log, {
      host, port: config.server.otlp_http_port, maxBodyBytes, limits: config.limits, logs: this.otlpSignals.logs, metrics: this.otlpSignals.metrics,
    });
    registerRemoteWrite(this.http.app, this.edges, metrics, log, { maxBodyBytes, labelCardinality: config.limits.labelCardinality });
    this.zipkin = new ZipkinHttpReceiver(intake, metrics, log, { host, port: config.server.zipkin_port, maxBodyBytes, limits: config.limits });
    this.scrape = new PrometheusScrapeReceiver(config.scrape, config.limits.labelCardinality, this.edges, metrics, log);
    this.statsd = new StatsdReceiver(this.edges, metrics, log, { host, port: config.server.statsd_port, ...config.statsd });
  }

  async start(): Promise<void> {
    this.graph?.start();
    this.reconciler?.start();
    this.edges.start();
    await this.grpc.start();
    await this.http.start();
    await this.zipkin.start();
    this.scrape.start();
    await this.statsd.start();
  }

  /** Stops taking data, waits for requests in progress, and writes everything acknowledged or pending. */
  async stop(): Promise<void> {
    await Promise.all([this.grpc.stop(), this.http.stop(), this.zipkin.stop(), this.scrape.stop(), this.statsd.stop()]);
    await this.exporter.close();
    await this.otlpSignals.close();
    await this.graph?.stop();
    await this.edges.stop();
    await this.reconciler?.stop();
  }
}
