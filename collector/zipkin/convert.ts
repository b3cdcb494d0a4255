// Zipkin spans → SpanRecords. The three readers (v2 JSON, proto3, v1 JSON) each produce ZipkinSpans,
// Zipkin's v2 model with the values as they came; this file turns them into the collector's model
// through the same TraceBuilder OTLP uses, so ids, times and limits are checked alike.
//
// Mapping (docs/receivers.md): ids lowercased, 64-bit trace ids left-padded to 32 hex; µs → ns; no
// kind → INTERNAL; localEndpoint (+ the identity tags, service-identity.ts) → the Resource, one object
// per distinct sender in a request; remoteEndpoint → peer.service / network.peer.address /
// network.peer.port; tags → string attributes, unchanged (the service graph reads Envoy's
// upstream_cluster, http.status_code, error, node_id …); an `error` tag → status ERROR with its value
// as the message; annotations → events.
import type { Attribute, InstrumentationScope, Resource, SpanEvent } from '../model.ts';
import { SpanKind, StatusCode } from '../model.ts';
import { type ConvertedTraces, TraceBuilder, type TraceLimits } from '../otlp/traces.ts';
import { IDENTITY_TAG_KEYS, type IdentityTags, serviceIdentity } from './service-identity.ts';

export type ZipkinKind = 'CLIENT' | 'SERVER' | 'PRODUCER' | 'CONSUMER' | '';

export interface ZipkinEndpoint {
  serviceName: string;
  /** Dotted text; '' when absent. */
  ipv4: string;
  /** Text form; '' when absent. */
  ipv6: string;
  /** 0 when absent. */
  port: number;
}

export interface ZipkinAnnotation {
  /** Microseconds since the epoch. */
  timestamp: bigint;
  value: string;
}

/** One span as a reader found it: Zipkin's v2 model, not yet validated. */
export interface ZipkinSpan {
  /** Hex as sent ('' when absent): checked here, so every reader gives the same answer. */
  traceId: string;
  id: string;
  parentId: string;
  name: string;
  kind: ZipkinKind;
  /** Microseconds; 0n when absent. */
  timestamp: bigint;
  duration: bigint;
  localEndpoint: ZipkinEndpoint | null;
  remoteEndpoint: ZipkinEndpoint | null;
  annotations: ZipkinAnnotation[];
  tags: Array<[key: string, value: string]>;
  /** Why the reader could not take a field ('' when it could): the span is refused with it. */
  problem: string;
}

export function emptyZipkinSpan(): ZipkinSpan {
  return {
    traceId: '', id: '', parentId: '', name: '', kind: '', timestamp: 0n, duration: 0n,
    localEndpoint: null, remoteEndpoint: null, annotations: [], tags: [], problem: '',
  };
}

// Zipkin has no instrumentation scope.
const SCOPE: InstrumentationScope = { name: '', version: '' };
const KINDS: Record<ZipkinKind, SpanKind> = {
  CLIENT: SpanKind.Client,
  SERVER: SpanKind.Server,
  PRODUCER: SpanKind.Producer,
  CONSUMER: SpanKind.Consumer,
  '': SpanKind.Internal,
};
const TRACE_ID = /^(?:[0-9a-f]{16}|[0-9a-f]{32})$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
const ALL_ZERO = /^0+$/;
const NS_PER_US = 1000n;

/** Collects one request's spans; `result` is what the intake takes. */
export class ZipkinConverter {
  private readonly builder: TraceBuilder;
  /** One Resource per distinct sender in this request: downstream code caches per Resource object. */
  private readonly resources = new Map<string, Resource>();

  constructor(limits: TraceLimits) {
    this.builder = new TraceBuilder(limits);
  }

  get result(): ConvertedTraces {
    return this.builder.result;
  }

  /** Call once per span found, before converting it, so an oversized request stops early. */
  countSpan(): void {
    this.builder.countSpan();
  }

  /** Refuses one span that could not even be read (not a JSON object, say). */
  reject(reason: string): void {
    this.builder.reject(reason);
  }

  add(span: ZipkinSpan): void {
    const traceId = span.traceId.toLowerCase();
    const id = span.id.toLowerCase();
    const parentId = span.parentId.toLowerCase();
    const problem =
      span.problem ||
      (!TRACE_ID.test(traceId) ? `a traceId ${quote(span.traceId)} that is not 16 or 32 hex characters`
        : ALL_ZERO.test(traceId) ? 'an all-zero traceId'
        : !SPAN_ID.test(id) ? `an id ${quote(span.id)} that is not 16 hex characters`
        : ALL_ZERO.test(id) ? 'an all-zero id'
        : parentId !== '' && !SPAN_ID.test(parentId) ? `a parentId ${quote(span.parentId)} that is not 16 hex characters`
        : span.timestamp <= 0n ? 'no timestamp'
        : '');
    if (problem !== '') {
      this.builder.reject(`span ${quote(span.name)} (id ${quote(span.id)}) has ${problem}`);
      return;
    }
    const builder = this.builder;
    const attributes: Attribute[] = [];
    let dropped = 0;
    let errorTag: string | undefined;
    const identity: IdentityTags = { canonicalService: '', namespace: '', canonicalRevision: '', nodeId: '' };
    for (const [key, value] of span.tags) {
      if (key === '') continue;
      if (!builder.addAttribute(attributes, key, 'string', value)) dropped++;
      if (key === 'error') errorTag = value;
      else if (key === IDENTITY_TAG_KEYS.canonicalService) identity.canonicalService = value;
      else if (key === IDENTITY_TAG_KEYS.namespace) identity.namespace = value;
      else if (key === IDENTITY_TAG_KEYS.canonicalRevision) identity.canonicalRevision = value;
      else if (key === IDENTITY_TAG_KEYS.nodeId) identity.nodeId = value;
    }
    const remote = span.remoteEndpoint;
    if (remote !== null) {
      // A tag of the same name is what the sender said explicitly: it wins.
      const has = (key: string) => span.tags.some(([k]) => k === key);
      const put = (key: string, type: Attribute['type'], value: string) => {
        if (!has(key) && !builder.addAttribute(attributes, key, type, value)) dropped++;
      };
      if (remote.serviceName !== '') put('peer.service', 'string', remote.serviceName);
      const address = remote.ipv4 || remote.ipv6;
      if (address !== '') put('network.peer.address', 'string', address);
      if (remote.port > 0) put('network.peer.port', 'int', String(remote.port));
    }
    const events = span.annotations.map(
      (a): SpanEvent => ({ timeUnixNano: a.timestamp * NS_PER_US, name: builder.text(a.value), attributes: [], droppedAttributesCount: 0 }),
    );
    // Zipkin marks a failed span with an `error` tag whose value is the message; "false" marks none.
    const failed = errorTag !== undefined && errorTag !== 'false';
    const start = span.timestamp * NS_PER_US;
    builder.addSpan(
      {
        traceId: traceId.length === 16 ? `0000000000000000${traceId}` : traceId,
        spanId: id,
        parentSpanId: parentId,
        traceState: '',
        name: span.name,
        kind: KINDS[span.kind],
        startTimeUnixNano: start,
        endTimeUnixNano: start + span.duration * NS_PER_US,
        attributes,
        droppedAttributesCount: dropped,
        events,
        droppedEventsCount: 0,
        links: [],
        droppedLinksCount: 0,
        statusCode: failed ? StatusCode.Error : StatusCode.Unset,
        statusMessage: failed ? errorTag! : '',
        flags: 0,
      },
      this.resource(span.localEndpoint, identity),
      SCOPE,
    );
  }

  private resource(endpoint: ZipkinEndpoint | null, tags: IdentityTags): Resource {
    const local = endpoint ?? NO_ENDPOINT;
    const identity = serviceIdentity(local.serviceName, tags);
    const key = [local.serviceName, local.ipv4, local.ipv6, local.port, identity.name, identity.namespace, identity.version].join('\u0000');
    let resource = this.resources.get(key);
    if (resource === undefined) {
      const attributes: Attribute[] = [];
      const text = (k: string, v: string) => attributes.push({ key: k, type: 'string', value: this.builder.text(v) });
      if (identity.name !== '') text('service.name', identity.name);
      if (identity.namespace !== '') text('k8s.namespace.name', identity.namespace);
      if (identity.version !== '') text('service.version', identity.version);
      // What the sender called itself, where the name above was derived from it.
      if (local.serviceName !== '' && local.serviceName !== identity.name) text('zipkin.service_name', local.serviceName);
      const address = local.ipv4 || local.ipv6;
      if (address !== '') text('network.local.address', address);
      if (local.port > 0) attributes.push({ key: 'network.local.port', type: 'int', value: String(local.port) });
      resource = this.builder.resource(attributes);
      this.resources.set(key, resource);
    }
    return resource;
  }
}

const NO_ENDPOINT: ZipkinEndpoint = { serviceName: '', ipv4: '', ipv6: '', port: 0 };

/** A sender's value in a one-line message: quoted, cut, no line breaks (JSON escapes them). */
export function quote(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

// ---- helpers the readers share ----

/** Bytes → lowercase hex ('' for none). */
export function hex(bytes: Uint8Array | null | undefined): string {
  return bytes && bytes.length > 0 ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex') : '';
}

/** An IPv4 address from its 4 bytes; '' otherwise. */
export function ipv4Text(bytes: Uint8Array | null | undefined): string {
  return bytes && bytes.length === 4 ? `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}` : '';
}

/** An IPv6 address from its 16 bytes, in RFC 5952's form (longest zero run as ::); '' otherwise. */
export function ipv6Text(bytes: Uint8Array | null | undefined): string {
  if (!bytes || bytes.length !== 16) return '';
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const text = (from: number, to: number) => groups.slice(from, to).map((g) => g.toString(16)).join(':');
  return bestStart === -1 ? text(0, 8) : `${text(0, bestStart)}::${text(bestStart + bestLength, 8)}`;
}
