// meshlens' own metrics, served at GET /metrics on the query port. One registry per process, so
// tests that start several instances in one process keep their counts apart.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type Receiver = 'otlp-grpc' | 'otlp-http' | 'zipkin' | 'envoy-als' | 'envoy-metrics' | 'remote-write' | 'statsd-udp' | 'statsd-tcp';

export class CollectorMetrics {
  readonly registry = new Registry();

  readonly receivedSpans = new Counter({
    name: 'meshlens_received_spans_total',
    help: 'Spans decoded from requests, before validation and limits.',
    labelNames: ['receiver'] as const,
    registers: [this.registry],
  });
  readonly acceptedSpans = new Counter({
    name: 'meshlens_accepted_spans_total',
    help: 'Spans written to storage and acknowledged to their sender.',
    labelNames: ['receiver'] as const,
    registers: [this.registry],
  });
  readonly rejectedSpans = new Counter({
    name: 'meshlens_rejected_spans_total',
    help: 'Spans refused as invalid (bad ids, limits); the sender was told which and why (OTLP partial success).',
    labelNames: ['receiver', 'reason'] as const,
    registers: [this.registry],
  });
  readonly refusedSpans = new Counter({
    name: 'meshlens_refused_spans_total',
    help: 'Spans not taken because the collector was overloaded or shutting down; the sender was told to retry.',
    labelNames: ['receiver', 'reason'] as const,
    registers: [this.registry],
  });
  readonly droppedSpans = new Counter({
    name: 'meshlens_dropped_spans_total',
    help: 'Spans whose storage insert failed; the sender was told to retry (UNAVAILABLE / 503).',
    labelNames: ['receiver'] as const,
    registers: [this.registry],
  });
  // OTLP logs and metrics: `signal` is otlp-logs (log records) or otlp-metrics (data points).
  readonly receivedRecords = new Counter({
    name: 'meshlens_received_records_total',
    help: 'OTLP log records and metric data points decoded from requests, before validation.',
    labelNames: ['receiver', 'signal'] as const,
    registers: [this.registry],
  });
  readonly acceptedRecords = new Counter({
    name: 'meshlens_accepted_records_total',
    help: 'OTLP log records and metric data points stored and acknowledged to their sender.',
    labelNames: ['receiver', 'signal'] as const,
    registers: [this.registry],
  });
  readonly rejectedRecords = new Counter({
    name: 'meshlens_rejected_records_total',
    help: 'OTLP log records and metric data points refused as invalid; the sender was told (OTLP partial success).',
    labelNames: ['receiver', 'signal', 'reason'] as const,
    registers: [this.registry],
  });
  readonly refusedRecords = new Counter({
    name: 'meshlens_refused_records_total',
    help: 'OTLP log records and metric data points not stored (overload, shutdown, storage failure); the sender was told to retry.',
    labelNames: ['receiver', 'signal', 'reason'] as const,
    registers: [this.registry],
  });
  readonly badRequests = new Counter({
    name: 'meshlens_bad_requests_total',
    help: 'Requests refused whole as undecodable or over a size limit.',
    labelNames: ['receiver', 'reason'] as const,
    registers: [this.registry],
  });
  readonly truncatedAttributes = new Counter({
    name: 'meshlens_truncated_attributes_total',
    help: 'Attribute values cut to limits.attribute_value_length.',
    registers: [this.registry],
  });
  readonly droppedAttributes = new Counter({
    name: 'meshlens_dropped_attributes_total',
    help: 'Attributes dropped past limits.attributes_per_span (counted in the span\'s dropped_attributes_count).',
    registers: [this.registry],
  });
  readonly batchRows = new Histogram({
    name: 'meshlens_batch_rows',
    help: 'Rows per insert.',
    labelNames: ['table'] as const,
    buckets: [10, 100, 1000, 5000, 10000, 20000, 50000, 100000],
    registers: [this.registry],
  });
  readonly insertSeconds = new Histogram({
    name: 'meshlens_insert_duration_seconds',
    help: 'Time one insert took in storage.',
    labelNames: ['table'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly insertFailures = new Counter({
    name: 'meshlens_insert_failures_total',
    help: 'Inserts that storage refused.',
    labelNames: ['table'] as const,
    registers: [this.registry],
  });
  readonly queueRows = new Gauge({
    name: 'meshlens_queue_rows',
    help: 'Rows accepted into the batcher and not yet written.',
    labelNames: ['table'] as const,
    registers: [this.registry],
  });
  readonly queueBytes = new Gauge({
    name: 'meshlens_queue_bytes',
    help: 'Encoded bytes waiting in the batcher; bounded by limits.queue_bytes.',
    labelNames: ['table'] as const,
    registers: [this.registry],
  });

  readonly graphEdges = new Counter({
    name: 'meshlens_graph_edge_observations_total',
    help: 'Calls the service graph derived from spans (one per paired or closed call).',
    registers: [this.registry],
  });
  readonly graphBusySeconds = new Counter({
    name: 'meshlens_graph_busy_seconds_total',
    help: 'Main-thread time spent deriving the service graph from spans (halves, pairing, per-minute rows and their encoding): its upkeep, against process_cpu_seconds_total.',
    registers: [this.registry],
  });
  readonly graphHalvesWaiting = new Gauge({
    name: 'meshlens_graph_halves_waiting',
    help: 'Span halves waiting in memory for the other side of their call (bounded by graph.max_halves).',
    registers: [this.registry],
  });
  readonly graphClosedEarly = new Counter({
    name: 'meshlens_graph_traces_closed_early_total',
    help: 'Traces whose pairing was decided before graph.wait because graph.max_halves was reached.',
    registers: [this.registry],
  });
  readonly graphLeftovers = new Counter({
    name: 'meshlens_graph_leftover_halves_total',
    help: 'Halves a closing trace could not pair, stored for the storage pass (their partner may come later or to another collector).',
    registers: [this.registry],
  });
  readonly graphReconcileRuns = new Counter({
    name: 'meshlens_graph_reconcile_runs_total',
    help: 'Storage-pass windows: ran (this collector won the window), skipped (another collector has it), failed (retried next interval).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly graphReconciledEdges = new Counter({
    name: 'meshlens_graph_reconciled_edges_total',
    help: 'Edge observations the storage pass added (halves paired across time or collectors) or took back (the guesses they replace).',
    labelNames: ['change'] as const,
    registers: [this.registry],
  });

  readonly envoyAccessLogEntries = new Counter({
    name: 'meshlens_envoy_als_entries_total',
    help: 'Envoy access-log entries: received, used (counted as a call on an edge), skipped by reason (counted_by_caller, no_destination, not_final).',
    labelNames: ['type', 'result', 'reason'] as const,
    registers: [this.registry],
  });
  readonly envoyResponseFlags = new Counter({
    name: 'meshlens_envoy_als_response_flags_total',
    help: 'Envoy access-log entries by response flag (Envoy short codes: UH, UF, URX, DC, …).',
    labelNames: ['flag'] as const,
    registers: [this.registry],
  });
  readonly envoyMetricsFlushes = new Counter({
    name: 'meshlens_envoy_metrics_flushes_total',
    help: 'Envoy metrics-service messages (one per stats flush of a proxy) decoded.',
    registers: [this.registry],
  });
  readonly envoyMetricsStats = new Counter({
    name: 'meshlens_envoy_metrics_upstream_stats_total',
    help: 'Upstream cluster request stats read from Envoy metrics-service flushes: counted (an increase), baseline (first sight, or after staleness/eviction), reset (the counter fell: the proxy restarted).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  // Prometheus scraping: per-target health, labelled by target URL (series of a target that goes away are removed).
  readonly scrapeTargetUp = new Gauge({
    name: 'meshlens_scrape_target_up',
    help: 'Whether the last scrape of a target succeeded (1) or failed (0), like Prometheus\' `up`.',
    labelNames: ['target', 'origin'] as const,
    registers: [this.registry],
  });
  readonly scrapeDurationSeconds = new Gauge({
    name: 'meshlens_scrape_duration_seconds',
    help: 'How long the last scrape of a target took (until failure or the whole body was read).',
    labelNames: ['target'] as const,
    registers: [this.registry],
  });
  readonly scrapeSamples = new Gauge({
    name: 'meshlens_scrape_samples_scraped',
    help: 'Samples the last successful scrape of a target returned.',
    labelNames: ['target'] as const,
    registers: [this.registry],
  });
  readonly scrapeBadLines = new Gauge({
    name: 'meshlens_scrape_bad_lines',
    help: 'Lines the last scrape of a target could not parse (skipped; the rest counted).',
    labelNames: ['target'] as const,
    registers: [this.registry],
  });
  readonly scrapeLastError = new Gauge({
    name: 'meshlens_scrape_last_error',
    help: 'Set to 1 with the reason (timeout, http_status, network, too_large) and a short message while a target is failing; absent once it scrapes again.',
    labelNames: ['target', 'reason', 'message'] as const,
    registers: [this.registry],
  });
  readonly scrapes = new Counter({
    name: 'meshlens_scrapes_total',
    help: 'Scrapes by result: ok, timeout, http_status, network, too_large; skipped when the previous scrape of the target was still running.',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly scrapeSeries = new Counter({
    name: 'meshlens_scrape_series_total',
    help: 'Scraped samples and series the counter pipeline handled: counted (an increase became edge traffic), baseline (first sight), reset (the counter fell), skipped (samples no mesh rule reads), dropped (past the tracked-series bound).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly scrapeTargets = new Gauge({
    name: 'meshlens_scrape_targets',
    help: 'Targets being scraped, by origin: static (scrape.targets) or kubernetes (pod discovery).',
    labelNames: ['origin'] as const,
    registers: [this.registry],
  });
  readonly kubernetesDiscoveries = new Counter({
    name: 'meshlens_scrape_kubernetes_lists_total',
    help: 'Kubernetes pod lists read for scrape discovery, by result (ok, error).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  // Prometheus remote-write (POST /api/v1/write on the OTLP HTTP port); refused requests are in meshlens_bad_requests_total.
  readonly remoteWriteSeries = new Counter({
    name: 'meshlens_remote_write_series_total',
    help: 'Remote-write samples and series: received (samples decoded), counted (an increase became edge traffic), baseline (first sight), reset (the counter fell), skipped (samples no mesh rule reads), dropped (new series past limits.label_cardinality).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  // StatsD / DogStatsD (collector/receivers/statsd.ts); receiver = statsd-udp or statsd-tcp.
  readonly statsdPackets = new Counter({
    name: 'meshlens_statsd_packets_total',
    help: 'StatsD UDP datagrams, and TCP reads, received.',
    labelNames: ['receiver'] as const,
    registers: [this.registry],
  });
  readonly statsdLines = new Counter({
    name: 'meshlens_statsd_lines_total',
    help: 'StatsD lines by result: metric (aggregated), ignored (a name and type no edge is read from: skipped unread), event and service_check (skipped), malformed (skipped; reason in meshlens_statsd_malformed_lines_total), dropped (a new series past statsd.max_series, UDP only).',
    labelNames: ['receiver', 'result'] as const,
    registers: [this.registry],
  });
  readonly statsdMalformedLines = new Counter({
    name: 'meshlens_statsd_malformed_lines_total',
    help: 'StatsD lines skipped as malformed, by reason (no_value, empty_name, no_type, unknown_type, bad_value, bad_sample_rate, bad_timestamp, too_long); other lines of the same packet still count.',
    labelNames: ['receiver', 'reason'] as const,
    registers: [this.registry],
  });
  readonly statsdSeries = new Gauge({
    name: 'meshlens_statsd_series',
    help: 'StatsD series aggregated in the current flush interval (bounded by statsd.max_series).',
    registers: [this.registry],
  });
  readonly statsdFlushes = new Counter({
    name: 'meshlens_statsd_flushes_total',
    help: 'StatsD flush intervals ended (each turns its series into service-graph edges).',
    registers: [this.registry],
  });
  readonly statsdEdgeIncrements = new Counter({
    name: 'meshlens_statsd_edge_increments_total',
    help: 'Edge increments (one source, destination and interval each) derived from StatsD flushes.',
    registers: [this.registry],
  });
  readonly statsdTcpConnections = new Gauge({
    name: 'meshlens_statsd_tcp_connections',
    help: 'Open StatsD TCP connections.',
    registers: [this.registry],
  });
  readonly statsdTcpPauses = new Counter({
    name: 'meshlens_statsd_tcp_pauses_total',
    help: 'Times a StatsD TCP sender was paused because statsd.max_series was reached (resumed after the next flush).',
    registers: [this.registry],
  });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'meshlens_' });
  }
}
