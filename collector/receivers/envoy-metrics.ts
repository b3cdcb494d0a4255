// Envoy's metrics service: envoy.service.metrics.v3.MetricsService/StreamMetrics on the shared gRPC
// endpoint (grpc-server.ts). Client streaming: the first message names the proxy (identifier.node);
// every message is one stats flush (stats_flush_interval, 5 s by default) of MetricFamily messages, one
// per stat. Upstream cluster request stats are read here (envoy/cluster-stats.ts); families a Prometheus
// mesh rule reads (Istio's istio_requests_total, istio_request_duration_milliseconds, … — with the sink's
// emit_tags_as_labels they carry their Prometheus names and labels) go to the Prometheus converter
// (prometheus/mesh-series.ts, reporter = the stream's node, histograms as per-flush increases); the rest is
// skipped before any state is kept. Envoy never reads the reply (empty, sent when the proxy ends the stream).
//
// What each stat type means on this wire (Envoy's grpc_metrics_service_impl.cc):
//   COUNTER    the lifetime total (unless the sink sets report_counters_as_deltas — assumed not): through
//              the counter pipeline (counters/cumulative.ts), keyed by the proxy's node id + name + labels,
//              so the first flush is a baseline. A counter that first shows up on a later flush of the same
//              stream was first used since the previous flush (the sink sends used stats): it counts whole.
//   HISTOGRAM  the flush interval's own observations (intervalStatistics), finite bounds only: already an
//              increase, folded as it is (+Inf = sample_count).
//   SUMMARY    the same interval as quantiles: not read (the HISTOGRAM carries it in a form that merges).
//
// The stream handling (raw bytes decoded here, errors, stop) is envoy-stream.ts.
import { type PackageDefinition, loadSync } from '@grpc/proto-loader';
import type { FastifyBaseLogger } from 'fastify';
import { fileURLToPath } from 'node:url';
import { CumulativeCounters, type CumulativeOptions, seriesKey } from '../counters/cumulative.ts';
import type { EdgeSink } from '../edge-sink.ts';
import { type EnvoyNode, reportingProxy } from '../envoy/access-log.ts';
import { ClusterStatsFlush, parseClusterStat } from '../envoy/cluster-stats.ts';
import type { CollectorMetrics } from '../metrics.ts';
import type { EdgeIncrement } from '../service-graph/edge-rows.ts';
import { type ClusterHints, appMeshNode } from '../service-graph/clusters.ts';
import { type NodeRef, nodeId } from '../service-graph/halves.ts';
import { type PrometheusBucket, foldPrometheusHistogram } from '../service-graph/histogram.ts';
import { envoyProtoIncludeDirs } from './envoy-als.ts';
import { registerEnvoyStream } from './envoy-stream.ts';
import type { GrpcServer } from './grpc-server.ts';
import { PrometheusEdgeConverter, readsFamily } from '../prometheus/mesh-series.ts';
import type { PromSample } from '../prometheus/samples.ts';

const SERVICE = 'envoy.service.metrics.v3.MetricsService';
const APP_MESH_NODE = /^mesh\/([^/]+)\/virtualNode\/([^/]+)$/;
/** io/prometheus/client/metrics.proto, which @grpc/grpc-js-xds does not ship. */
const OWN_PROTOS = fileURLToPath(new URL('../envoy/proto', import.meta.url));

// ---- The decoded message, as far as it is read here (keepCase, longs as numbers, enums as names). ----

interface LabelPair {
  name: string;
  value: string;
}
interface PrometheusMetric {
  label: LabelPair[];
  counter: { value: number } | null;
  histogram: { sample_count: number; sample_sum: number; bucket: Array<{ cumulative_count: number; upper_bound: number }> } | null;
  timestamp_ms: number;
}
interface MetricFamily {
  name: string;
  /** A name, or the number of a type this proto does not know. */
  type: string | number;
  metric: PrometheusMetric[];
}
export interface StreamMetricsMessage {
  identifier: { node: EnvoyNode | null } | null;
  envoy_metrics: MetricFamily[];
}

let loaded: { definition: PackageDefinition; loadMs: number } | undefined;

/** Envoy's metrics-service protos plus our io.prometheus.client, loaded once per process. */
export function metricsServiceProtos(): { definition: PackageDefinition; loadMs: number } {
  if (loaded === undefined) {
    const started = performance.now();
    const definition = loadSync('envoy/service/metrics/v3/metrics_service.proto', {
      includeDirs: [...envoyProtoIncludeDirs(), OWN_PROTOS],
      keepCase: true,
      longs: Number,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    loaded = { definition, loadMs: performance.now() - started };
  }
  return loaded;
}

/** Per stream: who reports, and which series it has reported, to tell a baseline from a new counter. */
interface StreamState {
  proxy: NodeRef;
  hints: ClusterHints;
  /** The node id (unique per proxy instance): counters of two pods of one workload are different series. */
  seriesSource: string;
  flushes: number;
  seen: Set<string>;
}

export interface ConvertedFlush {
  increments: EdgeIncrement[];
  /** Upstream counters that gave an increase (resets and counters new since the last flush included). */
  counted: number;
  /** Upstream counters seen for the first time (or again after staleness/eviction): nothing counted. */
  baselines: number;
  /** Upstream counters that fell: the proxy restarted. */
  resets: number;
}

/**
 * Turns a stream's flushes into edge increments. Counter state outlives streams (keyed by node id), so a
 * proxy that reconnects continues where it was, and one that restarted shows as a reset.
 */
export class EnvoyMetricsConverter {
  readonly counters: CumulativeCounters;
  /** Istio's own stats (istio_requests_total, …) ride the same stream: read as Prometheus series. */
  readonly meshSeries: PrometheusEdgeConverter;

  constructor(
    options: Partial<CumulativeOptions> = {},
    /**
     * The sink's report_counters_as_deltas: counters are the flush's own increases and count as they are.
     * Istio's istio_* series are then not read: their rules (collector/prometheus/mesh-series.ts) expect
     * lifetime totals, and Istio's own envoyMetricsService sends those.
     */
    private readonly countersAreDeltas = false,
  ) {
    this.counters = new CumulativeCounters(options);
    this.meshSeries = new PrometheusEdgeConverter(options);
  }

  startStream(node: EnvoyNode): StreamState {
    // App Mesh names its Envoys `mesh/<mesh>/virtualNode/<node>`: that names the proxy as its peers' egress
    // clusters name it, and the mesh name tells where it ends in cluster names.
    const appMesh = APP_MESH_NODE.exec(node.id);
    const proxy = appMesh ? appMeshNode(appMesh[1]!, appMesh[2]!) : reportingProxy(node).node;
    const hints: ClusterHints = appMesh ? { appMeshName: appMesh[1]! } : {};
    return { proxy, hints, seriesSource: node.id || `${node.cluster}/${nodeId(proxy)}`, flushes: 0, seen: new Set() };
  }

  /** One flush → its edges at `receivedAtMs`, and what became of its upstream counters. */
  convert(stream: StreamState, families: readonly MetricFamily[], receivedAtMs: number): ConvertedFlush {
    const flush = new ClusterStatsFlush(stream.proxy, stream.hints);
    const { baselines, resets } = this.counters.stats;
    let counted = 0;
    const meshSamples: PromSample[] = [];
    for (const family of families) {
      for (const metric of family.metric) {
        const labels: Record<string, string> = {};
        for (const pair of metric.label) labels[pair.name] = pair.value;
        const stat = parseClusterStat(family.name, labels);
        if (stat === null) {
          if (!this.countersAreDeltas && readsFamily(family.name)) meshSamples.push(...flatten(family, metric, labels, this.startedMidStream(stream, family.name, labels, receivedAtMs)));
          continue;
        }
        if (family.type === 'COUNTER' && metric.counter !== null && stat.family !== 'time') {
          const increase = this.counterIncrease(stream, seriesKey(stream.seriesSource, family.name, labels), metric.counter.value, receivedAtMs);
          if (increase !== null) counted++;
          flush.addCounter(family.name, labels, increase);
        } else if (family.type === 'HISTOGRAM' && metric.histogram !== null && stat.family === 'time') {
          const { bucket, sample_count } = metric.histogram;
          const buckets: PrometheusBucket[] = bucket.map((b) => ({ le: b.upper_bound, cumulativeCount: b.cumulative_count }));
          if (!buckets.some((b) => b.le === Infinity)) buckets.push({ le: Infinity, cumulativeCount: sample_count });
          try {
            flush.addLatency(family.name, labels, foldPrometheusHistogram(buckets, 1));
          } catch {
            // A bucket with NaN bounds or counts: no latency from this stat, the counts still stand.
          }
        }
      }
    }
    stream.flushes++;
    const increments = flush.toIncrements(BigInt(receivedAtMs) * 1_000_000n);
    let mesh = { counted: 0, baselines: 0, resets: 0 };
    if (meshSamples.length > 0) {
      // Histograms on this wire are the flush's own observations; counters are cumulative, keyed by the node.
      const reporter: Record<string, string> = { workload: stream.proxy.name, namespace: stream.proxy.namespace };
      if (stream.proxy.version !== undefined) reporter.version = stream.proxy.version;
      const converted = this.meshSeries.convert({ source: stream.seriesSource, reporter, samples: meshSamples, receivedAtMs, histogramsAreDeltas: true });
      increments.push(...converted.increments);
      mesh = converted;
    }
    return {
      increments,
      counted: counted + mesh.counted,
      baselines: this.counters.stats.baselines - baselines + mesh.baselines,
      resets: this.counters.stats.resets - resets + mesh.resets,
    };
  }

  /** A series first sent after the stream's first flush was first used since the previous one: it began just now. */
  private startedMidStream(stream: StreamState, name: string, labels: Record<string, string>, atMs: number): number | undefined {
    const key = seriesKey(stream.seriesSource, name, labels);
    if (stream.seen.has(key)) return undefined;
    stream.seen.add(key);
    return stream.flushes > 0 ? atMs - 1 : undefined;
  }

  private counterIncrease(stream: StreamState, key: string, value: number, atMs: number): number | null {
    if (this.countersAreDeltas) return value >= 0 && value < Infinity ? value : null;
    const firstOnStream = !stream.seen.has(key);
    if (firstOnStream) stream.seen.add(key);
    const increase = this.counters.increase(key, value, atMs);
    // Not in the stream's earlier flushes: first used since then, so all of it is new traffic.
    if (increase === null && firstOnStream && stream.flushes > 0 && value >= 0 && value < Infinity) return value;
    return increase;
  }
}

/**
 * A metric of a family no cluster-stat rule claims, as flat Prometheus samples: a counter as it is, a
 * histogram as `_bucket{le}` (its finite bounds, then +Inf = sample_count), `_sum` and `_count`. Read when
 * the sink emits tags as labels (emit_tags_as_labels), the form in which Istio's stats have their names.
 */
function flatten(family: MetricFamily, metric: PrometheusMetric, labels: Record<string, string>, startMs: number | undefined): PromSample[] {
  if (family.type === 'COUNTER' && metric.counter !== null) {
    return [startMs === undefined ? { name: family.name, labels, value: metric.counter.value } : { name: family.name, labels, value: metric.counter.value, startMs }];
  }
  if (family.type !== 'HISTOGRAM' || metric.histogram === null) return [];
  const { bucket, sample_count, sample_sum } = metric.histogram;
  const samples: PromSample[] = bucket.map((b) => ({ name: `${family.name}_bucket`, labels: { ...labels, le: String(b.upper_bound) }, value: b.cumulative_count }));
  if (!bucket.some((b) => b.upper_bound === Infinity)) samples.push({ name: `${family.name}_bucket`, labels: { ...labels, le: '+Inf' }, value: sample_count });
  samples.push({ name: `${family.name}_sum`, labels, value: sample_sum }, { name: `${family.name}_count`, labels, value: sample_count });
  return samples;
}

export interface EnvoyMetricsOptions {
  /** limits.label_cardinality: series whose counter state is kept. */
  maxSeries: number;
  /** envoy.report_counters_as_deltas: the sink sends per-flush increases. */
  countersAreDeltas: boolean;
}

export function registerEnvoyMetrics(server: GrpcServer, edges: EdgeSink, metrics: CollectorMetrics, log: FastifyBaseLogger, options: EnvoyMetricsOptions): EnvoyMetricsConverter {
  const { definition, loadMs } = metricsServiceProtos();
  log.debug({ loadMs: Math.round(loadMs) }, 'loaded Envoy metrics-service protos');
  const converter = new EnvoyMetricsConverter({ maxSeries: options.maxSeries }, options.countersAreDeltas);
  registerEnvoyStream<StreamMetricsMessage, StreamState>(server, metrics, log, {
    receiver: 'envoy-metrics',
    definition,
    service: SERVICE,
    method: 'StreamMetrics',
    messageType: 'envoy.service.metrics.v3.StreamMetricsMessage',
    nodeOf: (message) => message.identifier?.node,
    open: (node) => converter.startStream(node),
    take: (message, stream) => {
      const converted = converter.convert(stream, message.envoy_metrics, Date.now());
      if (converted.increments.length > 0) edges.addIncrements(converted.increments, 'envoy-metrics');
      metrics.envoyMetricsFlushes.inc();
      if (converted.counted > 0) metrics.envoyMetricsStats.inc({ result: 'counted' }, converted.counted);
      if (converted.baselines > 0) metrics.envoyMetricsStats.inc({ result: 'baseline' }, converted.baselines);
      if (converted.resets > 0) metrics.envoyMetricsStats.inc({ result: 'reset' }, converted.resets);
    },
  });
  return converter;
}
