// Envoy's upstream cluster stats → edges. The caller's proxy is the source (who sent the stats: a
// metrics-service stream's node, a scrape target, a StatsD sender); the cluster each stat names is the
// destination, parsed by parseCluster(). Stat values arrive here already turned into increases (the
// counter pipeline, collector/counters/cumulative.ts) so this file only reads names.
//
// Names understood (mesh-telemetry.md §2), with or without the `envoy.` StatsD prefix:
//   dotted       cluster.<cluster>.upstream_rq_total | upstream_rq_<code> | upstream_rq_<N>xx | upstream_rq_time
//                (<cluster> may hold dots; Istio's alt stat name ends it with ';')
//   tag form     cluster.upstream_rq{envoy.response_code} | cluster.upstream_rq_xx{envoy.response_code_class}
//                | cluster.upstream_rq_total | cluster.upstream_rq_time, cluster from envoy.cluster_name
//                (the default extraction stops at the cluster's first dot: the rest stays in the name and is
//                put back); the Prometheus spelling envoy_cluster_upstream_rq{envoy_cluster_name, …} too.
//
// Counting: Envoy counts each response in upstream_rq_<code> AND upstream_rq_<N>xx, and each request in
// upstream_rq_total, so exactly one family per cluster counts requests — per-code counts when the cluster
// has any, else the per-class counts, else upstream_rq_total — and errors (5xx) come from that same family
// (none from upstream_rq_total alone). The internal./external./canary./zone.<a>.<b>. sub-breakdowns repeat
// the same requests and are skipped.
import type { NodeRef } from '../service-graph/halves.ts';
import { type ClusterHints, parseCluster } from '../service-graph/clusters.ts';
import type { EdgeIncrement } from '../service-graph/edge-rows.ts';
import { LatencyHistogram } from '../service-graph/histogram.ts';

export type ClusterStatKind =
  | { family: 'code'; code: number }
  | { family: 'class'; codeClass: number }
  | { family: 'total' }
  | { family: 'time' };

export type ClusterStat = ClusterStatKind & { cluster: string };

type Labels = Readonly<Record<string, string>>;

const DOTTED = /^cluster\.(.+)\.upstream_rq_(total|time|[1-5][0-9]{2}|[1-5]xx)$/;
const TAGGED = /^cluster\.(?:(.+)\.)?upstream_rq(_xx|_total|_time)?$/;
const PROMETHEUS = /^envoy_cluster_upstream_rq(_xx|_total|_time)?$/;
// The same requests again, broken down by origin or zone: cluster.<c>.internal.upstream_rq_200, …
const SUB_BREAKDOWN = /\.(?:internal|external|canary|zone\.[^.]+\.[^.]+)$/;

const CLUSTER_LABELS = ['envoy.cluster_name', 'envoy_cluster_name', 'cluster_name'];
const CODE_LABELS = ['envoy.response_code', 'envoy_response_code', 'response_code'];
const CLASS_LABELS = ['envoy.response_code_class', 'envoy_response_code_class', 'response_code_class'];

function label(labels: Labels, names: readonly string[]): string | undefined {
  for (const name of names) {
    const value = labels[name];
    if (value !== undefined && value !== '') return value;
  }
  return undefined;
}

/** Which upstream request stat of which cluster this is; null for every other stat. */
export function parseClusterStat(rawName: string, labels: Labels = {}): ClusterStat | null {
  const name = rawName.startsWith('envoy.') ? rawName.slice('envoy.'.length) : rawName;
  const clusterLabel = label(labels, CLUSTER_LABELS);
  if (clusterLabel !== undefined) {
    const tagged = TAGGED.exec(name) ?? PROMETHEUS.exec(name);
    if (tagged !== null) {
      // TAGGED has the rest of a dotted cluster name in group 1 and the suffix in group 2; PROMETHEUS the suffix only.
      const [rest, suffix] = tagged.length === 3 ? [tagged[1], tagged[2]] : [undefined, tagged[1]];
      if (rest !== undefined && SUB_BREAKDOWN.test(`.${rest}`)) return null;
      const cluster = rest === undefined ? clusterLabel : `${clusterLabel}.${rest}`;
      return taggedKind(cluster, suffix, labels);
    }
  }
  const dotted = DOTTED.exec(name);
  if (dotted === null) return null;
  const cluster = dotted[1]!;
  if (!cluster.endsWith(';') && SUB_BREAKDOWN.test(cluster)) return null;
  const suffix = dotted[2]!;
  if (suffix === 'total') return { cluster, family: 'total' };
  if (suffix === 'time') return { cluster, family: 'time' };
  if (suffix.endsWith('xx')) return { cluster, family: 'class', codeClass: Number(suffix[0]) };
  return { cluster, family: 'code', code: Number(suffix) };
}

function taggedKind(cluster: string, suffix: string | undefined, labels: Labels): ClusterStat | null {
  if (suffix === '_total') return { cluster, family: 'total' };
  if (suffix === '_time') return { cluster, family: 'time' };
  if (suffix === '_xx') {
    const codeClass = Number(label(labels, CLASS_LABELS));
    return codeClass >= 1 && codeClass <= 5 ? { cluster, family: 'class', codeClass } : null;
  }
  const code = label(labels, CODE_LABELS);
  if (code !== undefined && /^[1-5][0-9]{2}$/.test(code)) return { cluster, family: 'code', code: Number(code) };
  const codeClass = label(labels, CLASS_LABELS);
  if (codeClass !== undefined && /^[1-5]$/.test(codeClass)) return { cluster, family: 'class', codeClass: Number(codeClass) };
  return null;
}

/** One family's counts for one cluster; `seen` even when every increase was still unknown (a baseline). */
interface FamilyTally {
  seen: boolean;
  known: boolean;
  requests: number;
  errors: number;
}

interface ClusterTally {
  code: FamilyTally;
  class: FamilyTally;
  total: FamilyTally;
  latency: LatencyHistogram | null;
}

const newFamily = (): FamilyTally => ({ seen: false, known: false, requests: 0, errors: 0 });

/**
 * Collects one proxy's cluster stats of one flush (or scrape) and turns them into edge increments.
 * Stats that are not upstream request stats are ignored, so a caller can offer every stat it has.
 */
export class ClusterStatsFlush {
  private readonly clusters = new Map<string, ClusterTally>();

  constructor(
    /** The proxy that reported the stats: every edge starts here. */
    private readonly source: NodeRef,
    private readonly hints: ClusterHints = {},
  ) {}

  /**
   * A counter's increase over the interval; null when it is not known yet (a baseline) — the family still
   * counts as present, so a cluster whose per-code counters are all baselines does not fall back to another.
   */
  addCounter(name: string, labels: Labels, increase: number | null): boolean {
    const stat = parseClusterStat(name, labels);
    if (stat === null || stat.family === 'time') return false;
    const family = this.tally(stat.cluster)[stat.family];
    family.seen = true;
    if (increase === null || !(increase >= 0 && increase < Infinity)) return true;
    family.known = true;
    family.requests += increase;
    const isError = stat.family === 'code' ? stat.code >= 500 : stat.family === 'class' ? stat.codeClass === 5 : false;
    if (isError) family.errors += increase;
    return true;
  }

  /** upstream_rq_time's latencies over the interval (ms). Returns whether the stat was an upstream one. */
  addLatency(name: string, labels: Labels, latency: LatencyHistogram): boolean {
    const stat = parseClusterStat(name, labels);
    if (stat === null || stat.family !== 'time') return false;
    const tally = this.tally(stat.cluster);
    (tally.latency ??= new LatencyHistogram()).merge(latency);
    return true;
  }

  /**
   * The edges of this flush at `timeUnixNano`. A cluster whose request count is not known yet (its counters
   * are baselines) gives no edge, latencies included: the interval's calls would show without a count.
   * Clusters that are no destination (inbound, pass-through, control plane) give none either.
   */
  toIncrements(timeUnixNano: bigint): EdgeIncrement[] {
    const increments: EdgeIncrement[] = [];
    for (const [cluster, tally] of this.clusters) {
      const family = tally.code.seen ? tally.code : tally.class.seen ? tally.class : tally.total;
      if (!family.known) continue;
      const destination = parseCluster(cluster, this.hints);
      if (destination === null) continue;
      const target: NodeRef = { kind: destination.inMesh ? 'service' : 'virtual', name: destination.name, namespace: destination.namespace };
      if (destination.version !== '') target.version = destination.version;
      increments.push({
        timeUnixNano,
        source: this.source,
        target,
        protocol: 'http',
        requests: family.requests,
        errors: family.errors,
        mtlsYes: 0,
        mtlsNo: 0,
        latency: tally.latency,
      });
    }
    return increments;
  }

  private tally(cluster: string): ClusterTally {
    let tally = this.clusters.get(cluster);
    if (tally === undefined) this.clusters.set(cluster, (tally = { code: newFamily(), class: newFamily(), total: newFamily(), latency: null }));
    return tally;
  }
}
