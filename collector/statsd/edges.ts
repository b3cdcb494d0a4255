// One flush interval's StatsD series → edge increments. Only Envoy's upstream request stats describe
// calls; everything else a sender reports (gauges, sets, its listeners' downstream_* aggregates, its own
// app's metrics) is no edge and is skipped here.
//
//   cluster stats   `envoy.cluster.<cluster>.upstream_rq_<code>|<N>xx|total|time` (plain StatsD, dotted
//                   names, clusters with dots and '|' included) or the DogStatsD tag form
//                   (`envoy.cluster.upstream_rq` + `envoy.cluster_name`, `envoy.response_code[_class]`):
//                   read by envoy/cluster-stats.ts, the one reader of those names. StatsD counters are
//                   already deltas: the interval's sum is passed on as the increase; `|ms` samples of
//                   upstream_rq_time become the edge's latency. The destination is the cluster
//                   (service-graph/clusters.ts: Istio, Consul, App Mesh, Kuma); inbound clusters
//                   (`inbound|…`, `local_app`, `cds_ingress_…`) are the sidecar-to-own-app hop: no edge.
//   Consul tags     `consul.destination.service` (+ `service_subset`, `namespace`, `datacenter`) name the
//                   destination outright when Consul's stats tags are on.
//   App Mesh        the metrics extension (`envoy.appmesh.RequestCountPerTarget`,
//   extension       `HTTPCode_Target_<N>XX_Count`, `TargetResponseTime`; dimensions Mesh, VirtualNode,
//                   TargetVirtualNode): VirtualNode → TargetVirtualNode. It counts the same requests as
//                   the cluster stats, so a proxy that sends it is read from it alone.
import { ClusterStatsFlush } from '../envoy/cluster-stats.ts';
import { appMeshNode } from '../service-graph/clusters.ts';
import type { EdgeIncrement } from '../service-graph/edge-rows.ts';
import { type NodeRef, nodeId } from '../service-graph/halves.ts';
import { LatencyHistogram } from '../service-graph/histogram.ts';
import type { AggregatedSeries, KeepLine } from './aggregator.ts';
import type { SenderIdentity } from './identity.ts';
import type { Tags } from './line.ts';

export type IdentifySender = (sender: string, tags: Tags) => SenderIdentity;

const TAGGED_CLUSTER_STAT = /^((?:envoy\.)?cluster\.)(?:(.+)\.)?(upstream_rq(?:_xx|_total|_time)?)$/;
const SUB_BREAKDOWN = /^(?:internal|external|canary|zone\.[^.]+\.[^.]+)$/;
const APP_MESH_EXTENSION = /^(?:envoy\.)?appmesh\.(RequestCountPerTarget|HTTPCode_Target_([1-5])XX_Count|TargetResponseTime)$/;

/** The ends of the cluster stat names parseClusterStat() reads (`upstream_rq`, `_xx`, `_total`, `_time`, `_<code>`, `_<N>xx`). */
const UPSTREAM_RQ = 'upstream_rq';
const UPSTREAM_RQ_END_OFFSETS = [11, 14, 15, 16, 17];

/** Whether `word` is in `text` at `position` (char by char: cheaper than startsWith's position form in V8, and than a slice). */
function isAt(text: string, position: number, word: string): boolean {
  for (let i = 0; i < word.length; i++) if (text.charCodeAt(position + i) !== word.charCodeAt(i)) return false;
  return true;
}

/**
 * Whether a StatsD line of this type and name (text[nameStart, nameEnd), as written) can be read by
 * statsdIncrements(): a counter or timer/histogram/distribution whose name ends as an upstream request stat
 * does, or an App Mesh extension metric. Lines it refuses (gauges, sets, listener and other stats — most of
 * what a proxy sends) are counted and skipped by the receiver before anything else of them is read. When
 * unsure (Telegraf tags or blanks in the name) it says yes: statsdIncrements() decides.
 */
export const mayDescribeEdge: KeepLine = (type, text, nameStart, nameEnd) => {
  if (type === 'g' || type === 's') return false;
  if (text.charCodeAt(nameStart) <= 32 || text.charCodeAt(nameEnd - 1) <= 32) return true;
  const comma = text.indexOf(',', nameStart);
  if (comma >= 0 && comma < nameEnd) return true;
  for (const offset of UPSTREAM_RQ_END_OFFSETS) {
    if (nameEnd - offset >= nameStart && isAt(text, nameEnd - offset, UPSTREAM_RQ)) return true;
  }
  return (nameEnd - nameStart > 8 && isAt(text, nameStart, 'appmesh.')) || (nameEnd - nameStart > 14 && isAt(text, nameStart, 'envoy.appmesh.'));
};

/**
 * With Consul's stats tags the destination is in `consul.destination.*`: its cluster name is written back
 * in Consul's grammar (service-graph/clusters.ts reads it) and the stat name reduced to the tag form.
 */
function withConsulDestination(name: string, tags: Tags): { name: string; tags: Tags } {
  const service = tags['consul.destination.service'];
  if (!service) return { name, tags };
  const match = TAGGED_CLUSTER_STAT.exec(name);
  if (match === null || (match[2] !== undefined && SUB_BREAKDOWN.test(match[2]))) return { name, tags };
  const subset = tags['consul.destination.service_subset'] ?? '';
  const namespace = tags['consul.destination.namespace'] || 'default';
  const datacenter = tags['consul.destination.datacenter'] || 'dc';
  const routing = tags['consul.destination.routing_type'] === 'external' ? 'external' : 'internal';
  const cluster = `${subset ? `${subset}.` : ''}${service}.${namespace}.${datacenter}.${routing}.meshlens.consul`;
  return { name: `${match[1]}${match[3]}`, tags: { ...tags, 'envoy.cluster_name': cluster } };
}

interface ExtensionTally {
  target: NodeRef;
  requests: number | null;
  byClass: number;
  errors: number;
  latency: LatencyHistogram | null;
}

interface SourceGroup {
  identity: SenderIdentity;
  timeUnixNano: bigint;
  clusters: ClusterStatsFlush;
  /** App Mesh metrics-extension tallies by target id; when any, the cluster stats are not read. */
  extension: Map<string, ExtensionTally>;
}

/** The edges one interval's series describe, at `flushTimeUnixNano` (or a line's own `|T` time). */
export function statsdIncrements(series: readonly AggregatedSeries[], identify: IdentifySender, flushTimeUnixNano: bigint): EdgeIncrement[] {
  const groups = new Map<string, SourceGroup>();
  // An identity's part of the group key, once per identity (a remembering identify gives one object per proxy).
  const sourceKeys = new Map<SenderIdentity, string>();
  for (const one of series) {
    if (one.type !== 'c' && one.type !== 'ms' && one.type !== 'h' && one.type !== 'd') continue;
    const extension = APP_MESH_EXTENSION.exec(one.name);
    if (extension === null && !one.name.includes('cluster')) continue;
    const identity = identify(one.sender, one.tags);
    const timeUnixNano = one.timestampS === null ? flushTimeUnixNano : BigInt(one.timestampS) * 1_000_000_000n;
    let sourceKey = sourceKeys.get(identity);
    if (sourceKey === undefined) sourceKeys.set(identity, (sourceKey = `${nodeId(identity.node)}\u0000${identity.node.kind}\u0000${identity.appMeshName ?? ''}`));
    const key = `${sourceKey}\u0000${timeUnixNano}`;
    let group = groups.get(key);
    if (group === undefined) {
      group = { identity, timeUnixNano, clusters: new ClusterStatsFlush(identity.node, identity.hints), extension: new Map() };
      groups.set(key, group);
    }
    if (extension !== null) {
      addExtension(group, extension, one);
      continue;
    }
    const { name, tags } = withConsulDestination(one.name, one.tags);
    if (one.type === 'c') group.clusters.addCounter(name, tags, one.count);
    else group.clusters.addLatency(name, tags, one.histogram);
  }

  const increments: EdgeIncrement[] = [];
  for (const group of groups.values()) {
    const found = group.extension.size > 0 ? extensionIncrements(group) : group.clusters.toIncrements(group.timeUnixNano);
    increments.push(...found);
  }
  return increments;
}

type EdgeSeries = Extract<AggregatedSeries, { type: 'c' | 'ms' | 'h' | 'd' }>;

function addExtension(group: SourceGroup, match: RegExpExecArray, one: EdgeSeries): void {
  const targetNode = one.tags.TargetVirtualNode;
  if (!targetNode) return;
  const target = appMeshNode(one.tags.Mesh ?? group.identity.appMeshName ?? '', targetNode);
  const id = nodeId(target);
  let tally = group.extension.get(id);
  if (tally === undefined) group.extension.set(id, (tally = { target, requests: null, byClass: 0, errors: 0, latency: null }));
  const stat = match[1]!;
  if (stat === 'TargetResponseTime') {
    if (one.type !== 'c') (tally.latency ??= new LatencyHistogram()).merge(one.histogram);
    return;
  }
  if (one.type !== 'c' || !(one.count >= 0)) return;
  if (stat === 'RequestCountPerTarget') tally.requests = (tally.requests ?? 0) + one.count;
  else {
    tally.byClass += one.count;
    if (match[2] === '5') tally.errors += one.count;
  }
}

function extensionIncrements(group: SourceGroup): EdgeIncrement[] {
  return [...group.extension.values()].map((tally) => ({
    timeUnixNano: group.timeUnixNano,
    source: group.identity.node,
    target: tally.target,
    protocol: 'http',
    // RequestCountPerTarget counts every request; the per-class counts are the fallback.
    requests: tally.requests ?? tally.byClass,
    errors: tally.errors,
    mtlsYes: 0,
    mtlsNo: 0,
    latency: tally.latency,
  }));
}
