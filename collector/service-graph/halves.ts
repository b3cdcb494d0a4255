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
  /** Body sizes the span states (OTel `http.*.body.size`, older `*_content_length`, Envoy's `request_size`). */
  requestBytes?: number | undefined;
  responseBytes?: number | undefined;
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
  return nodeIdentity(node).id;
}

interface NodeIdentity {
  name: string;
  namespace: string;
  version: string | undefined;
  id: string;
  /** halfKey()'s ending for a half of a kind in this node, by kind: `/kind/id`. */
  keyEndings: Map<string, string>;
}

const identities = new WeakMap<NodeRef, NodeIdentity>();

// Pairing and the edge rows ask for the ids of the same few node objects for every span: worked out
// once per object. The fields are checked, not trusted, so a NodeRef changed later gets a fresh id.
function nodeIdentity(node: NodeRef): NodeIdentity {
  const cached = identities.get(node);
  if (cached !== undefined && cached.name === node.name && cached.namespace === node.namespace && cached.version === node.version) {
    return cached;
  }
  const identity: NodeIdentity = { name: node.name, namespace: node.namespace, version: node.version, id: computeNodeId(node), keyEndings: new Map() };
  identities.set(node, identity);
  return identity;
}

function computeNodeId(node: NodeRef): string {
  const base = node.namespace === '' ? node.name : `${node.namespace}/${node.name}`;
  const version = node.version;
  if (version === undefined || version === '') return base;
  const nameParts = node.name.split(/[-_.]/);
  return nameParts.includes(version) ? base : `${base}@${version}`;
}

/** Identity used to drop a half that arrives twice: one span, one side, one service. */
export function halfKey(half: SpanHalf): string {
  // Every edge carries the keys of its halves: the ending shared by all halves of one kind in one node
  // is made once, so a key costs two string concatenations instead of six.
  const identity = nodeIdentity(half.self);
  let ending = identity.keyEndings.get(half.kind);
  if (ending === undefined) identity.keyEndings.set(half.kind, (ending = `/${half.kind}/${identity.id}`));
  return `${half.traceId}/${half.spanId}${ending}`;
}

export function toHalf(span: SpanRecord): SpanHalf {
  const attrs = spanAttributes.load(span.attributes);
  const kind = halfKind(span.kind);
  const half: SpanHalf = {
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
  // Only where stated: most spans carry no sizes, and an absent field stays absent when stored and read back.
  const requestBytes = bytesOf(attrs, SLOT['http.request.body.size'], SLOT['http.request_content_length'], SLOT['request_size']);
  if (requestBytes !== undefined) half.requestBytes = requestBytes;
  const responseBytes = bytesOf(attrs, SLOT['http.response.body.size'], SLOT['http.response_content_length'], SLOT['response_size']);
  if (responseBytes !== undefined) half.responseBytes = responseBytes;
  return half;
}

/** The first of the slots holding a byte count, or undefined. */
function bytesOf(attrs: SpanAttributes, ...slots: number[]): number | undefined {
  for (const slot of slots) {
    const bytes = Number(attrs.get(slot));
    if (Number.isFinite(bytes) && bytes >= 0) return bytes;
  }
  return undefined;
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

// Every span attribute toHalf reads.
const READ_KEYS = [
  'db.system.name', 'db.system', 'db.namespace', 'db.name',
  'messaging.system', 'messaging.destination.name', 'messaging.destination',
  'peer.service', 'server.address', 'net.peer.name', 'upstream_cluster',
  'url.full', 'http.url', 'http.host', 'network.peer.address', 'net.sock.peer.addr', 'net.peer.ip', 'client.address',
  'http.response.status_code', 'http.status_code', 'rpc.grpc.status_code', 'grpc.status_code', 'error',
  'rpc.system', 'http.request.method', 'http.method', 'network.transport', 'net.transport',
  'connection_security_policy', 'istio.connection_security_policy',
  'tls.established', 'tls.client.subject', 'tls.client.certificate', 'tls.client.hash.sha256',
  'SampleRate', 'sample_rate', 'sampling.rate', 'sampler.type', 'sampler.param',
  'http.request.body.size', 'http.request_content_length', 'request_size',
  'http.response.body.size', 'http.response_content_length', 'response_size',
] as const;
const SLOT_OF_KEY = new Map<string, number>(READ_KEYS.map((key, slot) => [key, slot]));
/** A key's slot, by name: a constant where it is read, which a string lookup per read was not. */
const SLOT = Object.fromEntries(SLOT_OF_KEY) as Record<(typeof READ_KEYS)[number], number>;

/**
 * A span's attributes as toHalf reads them. toHalf runs on every stored span, so instead of a Map per
 * span, one pass puts each value toHalf reads in its key's slot of an array reused from span to span.
 */
class SpanAttributes {
  /** '' = absent: an empty tag names nothing. A key given twice keeps its last value. */
  private readonly values = new Array<string>(READ_KEYS.length).fill('');
  private readonly filled: number[] = [];
  /** The first string attribute holding a SPIFFE id: tracers put the peer's principal under varied keys. */
  spiffeId: string | null = null;

  /** Takes a span's attributes in place of the previous span's. */
  load(attributes: readonly Attribute[]): this {
    for (const slot of this.filled) this.values[slot] = '';
    this.filled.length = 0;
    this.spiffeId = null;
    for (const attribute of attributes) {
      const slot = SLOT_OF_KEY.get(attribute.key);
      if (slot !== undefined) {
        this.values[slot] = attribute.value;
        this.filled.push(slot);
      }
      if (this.spiffeId === null && attribute.type === 'string' && attribute.value.startsWith('spiffe://') && SPIFFE_ID.test(attribute.value)) {
        this.spiffeId = attribute.value;
      }
    }
    return this;
  }

  /** The value in a slot (`SLOT['db.system']`), or undefined when absent or empty. */
  get(slot: number): string | undefined {
    const value = this.values[slot]!;
    return value === '' ? undefined : value;
  }

  has(slot: number): boolean {
    return this.values[slot] !== '';
  }
}

const spanAttributes = new SpanAttributes();

const VERSION_KEYS = [
  'service.version',
  'k8s.pod.label.version',
  'k8s.pod.labels.version',
  'k8s.pod.label.app.kubernetes.io/version',
  'k8s.pod.labels.app.kubernetes.io/version',
  'k8s.pod.label.service.istio.io/canonical-revision',
  'k8s.pod.labels.service.istio.io/canonical-revision',
];

/**
 * Nodes named by an attribute value, one object per value shared by every span that names it
 * (NodeRefs are never mutated): a span then costs no new node, and nodeId() is worked out once per
 * node. Bounded: emptied when full.
 */
class NodeCache {
  private readonly nodes = new Map<string, NodeRef | null>();
  constructor(private readonly make: (value: string) => NodeRef | null) {}

  get(value: string): NodeRef | null {
    let node = this.nodes.get(value);
    if (node === undefined) {
      if (this.nodes.size >= NODE_CACHE_SIZE) this.nodes.clear();
      node = this.make(value);
      this.nodes.set(value, node);
    }
    return node;
  }
}

const NODE_CACHE_SIZE = 10_000;

// All spans of one resource share it: its node is worked out once (NodeRefs are never mutated).
const selfNodes = new WeakMap<SpanRecord['resource'], NodeRef>();
// Each request brings new resource objects for the same few services: one node object per service,
// keyed by its length-prefixed fields (a name may hold any character).
const serviceNodes = new Map<string, NodeRef>();

function selfNode(span: SpanRecord): NodeRef {
  const cached = selfNodes.get(span.resource);
  if (cached) return cached;
  const { serviceName: name, namespace } = span.resource;
  const version = resourceVersion(span.resource.attributes);
  const key = `${name.length}:${name}${namespace.length}:${namespace}${version ?? ''}`;
  let node = serviceNodes.get(key);
  if (node === undefined) {
    node = { kind: 'service', name, namespace };
    if (version !== undefined) node.version = version;
    if (serviceNodes.size >= NODE_CACHE_SIZE) serviceNodes.clear();
    serviceNodes.set(key, node);
  }
  selfNodes.set(span.resource, node);
  return node;
}

function resourceVersion(attributes: readonly Attribute[]): string | undefined {
  for (const key of VERSION_KEYS) {
    // As for span attributes: the last value of a key counts, and an empty one names nothing.
    let value = '';
    for (const attribute of attributes) if (attribute.key === key) value = attribute.value;
    if (value !== '') return value;
  }
  return undefined;
}

const databaseNodes = new NodeCache((name) => ({ kind: 'database', name, namespace: '' }));
const messagingNodes = new NodeCache((name) => ({ kind: 'messaging', name, namespace: '' }));
const hostNodes = new NodeCache(virtualFromHost);
const clusterNodes = new NodeCache(parseUpstreamCluster);
const spiffeNodes = new NodeCache(spiffeNode);

/** Who a CLIENT/PRODUCER span calls, from its own attributes, most specific first. */
function calleeGuess(attrs: SpanAttributes): NodeRef | null {
  const dbSystem = attrs.get(SLOT['db.system.name']) ?? attrs.get(SLOT['db.system']);
  if (dbSystem !== undefined) return databaseNodes.get(attrs.get(SLOT['db.namespace']) ?? attrs.get(SLOT['db.name']) ?? dbSystem);
  const messaging = messagingNode(attrs);
  if (messaging !== null) return messaging;
  const named = attrs.get(SLOT['peer.service']) ?? attrs.get(SLOT['server.address']) ?? attrs.get(SLOT['net.peer.name']);
  if (named !== undefined) return hostNodes.get(named);
  const cluster = attrs.get(SLOT['upstream_cluster']);
  const fromCluster = cluster === undefined ? null : clusterNodes.get(cluster);
  if (fromCluster !== null) return fromCluster;
  // Last resort before 'unknown': whatever host or address the span carries.
  const url = attrs.get(SLOT['url.full']) ?? attrs.get(SLOT['http.url']);
  const host =
    attrs.get(SLOT['http.host']) ?? attrs.get(SLOT['network.peer.address']) ?? attrs.get(SLOT['net.sock.peer.addr']) ?? attrs.get(SLOT['net.peer.ip']) ?? (url === undefined ? undefined : hostOf(url));
  return host === undefined ? null : hostNodes.get(host);
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

function messagingNode(attrs: SpanAttributes): NodeRef | null {
  const system = attrs.get(SLOT['messaging.system']);
  if (system === undefined) return null;
  return messagingNodes.get(attrs.get(SLOT['messaging.destination.name']) ?? attrs.get(SLOT['messaging.destination']) ?? system);
}

/** Who called a SERVER/CONSUMER span, when no caller half is found. Identity beats an address. */
function callerGuess(attrs: SpanAttributes): NodeRef | null {
  const messaging = messagingNode(attrs);
  if (messaging !== null) return messaging;
  const spiffe = attrs.spiffeId === null ? null : spiffeNodes.get(attrs.spiffeId);
  if (spiffe !== null) return spiffe;
  const named = attrs.get(SLOT['peer.service']) ?? attrs.get(SLOT['client.address']);
  return named === undefined ? null : hostNodes.get(named);
}

const SPIFFE_ID = /^spiffe:\/\/[^/]+\/ns\/([^/]+)\/sa\/([^/]+)$/;

function spiffeNode(id: string): NodeRef | null {
  const match = SPIFFE_ID.exec(id);
  if (match === null) return null;
  return { kind: 'virtual', name: match[2] ?? '', namespace: match[1] ?? '' };
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
function isError(attrs: SpanAttributes, status: StatusCode): boolean {
  const httpStatus = Number(attrs.get(SLOT['http.response.status_code']) ?? attrs.get(SLOT['http.status_code']));
  if (Number.isFinite(httpStatus)) return httpStatus >= 500;
  const grpcStatus = Number(attrs.get(SLOT['rpc.grpc.status_code']) ?? attrs.get(SLOT['grpc.status_code']));
  if (Number.isInteger(grpcStatus)) return GRPC_FAILURE_CODES.has(grpcStatus);
  if (status === StatusCode.Error) return true;
  const errorTag = attrs.get(SLOT['error']);
  return errorTag !== undefined && errorTag !== 'false';
}

function protocolOf(attrs: SpanAttributes): Protocol {
  if (attrs.get(SLOT['rpc.system']) === 'grpc' || attrs.has(SLOT['rpc.grpc.status_code']) || attrs.has(SLOT['grpc.status_code'])) return 'grpc';
  if (attrs.has(SLOT['db.system']) || attrs.has(SLOT['db.system.name'])) return 'database';
  if (attrs.has(SLOT['messaging.system'])) return 'messaging';
  if (
    attrs.has(SLOT['http.request.method']) || attrs.has(SLOT['http.method']) || attrs.has(SLOT['http.response.status_code']) ||
    attrs.has(SLOT['http.status_code']) || attrs.has(SLOT['url.full']) || attrs.has(SLOT['http.url'])
  ) {
    return 'http';
  }
  const transport = attrs.get(SLOT['network.transport']) ?? attrs.get(SLOT['net.transport']);
  if (transport === 'tcp' || transport === 'ip_tcp') return 'tcp';
  return 'unknown';
}

/**
 * mTLS only where a span says so: Istio's `connection_security_policy` (mutual_tls / none), a peer
 * SPIFFE id (a verified peer certificate, as for Envoy's access logs), OTel `tls.established=false`
 * (no TLS at all), or `tls.established=true` together with a client certificate attribute.
 */
function mtlsOf(attrs: SpanAttributes): boolean | null {
  const policy = attrs.get(SLOT['connection_security_policy']) ?? attrs.get(SLOT['istio.connection_security_policy']);
  if (policy === 'mutual_tls') return true;
  if (policy === 'none') return false;
  if (attrs.spiffeId !== null) return true;
  const established = attrs.get(SLOT['tls.established']);
  if (established === 'false') return false;
  if (established === 'true' && (attrs.has(SLOT['tls.client.subject']) || attrs.has(SLOT['tls.client.certificate']) || attrs.has(SLOT['tls.client.hash.sha256']))) {
    return true;
  }
  return null;
}

const MAX_THRESHOLD = 2n ** 56n;

/** Sampling weight: W3C `ot=th:` threshold first (the OTel standard), then rate attributes. */
function weightOf(traceState: string, attrs: SpanAttributes): number {
  const fromThreshold = thresholdWeight(traceState);
  if (fromThreshold !== null) return fromThreshold;
  // Honeycomb-style "1 in N".
  const rate = Number(attrs.get(SLOT['SampleRate']) ?? attrs.get(SLOT['sample_rate']) ?? attrs.get(SLOT['sampling.rate']));
  if (Number.isFinite(rate) && rate >= 1) return rate;
  // Jaeger's probabilistic sampler records its probability.
  if (attrs.get(SLOT['sampler.type']) === 'probabilistic') {
    const probability = Number(attrs.get(SLOT['sampler.param']));
    if (probability > 0 && probability <= 1) return 1 / probability;
  }
  return 1;
}

/**
 * OTel probability sampling: `th` is the rejection threshold as up to 14 hex digits with trailing
 * zeros dropped; probability = 1 − th/2^56 and each kept span stands for 1/probability spans.
 */
export function thresholdWeight(traceState: string): number | null {
  // Most spans carry no OTel member at all: not worth splitting for.
  if (!traceState.includes('ot=')) return null;
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
