// Envoy access-log service (ALS) entries → service-graph edges. Pure: takes a StreamAccessLogsMessage
// as access-log-proto.ts reads it from the wire (only the fields used here) and gives back samples and
// counts; the receiver (receivers/envoy-als.ts) owns the stream. The rules follow
// mesh-telemetry.md §5 and §6:
//
// - The stream's identifier.node is the reporting proxy: the caller of an `outbound|…` entry, the
//   callee of an `inbound|…` one.
// - Outbound: destination = the `upstream_peer` filter-state Struct (Istio's peer metadata), else the
//   parsed upstream cluster (clusters.ts).
// - Inbound: source = the `downstream_peer` Struct, else the peer certificate's SPIFFE id, else unknown.
// - Both sidecars log every in-mesh request, so each request is counted once: every outbound entry
//   counts; an inbound entry counts only when the caller is not meshed (no downstream_peer and no peer
//   certificate SAN). An inbound entry from a meshed caller is not counted again, but it is the only
//   side that knows whether the connection was mTLS: it adds a zero-request increment carrying that, on
//   the same caller → callee pair, which the graph's sums fold into the outbound entry's row.
// - Error: HTTP response_code ≥ 500, or a failing gRPC status (2, 4, 12, 13, 14, 15) in the trailers
//   (or the headers of a trailers-only reply). Response flags decide only when Envoy sent no response
//   code at all (code 0: the stream was reset) and for TCP, which has no code: then an upstream failure
//   flag (UH, UF, UO, URX, UT, UR, UC, UMSDR, UPE, NC, DF) is an error. Envoy already turns these into a
//   5xx when it answers (UH/UF/UO → 503, UT → 504), so a reply with a code is judged by the code alone;
//   client-side flags (DC, DR, DPE) and policy flags (RL, UAEX, NR, FI) are not the callee's errors.
// - Latency: `duration`, else time_to_last_downstream_tx_byte. Bytes: HTTP body bytes, TCP connection bytes.
import { parseCluster } from '../service-graph/clusters.ts';
import type { EdgeIncrement, EdgeSample } from '../service-graph/edge-rows.ts';
import { type NodeRef, type Protocol, UNKNOWN_NODE } from '../service-graph/halves.ts';

// ---- An access-log message, as far as the conversion reads it (access-log-proto.ts reads it from the wire). ----

/** google.protobuf.Value and Struct (node metadata, peer metadata), camelCase as protobufjs gives them to envoy-metrics.ts. */
export interface ProtoValue {
  nullValue?: string;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: ProtoStruct;
  listValue?: { values?: ProtoValue[] };
}
export interface ProtoStruct {
  fields?: Record<string, ProtoValue>;
}
export interface EnvoyNode {
  id: string;
  cluster: string;
  metadata: ProtoStruct | null;
}
/** A StreamAccessLogsMessage: identifier.node (a stream's first message only) and its HTTP or TCP entries. */
export interface AccessLogsMessage {
  node: EnvoyNode | null;
  http: HttpAccessLogEntry[];
  tcp: TcpAccessLogEntry[];
}
/** AccessLogCommon, the fields read. */
export interface AccessLogCommon {
  /** sample_rate; 0 when unset. */
  sampleRate: number;
  /** The first non-empty URI SAN of the peer's certificate (tls_properties.peer_certificate_properties); '' when none. */
  peerUriSan: string;
  /** start_time in ns since the epoch; null when unset. */
  startTimeUnixNano: bigint | null;
  /** duration and time_to_last_downstream_tx_byte in ns; null when unset. */
  durationNanos: number | null;
  lastDownstreamTxByteNanos: number | null;
  upstreamCluster: string;
  /** response_flags as a bit set: bit n − 1 for ResponseFlags' field n (RESPONSE_FLAG_CODES). */
  responseFlags: number;
  /**
   * The `upstream_peer` / `downstream_peer` filter-state objects (`wasm.`-prefixed in older Istio) as
   * nodes: Istio logs its peer metadata as a google.protobuf.Struct (keys workload, name, namespace,
   * version, app, service, …; peerNode()). null when absent, or not a Struct, or naming no workload.
   */
  upstreamPeer: NodeRef | null;
  downstreamPeer: NodeRef | null;
  /** custom_tags.connection_security_policy; '' when absent. */
  connectionSecurityPolicy: string;
  intermediateLogEntry: boolean;
  /** access_log_type's number (a newer Envoy's values included); 0 (NotSet) when unset. */
  accessLogType: number;
}
export interface HttpAccessLogEntry {
  common: AccessLogCommon | null;
  /** response.response_code; 0 when absent (a reset: Envoy sent no response). */
  responseCode: number;
  /** request.request_body_bytes and response.response_body_bytes; undefined when the entry has no request / response properties. */
  requestBodyBytes: number | undefined;
  responseBodyBytes: number | undefined;
  /** The logged headers read here; undefined when not logged. */
  requestContentType: string | undefined;
  responseContentType: string | undefined;
  /** grpc-status in the response trailers, and in the response headers (a trailers-only reply). */
  grpcStatusTrailer: string | undefined;
  grpcStatusHeader: string | undefined;
  traceparent: string | undefined;
  b3TraceId: string | undefined;
}
export interface TcpAccessLogEntry {
  common: AccessLogCommon | null;
  /** connection_properties, from the downstream's (the caller's) side: received = what it sent, sent = what it got back; undefined when absent. */
  receivedBytes: number | undefined;
  sentBytes: number | undefined;
}

// ---- What the conversion gives back. ----

export type EntryType = 'http' | 'tcp';

/** Why an entry drew no counted edge. */
export type SkipReason =
  /** An inbound entry from a meshed caller: the caller's outbound entry counts the request (mTLS is still taken). */
  | 'counted_by_caller'
  /** No destination: PassthroughCluster, BlackHoleCluster, no cluster (no route), a control-plane cluster. */
  | 'no_destination'
  /** A periodic or start-of-request entry (intermediate_log_entry, access_log_type): the final entry counts. */
  | 'not_final';

export interface ConvertedEntries {
  /** One per counted entry that has a duration. */
  samples: EdgeSample[];
  /** Counted entries without any duration (requests, no latency), and the mTLS that inbound entries of meshed callers add. */
  increments: EdgeIncrement[];
  received: Record<EntryType, number>;
  used: Record<EntryType, number>;
  /** One per skipped entry: the same (frozen) object for every skip of one type and reason, so a tally can key on it. */
  skipped: Array<Readonly<{ type: EntryType; reason: SkipReason }>>;
  /** Response flags by Envoy's short code (UH, UF, URX, …), one per entry that had the flag. */
  responseFlags: Map<string, number>;
}

/** The proxy a stream comes from: named once, from the stream's first message. */
export interface ReportingProxy {
  node: NodeRef;
}

// ---- The reporting proxy. ----

/** Pod names of Deployments: <workload>-<replica set hash>-<5 characters>. */
const DEPLOYMENT_POD = /^(.+)-[a-z0-9]{6,10}-[a-z0-9]{5}$/;
/** Istio's canonical revision when a workload has no version label. */
const NO_VERSION = 'latest';

/**
 * The workload behind an Envoy node: Istio's metadata (NAMESPACE, and the canonical service and revision
 * from LABELS, else WORKLOAD_NAME) when present, else the node id `<type>~<ip>~<pod>.<ns>~<ns>.svc.cluster.local`
 * (the workload guessed from a Deployment's pod name), else node.cluster.
 */
export function reportingProxy(node: EnvoyNode): ReportingProxy {
  const metadata = node.metadata ?? {};
  const labels = structField(metadata, 'LABELS');
  const [, , podDotNamespace = '', domain = ''] = node.id.split('~');
  const dot = podDotNamespace.lastIndexOf('.');
  const podFromId = dot > 0 ? podDotNamespace.slice(0, dot) : podDotNamespace;
  const namespaceFromId = dot > 0 ? podDotNamespace.slice(dot + 1) : domain.split('.')[0] ?? '';
  const pod = stringField(metadata, 'NAME') || podFromId;
  const namespace = stringField(metadata, 'NAMESPACE') || namespaceFromId;
  const workload = stringField(metadata, 'WORKLOAD_NAME') || (DEPLOYMENT_POD.exec(pod)?.[1] ?? pod) || node.cluster.split('.')[0] || node.id;
  const service = labels ? firstField(labels, CANONICAL_NAME_LABELS) : '';
  const version = labels ? firstField(labels, CANONICAL_REVISION_LABELS) : '';
  return { node: serviceNode(service || workload, namespace, version) };
}

// Istio's canonical service and revision, from the pod labels in the order Istio derives them: the one
// name its spans and metrics (`*_canonical_service`) use too, so one workload is one node in every signal.
const CANONICAL_NAME_LABELS = ['service.istio.io/canonical-name', 'app.kubernetes.io/name', 'app'];
const CANONICAL_REVISION_LABELS = ['service.istio.io/canonical-revision', 'app.kubernetes.io/version', 'version'];

function firstField(struct: ProtoStruct, keys: readonly string[]): string {
  for (const key of keys) {
    const value = stringField(struct, key);
    if (value !== '') return value;
  }
  return '';
}

function serviceNode(name: string, namespace: string, version: string): NodeRef {
  return version && version !== NO_VERSION ? { kind: 'service', name, namespace, version } : { kind: 'service', name, namespace };
}

function stringField(struct: ProtoStruct, key: string): string {
  const value = struct.fields?.[key];
  return typeof value?.stringValue === 'string' ? value.stringValue : '';
}

function structField(struct: ProtoStruct, key: string): ProtoStruct | undefined {
  return struct.fields?.[key]?.structValue;
}

// ---- Istio's peer metadata. ----

/**
 * The workload a peer-metadata Struct names (Istio's keys: service and revision = the canonical service
 * and revision, workload, name, namespace, app, version, …), by canonical service as reportingProxy()
 * names the proxy; null when it names none. access-log-proto.ts reads the Structs from the filter state.
 */
export function peerNode(metadata: ProtoStruct): NodeRef | null {
  const name = firstField(metadata, PEER_NAME_KEYS);
  if (name === '') return null;
  return serviceNode(name, stringField(metadata, 'namespace'), firstField(metadata, PEER_REVISION_KEYS));
}

const PEER_NAME_KEYS = ['service', 'app', 'workload', 'name'];
const PEER_REVISION_KEYS = ['revision', 'version'];

/** spiffe://<trust domain>/ns/<namespace>/sa/<service account> → the service account as a node. */
const SPIFFE = /^spiffe:\/\/[^/]+\/ns\/([^/]+)\/sa\/([^/]+)$/;

function nodeFromSpiffe(uri: string): NodeRef {
  const match = SPIFFE.exec(uri);
  return match ? { kind: 'service', name: match[2]!, namespace: match[1]! } : { kind: 'virtual', name: uri, namespace: '' };
}

/**
 * What one string always gives (a cluster's direction and destination, a SPIFFE id's node), worked out
 * once: a proxy logs the same few, and one NodeRef object per value lets the graph work its id out once
 * (NodeRefs are never mutated). Bounded: emptied when full.
 */
class Memo<T> {
  private static readonly MAX_VALUES = 4096;
  private readonly values = new Map<string, T>();
  constructor(private readonly make: (key: string) => T) {}

  get(key: string): T {
    let value = this.values.get(key);
    if (value === undefined) {
      if (this.values.size >= Memo.MAX_VALUES) this.values.clear();
      value = this.make(key);
      this.values.set(key, value);
    }
    return value;
  }
}

const spiffeNodes = new Memo(nodeFromSpiffe);

// ---- Direction, errors, latency, protocol. ----

const INBOUND_PREFIXES = ['inbound|', 'inbound:', 'InboundPassthroughCluster', 'cds_ingress_'];
const isInbound = (cluster: string) => cluster === 'local_app' || INBOUND_PREFIXES.some((prefix) => cluster.startsWith(prefix));

/** An upstream cluster: inbound (the proxy is the callee), or outbound to the destination its name gives (null: none). */
interface ClusterFacts {
  inbound: boolean;
  destination: NodeRef | null;
}
const clusters = new Memo<ClusterFacts>((cluster) => (isInbound(cluster) ? { inbound: true, destination: null } : { inbound: false, destination: clusterNode(cluster) }));

/**
 * Envoy's short codes for ResponseFlags' fields, by field number − 1 (envoy/data/accesslog/v3/accesslog.proto,
 * access-log docs): failed_local_healthcheck, no_healthy_upstream, upstream_request_timeout, local_reset,
 * upstream_remote_reset, upstream_connection_failure, upstream_connection_termination, upstream_overflow,
 * no_route_found, delay_injected, fault_injected, rate_limited, unauthorized_details, rate_limit_service_error,
 * downstream_connection_termination, upstream_retry_limit_exceeded, stream_idle_timeout,
 * invalid_envoy_request_headers, downstream_protocol_error, upstream_max_stream_duration_reached,
 * response_from_cache_filter, no_filter_config_found, duration_timeout, upstream_protocol_error,
 * no_cluster_found, overload_manager, dns_resolution_failure, downstream_remote_reset.
 */
export const RESPONSE_FLAG_CODES = [
  'LH', 'UH', 'UT', 'LR', 'UR', 'UF', 'UC', 'UO', 'NR', 'DI', 'FI', 'RL', 'UAEX', 'RLSE', 'DC', 'URX', 'SI', 'IH', 'DPE',
  'UMSDR', 'RFCF', 'NFCF', 'DT', 'UPE', 'NC', 'OM', 'DF', 'DR',
] as const;
/** Flags that mean the callee (or the way to it) failed: an error when no response code says otherwise. */
const UPSTREAM_FAILURE_FLAGS = new Set(['UH', 'UF', 'UO', 'URX', 'UT', 'UR', 'UC', 'UMSDR', 'UPE', 'NC', 'DF']);

interface FlagFacts {
  /** In field order. */
  codes: readonly string[];
  upstreamFailure: boolean;
}
const NO_FLAGS: FlagFacts = { codes: [], upstreamFailure: false };
// Entries carry few distinct combinations (mostly none): each worked out once.
const flagCombinations = new Map<number, FlagFacts>();

function responseFlags(bits: number): FlagFacts {
  if (bits === 0) return NO_FLAGS;
  let facts = flagCombinations.get(bits);
  if (facts === undefined) {
    const codes = RESPONSE_FLAG_CODES.filter((_, i) => (bits & (1 << i)) !== 0);
    facts = { codes, upstreamFailure: codes.some((code) => UPSTREAM_FAILURE_FLAGS.has(code)) };
    if (flagCombinations.size >= 1024) flagCombinations.clear();
    flagCombinations.set(bits, facts);
  }
  return facts;
}

/** gRPC codes counted as server errors (OpenTelemetry semantic conventions). */
const FAILING_GRPC_STATUS = new Set([2, 4, 12, 13, 14, 15]);

/**
 * AccessLogType values that log before a request (or connection) is over — TcpUpstreamConnected (1),
 * TcpPeriodic (2), DownstreamStart (4), DownstreamPeriodic (5), UpstreamPoolReady (7), UpstreamPeriodic (8),
 * UpstreamEnd (9), DownstreamTunnelSuccessfullyEstablished (10), UdpTunnelUpstreamConnected (11),
 * UdpPeriodic (12): counting them would count it twice.
 */
const NOT_FINAL_TYPES = new Set([1, 2, 4, 5, 7, 8, 9, 10, 11, 12]);

function grpcStatus(entry: HttpAccessLogEntry): number | null {
  const text = entry.grpcStatusTrailer ?? entry.grpcStatusHeader;
  if (text === undefined || text === '' || !/^\d+$/.test(text)) return null;
  return Number(text);
}

function httpProtocol(entry: HttpAccessLogEntry, status: number | null): Protocol {
  const contentType = entry.requestContentType ?? entry.responseContentType ?? '';
  if (contentType.startsWith('application/grpc')) return 'grpc';
  if (status !== null) return 'grpc';
  return 'http';
}

/** A trace id to keep as the edge's exemplar, when the sender logged the headers that carry one. */
function traceIdOf(entry: HttpAccessLogEntry): string {
  const traceparent = entry.traceparent?.split('-')[1];
  if (traceparent && /^[0-9a-f]{32}$/.test(traceparent)) return traceparent;
  const b3 = entry.b3TraceId;
  return b3 && /^[0-9a-f]{16,32}$/.test(b3) ? b3.padStart(32, '0') : '';
}

// ---- The conversion. ----

export function convertAccessLogs(message: AccessLogsMessage, proxy: ReportingProxy, receivedAtNanos: bigint): ConvertedEntries {
  const out: ConvertedEntries = {
    samples: [],
    increments: [],
    received: { http: 0, tcp: 0 },
    used: { http: 0, tcp: 0 },
    skipped: [],
    responseFlags: new Map(),
  };
  for (const entry of message.http) {
    const code = entry.responseCode;
    const status = grpcStatus(entry);
    const codeSaysError = code === 0 && status === null ? null : code >= 500 || (status !== null && FAILING_GRPC_STATUS.has(status));
    convertEntry(out, 'http', entry.common, proxy, receivedAtNanos, httpProtocol(entry, status), codeSaysError, traceIdOf(entry), entry.requestBodyBytes, entry.responseBodyBytes);
  }
  for (const entry of message.tcp) {
    convertEntry(out, 'tcp', entry.common, proxy, receivedAtNanos, 'tcp', null, '', entry.receivedBytes, entry.sentBytes);
  }
  return out;
}

/** One object per type and reason, shared by every skip. */
const skip = (type: EntryType, reason: SkipReason) => Object.freeze({ type, reason });
const SKIPPED: Record<EntryType, Record<SkipReason, Readonly<{ type: EntryType; reason: SkipReason }>>> = {
  http: { counted_by_caller: skip('http', 'counted_by_caller'), no_destination: skip('http', 'no_destination'), not_final: skip('http', 'not_final') },
  tcp: { counted_by_caller: skip('tcp', 'counted_by_caller'), no_destination: skip('tcp', 'no_destination'), not_final: skip('tcp', 'not_final') },
};

/**
 * `codeSaysError`: what the response code / gRPC status says; null when there was none (flags decide).
 * `requestBytes` / `responseBytes`: body bytes (HTTP) or connection bytes (TCP), caller → callee and back.
 */
function convertEntry(
  out: ConvertedEntries, type: EntryType, common: AccessLogCommon | null, proxy: ReportingProxy, receivedAtNanos: bigint,
  protocol: Protocol, codeSaysError: boolean | null, traceId: string, requestBytes: number | undefined, responseBytes: number | undefined,
): void {
  out.received[type]++;
  if (common === null) {
    out.skipped.push(SKIPPED[type].no_destination);
    return;
  }
  if (common.intermediateLogEntry || NOT_FINAL_TYPES.has(common.accessLogType)) {
    out.skipped.push(SKIPPED[type].not_final);
    return;
  }
  // Counted for every final entry, with or without an edge (NR: no route, so no cluster).
  const flags = responseFlags(common.responseFlags);
  for (const flag of flags.codes) out.responseFlags.set(flag, (out.responseFlags.get(flag) ?? 0) + 1);

  const cluster = clusters.get(common.upstreamCluster);
  let source: NodeRef;
  let target: NodeRef;
  let mtls: boolean | null = securityPolicy(common);
  let callerMeshed = false;
  if (cluster.inbound) {
    target = proxy.node;
    const spiffe = common.peerUriSan;
    const peer = common.downstreamPeer;
    callerMeshed = peer !== null || spiffe !== '';
    source = peer ?? (spiffe !== '' ? spiffeNodes.get(spiffe) : UNKNOWN_NODE);
    mtls ??= spiffe !== '';
  } else {
    const destination = common.upstreamPeer ?? cluster.destination;
    if (destination === null) {
      out.skipped.push(SKIPPED[type].no_destination);
      return;
    }
    source = proxy.node;
    target = destination;
  }

  const timeUnixNano = common.startTimeUnixNano ?? receivedAtNanos;
  // Envoy may log a sample of requests (sample_rate in (0, 1]); unset decodes as 0.
  const weight = common.sampleRate > 0 && common.sampleRate <= 1 ? 1 / common.sampleRate : 1;

  if (cluster.inbound && callerMeshed) {
    // Counted from the caller's outbound entry; this side only says whether the connection was mTLS.
    out.skipped.push(SKIPPED[type].counted_by_caller);
    out.increments.push({ timeUnixNano, source, target, protocol, requests: 0, errors: 0, mtlsYes: mtls ? weight : 0, mtlsNo: mtls ? 0 : weight, latency: null });
    return;
  }

  const error = codeSaysError ?? flags.upstreamFailure;
  const latencyNanos = common.durationNanos ?? common.lastDownstreamTxByteNanos;
  out.used[type]++;
  if (latencyNanos === null) {
    out.increments.push({
      timeUnixNano, source, target, protocol, requests: weight, errors: error ? weight : 0,
      mtlsYes: mtls === true ? weight : 0, mtlsNo: mtls === false ? weight : 0, latency: null,
      ...(requestBytes !== undefined ? { requestBytes: requestBytes * weight } : {}),
      ...(responseBytes !== undefined ? { responseBytes: responseBytes * weight } : {}),
    });
    return;
  }
  out.samples.push({ source, target, protocol, error, latencyNanos, weight, mtls, traceId, timeUnixNano, requestBytes, responseBytes });
}

/** Istio's connection_security_policy when the sender added it as a custom tag (mutual_tls / none). */
function securityPolicy(common: AccessLogCommon): boolean | null {
  const policy = common.connectionSecurityPolicy;
  return policy === 'mutual_tls' ? true : policy === 'none' ? false : null;
}

function clusterNode(cluster: string): NodeRef | null {
  const destination = parseCluster(cluster);
  if (destination === null) return null;
  return destination.inMesh
    ? serviceNode(destination.name, destination.namespace, destination.version)
    : { kind: 'virtual', name: destination.name, namespace: destination.namespace };
}
