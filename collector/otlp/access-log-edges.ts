// OTLP log records that are proxy access logs → one edge sample per call (signal `otlp-logs`).
// Recognised (docs/receivers.md lists the exact fields):
//   - Envoy's OpenTelemetry access logger as Istio (`envoyOtelAls`) and Consul
//     (`builtin/otel-access-logging`) configure it, with attributes (or a key/value body) naming the
//     upstream cluster, response code, gRPC status, duration (ms), and Istio's `upstream_peer` /
//     `downstream_peer` filter-state structs;
//   - the same logger with a text body in Istio's default access-log format (which ends with the
//     upstream cluster) or Envoy's default format (no cluster: the destination is the :authority host);
//   - Kuma's MeshAccessLog OpenTelemetry backend: `KUMA_SOURCE_SERVICE` / `KUMA_DESTINATION_SERVICE`
//     attributes, or the body in Kuma's default HTTP or TCP format.
// Anything else (application logs) is stored but draws no edge.
//
// Counting once: both sidecars of a call may log it. An entry on the caller's outbound side counts;
// an inbound entry counts only when its caller is not known to be in the mesh (no peer metadata, no
// peer SAN), since a meshed caller's own outbound entry counts it. Kuma's default format does not
// say which side logged; with `KUMA_TRAFFIC_DIRECTION` logged, inbound entries from a known service
// are skipped the same way.
import { type NodeRef, type Protocol, UNKNOWN_NODE } from '../service-graph/halves.ts';
import type { EdgeSample } from '../service-graph/edge-rows.ts';
import { parseCluster } from '../service-graph/clusters.ts';
import { reportingProxy } from '../envoy/access-log.ts';
import type { LogRecordRow } from './logs.ts';

/** gRPC codes that count as server errors (mesh-telemetry.md §6). */
const FAILING_GRPC = new Set([2, 4, 12, 13, 14, 15]);
const GRPC_CODE_NAMES: Record<string, number> = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, ABORTED: 10, OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, DATA_LOSS: 15, UNAUTHENTICATED: 16,
};

/** Access-log fields under the keys senders use for them (the first one present wins). */
const KEYS = {
  cluster: ['upstream_cluster', 'upstream.cluster', 'upstream_cluster_raw', 'envoy.upstream_cluster', 'UPSTREAM_CLUSTER'],
  code: ['response_code', 'http.response.status_code', 'http.status_code', 'status', 'RESPONSE_CODE'],
  grpc: ['grpc_status', 'rpc.grpc.status_code', 'grpc_response_status', 'GRPC_STATUS'],
  duration: ['duration', 'duration_ms', 'DURATION'],
  upstreamPeer: ['upstream_peer', 'UPSTREAM_PEER'],
  downstreamPeer: ['downstream_peer', 'DOWNSTREAM_PEER'],
  peerSan: ['downstream_peer_uri_san', 'DOWNSTREAM_PEER_URI_SAN'],
  authority: ['authority', ':authority', 'http.request.header.host', 'AUTHORITY'],
  kumaSource: ['KUMA_SOURCE_SERVICE', 'kuma_source_service', 'kuma.source_service'],
  kumaDestination: ['KUMA_DESTINATION_SERVICE', 'kuma_destination_service', 'kuma.destination_service'],
  kumaDirection: ['KUMA_TRAFFIC_DIRECTION', 'kuma_traffic_direction', 'kuma.traffic_direction'],
  protocol: ['protocol', 'PROTOCOL', 'network.protocol.name'],
  /** From the downstream (the request) and to it (the response), as Envoy's %BYTES_RECEIVED% / %BYTES_SENT%. */
  bytesReceived: ['bytes_received', 'BYTES_RECEIVED'],
  bytesSent: ['bytes_sent', 'BYTES_SENT'],
} as const;

type Fields = Record<string, string>;

function pick(fields: Fields, keys: readonly string[]): string | undefined {
  for (const key of keys) {
    const value = fields[key];
    if (value !== undefined && value !== '' && value !== '-') return value;
  }
  return undefined;
}

/** The call an access-log record describes, or null when it is not an access log (or not to count). */
export function accessLogSample(record: LogRecordRow): EdgeSample | null {
  const fields: Fields = { ...record.attributes };
  if (record.structuredBody !== null) {
    for (const [key, value] of Object.entries(record.structuredBody)) {
      if (!(key in fields)) fields[key] = typeof value === 'string' ? value : JSON.stringify(value);
    }
  } else if (record.body !== '') {
    Object.assign(fields, parseTextBody(record.body), { ...record.attributes });
  }
  return kumaSample(record, fields) ?? envoySample(record, fields);
}

function kumaSample(record: LogRecordRow, fields: Fields): EdgeSample | null {
  const destination = pick(fields, KEYS.kumaDestination);
  if (destination === undefined) return null;
  const source = kumaNode(pick(fields, KEYS.kumaSource));
  const direction = pick(fields, KEYS.kumaDirection)?.toUpperCase();
  if (direction === 'INBOUND' && source.kind !== 'unknown') return null;
  const target = kumaNode(destination);
  if (target.kind === 'unknown') return null;
  return sample(record, fields, source, target, null);
}

/** A Kuma service name (`backend_kuma-demo_svc_3001`, or any other tag value) as a node. */
export function kumaNode(service: string | undefined): NodeRef {
  if (service === undefined || service === 'unknown') return UNKNOWN_NODE;
  const parsed = parseCluster(service);
  if (parsed?.mesh === 'kuma') return { kind: 'service', name: parsed.name, namespace: parsed.namespace };
  return { kind: 'service', name: service, namespace: '' };
}

function envoySample(record: LogRecordRow, fields: Fields): EdgeSample | null {
  const cluster = pick(fields, KEYS.cluster);
  const upstreamPeer = peer(pick(fields, KEYS.upstreamPeer));
  const self = selfNode(record);
  if (cluster === undefined && upstreamPeer === null) {
    // Envoy's default text format names no cluster: the :authority host is the destination.
    const authority = pick(fields, KEYS.authority);
    if (authority === undefined || fields[TEXT_FORMAT] !== 'envoy') return null;
    return sample(record, fields, self, authorityNode(authority), null);
  }
  const destination = cluster === undefined ? null : parseCluster(cluster);
  if (upstreamPeer !== null || destination !== null) {
    const target: NodeRef =
      upstreamPeer ??
      (destination!.inMesh
        ? { kind: 'service', name: destination!.name, namespace: destination!.namespace, ...(destination!.version ? { version: destination!.version } : {}) }
        : { kind: 'virtual', name: destination!.name, namespace: destination!.namespace });
    return sample(record, fields, self, target, null);
  }
  // Pass-through, black-hole and control-plane clusters are no edge.
  if (cluster === undefined || !isInboundCluster(cluster)) return null;
  // The proxy's own inbound side (inbound|…, local_app, …): counted here only for callers outside the mesh.
  const downstreamPeer = peer(pick(fields, KEYS.downstreamPeer));
  const san = pick(fields, KEYS.peerSan);
  if (downstreamPeer !== null || san !== undefined) return null;
  return sample(record, fields, UNKNOWN_NODE, self, null);
}

/** The proxy's own inbound cluster: Istio `inbound|…`, Consul `local_app`, App Mesh `cds_ingress_…`, Kuma `localhost:<port>`. */
function isInboundCluster(cluster: string): boolean {
  return cluster.startsWith('inbound|') || cluster.startsWith('inbound:') || cluster === 'local_app' || cluster.startsWith('cds_ingress_') || cluster.startsWith('localhost:');
}

function sample(record: LogRecordRow, fields: Fields, source: NodeRef, target: NodeRef, mtls: boolean | null): EdgeSample {
  const code = Number(pick(fields, KEYS.code) ?? 0);
  const grpcText = pick(fields, KEYS.grpc);
  const grpc = grpcText === undefined ? undefined : /^[0-9]+$/.test(grpcText) ? Number(grpcText) : GRPC_CODE_NAMES[grpcText.toUpperCase()];
  const durationMs = Number(pick(fields, KEYS.duration) ?? 0);
  const protocolText = pick(fields, KEYS.protocol)?.toLowerCase() ?? '';
  const protocol: Protocol = grpc !== undefined ? 'grpc' : fields[TEXT_FORMAT] === 'kuma-tcp' || protocolText === 'tcp' ? 'tcp' : 'http';
  const requestBytes = Number(pick(fields, KEYS.bytesReceived));
  const responseBytes = Number(pick(fields, KEYS.bytesSent));
  return {
    source,
    target,
    protocol,
    ...(requestBytes >= 0 ? { requestBytes } : {}),
    ...(responseBytes >= 0 ? { responseBytes } : {}),
    error: (Number.isFinite(code) && code >= 500) || (grpc !== undefined && FAILING_GRPC.has(grpc)),
    latencyNanos: Number.isFinite(durationMs) && durationMs > 0 ? durationMs * 1e6 : 0,
    weight: 1,
    mtls,
    traceId: record.traceId,
    timeUnixNano: record.timeUnixNano,
  };
}

/** Istio's peer metadata (a filter-state struct, as a kvlist or its JSON text) as a node. */
function peer(value: string | undefined): NodeRef | null {
  if (value === undefined) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null) return null;
  const p = parsed as Record<string, unknown>;
  const str = (key: string) => (typeof p[key] === 'string' ? (p[key] as string) : '');
  const name = str('workload') || str('service') || str('name') || str('app');
  if (name === '') return null;
  const version = str('version');
  return { kind: 'service', name, namespace: str('namespace'), ...(version ? { version } : {}) };
}

/**
 * The proxy that wrote the log: Kuma's `kuma.io/service`, else resource `service.name`, else Envoy's own
 * resource attributes — `node_name` (node.id: Istio's `sidecar~<ip>~<pod>.<ns>~…` names the workload
 * and namespace, read as the access-log service reads it) and `cluster_name` (node.cluster: Consul's
 * service, Istio's `<app>.<namespace>`).
 */
function selfNode(record: Pick<LogRecordRow, 'resourceAttributes' | 'service' | 'namespace'>): NodeRef {
  return proxyNode(record.resourceAttributes, record.service, record.namespace);
}

/** The proxy a resource describes (see selfNode); shared with the metrics signal. */
export function proxyNode(resource: Readonly<Record<string, string>>, service: string, resourceNamespace: string): NodeRef {
  const kumaService = resource['kuma.io/service'];
  if (kumaService !== undefined && kumaService !== '') return kumaNode(kumaService);
  if (service !== 'unknown_service' && !service.startsWith('unknown_service:')) {
    return { kind: 'service', name: service, namespace: resourceNamespace };
  }
  const nodeName = resource['node_name'] ?? '';
  const clusterName = resource['cluster_name'] ?? '';
  if (nodeName.split('~').length === 4) return reportingProxy({ id: nodeName, cluster: clusterName, metadata: null }).node;
  if (clusterName === '') return UNKNOWN_NODE;
  return { kind: 'service', name: clusterName, namespace: resourceNamespace };
}

function authorityNode(authority: string): NodeRef {
  const host = authority.replace(/:[0-9]+$/, '');
  const inCluster = /^([a-z0-9-]+)\.([a-z0-9-]+)\.svc(\.|$)/.exec(host);
  if (inCluster !== null) return { kind: 'service', name: inCluster[1]!, namespace: inCluster[2]! };
  return { kind: 'virtual', name: host, namespace: '' };
}

// ---- default text formats ----

/** Marks which default text format a body was read as (never a real attribute key: it has a NUL). */
const TEXT_FORMAT = '\0format';

/** Splits a formatted access-log line into tokens: "quoted strings" and [bracketed times] stay whole. */
function tokens(line: string): string[] {
  const out: string[] = [];
  const pattern = /"([^"]*)"|\[([^\]]*)\]|(\S+)/g;
  for (let m = pattern.exec(line); m !== null; m = pattern.exec(line)) out.push(m[1] ?? m[2] ?? m[3] ?? '');
  return out;
}

const KUMA_TCP = /^\[[^\]]*\] \S+ \S+ \S*\(([^)]*)\)->\S*\(([^)]*)\) took ([0-9]+)ms, sent ([0-9]+) bytes, received: ([0-9]+) bytes/;

/**
 * Fields read from a body in one of the default formats (mesh-telemetry.md §3), or {} when the body
 * is in none of them:
 *   Istio  [%START_TIME%] "%REQ(:METHOD)% %PATH% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%
 *          %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
 *          %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%"
 *          "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% …
 *   Envoy  [%START_TIME%] "%REQ(:METHOD)% %PATH% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT%
 *          %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
 *          "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"
 *   Kuma   [%START_TIME%] %KUMA_MESH% "%REQ(:METHOD)% %PATH% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED%
 *          %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
 *          "%REQ(X-B3-TRACEID?X-DATADOG-TRACEID)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%KUMA_SOURCE_SERVICE%"
 *          "%KUMA_DESTINATION_SERVICE%" "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%" "%UPSTREAM_HOST%"
 *   Kuma TCP  [%START_TIME%] %RESPONSE_FLAGS% %KUMA_MESH% %KUMA_SOURCE_ADDRESS_WITHOUT_PORT%(%KUMA_SOURCE_SERVICE%)->
 *          %UPSTREAM_HOST%(%KUMA_DESTINATION_SERVICE%) took %DURATION%ms, …
 */
export function parseTextBody(body: string): Fields {
  const line = body.trim();
  if (!line.startsWith('[')) return {};
  const tcp = KUMA_TCP.exec(line);
  if (tcp !== null) {
    return { [TEXT_FORMAT]: 'kuma-tcp', KUMA_SOURCE_SERVICE: tcp[1]!, KUMA_DESTINATION_SERVICE: tcp[2]!, DURATION: tcp[3]!, BYTES_SENT: tcp[4]!, BYTES_RECEIVED: tcp[5]! };
  }
  const t = tokens(line);
  const isRequest = (s: string | undefined) => s !== undefined && /^\S+ \S+ \S+$/.test(s);
  const quoted = (index: number) => new RegExp(`^(?:\\[[^\\]]*\\]|"[^"]*"|\\S+)(?: (?:\\[[^\\]]*\\]|"[^"]*"|\\S+)){${index}}`).exec(line)?.[0].endsWith('"') ?? false;
  if (t.length >= 18 && !isRequest(t[1]) && isRequest(t[2])) {
    return {
      [TEXT_FORMAT]: 'kuma', RESPONSE_CODE: t[3]!, BYTES_RECEIVED: t[5]!, BYTES_SENT: t[6]!, DURATION: t[7]!, AUTHORITY: t[13]!,
      KUMA_SOURCE_SERVICE: t[14]!, KUMA_DESTINATION_SERVICE: t[15]!,
    };
  }
  if (t.length >= 17 && isRequest(t[1]) && quoted(6)) {
    return { [TEXT_FORMAT]: 'istio', RESPONSE_CODE: t[2]!, BYTES_RECEIVED: t[7]!, BYTES_SENT: t[8]!, DURATION: t[9]!, AUTHORITY: t[14]!, UPSTREAM_CLUSTER: t[16]! };
  }
  if (t.length >= 13 && isRequest(t[1]) && /^[0-9]+$/.test(t[4] ?? '')) {
    return { [TEXT_FORMAT]: 'envoy', RESPONSE_CODE: t[2]!, BYTES_RECEIVED: t[4]!, BYTES_SENT: t[5]!, DURATION: t[6]!, AUTHORITY: t[11]! };
  }
  return {};
}
