// A "half" is what one span tells us about one call: who it is, which side of the call it is on, and
// who it would be talking to if the other side never shows up. Halves are plain data (JSON apart from
// the bigint start time) so they can be stored and read back and paired later, in any process.
import { type Attribute, type SpanRecord, SpanKind, StatusCode } from '../model.ts';

export type NodeKind = 'service' | 'virtual' | 'database' | 'messaging' | 'unknown';

export interface NodeRef {
  kind: NodeKind;
  name: string;
  /** Kubernetes namespace (or the mesh's equivalent); '' when unknown. */
  namespace: string;
  /** Subset / canonical revision / version label: the canary dimension. */
  version?: string;
}

export type HalfKind = 'client' | 'server' | 'producer' | 'consumer' | 'internal';
export type Protocol = 'http' | 'grpc' | 'database' | 'messaging' | 'tcp' | 'unknown';

export interface SpanHalf {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  /** UNSPECIFIED spans count as 'internal'. */
  kind: HalfKind;
  startTimeUnixNano: bigint;
  /** Nanoseconds as a plain number: exact up to ~104 days, and cheap to feed into histograms. */
  durationNanos: number;
  self: NodeRef;
  /** The other side as this span alone names it; null = nothing to go on ('unknown'). */
  peer: NodeRef | null;
  error: boolean;
  protocol: Protocol;
  /** true/false only where an attribute says so. */
  mtls: boolean | null;
  /** Estimated number of real calls this sampled span stands for (≥ 1). */
  weight: number;
  /**
   * Set by a non-final pairHalves call on the halves it hands back: which of this half's edges were
   * already emitted, so feeding the half in again never counts them twice.
   */
  settled?: { inbound: boolean; outbound: boolean };
}

/**
 * How sure a node's kind is, most sure first: a node some signal knows as a real service is not a
 * virtual guess made from a peer's attributes. Stored as this number and merged with min.
 */
export const NODE_KIND_RANK: Record<NodeKind, number> = { service: 0, database: 1, messaging: 2, virtual: 3, unknown: 4 };
export const NODE_KIND_BY_RANK = ['service', 'database', 'messaging', 'virtual', 'unknown'] as const satisfies readonly NodeKind[];

export const UNKNOWN_NODE: NodeRef = { kind: 'unknown', name: 'unknown', namespace: '' };

/**
 * The contract's node id: `namespace/name`, plus `@version` unless the name already carries it
 * (reviews-v2 with version v2). Without a namespace the id is the bare name (no leading slash).
 */
export function nodeId(node: NodeRef): string {
  const base = node.namespace === '' ? node.name : `${node.namespace}/${node.name}`;
  const version = node.version;
  if (version === undefined || version === '') return base;
  const nameParts = node.name.split(/[-_.]/);
  return nameParts.includes(version) ? base : `${base}@${version}`;
}

/** Identity used to drop a half that arrives twice: one span, one side, one service. */
export function halfKey(half: SpanHalf): string {
  return `${half.traceId}/${half.spanId}/${half.kind}/${nodeId(half.self)}`;
}

export function toHalf(span: SpanRecord): SpanHalf {
  const attrs = new AttributeLookup(span.attributes);
  const kind = halfKind(span.kind);
  return {
    traceId: span.traceId,
    spanId: span.spanId,
    parentSpanId: span.parentSpanId,
    kind,
    startTimeUnixNano: span.startTimeUnixNano,
    durationNanos: durationNanos(span),
    self: selfNode(span),
    peer: kind === 'client' || kind === 'producer' ? calleeGuess(attrs) : kind === 'server' || kind === 'consumer' ? callerGuess(attrs) : null,
    error: isError(attrs, span.statusCode),
    protocol: protocolOf(attrs),
    mtls: mtlsOf(attrs),
    weight: weightOf(span.traceState, attrs),
  };
}

function halfKind(kind: SpanKind): HalfKind {
  switch (kind) {
    case SpanKind.Server:
      return 'server';
    case SpanKind.Client:
      return 'client';
    case SpanKind.Producer:
      return 'producer';
    case SpanKind.Consumer:
      return 'consumer';
    default:
      return 'internal';
  }
}

function durationNanos(span: SpanRecord): number {
  const nanos = span.endTimeUnixNano - span.startTimeUnixNano;
  // A clock going backwards between start and end must not give a negative latency.
  return nanos > 0n ? Number(nanos) : 0;
}

class AttributeLookup {
  private readonly byKey = new Map<string, string>();
  readonly values: readonly Attribute[];
  constructor(attributes: readonly Attribute[]) {
    this.values = attributes;
    for (const attribute of attributes) this.byKey.set(attribute.key, attribute.value);
  }
  /** The value, or undefined when absent or empty (an empty tag names nothing). */
  get(key: string): string | undefined {
    const value = this.byKey.get(key);
    return value === undefined || value === '' ? undefined : value;
  }
  first(...keys: string[]): string | undefined {
    for (const key of keys) {
      const value = this.get(key);
      if (value !== undefined) return value;
    }
    return undefined;
  }
  has(key: string): boolean {
    return this.get(key) !== undefined;
  }
}

const VERSION_KEYS = [
  'service.version',
  'k8s.pod.label.version',
  'k8s.pod.labels.version',
  'k8s.pod.label.app.kubernetes.io/version',
  'k8s.pod.labels.app.kubernetes.io/version',
  'k8s.pod.label.service.istio.io/canonical-revision',
  'k8s.pod.labels.service.istio.io/canonical-revision',
];

// All spans of one resource share it: its node is worked out once (NodeRefs are never mutated).
const selfNodes = new WeakMap<SpanRecord['resource'], NodeRef>();

function selfNode(span: SpanRecord): NodeRef {
  const cached = selfNodes.get(span.resource);
  if (cached) return cached;
  const node: NodeRef = { kind: 'service', name: span.resource.serviceName, namespace: span.resource.namespace };
  const version = new AttributeLookup(span.resource.attributes).first(...VERSION_KEYS);
  if (version !== undefined) node.version = version;
  selfNodes.set(span.resource, node);
  return node;
}

/** Who a CLIENT/PRODUCER span calls, from its own attributes, most specific first. */
function calleeGuess(attrs: AttributeLookup): NodeRef | null {
  const dbSystem = attrs.get('db.system.name') ?? attrs.get('db.system');
  if (dbSystem !== undefined) {
    return { kind: 'database', name: attrs.first('db.namespace', 'db.name') ?? dbSystem, namespace: '' };
  }
  const messaging = messagingNode(attrs);
  if (messaging !== null) return messaging;
  const named = attrs.first('peer.service', 'server.address', 'net.peer.name');
  if (named !== undefined) return virtualFromHost(named);
  const cluster = attrs.get('upstream_cluster');
  const fromCluster = cluster === undefined ? null : parseUpstreamCluster(cluster);
  if (fromCluster !== null) return fromCluster;
  // Last resort before 'unknown': whatever host or address the span carries.
  const url = attrs.first('url.full', 'http.url');
  const host = attrs.first('http.host', 'network.peer.address', 'net.sock.peer.addr', 'net.peer.ip') ?? (url === undefined ? undefined : hostOf(url));
  return host === undefined ? null : virtualFromHost(host);
}

function hostOf(url: string): string | undefined {
  try {
    const host = new URL(url).hostname;
    return host === '' ? undefined : host;
  } catch {
    return undefined;
  }
}

/** The broker node a producer or consumer talks to, or null when the span names no messaging system. */
export function messagingNodeOf(half: SpanHalf): NodeRef | null {
  return half.peer !== null && half.peer.kind === 'messaging' ? half.peer : null;
}

function messagingNode(attrs: AttributeLookup): NodeRef | null {
  const system = attrs.get('messaging.system');
  if (system === undefined) return null;
  const destination = attrs.first('messaging.destination.name', 'messaging.destination');
  return { kind: 'messaging', name: destination ?? system, namespace: '' };
}

/** Who called a SERVER/CONSUMER span, when no caller half is found. Identity beats an address. */
function callerGuess(attrs: AttributeLookup): NodeRef | null {
  const messaging = messagingNode(attrs);
  if (messaging !== null) return messaging;
  const spiffe = spiffeNode(attrs);
  if (spiffe !== null) return spiffe;
  const named = attrs.first('peer.service', 'client.address');
  return named === undefined ? null : virtualFromHost(named);
}

const SPIFFE_ID = /^spiffe:\/\/[^/]+\/ns\/([^/]+)\/sa\/([^/]+)$/;

function spiffeNode(attrs: AttributeLookup): NodeRef | null {
  const id = spiffeIdIn(attrs);
  if (id === null) return null;
  const match = SPIFFE_ID.exec(id);
  if (match === null) return null;
  return { kind: 'virtual', name: match[2] ?? '', namespace: match[1] ?? '' };
}

/** Any string attribute holding a SPIFFE id: tracers put the peer's principal under varied keys. */
function spiffeIdIn(attrs: AttributeLookup): string | null {
  for (const attribute of attrs.values) {
    if (attribute.type === 'string' && SPIFFE_ID.test(attribute.value)) return attribute.value;
  }
  return null;
}

// <service>.<namespace>.svc[.<cluster domain>]: the Kubernetes service DNS name.
const KUBERNETES_SERVICE_HOST = /^([a-z0-9-]+)\.([a-z0-9-]+)\.svc(?:\.[a-z0-9.-]+)?$/;

/** A virtual node from a host or service name; Kubernetes service FQDNs map onto the service's own id. */
function virtualFromHost(host: string): NodeRef {
  const match = KUBERNETES_SERVICE_HOST.exec(host);
  if (match !== null) return { kind: 'virtual', name: match[1] ?? host, namespace: match[2] ?? '' };
  return { kind: 'virtual', name: host, namespace: '' };
}

// Envoy clusters that are not a destination service (mesh-telemetry.md §2.1).
const NOT_A_DESTINATION = new Set(['PassthroughCluster', 'BlackHoleCluster', 'InboundPassthroughClusterIpv4', 'xds-grpc']);

/** Envoy's upstream_cluster: Istio `outbound|<port>|<subset>|<fqdn>` parsed, other names as they are. */
export function parseUpstreamCluster(cluster: string): NodeRef | null {
  if (NOT_A_DESTINATION.has(cluster) || cluster.startsWith('inbound|')) return null;
  const parts = cluster.split('|');
  if (parts.length === 4 && parts[0] === 'outbound') {
    const subset = parts[2] ?? '';
    const node = virtualFromHost(parts[3] ?? '');
    if (subset !== '') node.version = subset;
    return node;
  }
  return { kind: 'virtual', name: cluster, namespace: '' };
}

// gRPC codes that mean the server failed (OTel semconv, mesh-telemetry.md §6).
const GRPC_FAILURE_CODES = new Set([2, 4, 12, 13, 14, 15]);

/**
 * A status code the call carries decides alone: OTel marks a CLIENT span ERROR on a 404, but a 404
 * is not a server error. Only without one do OTLP status ERROR or a Zipkin `error` tag count.
 */
function isError(attrs: AttributeLookup, status: StatusCode): boolean {
  const httpStatus = attrs.first('http.response.status_code', 'http.status_code');
  if (httpStatus !== undefined && Number.isFinite(Number(httpStatus))) return Number(httpStatus) >= 500;
  const grpcStatus = attrs.first('rpc.grpc.status_code', 'grpc.status_code');
  if (grpcStatus !== undefined && Number.isInteger(Number(grpcStatus))) return GRPC_FAILURE_CODES.has(Number(grpcStatus));
  if (status === StatusCode.Error) return true;
  const errorTag = attrs.get('error');
  return errorTag !== undefined && errorTag !== 'false';
}

function protocolOf(attrs: AttributeLookup): Protocol {
  if (attrs.get('rpc.system') === 'grpc' || attrs.has('rpc.grpc.status_code') || attrs.has('grpc.status_code')) return 'grpc';
  if (attrs.has('db.system') || attrs.has('db.system.name')) return 'database';
  if (attrs.has('messaging.system')) return 'messaging';
  for (const key of ['http.request.method', 'http.method', 'http.response.status_code', 'http.status_code', 'url.full', 'http.url']) {
    if (attrs.has(key)) return 'http';
  }
  const transport = attrs.first('network.transport', 'net.transport');
  if (transport === 'tcp' || transport === 'ip_tcp') return 'tcp';
  return 'unknown';
}

/**
 * mTLS only where a span says so: Istio's `connection_security_policy` (mutual_tls / none), a peer
 * SPIFFE id (a verified peer certificate, as for Envoy's access logs), OTel `tls.established=false`
 * (no TLS at all), or `tls.established=true` together with a client certificate attribute.
 */
function mtlsOf(attrs: AttributeLookup): boolean | null {
  const policy = attrs.first('connection_security_policy', 'istio.connection_security_policy');
  if (policy === 'mutual_tls') return true;
  if (policy === 'none') return false;
  if (spiffeIdIn(attrs) !== null) return true;
  const established = attrs.get('tls.established');
  if (established === 'false') return false;
  if (established === 'true' && attrs.first('tls.client.subject', 'tls.client.certificate', 'tls.client.hash.sha256') !== undefined) {
    return true;
  }
  return null;
}

const MAX_THRESHOLD = 2n ** 56n;

/** Sampling weight: W3C `ot=th:` threshold first (the OTel standard), then rate attributes. */
function weightOf(traceState: string, attrs: AttributeLookup): number {
  const fromThreshold = thresholdWeight(traceState);
  if (fromThreshold !== null) return fromThreshold;
  // Honeycomb-style "1 in N".
  const rate = Number(attrs.first('SampleRate', 'sample_rate', 'sampling.rate'));
  if (Number.isFinite(rate) && rate >= 1) return rate;
  // Jaeger's probabilistic sampler records its probability.
  if (attrs.get('sampler.type') === 'probabilistic') {
    const probability = Number(attrs.get('sampler.param'));
    if (probability > 0 && probability <= 1) return 1 / probability;
  }
  return 1;
}

/**
 * OTel probability sampling: `th` is the rejection threshold as up to 14 hex digits with trailing
 * zeros dropped; probability = 1 − th/2^56 and each kept span stands for 1/probability spans.
 */
export function thresholdWeight(traceState: string): number | null {
  for (const member of traceState.split(',')) {
    const [vendor, value] = member.trim().split('=', 2);
    if (vendor !== 'ot' || value === undefined) continue;
    for (const field of value.split(';')) {
      if (!field.startsWith('th:')) continue;
      const hex = field.slice(3);
      if (!/^[0-9a-f]{1,14}$/.test(hex)) return null;
      const rejection = BigInt(`0x${hex.padEnd(14, '0')}`);
      const kept = MAX_THRESHOLD - rejection;
      return Number(MAX_THRESHOLD) / Number(kept);
    }
  }
  return null;
}
