// Envoy access-log service (ALS) entries → service-graph edges. Pure: takes StreamAccessLogsMessage
// as proto-loader decodes it (keepCase, longs as String, enums as String, defaults, oneofs) and gives
// back samples and counts; the receiver (receivers/envoy-als.ts) owns the stream. The rules follow
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
import protobuf from 'protobufjs';
import { parseCluster } from '../service-graph/clusters.ts';
import type { EdgeIncrement, EdgeSample } from '../service-graph/edge-rows.ts';
import { type NodeRef, type Protocol, UNKNOWN_NODE } from '../service-graph/halves.ts';

// ---- The decoded message, as far as it is read here (google.protobuf.* come camelCase from protobufjs). ----

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
/** google.protobuf.Duration and Timestamp. */
interface SecondsAndNanos {
  seconds: string;
  nanos: number;
}
interface ProtoAny {
  type_url: string;
  value: Buffer;
}
export interface EnvoyNode {
  id: string;
  cluster: string;
  metadata: ProtoStruct | null;
}
interface CertificateProperties {
  subject_alt_name: Array<{ uri?: string; dns?: string }>;
}
export interface AccessLogCommon {
  sample_rate: number;
  tls_properties: { peer_certificate_properties: CertificateProperties | null } | null;
  start_time: SecondsAndNanos | null;
  time_to_last_downstream_tx_byte: SecondsAndNanos | null;
  upstream_cluster: string;
  response_flags: Record<string, boolean | object | null> | null;
  filter_state_objects: Record<string, ProtoAny>;
  custom_tags: Record<string, string>;
  duration: SecondsAndNanos | null;
  intermediate_log_entry: boolean;
  /** A name, or the number of a value this proto does not know (a newer Envoy's). */
  access_log_type: string | number;
}
export interface HttpAccessLogEntry {
  common_properties: AccessLogCommon | null;
  protocol_version: string | number;
  request: { request_headers: Record<string, string>; request_id: string; request_body_bytes: string } | null;
  response: {
    response_code: { value: number } | null;
    response_body_bytes: string;
    response_headers: Record<string, string>;
    response_trailers: Record<string, string>;
  } | null;
}
export interface TcpAccessLogEntry {
  common_properties: AccessLogCommon | null;
  /** From the downstream's (the caller's) side: received = what it sent, sent = what it got back. */
  connection_properties: { received_bytes: string; sent_bytes: string } | null;
}
export interface StreamAccessLogsMessage {
  identifier: { node: EnvoyNode | null; log_name: string } | null;
  http_logs?: { log_entry: HttpAccessLogEntry[] };
  tcp_logs?: { log_entry: TcpAccessLogEntry[] };
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
  skipped: Array<{ type: EntryType; reason: SkipReason }>;
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
 * The workload behind an Envoy node: Istio's metadata (WORKLOAD_NAME, NAMESPACE, LABELS.version) when
 * present, else the node id `<type>~<ip>~<pod>.<ns>~<ns>.svc.cluster.local` (the workload guessed from a
 * Deployment's pod name), else node.cluster.
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
  const version = labels ? stringField(labels, 'version') || stringField(labels, 'service.istio.io/canonical-revision') : '';
  return { node: serviceNode(workload, namespace, version) };
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

// ---- Filter state: Istio's peer metadata. ----

const StructType = protobuf.Root.fromJSON(protobuf.common.get('google/protobuf/struct.proto')!).lookupType('google.protobuf.Struct');
const STRUCT_TYPE_URL = 'type.googleapis.com/google.protobuf.Struct';

/**
 * A peer filter-state object (`upstream_peer`, `downstream_peer`; `wasm.`-prefixed in older Istio) as a
 * node. Istio logs it as a google.protobuf.Struct with keys workload, name, namespace, version, app,
 * service, …; anything else (another type, bytes that are not a Struct, no workload) is no peer.
 */
export function peerFromFilterState(objects: Record<string, ProtoAny>, key: 'upstream_peer' | 'downstream_peer'): NodeRef | null {
  const object = objects[key] ?? objects[`wasm.${key}`];
  if (object === undefined || object.type_url !== STRUCT_TYPE_URL) return null;
  let struct: ProtoStruct;
  try {
    struct = StructType.toObject(StructType.decode(object.value), { oneofs: true }) as ProtoStruct;
  } catch {
    return null;
  }
  const name = stringField(struct, 'workload') || stringField(struct, 'app') || stringField(struct, 'service') || stringField(struct, 'name');
  if (name === '') return null;
  return serviceNode(name, stringField(struct, 'namespace'), stringField(struct, 'version'));
}

/** spiffe://<trust domain>/ns/<namespace>/sa/<service account> → the service account as a node. */
const SPIFFE = /^spiffe:\/\/[^/]+\/ns\/([^/]+)\/sa\/([^/]+)$/;

function peerSpiffeId(common: AccessLogCommon): string | null {
  for (const san of common.tls_properties?.peer_certificate_properties?.subject_alt_name ?? []) {
    if (san.uri) return san.uri;
  }
  return null;
}

function nodeFromSpiffe(uri: string): NodeRef {
  const match = SPIFFE.exec(uri);
  return match ? { kind: 'service', name: match[2]!, namespace: match[1]! } : { kind: 'virtual', name: uri, namespace: '' };
}

// ---- Direction, errors, latency, protocol. ----

const INBOUND_PREFIXES = ['inbound|', 'inbound:', 'InboundPassthroughCluster', 'cds_ingress_'];
const isInbound = (cluster: string) => cluster === 'local_app' || INBOUND_PREFIXES.some((prefix) => cluster.startsWith(prefix));

/** Envoy's short codes for ResponseFlags' fields (envoy/data/accesslog/v3/accesslog.proto, access-log docs). */
const FLAG_CODES: Record<string, string> = {
  failed_local_healthcheck: 'LH', no_healthy_upstream: 'UH', upstream_request_timeout: 'UT', local_reset: 'LR',
  upstream_remote_reset: 'UR', upstream_connection_failure: 'UF', upstream_connection_termination: 'UC',
  upstream_overflow: 'UO', no_route_found: 'NR', delay_injected: 'DI', fault_injected: 'FI', rate_limited: 'RL',
  unauthorized_details: 'UAEX', rate_limit_service_error: 'RLSE', downstream_connection_termination: 'DC',
  upstream_retry_limit_exceeded: 'URX', stream_idle_timeout: 'SI', invalid_envoy_request_headers: 'IH',
  downstream_protocol_error: 'DPE', upstream_max_stream_duration_reached: 'UMSDR', response_from_cache_filter: 'RFCF',
  no_filter_config_found: 'NFCF', duration_timeout: 'DT', upstream_protocol_error: 'UPE', no_cluster_found: 'NC',
  overload_manager: 'OM', dns_resolution_failure: 'DF', downstream_remote_reset: 'DR',
};
/** Flags that mean the callee (or the way to it) failed: an error when no response code says otherwise. */
const UPSTREAM_FAILURE_FLAGS = new Set(['UH', 'UF', 'UO', 'URX', 'UT', 'UR', 'UC', 'UMSDR', 'UPE', 'NC', 'DF']);

function responseFlagCodes(common: AccessLogCommon): string[] {
  const codes: string[] = [];
  for (const [field, value] of Object.entries(common.response_flags ?? {})) {
    const code = FLAG_CODES[field];
    // unauthorized_details is a message (set = the flag), the rest are booleans.
    if (code !== undefined && (value === true || (typeof value === 'object' && value !== null))) codes.push(code);
  }
  return codes;
}

/** gRPC codes counted as server errors (OpenTelemetry semantic conventions). */
const FAILING_GRPC_STATUS = new Set([2, 4, 12, 13, 14, 15]);

const durationNanos = (d: SecondsAndNanos | null): number | null => (d === null ? null : Number(d.seconds) * 1e9 + d.nanos);

/** Steps that log before a request (or connection) is over: counting them would count it twice. */
const NOT_FINAL_TYPES = new Set([
  'TcpUpstreamConnected', 'TcpPeriodic', 'DownstreamStart', 'DownstreamPeriodic', 'UpstreamPoolReady', 'UpstreamPeriodic',
  'UpstreamEnd', 'DownstreamTunnelSuccessfullyEstablished', 'UdpTunnelUpstreamConnected', 'UdpPeriodic',
]);

function httpProtocol(entry: HttpAccessLogEntry): Protocol {
  const contentType = entry.request?.request_headers['content-type'] ?? entry.response?.response_headers['content-type'] ?? '';
  if (contentType.startsWith('application/grpc')) return 'grpc';
  if (grpcStatus(entry) !== null) return 'grpc';
  return 'http';
}

function grpcStatus(entry: HttpAccessLogEntry): number | null {
  const text = entry.response?.response_trailers['grpc-status'] ?? entry.response?.response_headers['grpc-status'];
  if (text === undefined || text === '' || !/^\d+$/.test(text)) return null;
  return Number(text);
}

/** A trace id to keep as the edge's exemplar, when the sender logged the headers that carry one. */
function traceIdOf(entry: HttpAccessLogEntry): string {
  const headers = entry.request?.request_headers ?? {};
  const traceparent = headers['traceparent']?.split('-')[1];
  if (traceparent && /^[0-9a-f]{32}$/.test(traceparent)) return traceparent;
  const b3 = headers['x-b3-traceid'];
  return b3 && /^[0-9a-f]{16,32}$/.test(b3) ? b3.padStart(32, '0') : '';
}

// ---- The conversion. ----

export function convertAccessLogs(message: StreamAccessLogsMessage, proxy: ReportingProxy, receivedAtNanos: bigint): ConvertedEntries {
  const out: ConvertedEntries = {
    samples: [],
    increments: [],
    received: { http: 0, tcp: 0 },
    used: { http: 0, tcp: 0 },
    skipped: [],
    responseFlags: new Map(),
  };
  for (const entry of message.http_logs?.log_entry ?? []) {
    const code = entry.response?.response_code?.value ?? 0;
    const status = grpcStatus(entry);
    convertEntry(out, 'http', entry.common_properties, proxy, receivedAtNanos, {
      protocol: httpProtocol(entry),
      codeSaysError: code === 0 && status === null ? null : code >= 500 || (status !== null && FAILING_GRPC_STATUS.has(status)),
      traceId: traceIdOf(entry),
      requestBytes: byteCount(entry.request?.request_body_bytes),
      responseBytes: byteCount(entry.response?.response_body_bytes),
    });
  }
  for (const entry of message.tcp_logs?.log_entry ?? []) {
    convertEntry(out, 'tcp', entry.common_properties, proxy, receivedAtNanos, {
      protocol: 'tcp',
      codeSaysError: null,
      traceId: '',
      requestBytes: byteCount(entry.connection_properties?.received_bytes),
      responseBytes: byteCount(entry.connection_properties?.sent_bytes),
    });
  }
  return out;
}

interface EntryFacts {
  protocol: Protocol;
  /** What the response code / gRPC status says; null when there was none (flags decide). */
  codeSaysError: boolean | null;
  traceId: string;
  /** Body bytes (HTTP) or connection bytes (TCP), caller → callee and back. */
  requestBytes: number | undefined;
  responseBytes: number | undefined;
}

/** uint64 fields come as decimal strings (longs: String); absent → undefined. */
const byteCount = (text: string | undefined): number | undefined => (text === undefined ? undefined : Number(text));

function convertEntry(out: ConvertedEntries, type: EntryType, common: AccessLogCommon | null, proxy: ReportingProxy, receivedAtNanos: bigint, facts: EntryFacts): void {
  out.received[type]++;
  if (common === null) {
    out.skipped.push({ type, reason: 'no_destination' });
    return;
  }
  if (common.intermediate_log_entry || NOT_FINAL_TYPES.has(String(common.access_log_type))) {
    out.skipped.push({ type, reason: 'not_final' });
    return;
  }
  // Counted for every final entry, with or without an edge (NR: no route, so no cluster).
  const flags = responseFlagCodes(common);
  for (const flag of flags) out.responseFlags.set(flag, (out.responseFlags.get(flag) ?? 0) + 1);

  const cluster = common.upstream_cluster;
  const inbound = isInbound(cluster);
  let source: NodeRef;
  let target: NodeRef;
  let mtls: boolean | null = securityPolicy(common);
  let callerMeshed = false;
  if (inbound) {
    target = proxy.node;
    const spiffe = peerSpiffeId(common);
    const peer = peerFromFilterState(common.filter_state_objects, 'downstream_peer');
    callerMeshed = peer !== null || spiffe !== null;
    source = peer ?? (spiffe !== null ? nodeFromSpiffe(spiffe) : UNKNOWN_NODE);
    mtls ??= spiffe !== null;
  } else {
    const destination = peerFromFilterState(common.filter_state_objects, 'upstream_peer') ?? clusterNode(cluster);
    if (destination === null) {
      out.skipped.push({ type, reason: 'no_destination' });
      return;
    }
    source = proxy.node;
    target = destination;
  }

  const timeUnixNano = common.start_time ? BigInt(common.start_time.seconds) * 1_000_000_000n + BigInt(common.start_time.nanos) : receivedAtNanos;
  // Envoy may log a sample of requests (sample_rate in (0, 1]); unset decodes as 0.
  const weight = common.sample_rate > 0 && common.sample_rate <= 1 ? 1 / common.sample_rate : 1;

  if (inbound && callerMeshed) {
    // Counted from the caller's outbound entry; this side only says whether the connection was mTLS.
    out.skipped.push({ type, reason: 'counted_by_caller' });
    out.increments.push({ timeUnixNano, source, target, protocol: facts.protocol, requests: 0, errors: 0, mtlsYes: mtls ? weight : 0, mtlsNo: mtls ? 0 : weight, latency: null });
    return;
  }

  const error = facts.codeSaysError ?? flags.some((flag) => UPSTREAM_FAILURE_FLAGS.has(flag));
  const latencyNanos = durationNanos(common.duration) ?? durationNanos(common.time_to_last_downstream_tx_byte);
  out.used[type]++;
  if (latencyNanos === null) {
    out.increments.push({
      timeUnixNano, source, target, protocol: facts.protocol, requests: weight, errors: error ? weight : 0,
      mtlsYes: mtls === true ? weight : 0, mtlsNo: mtls === false ? weight : 0, latency: null,
      ...(facts.requestBytes !== undefined ? { requestBytes: facts.requestBytes * weight } : {}),
      ...(facts.responseBytes !== undefined ? { responseBytes: facts.responseBytes * weight } : {}),
    });
    return;
  }
  out.samples.push({
    source, target, protocol: facts.protocol, error, latencyNanos, weight, mtls, traceId: facts.traceId, timeUnixNano,
    requestBytes: facts.requestBytes, responseBytes: facts.responseBytes,
  });
}

/** Istio's connection_security_policy when the sender added it as a custom tag (mutual_tls / none). */
function securityPolicy(common: AccessLogCommon): boolean | null {
  const policy = common.custom_tags['connection_security_policy'];
  return policy === 'mutual_tls' ? true : policy === 'none' ? false : null;
}

function clusterNode(cluster: string): NodeRef | null {
  const destination = parseCluster(cluster);
  if (destination === null) return null;
  return destination.inMesh
    ? serviceNode(destination.name, destination.namespace, destination.version)
    : { kind: 'virtual', name: destination.name, namespace: destination.namespace };
}
