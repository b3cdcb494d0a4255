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
import type { Attribute, InstrumentationScope, Resource, SpanEvent, SpanRecord } from '../model.ts';
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
  /**
   * Tag key → value. An object, not a list of pairs: the v2 JSON reader hands over the object
   * JSON.parse made (its keys already interned), so a span's tags cost no allocation of their own.
   */
  tags: ZipkinTags;
  /** Zipkin's `shared`: this SERVER half shares its span id with the CLIENT that called it (Envoy's default). */
  shared: boolean;
  /** Zipkin's `debug`: the sender forced this trace to be sampled. */
  debug: boolean;
  /** Why the reader could not take a field ('' when it could): the span is refused with it. */
  problem: string;
}

export type ZipkinTags = Record<string, string>;

/**
 * Tags for readers that build them key by key (proto3, v1, a converted copy): a plain object, so that
 * spans with the same keys in the same order share one hidden class (an object without a prototype
 * would be a hash table from the start). Fill it with setTag.
 */
export function newTags(): ZipkinTags {
  return {};
}

/** Sets one tag; a key given again replaces the value, and `__proto__` is a key like any other. */
export function setTag(tags: ZipkinTags, key: string, value: string): void {
  if (key === '__proto__') Object.defineProperty(tags, key, { value, enumerable: true, writable: true, configurable: true });
  else tags[key] = value;
}

/** A span without tags; frozen, so a reader that wrote to it by mistake would throw. */
export const NO_TAGS: ZipkinTags = Object.freeze(newTags());

export function emptyZipkinSpan(): ZipkinSpan {
  return {
    traceId: '', id: '', parentId: '', name: '', kind: '', timestamp: 0n, duration: 0n,
    localEndpoint: null, remoteEndpoint: null, annotations: [], tags: NO_TAGS, shared: false, debug: false, problem: '',
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

/** What one sender's Resource is made from (its localEndpoint and identity tags), and the Resource. */
interface Sender {
  serviceName: string;
  ipv4: string;
  ipv6: string;
  port: number;
  canonicalService: string;
  namespace: string;
  canonicalRevision: string;
  nodeId: string;
  /** The limit the Resource's values were cut to (none was cut: only such Resources are kept here). */
  attributeValueLength: number;
  resource: Resource;
}

/**
 * The Resources of the senders seen lately, across requests. A proxy reports again and again with the
 * same endpoint and tags; found here, a span's Resource costs a Map lookup and a few string compares
 * instead of deriving the service identity and building the Resource again — and, being the same
 * object as last time, its row encoding is already cached too (span-rows.ts caches per Resource).
 * Keyed by the node id (Envoy's: one per proxy), else the address, else the service name; bounded:
 * when full it starts again empty.
 */
class RecentSenders {
  /** At most this many entries (senders and Resources, each Resource with its cached row encoding: ~1 KB). */
  private static readonly MAX_ENTRIES = 8192;
  private static readonly MAX_PER_KEY = 8;
  private readonly senders = new Map<string, Sender[]>();
  private count = 0;
  /** By the derived identity and endpoint: senders that derive the same Resource share one object. */
  private readonly resources = new Map<string, Resource>();

  find(local: ZipkinEndpoint, tags: IdentityTags, attributeValueLength: number): Resource | undefined {
    const list = this.senders.get(senderKey(local, tags));
    if (list === undefined) return undefined;
    for (const s of list) {
      if (
        s.ipv4 === local.ipv4 && s.port === local.port && s.serviceName === local.serviceName && s.ipv6 === local.ipv6 &&
        s.nodeId === tags.nodeId && s.canonicalService === tags.canonicalService && s.namespace === tags.namespace &&
        s.canonicalRevision === tags.canonicalRevision && s.attributeValueLength === attributeValueLength
      ) {
        return s.resource;
      }
    }
    return undefined;
  }

  byIdentity(key: string): Resource | undefined {
    return this.resources.get(key);
  }

  add(local: ZipkinEndpoint, tags: IdentityTags, attributeValueLength: number, identityKey: string, resource: Resource): void {
    if (this.count >= RecentSenders.MAX_ENTRIES) {
      this.senders.clear();
      this.resources.clear();
      this.count = 0;
    }
    const key = senderKey(local, tags);
    let list = this.senders.get(key);
    if (list === undefined) this.senders.set(key, (list = []));
    if (list.length < RecentSenders.MAX_PER_KEY) {
      this.count++;
      list.push({ serviceName: local.serviceName, ipv4: local.ipv4, ipv6: local.ipv6, port: local.port, ...tags, attributeValueLength, resource });
    }
    if (!this.resources.has(identityKey)) {
      this.count++;
      this.resources.set(identityKey, resource);
    }
  }
}

function senderKey(local: ZipkinEndpoint, tags: IdentityTags): string {
  return tags.nodeId || local.ipv4 || local.ipv6 || local.serviceName;
}

const RECENT_SENDERS = new RecentSenders();

/** Collects one request's spans; `result` is what the intake takes. */
export class ZipkinConverter {
  private readonly builder: TraceBuilder;
  /**
   * Resources whose values had to be cut, one per distinct sender in this request (downstream code
   * caches per Resource object); they are not kept across requests, so every request counts its cuts.
   */
  private readonly cutResources = new Map<string, Resource>();
  /** The identity tags of the span being added: one object per request, not one per span. */
  private readonly tags: IdentityTags = { canonicalService: '', namespace: '', canonicalRevision: '', nodeId: '' };

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
    const tags = span.tags;
    const attributes: Attribute[] = [];
    let dropped = 0;
    let errorTag: string | undefined;
    const identity = this.tags;
    identity.canonicalService = '';
    identity.namespace = '';
    identity.canonicalRevision = '';
    identity.nodeId = '';
    for (const key in tags) {
      if (key === '') continue;
      const value = tags[key]!;
      if (!builder.addAttribute(attributes, key, 'string', value)) dropped++;
      if (key === 'error') errorTag = value;
      else if (key === IDENTITY_TAG_KEYS.canonicalService) identity.canonicalService = value;
      else if (key === IDENTITY_TAG_KEYS.namespace) identity.namespace = value;
      else if (key === IDENTITY_TAG_KEYS.canonicalRevision) identity.canonicalRevision = value;
      else if (key === IDENTITY_TAG_KEYS.nodeId) identity.nodeId = value;
    }
    // Zipkin's flags, kept so that the Zipkin read API gives them back (query/zipkin.ts).
    if (span.shared && !builder.addAttribute(attributes, 'zipkin.shared', 'bool', 'true')) dropped++;
    if (span.debug && !builder.addAttribute(attributes, 'zipkin.debug', 'bool', 'true')) dropped++;
    const remote = span.remoteEndpoint;
    if (remote !== null) {
      // A tag of the same name is what the sender said explicitly: it wins.
      if (remote.serviceName !== '' && !Object.hasOwn(tags, 'peer.service')) {
        if (!builder.addAttribute(attributes, 'peer.service', 'string', remote.serviceName)) dropped++;
      }
      const address = remote.ipv4 || remote.ipv6;
      if (address !== '' && !Object.hasOwn(tags, 'network.peer.address')) {
        if (!builder.addAttribute(attributes, 'network.peer.address', 'string', address)) dropped++;
      }
      if (remote.port > 0 && !Object.hasOwn(tags, 'network.peer.port')) {
        if (!builder.addAttribute(attributes, 'network.peer.port', 'int', String(remote.port))) dropped++;
      }
    }
    const annotations = span.annotations;
    const events: SpanEvent[] = new Array(annotations.length);
    for (let i = 0; i < annotations.length; i++) {
      const a = annotations[i]!;
      events[i] = { timeUnixNano: a.timestamp * NS_PER_US, name: builder.text(a.value), attributes: [], droppedAttributesCount: 0 };
    }
    // Zipkin marks a failed span with an `error` tag whose value is the message; "false" marks none.
    const failed = errorTag !== undefined && errorTag !== 'false';
    const start = span.timestamp * NS_PER_US;
    const resource = this.resource(span.localEndpoint ?? NO_ENDPOINT, identity);
    const record: SpanRecord = {
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
      // Set here too so the record has its final shape from the start (addSpan sets them again).
      resource,
      scope: SCOPE,
    };
    builder.addSpan(record, resource, SCOPE);
  }

  private resource(local: ZipkinEndpoint, tags: IdentityTags): Resource {
    const limit = this.builder.limits.attributeValueLength;
    const recent = RECENT_SENDERS.find(local, tags, limit);
    if (recent !== undefined) return recent;
    const identity = serviceIdentity(local.serviceName, tags);
    const key = [local.serviceName, local.ipv4, local.ipv6, local.port, identity.name, identity.namespace, identity.version, limit].join('\u0000');
    let resource = RECENT_SENDERS.byIdentity(key);
    if (resource !== undefined) {
      RECENT_SENDERS.add(local, tags, limit, key, resource);
      return resource;
    }
    resource = this.cutResources.get(key);
    if (resource !== undefined) return resource;
    const cutBefore = this.builder.result.truncatedAttributes;
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
    if (this.builder.result.truncatedAttributes === cutBefore) RECENT_SENDERS.add(local, tags, limit, key, resource);
    else this.cutResources.set(key, resource);
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
