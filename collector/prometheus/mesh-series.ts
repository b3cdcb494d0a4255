// Prometheus series from any transport (scrape, remote-write, the Envoy metrics service's istio_* families)
// → service-graph edge increments, signal `prometheus`. Each mesh names its calls its own way
// (mesh-telemetry.md §3, §6); cumulative values go through the ONE counter pipeline
// (collector/counters/cumulative.ts): per-interval increases, first observation a baseline, resets handled.
//
//   Istio     istio_requests_total, istio_request_duration_milliseconds_* (and _seconds_*), the _sum of
//             istio_request_bytes / istio_response_bytes. source_workload → destination_workload. The
//             reporter rule: a call between two sidecars is reported twice, so `reporter="source"` rows count
//             it, `reporter="destination"` rows count it only when source_workload="unknown" (a caller outside
//             the mesh) and otherwise only say whether it was mTLS (connection_security_policy is known only
//             there); `reporter="waypoint"` rows are not counted (a sidecar caller would be counted twice).
//   Linkerd   response_total (else request_total), response_latency_ms_*, with a `direction` label.
//             Outbound: the reporting proxy → dst_<workload kind> + dst_namespace; inbound: counted only for
//             callers without identity (tls ≠ "true": unknown → the reporting proxy). tls → mTLS.
//   Traefik   traefik_service_requests_total, traefik_service_request_duration_seconds_*: destination only,
//             so `unknown` → the service (`<ns>-<svc>-<port>@<provider>`).
//   Envoy     envoy_cluster_upstream_rq{,_xx,_total,_time_*} (Kuma, Consul, App Mesh, Istio when opted in):
//             the reporting proxy → the cluster, read by collector/envoy/cluster-stats.ts.
//
// The reporting proxy is the batch's `reporter` (a scrape target's configured labels) or, for series that
// went through a Prometheus server, the target labels it added (workload/deployment/pod, namespace).
// Everything else is skipped before any state is kept. Histograms arrive flat (`_bucket{le}`, `_sum`,
// `_count`): they are grouped per series and sample time first. The number of tracked series is bounded by
// maxSeries (limits.label_cardinality): past it new series are dropped and counted, tracked ones go on.
import {
  CumulativeCounters,
  type CumulativeOptions,
  CumulativeHistograms,
  type CumulativeStats,
  type HistogramIncrease,
  increaseToLatency,
  seriesKey,
} from '../counters/cumulative.ts';
import { ClusterStatsFlush, parseClusterStat } from '../envoy/cluster-stats.ts';
import { kumaNode } from '../otlp/access-log-edges.ts';
import type { EdgeIncrement } from '../service-graph/edge-rows.ts';
import { type NodeRef, type Protocol, UNKNOWN_NODE, nodeId } from '../service-graph/halves.ts';
import type { LatencyHistogram, PrometheusBucket } from '../service-graph/histogram.ts';
import type { PromSample, SampleBatch } from './samples.ts';

type Labels = Readonly<Record<string, string>>;

export interface ConvertedBatch {
  increments: EdgeIncrement[];
  /** Series observations (counters, histograms) that gave an increase. */
  counted: number;
  /** Series seen for the first time (or again after staleness): stored, nothing counted. */
  baselines: number;
  /** Series whose value fell: the process restarted, the whole new value counted. */
  resets: number;
  /** Samples no mesh rule reads (other metrics, rows another row counts, stale markers): no state kept. */
  skipped: number;
  /** Series refused because maxSeries (limits.label_cardinality) series are tracked already. */
  dropped: number;
  /** One of the refused series, for the log line. */
  droppedExample?: string;
}

/** Which counter or histogram a sample belongs to, by metric name. */
type Family =
  | { mesh: 'istio'; part: 'requests' | 'latency' | 'request-bytes' | 'response-bytes'; msPerUnit: number }
  | { mesh: 'linkerd'; part: 'response' | 'request' | 'latency'; msPerUnit: number }
  | { mesh: 'traefik'; part: 'requests' | 'latency'; msPerUnit: number }
  | { mesh: 'envoy'; part: 'counter' | 'latency'; msPerUnit: number };

const COUNTER_FAMILIES: ReadonlyMap<string, Family> = new Map<string, Family>([
  ['istio_requests_total', { mesh: 'istio', part: 'requests', msPerUnit: 1 }],
  ['response_total', { mesh: 'linkerd', part: 'response', msPerUnit: 1 }],
  ['request_total', { mesh: 'linkerd', part: 'request', msPerUnit: 1 }],
  ['traefik_service_requests_total', { mesh: 'traefik', part: 'requests', msPerUnit: 1 }],
  ['envoy_cluster_upstream_rq', { mesh: 'envoy', part: 'counter', msPerUnit: 1 }],
  ['envoy_cluster_upstream_rq_xx', { mesh: 'envoy', part: 'counter', msPerUnit: 1 }],
  ['envoy_cluster_upstream_rq_total', { mesh: 'envoy', part: 'counter', msPerUnit: 1 }],
]);

/** Histogram bases (name without _bucket/_sum/_count); bounds in ms × msPerUnit. */
const HISTOGRAM_FAMILIES: ReadonlyMap<string, Family> = new Map<string, Family>([
  ['istio_request_duration_milliseconds', { mesh: 'istio', part: 'latency', msPerUnit: 1 }],
  ['istio_request_duration_seconds', { mesh: 'istio', part: 'latency', msPerUnit: 1000 }],
  ['istio_request_bytes', { mesh: 'istio', part: 'request-bytes', msPerUnit: 1 }],
  ['istio_response_bytes', { mesh: 'istio', part: 'response-bytes', msPerUnit: 1 }],
  ['response_latency_ms', { mesh: 'linkerd', part: 'latency', msPerUnit: 1 }],
  ['traefik_service_request_duration_seconds', { mesh: 'traefik', part: 'latency', msPerUnit: 1000 }],
  ['envoy_cluster_upstream_rq_time', { mesh: 'envoy', part: 'latency', msPerUnit: 1 }],
]);

/** gRPC codes that are server errors (OTel semconv): UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS. */
const GRPC_SERVER_ERRORS = new Set(['2', '4', '12', '13', '14', '15', 'UNKNOWN', 'DEADLINE_EXCEEDED', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS']);
/** Istio's placeholder for what a proxy does not know. */
const UNKNOWN = 'unknown';
/** Istio's canonical revision when a pod has no version label: no canary dimension. */
const NO_REVISION = 'latest';
/** What Istio names the destination of traffic it did not route to a known service: not an edge (as in clusters.ts). */
const NOT_A_DESTINATION = new Set(['PassthroughCluster', 'BlackHoleCluster', 'InboundPassthroughClusterIpv4', 'InboundPassthroughClusterIpv6']);
/** Linkerd's dst_<kind> labels, in the order a pod's owner is looked for. */
const LINKERD_WORKLOAD_KINDS = ['deployment', 'statefulset', 'daemonset', 'rollout', 'job', 'cronjob', 'replicaset', 'replicationcontroller'];
/** A reporting proxy's own workload, in target labels (ours, Prometheus' Kubernetes relabelling, Linkerd's). */
const WORKLOAD_LABELS = ['workload', 'deployment', 'statefulset', 'daemonset', 'rollout', 'app'];
const NAMESPACE_LABELS = ['namespace', 'kubernetes_namespace', 'k8s_namespace'];
const KUMA_SERVICE_LABELS = ['kuma.io/service', 'kuma_io_service'];
const DEPLOYMENT_POD = /^(.+)-[a-z0-9]{6,10}-[a-z0-9]{5}$/;
const TRAEFIK_SERVICE = /^([a-z0-9](?:[a-z0-9-]*[a-z0-9])?)-([0-9]{1,5})(?:-.*)?$/;

/** Who called whom, as one series says it, and what this series may add to that edge. */
interface SeriesEdge {
  source: NodeRef;
  target: NodeRef;
  protocol: Protocol;
  /** `count`: its increases are calls of the edge; `mtls`: it only says whether the calls were mTLS. */
  role: 'count' | 'mtls';
  error: boolean;
  mtls: boolean | null;
}

/**
 * What one sample is to the converter, worked out once per series: its family and part, its counter-state
 * key (histogram parts: the key of the histogram, so all its lines group on it), and once asked, its edge.
 */
interface Reading {
  family: Family;
  part: 'counter' | 'bucket' | 'sum' | 'count';
  /** The counter's name, or the histogram's base name (without _bucket/_sum/_count). */
  name: string;
  /** Histogram parts: without `le`. */
  labels: Labels;
  /** How many labels `labels` has (histogram parts; counting them again per line cost an array each time). */
  labelCount: number;
  /** seriesKey(source, name, labels): label order does not matter. */
  key: string;
  /** A bucket's bound. */
  le: number;
  /** Worked out when first needed (undefined until then; null: not an edge). */
  edge?: SeriesEdge | null;
  /** nodeId(source) \n nodeId(target) \n protocol, with `edge`. */
  edgeId?: string;
  /** Envoy cluster stats: the reporting proxy, or null when the name is no cluster stat. */
  envoySource?: { node: NodeRef; id: string } | null;
}

/** A transport's labels object as last read, with what the reading depended on. */
interface Remembered {
  name: string;
  source: string;
  reporter: Labels | undefined;
  reading: Reading | null;
}

/** One observation of one series at one time: a counter value, or a histogram grouped from its flat samples. */
type Observation = { type: 'counter'; reading: Reading; atMs: number; value: number; startMs: number | undefined } | HistogramObservation;

interface HistogramObservation {
  type: 'histogram';
  /** The reading of its first line (all its lines share family, name, labels without `le`, key). */
  reading: Reading;
  atMs: number;
  buckets: PrometheusBucket[];
  sum: number | undefined;
  count: number | undefined;
  /** Flat samples it was grouped from. */
  samples: number;
}

/** One family's calls on one edge in one minute; `seen` even when every increase was a baseline. */
interface FamilyTally {
  seen: boolean;
  known: boolean;
  requests: number;
  errors: number;
  mtlsYes: number;
  mtlsNo: number;
}

interface EdgeTally {
  timeMs: number;
  edge: SeriesEdge;
  /** Istio requests, Linkerd response_total, Traefik requests. */
  main: FamilyTally;
  /** Linkerd request_total: counts only where the edge has no response_total series. */
  fallback: FamilyTally;
  /** From Istio destination rows of meshed callers: mTLS only. */
  mtlsYes: number;
  mtlsNo: number;
  latency: LatencyHistogram | null;
  requestBytes: number;
  responseBytes: number;
}

const newFamily = (): FamilyTally => ({ seen: false, known: false, requests: 0, errors: 0, mtlsYes: 0, mtlsNo: 0 });

export class PrometheusEdgeConverter {
  readonly counters: CumulativeCounters;
  readonly histograms: CumulativeHistograms;
  /** Series tracked at most (counters and histograms together): limits.label_cardinality. */
  readonly maxSeries: number;
  /** Per labels object of a transport: what its sample is (see reading()). */
  private readonly readings = new WeakMap<Labels, Remembered>();

  constructor(options: Partial<CumulativeOptions> = {}) {
    this.counters = new CumulativeCounters(options);
    this.histograms = new CumulativeHistograms(options);
    this.maxSeries = options.maxSeries ?? 200_000;
  }

  /** Series with state now. */
  get size(): number {
    return this.counters.size + this.histograms.size;
  }

  convert(batch: SampleBatch): ConvertedBatch {
    const before = totals(this.counters.stats, this.histograms.stats);
    const result: ConvertedBatch = { increments: [], counted: 0, baselines: 0, resets: 0, skipped: 0, dropped: 0 };
    const observations = this.observe(batch, result);
    const edges = new Map<number, Map<string, EdgeTally>>();
    const envoyFlushes = new Map<string, { flush: ClusterStatsFlush; timeMs: number }>();
    // Oldest first: a remote-write request may carry several samples of one series.
    if (!sortedByTime(observations)) observations.sort((a, b) => a.atMs - b.atMs);
    for (const o of observations) {
      const reading = o.reading;
      if (reading.family.mesh === 'envoy') {
        this.envoy(batch, o, envoyFlushes, result);
        continue;
      }
      if (reading.edge === undefined) {
        reading.edge = seriesEdge(reading.family, reading.labels, batch.reporter);
        if (reading.edge !== null) reading.edgeId = `${nodeId(reading.edge.source)}\n${nodeId(reading.edge.target)}\n${reading.edge.protocol}`;
      }
      const edge = reading.edge;
      if (edge === null || (edge.role === 'mtls' && reading.family.part !== 'requests')) {
        result.skipped += samplesOf(o);
        continue;
      }
      const key = reading.key;
      if (!(o.type === 'histogram' && batch.histogramsAreDeltas === true) && !this.admit(key, o, result)) continue;
      const tally = edgeTally(edges, o.atMs, edge, reading.edgeId!);
      if (o.type === 'counter') {
        const increase = this.counters.increase(key, o.value, o.atMs, o.startMs);
        if (increase !== null) result.counted++;
        addCounter(tally, reading.family, edge, increase);
      } else {
        const count = o.count ?? o.buckets.find((b) => b.le === Infinity)?.cumulativeCount;
        if (count === undefined) {
          result.skipped += samplesOf(o);
          continue;
        }
        const increase = batch.histogramsAreDeltas === true ? asIncrease(o.buckets, o.sum ?? 0, count) : this.histograms.increase(key, o.buckets, o.sum ?? 0, count, o.atMs);
        if (increase === null) continue;
        result.counted++;
        tally.latency = increaseToLatency(increase, reading.family.msPerUnit, tally.latency ?? undefined);
      }
    }
    for (const minute of edges.values()) {
      for (const tally of minute.values()) {
        const increment = toIncrement(tally);
        if (increment !== null) result.increments.push(increment);
      }
    }
    for (const { flush, timeMs } of envoyFlushes.values()) result.increments.push(...flush.toIncrements(BigInt(timeMs) * 1_000_000n));
    const after = totals(this.counters.stats, this.histograms.stats);
    result.baselines = after.baselines - before.baselines;
    result.resets = after.resets - before.resets;
    return result;
  }

  /** Frees the state of series gone stale; for a timer when input may stop. */
  dropStale(): void {
    this.counters.dropStale();
    this.histograms.dropStale();
  }

  /**
   * What a sample is to the converter. Worked out once per labels object: a transport that hands out the
   * same object for a series each time (a scrape's SeriesTexts) has its keys and edges looked up, not built.
   */
  private reading(batch: SampleBatch, sample: PromSample, previousPart: Reading | undefined): Reading | null {
    if (batch.labelsReused !== true) return readingOf(batch.source, sample, previousPart);
    const remembered = this.readings.get(sample.labels);
    if (remembered !== undefined && remembered.name === sample.name && remembered.source === batch.source && remembered.reporter === batch.reporter) return remembered.reading;
    const reading = readingOf(batch.source, sample, previousPart);
    if (reading !== null) this.readings.set(sample.labels, { name: sample.name, source: batch.source, reporter: batch.reporter, reading });
    return reading;
  }

  /** The batch's samples as observations: mesh series only, histograms grouped per series and time. */
  private observe(batch: SampleBatch, result: ConvertedBatch): Observation[] {
    const observations: Observation[] = [];
    // Histograms by time, then by key (the time of a scrape's samples is mostly one and the same).
    const histograms = new Map<number, Map<string, HistogramObservation>>();
    let groupsAtMs = Number.NaN;
    let groups: Map<string, HistogramObservation> | undefined;
    let previousPart: Reading | undefined;
    for (const sample of batch.samples) {
      const reading = this.reading(batch, sample, previousPart);
      if (reading === null) {
        result.skipped++;
        continue;
      }
      if (reading.part !== 'counter') previousPart = reading;
      const atMs = sample.timestampMs ?? batch.receivedAtMs;
      if (reading.part === 'counter') {
        observations.push({ type: 'counter', reading, atMs, value: sample.value, startMs: sample.startMs });
        continue;
      }
      if (groups === undefined || atMs !== groupsAtMs) {
        groupsAtMs = atMs;
        groups = histograms.get(atMs);
        if (groups === undefined) histograms.set(atMs, (groups = new Map()));
      }
      let group = groups.get(reading.key);
      if (group === undefined) {
        group = { type: 'histogram', reading, atMs, buckets: [], sum: undefined, count: undefined, samples: 0 };
        groups.set(reading.key, group);
        observations.push(group);
      }
      group.samples++;
      if (reading.part === 'bucket') group.buckets.push({ le: reading.le, cumulativeCount: sample.value });
      else if (reading.part === 'sum') group.sum = sample.value;
      else group.count = sample.value;
    }
    return observations;
  }

  /** Whether a series may keep state: tracked already, or there is room under maxSeries. */
  private admit(key: string, o: Observation, result: ConvertedBatch): boolean {
    // Room left: no need to look the series up (dropping stale series only makes more room).
    if (this.size < this.maxSeries) return true;
    const tracked = o.type === 'counter' ? this.counters.has(key) : this.histograms.has(key);
    if (tracked || this.size < this.maxSeries) return true;
    result.dropped++;
    result.droppedExample ??= `${o.reading.name}${formatLabels(o.reading.labels)}`;
    return false;
  }

  private envoy(batch: SampleBatch, o: Observation, flushes: Map<string, { flush: ClusterStatsFlush; timeMs: number }>, result: ConvertedBatch): void {
    const reading = o.reading;
    if (reading.envoySource === undefined) {
      const node = parseClusterStat(reading.name, reading.labels) === null ? null : (reportingProxy(batch.reporter, reading.labels) ?? UNKNOWN_NODE);
      reading.envoySource = node === null ? null : { node, id: nodeId(node) };
    }
    const source = reading.envoySource;
    if (source === null) {
      result.skipped += samplesOf(o);
      return;
    }
    const key = reading.key;
    if (!(o.type === 'histogram' && batch.histogramsAreDeltas === true) && !this.admit(key, o, result)) return;
    const flushKey = `${Math.floor(o.atMs / 60_000)}\n${source.id}`;
    let entry = flushes.get(flushKey);
    if (entry === undefined) flushes.set(flushKey, (entry = { flush: new ClusterStatsFlush(source.node), timeMs: o.atMs }));
    entry.timeMs = Math.max(entry.timeMs, o.atMs);
    if (o.type === 'counter') {
      const increase = this.counters.increase(key, o.value, o.atMs, o.startMs);
      if (increase !== null) result.counted++;
      entry.flush.addCounter(reading.name, reading.labels, increase);
      return;
    }
    const count = o.count ?? o.buckets.find((b) => b.le === Infinity)?.cumulativeCount;
    if (count === undefined) return;
    const increase = batch.histogramsAreDeltas === true ? asIncrease(o.buckets, o.sum ?? 0, count) : this.histograms.increase(key, o.buckets, o.sum ?? 0, count, o.atMs);
    if (increase === null) return;
    result.counted++;
    entry.flush.addLatency(reading.name, reading.labels, increaseToLatency(increase, reading.family.msPerUnit));
  }
}

/** A histogram that is already an interval's increase: sorted, ending at +Inf (= count); null when not valid. */
function asIncrease(buckets: readonly PrometheusBucket[], sum: number, count: number): HistogramIncrease | null {
  if (!(count >= 0 && count < Infinity)) return null;
  const sorted = buckets.filter((b) => b.cumulativeCount >= 0 && b.cumulativeCount < Infinity && !Number.isNaN(b.le)).sort((a, b) => a.le - b.le);
  if (sorted.at(-1)?.le !== Infinity) sorted.push({ le: Infinity, cumulativeCount: count });
  return { buckets: sorted, sum: Number.isFinite(sum) ? sum : 0, count };
}

/** Whether some mesh rule reads a metric family of this name (a counter, or a histogram's base name). */
export function readsFamily(name: string): boolean {
  return COUNTER_FAMILIES.has(name) || HISTOGRAM_FAMILIES.has(name);
}

/**
 * Whether some mesh rule reads samples of this name (a counter, a histogram's _bucket/_sum/_count): a
 * transport asks before it reads a sample's labels, and counts the rest as skipped.
 */
export function readsSample(name: string): boolean {
  if (COUNTER_FAMILIES.has(name)) return true;
  const underscore = name.lastIndexOf('_');
  if (underscore <= 0) return false;
  const suffix = name.slice(underscore + 1);
  return (suffix === 'bucket' || suffix === 'sum' || suffix === 'count') && HISTOGRAM_FAMILIES.has(name.slice(0, underscore));
}

const samplesOf = (o: Observation): number => (o.type === 'histogram' ? o.samples : 1);

function totals(a: Readonly<CumulativeStats>, b: Readonly<CumulativeStats>): { baselines: number; resets: number } {
  return { baselines: a.baselines + b.baselines, resets: a.resets + b.resets };
}

/** Observations in time order already (a scrape's all have one time): no sort needed. */
function sortedByTime(observations: readonly Observation[]): boolean {
  for (let i = 1; i < observations.length; i++) if (observations[i]!.atMs < observations[i - 1]!.atMs) return false;
  return true;
}

/**
 * What a sample of `source` is to the converter; null when no mesh rule reads it. A histogram line with the
 * labels of `previousPart` but `le` (the next line of the same histogram) shares its key and labels.
 */
function readingOf(source: string, sample: PromSample, previousPart: Reading | undefined): Reading | null {
  const name = sample.name;
  const counter = COUNTER_FAMILIES.get(name);
  if (counter !== undefined) return { family: counter, part: 'counter', name, labels: sample.labels, labelCount: -1, key: seriesKey(source, name, sample.labels), le: Number.NaN };
  const underscore = name.lastIndexOf('_');
  if (underscore <= 0) return null;
  const suffix = name.slice(underscore + 1);
  if (suffix !== 'bucket' && suffix !== 'sum' && suffix !== 'count') return null;
  const base = name.slice(0, underscore);
  const family = HISTOGRAM_FAMILIES.get(base);
  if (family === undefined) return null;
  // Byte histograms: only their _sum is read, as a counter of bytes.
  if (family.part === 'request-bytes' || family.part === 'response-bytes') {
    return suffix === 'sum' ? { family, part: 'counter', name, labels: sample.labels, labelCount: -1, key: seriesKey(source, name, sample.labels), le: Number.NaN } : null;
  }
  const le = suffix !== 'bucket' ? Number.NaN : sample.labels.le === undefined ? Number.NaN : parseLe(sample.labels.le);
  if (suffix === 'bucket' && Number.isNaN(le)) return null;
  if (previousPart !== undefined && previousPart.name === base && previousPart.family === family && sameLabelsButLe(previousPart.labels, previousPart.labelCount, sample.labels)) {
    return { family, part: suffix, name: base, labels: previousPart.labels, labelCount: previousPart.labelCount, key: previousPart.key, le };
  }
  const labels = suffix === 'bucket' ? withoutLe(sample.labels) : sample.labels;
  let labelCount = 0;
  for (const _ in labels) labelCount++;
  return { family, part: suffix, name: base, labels, labelCount, key: seriesKey(source, base, labels), le };
}

/** `group` (no `le`, `groupCount` labels) has exactly the labels of `labels` apart from `le`. */
function sameLabelsButLe(group: Labels, groupCount: number, labels: Labels): boolean {
  let count = 0;
  for (const name in labels) {
    if (name === 'le') continue;
    if (group[name] !== labels[name]) return false;
    count++;
  }
  return count === groupCount;
}

function parseLe(le: string): number {
  return le === '+Inf' || le === 'Inf' || le === '+inf' ? Infinity : Number(le);
}

function withoutLe(labels: Labels): Labels {
  const rest: Record<string, string> = {};
  for (const name in labels) if (name !== 'le') rest[name] = labels[name]!;
  return rest;
}

function formatLabels(labels: Labels): string {
  const names = Object.keys(labels);
  return names.length === 0 ? '' : `{${names.map((n) => `${n}=${JSON.stringify(labels[n])}`).join(',')}}`;
}

function edgeTally(edges: Map<number, Map<string, EdgeTally>>, atMs: number, edge: SeriesEdge, edgeId: string): EdgeTally {
  const minute = Math.floor(atMs / 60_000);
  let inMinute = edges.get(minute);
  if (inMinute === undefined) edges.set(minute, (inMinute = new Map()));
  let tally = inMinute.get(edgeId);
  if (tally === undefined) {
    tally = { timeMs: atMs, edge, main: newFamily(), fallback: newFamily(), mtlsYes: 0, mtlsNo: 0, latency: null, requestBytes: 0, responseBytes: 0 };
    inMinute.set(edgeId, tally);
  }
  if (atMs > tally.timeMs) tally.timeMs = atMs;
  return tally;
}

function addCounter(tally: EdgeTally, family: Family, edge: SeriesEdge, increase: number | null): void {
  if (family.part === 'request-bytes' || family.part === 'response-bytes') {
    if (increase === null || edge.role !== 'count') return;
    if (family.part === 'request-bytes') tally.requestBytes += increase;
    else tally.responseBytes += increase;
    return;
  }
  if (edge.role === 'mtls') {
    if (increase === null) return;
    if (edge.mtls === true) tally.mtlsYes += increase;
    else if (edge.mtls === false) tally.mtlsNo += increase;
    return;
  }
  const counts = family.mesh === 'linkerd' && family.part === 'request' ? tally.fallback : tally.main;
  counts.seen = true;
  if (increase === null) return;
  counts.known = true;
  counts.requests += increase;
  if (edge.error) counts.errors += increase;
  if (edge.mtls === true) counts.mtlsYes += increase;
  else if (edge.mtls === false) counts.mtlsNo += increase;
}

/**
 * The edge of one minute: calls from the family that counts them (Linkerd's request_total only where no
 * response_total series was seen); no calls known yet (baselines) ⇒ latencies dropped too, as in
 * ClusterStatsFlush; mTLS-only knowledge still gives a zero-call row that says so.
 */
function toIncrement(tally: EdgeTally): EdgeIncrement | null {
  const counts = tally.main.seen ? tally.main : tally.fallback;
  const known = counts.known;
  const mtlsYes = (known ? counts.mtlsYes : 0) + tally.mtlsYes;
  const mtlsNo = (known ? counts.mtlsNo : 0) + tally.mtlsNo;
  if (!known && mtlsYes === 0 && mtlsNo === 0) return null;
  const increment: EdgeIncrement = {
    timeUnixNano: BigInt(tally.timeMs) * 1_000_000n,
    source: tally.edge.source,
    target: tally.edge.target,
    protocol: tally.edge.protocol,
    requests: known ? counts.requests : 0,
    errors: known ? counts.errors : 0,
    mtlsYes,
    mtlsNo,
    latency: known ? tally.latency : null,
  };
  if (known && tally.requestBytes > 0) increment.requestBytes = tally.requestBytes;
  if (known && tally.responseBytes > 0) increment.responseBytes = tally.responseBytes;
  return increment;
}

// ---- Per mesh: who called whom, from one series' labels. ----

function seriesEdge(family: Family, labels: Labels, reporter: Labels | undefined): SeriesEdge | null {
  switch (family.mesh) {
    case 'istio':
      return istioEdge(labels);
    case 'linkerd':
      return linkerdEdge(labels, reporter);
    case 'traefik':
      return traefikEdge(labels);
    default:
      return null;
  }
}

const known = (value: string | undefined): value is string => value !== undefined && value !== '' && value !== UNKNOWN;

// Named by canonical service (+ revision as the version), as Istio's spans and Kiali's versioned-app graph
// name it, so that one workload is one node whichever signal reported it; the workload name only when
// the series has no canonical service.
function istioNode(workload: string, canonicalService: string | undefined, namespace: string | undefined, version: string | undefined, revision: string | undefined): NodeRef {
  const node: NodeRef = { kind: 'service', name: known(canonicalService) ? canonicalService : workload, namespace: known(namespace) ? namespace : '' };
  const canary = known(version) ? version : known(revision) && revision !== NO_REVISION ? revision : '';
  if (canary !== '') node.version = canary;
  return node;
}

/** Istio's standard metrics (mesh-telemetry.md §3 Istio): the reporter rule decides which row counts a call. */
export function istioEdge(labels: Labels): SeriesEdge | null {
  const reporter = labels.reporter;
  if (reporter !== 'source' && reporter !== 'destination') return null;
  const sourceWorkload = labels.source_workload;
  const meshedCaller = known(sourceWorkload);
  const role = reporter === 'source' ? 'count' : meshedCaller ? 'mtls' : 'count';
  const source = meshedCaller ? istioNode(sourceWorkload, labels.source_canonical_service, labels.source_workload_namespace, labels.source_version, labels.source_canonical_revision) : UNKNOWN_NODE;
  let target: NodeRef;
  if (known(labels.destination_workload)) {
    target = istioNode(labels.destination_workload, labels.destination_canonical_service, labels.destination_workload_namespace, labels.destination_version, labels.destination_canonical_revision);
  } else {
    // Not a workload in the mesh: the host it was sent to, drawn as a peer (not for pass-through traffic).
    const host = [labels.destination_service_name, labels.destination_service].find(known);
    if (host === undefined || NOT_A_DESTINATION.has(host)) return null;
    target = { kind: 'virtual', name: host, namespace: known(labels.destination_service_namespace) ? labels.destination_service_namespace : '' };
  }
  const code = Number(labels.response_code);
  const grpcStatus = labels.grpc_response_status;
  const error = code >= 500 || (grpcStatus !== undefined && GRPC_SERVER_ERRORS.has(grpcStatus));
  const policy = labels.connection_security_policy;
  const mtls = policy === 'mutual_tls' ? true : policy === 'none' ? false : null;
  const protocol: Protocol = labels.request_protocol === 'grpc' ? 'grpc' : labels.request_protocol === 'tcp' ? 'tcp' : 'http';
  return { source, target, protocol, role, error, mtls };
}

/** Linkerd's proxy metrics (mesh-telemetry.md §3 Linkerd): outbound for meshed callers, inbound only without identity. */
export function linkerdEdge(labels: Labels, reporter: Labels | undefined): SeriesEdge | null {
  const direction = labels.direction;
  if (direction !== 'outbound' && direction !== 'inbound') return null;
  const tls = labels.tls;
  const mtls = tls === 'true' ? true : tls === 'no_identity' || tls === 'disabled' ? false : null;
  const statusCode = labels.status_code;
  const grpcStatus = labels.grpc_status;
  const error =
    Number(statusCode) >= 500 ||
    (grpcStatus !== undefined && GRPC_SERVER_ERRORS.has(grpcStatus)) ||
    // No status at all (the connection failed): Linkerd's own classification is all there is.
    (statusCode === undefined && grpcStatus === undefined && labels.classification === 'failure');
  const self = reportingProxy(reporter, labels);
  if (direction === 'outbound') {
    const target = linkerdDestination(labels);
    if (target === null) return null;
    return { source: self ?? UNKNOWN_NODE, target, protocol: 'http', role: 'count', error, mtls };
  }
  // Inbound from a caller with an identity: its own proxy's outbound series count the call.
  if (tls === 'true') return null;
  const target = self ?? (labels.authority !== undefined ? authorityNode(labels.authority) : null);
  if (target === null) return null;
  return { source: UNKNOWN_NODE, target, protocol: 'http', role: 'count', error, mtls };
}

function linkerdDestination(labels: Labels): NodeRef | null {
  const namespace = labels.dst_namespace ?? '';
  for (const kind of LINKERD_WORKLOAD_KINDS) {
    const name = labels[`dst_${kind}`];
    if (name !== undefined && name !== '') return { kind: 'service', name, namespace };
  }
  if (labels.dst_service !== undefined && labels.dst_service !== '') return { kind: 'service', name: labels.dst_service, namespace };
  return labels.authority !== undefined && labels.authority !== '' ? authorityNode(labels.authority) : null;
}

function authorityNode(authority: string): NodeRef {
  const host = authority.replace(/:[0-9]+$/, '');
  const inCluster = /^([a-z0-9-]+)\.([a-z0-9-]+)\.svc(\.|$)/.exec(host);
  if (inCluster !== null) return { kind: 'service', name: inCluster[1]!, namespace: inCluster[2]! };
  return { kind: 'virtual', name: host, namespace: '' };
}

/** Traefik's service metrics name the destination only (mesh-telemetry.md §3 Traefik Mesh). */
export function traefikEdge(labels: Labels): SeriesEdge | null {
  const target = traefikService(labels.service);
  if (target === null) return null;
  return { source: UNKNOWN_NODE, target, protocol: 'http', role: 'count', error: Number(labels.code) >= 500, mtls: null };
}

/**
 * `<ns>-<svc>-<port>[-traffic-split|-traffic-target…]@<provider>` → svc in ns. Namespace and service are
 * told apart at the first '-' (a namespace with a '-' in it is misread: the name says no more); a name
 * without a port is kept whole. Traefik's own services (`…@internal`) are no edge.
 */
export function traefikService(service: string | undefined): NodeRef | null {
  if (service === undefined || service === '') return null;
  const at = service.lastIndexOf('@');
  if (at >= 0 && service.slice(at + 1) === 'internal') return null;
  const name = at >= 0 ? service.slice(0, at) : service;
  const parsed = TRAEFIK_SERVICE.exec(name);
  const head = parsed?.[1];
  const dash = head?.indexOf('-') ?? -1;
  if (head === undefined || dash <= 0) return { kind: 'service', name: head ?? name, namespace: '' };
  return { kind: 'service', name: head.slice(dash + 1), namespace: head.slice(0, dash) };
}

/**
 * The proxy that reported a series: the scrape target's configured labels first, then the target labels a
 * Prometheus server added (Kuma's service, a workload or pod name, the namespace); null when nothing says.
 */
export function reportingProxy(reporter: Labels | undefined, labels: Labels): NodeRef | null {
  const pick = (names: readonly string[]): string | undefined => {
    for (const from of [reporter, labels]) {
      if (from === undefined) continue;
      for (const name of names) {
        const value = from[name];
        if (value !== undefined && value !== '') return value;
      }
    }
    return undefined;
  };
  const kumaService = pick(KUMA_SERVICE_LABELS);
  if (kumaService !== undefined) return kumaNode(kumaService);
  const pod = pick(['pod', 'pod_name']);
  const workload = pick(WORKLOAD_LABELS) ?? (pod !== undefined ? (DEPLOYMENT_POD.exec(pod)?.[1] ?? pod) : undefined);
  if (workload === undefined) return null;
  const node: NodeRef = { kind: 'service', name: workload, namespace: pick(NAMESPACE_LABELS) ?? '' };
  const version = pick(['version']);
  if (version !== undefined) node.version = version;
  return node;
}
