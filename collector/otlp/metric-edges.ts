// OTLP metrics from proxies → edge increments (signal `otlp-metrics`): Envoy's OpenTelemetry stat
// sink and Kuma's MeshMetric OpenTelemetry backend send Envoy's upstream cluster stats
// (`cluster.upstream_rq{envoy.cluster_name, envoy.response_code}`, `envoy_cluster_upstream_rq_xx`,
// `…upstream_rq_total`, the `upstream_rq_time` histogram, …); collector/envoy/cluster-stats.ts reads
// their names, the counter pipeline (collector/counters/cumulative.ts) turns CUMULATIVE points into
// per-interval increases (the first export of a series is its baseline), and DELTA points count as
// they are. The source is the proxy the resource names (Kuma's `kuma.io/service`, else `service.name`,
// else Envoy's node), the destination the cluster.
import { type CumulativeOptions, CumulativeCounters, CumulativeHistograms, increaseToLatency, seriesKey, toCumulativeBuckets } from '../counters/cumulative.ts';
import { ClusterStatsFlush, parseClusterStat } from '../envoy/cluster-stats.ts';
import type { EdgeIncrement } from '../service-graph/edge-rows.ts';
import { nodeId } from '../service-graph/halves.ts';
import { proxyNode } from './access-log-edges.ts';
import { type MetricPoint, Temporality } from './metrics.ts';

const NO_RECORDED_VALUE = 1;

/** Milliseconds per unit of a latency histogram's bounds (UCUM units, as OTLP names them). */
function msPerUnit(unit: string): number | undefined {
  switch (unit) {
    case '':
    case 'ms':
      return 1;
    case 's':
      return 1000;
    case 'us':
      return 0.001;
    default:
      return undefined;
  }
}

export class OtlpMetricEdges {
  private readonly counters: CumulativeCounters;
  private readonly histograms: CumulativeHistograms;

  constructor(options: Partial<CumulativeOptions> = {}) {
    this.counters = new CumulativeCounters(options);
    this.histograms = new CumulativeHistograms(options);
  }

  /** The edges a request's points describe; keeps the cumulative state their next values need. */
  derive(points: readonly MetricPoint[]): EdgeIncrement[] {
    const flushes = new Map<string, { flush: ClusterStatsFlush; timeUnixNano: bigint }>();
    for (const p of points) {
      // Exponential histograms arrive already on explicit bounds (metrics.ts), so both kinds fold alike.
      const isHistogram = p.type === 'histogram' || p.type === 'exponential_histogram';
      if ((p.flags & NO_RECORDED_VALUE) !== 0 || (p.type !== 'sum' && !isHistogram)) continue;
      // Only the point's own attributes name the cluster: Envoy's resource has a `cluster_name` of its own
      // (the proxy's node.cluster).
      const labels = p.attributes;
      if (parseClusterStat(p.name, labels) === null) continue;
      // kuma-dp may put kuma.io/service on the resource or on the point.
      const kumaService = p.attributes['kuma.io/service'];
      const source = proxyNode(kumaService ? { ...p.resourceAttributes, 'kuma.io/service': kumaService } : p.resourceAttributes, p.service, p.namespace);
      const sourceId = nodeId(source);
      let entry = flushes.get(sourceId);
      if (entry === undefined) flushes.set(sourceId, (entry = { flush: new ClusterStatsFlush(source), timeUnixNano: p.timeUnixNano }));
      if (p.timeUnixNano > entry.timeUnixNano) entry.timeUnixNano = p.timeUnixNano;
      const key = seriesKey(seriesKey(p.scopeName, '', p.resourceAttributes), p.name, p.attributes);
      const atMs = Number(p.timeUnixNano / 1_000_000n);
      const startMs = p.startTimeUnixNano > 0n ? Number(p.startTimeUnixNano / 1_000_000n) : undefined;
      if (p.type === 'sum') {
        const increase =
          p.temporality === Temporality.Delta ? p.value : p.temporality === Temporality.Cumulative ? this.counters.increase(key, p.value, atMs, startMs) : null;
        entry.flush.addCounter(p.name, labels, increase);
        continue;
      }
      const perUnit = msPerUnit(p.unit);
      if (perUnit === undefined || p.bucketCounts.length === 0) continue;
      const buckets = toCumulativeBuckets(p.bounds, p.bucketCounts);
      const increase =
        p.temporality === Temporality.Delta
          ? { buckets, sum: p.sum, count: p.count }
          : p.temporality === Temporality.Cumulative
            ? this.histograms.increase(key, buckets, p.sum, p.count, atMs, startMs)
            : null;
      if (increase !== null) entry.flush.addLatency(p.name, labels, increaseToLatency(increase, perUnit));
    }
    const increments: EdgeIncrement[] = [];
    for (const { flush, timeUnixNano } of flushes.values()) increments.push(...flush.toIncrements(timeUnixNano));
    return increments;
  }
}
