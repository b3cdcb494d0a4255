// The two OTLP trace readers (protobuf wire reader, OTLP/JSON reader) against the OpenTelemetry SDK's
// own serializers: the same spans sent both ways must become exactly the same SpanRecords, equal to
// what the SDK recorded. Then wire-level corners only a hand-made message reaches, validation and
// limits through both readers, and robustness against truncated, corrupted and ill-typed input.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  SpanKind as ApiSpanKind,
  SpanStatusCode,
  TraceFlags,
  context,
  trace,
  type Attributes,
  type HrTime,
  type Link,
  type SpanContext,
  type SpanStatus,
} from '@opentelemetry/api';
import { TraceState, type InstrumentationScope as SdkScope } from '@opentelemetry/core';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes, type Resource as SdkResource } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan, type TimedEvent } from '@opentelemetry/sdk-trace';
import protobuf from 'protobufjs';
import type { Attribute, AttributeType, Resource, SpanRecord } from '../model.ts';
import { BadRequestError, OTLP_PROTO_DIR, type ConvertedTraces, type TraceLimits } from './traces.ts';
import { convertTraceJson } from './traces-json.ts';
import { convertTraceProto } from './traces-proto.ts';
import { seededRandom as seeded } from '../../test/helpers/random.ts';

const WIDE: TraceLimits = { spansPerRequest: 100_000, attributesPerSpan: 1_000, attributeValueLength: 1_000_000 };

const protoBody = (spans: ReadableSpan[]): Buffer => Buffer.from(ProtobufTraceSerializer.serializeRequest(spans)!);
const jsonBody = (spans: ReadableSpan[]): string => Buffer.from(JsonTraceSerializer.serializeRequest(spans)!).toString('utf8');

/** Converts the SDK's protobuf and JSON serializations of `spans`; both readers must agree exactly. */
function convertBoth(spans: ReadableSpan[], limits: TraceLimits = WIDE): ConvertedTraces {
  const fromProto = convertTraceProto(protoBody(spans), limits);
  const fromJson = convertTraceJson(jsonBody(spans), limits);
  assert.deepEqual(fromJson, fromProto, 'the JSON reader and the protobuf reader disagree');
  return fromProto;
}

/** Both readers refuse the request whole, with this reason. */
function assertRefusedByBoth(spans: ReadableSpan[], limits: TraceLimits, reason: BadRequestError['reason']): void {
  for (const convert of [() => convertTraceProto(protoBody(spans), limits), () => convertTraceJson(jsonBody(spans), limits)]) {
    assert.throws(convert, (error: unknown) => error instanceof BadRequestError && error.reason === reason);
  }
}

// ---- what the SDK recorded, in the model's terms (model.ts), computed without the readers ----

const hrNanos = (t: HrTime): bigint => BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);

type Plain = string | number | boolean | null | Plain[] | { [key: string]: Plain };

/** Numbers the SDK sends as int_value; it sends other numbers, 1e300 too, as double_value. */
const isInt64 = (n: number): boolean => Number.isInteger(n) && n >= -(2 ** 63) && n < 2 ** 63;

/** A value nested in an array or kvlist: JSON, with ints beyond 2^53 as decimal strings and bytes as base64. */
function plainOf(value: unknown): Plain {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return isInt64(value) && !Number.isSafeInteger(value) ? BigInt(value).toString() : value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (Array.isArray(value)) return value.map(plainOf);
  return Object.fromEntries(Object.entries(value as object).map(([k, v]) => [k, plainOf(v)]));
}

function attributeOf(key: string, value: unknown): Attribute {
  if (typeof value === 'string') return { key, type: 'string', value };
  if (typeof value === 'boolean') return { key, type: 'bool', value: String(value) };
  if (typeof value === 'number') {
    return isInt64(value) ? { key, type: 'int', value: BigInt(value).toString() } : { key, type: 'double', value: String(value) };
  }
  if (value instanceof Uint8Array) return { key, type: 'bytes', value: Buffer.from(value).toString('base64') };
  if (Array.isArray(value)) return { key, type: 'array', value: JSON.stringify(plainOf(value)) };
  return { key, type: 'kvlist', value: JSON.stringify(plainOf(value)) };
}

const attributesOf = (attributes: Attributes | undefined): Attribute[] => Object.entries(attributes ?? {}).map(([k, v]) => attributeOf(k, v));

/** Service name and namespace each resource must come out with (the rules under test, written out). */
const expectedNames = new Map<SdkResource, { serviceName: string; namespace: string }>();

function expectedResource(resource: SdkResource): Resource {
  const names = expectedNames.get(resource);
  assert.ok(names, 'test resource without expected names');
  return { ...names, attributes: attributesOf(resource.attributes) };
}

function expectedRecord(span: ReadableSpan): SpanRecord {
  const ctx = span.spanContext();
  const parent = span.parentSpanContext;
  return {
    traceId: ctx.traceId,
    spanId: ctx.spanId,
    parentSpanId: parent?.spanId ?? '',
    traceState: ctx.traceState?.serialize() ?? '',
    name: span.name,
    // The API has no UNSPECIFIED: its INTERNAL is 0, OTLP's is 1.
    kind: (span.kind === undefined ? 0 : span.kind + 1) as SpanRecord['kind'],
    startTimeUnixNano: hrNanos(span.startTime),
    endTimeUnixNano: hrNanos(span.endTime),
    attributes: attributesOf(span.attributes),
    droppedAttributesCount: span.droppedAttributesCount,
    events: span.events.map((e) => ({ timeUnixNano: hrNanos(e.time), name: e.name, attributes: attributesOf(e.attributes), droppedAttributesCount: e.droppedAttributesCount ?? 0 })),
    droppedEventsCount: span.droppedEventsCount,
    links: span.links.map((l) => ({
      traceId: l.context.traceId,
      spanId: l.context.spanId,
      traceState: l.context.traceState?.serialize() ?? '',
      attributes: attributesOf(l.attributes),
      droppedAttributesCount: l.droppedAttributesCount ?? 0,
    })),
    droppedLinksCount: span.droppedLinksCount,
    statusCode: span.status.code as SpanRecord['statusCode'],
    statusMessage: span.status.message ?? '',
    // W3C trace flags, plus OTLP's "has is_remote" bit and the parent's is_remote bit.
    flags: (ctx.traceFlags & 0xff) | 0x100 | (parent?.isRemote ? 0x200 : 0),
    resource: expectedResource(span.resource),
    scope: { name: span.instrumentationScope.name, version: span.instrumentationScope.version ?? '' },
  };
}

/** Spans in the order an OTLP request carries them: grouped by resource, then by scope, first seen first. */
function otlpOrder(spans: ReadableSpan[]): ReadableSpan[] {
  const groups = new Map<SdkResource, Map<string, ReadableSpan[]>>();
  for (const span of spans) {
    const scopes = groups.get(span.resource) ?? new Map<string, ReadableSpan[]>();
    groups.set(span.resource, scopes);
    const key = `${span.instrumentationScope.name}@${span.instrumentationScope.version ?? ''}`;
    scopes.set(key, [...(scopes.get(key) ?? []), span]);
  }
  return [...groups.values()].flatMap((scopes) => [...scopes.values()].flat());
}

// ---- spans from the real SDK ----

const recorded = new InMemorySpanExporter();
// Schema URLs (and scope attributes, below) are fields the readers skip: real SDKs send them.
const SCHEMA_URL = 'https://opentelemetry.io/schemas/1.24.0';
const shopResource = resourceFromAttributes(
  { 'service.name': 'checkout', 'k8s.namespace.name': 'shop', 'service.namespace': 'retail', 'host.cores': 4, 'deployment.canary': true },
  { schemaUrl: SCHEMA_URL },
);
const paymentsResource = resourceFromAttributes({ 'service.name': 'payments', 'service.namespace': 'billing', 'process.pid': 1234 });
expectedNames.set(shopResource, { serviceName: 'checkout', namespace: 'shop' });
expectedNames.set(paymentsResource, { serviceName: 'payments', namespace: 'billing' });
const shop = new TracerProvider({ resource: shopResource, spanProcessors: [new SimpleSpanProcessor({ exporter: recorded })] });
const payments = new TracerProvider({ resource: paymentsResource, spanProcessors: [new SimpleSpanProcessor({ exporter: recorded })] });

const T0 = 1_700_000_000;
const REMOTE_PARENT: SpanContext = {
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
  traceFlags: TraceFlags.SAMPLED,
  isRemote: true,
  traceState: new TraceState('vendor=abc,other=1'),
};
const LINKED: SpanContext = {
  traceId: 'a0b1c2d3e4f5061728394a5b6c7d8e9f',
  spanId: '1122334455667788',
  traceFlags: TraceFlags.NONE,
  traceState: new TraceState('linked=yes'),
};

/** Every attribute type the SDK accepts, with the awkward numbers. */
const SDK_ATTRIBUTES: Attributes = {
  'http.method': 'GET',
  'text.unicode': 'naïve ✓ 日本 🚀',
  'text.empty': '',
  'flag.on': true,
  'flag.off': false,
  'int.small': 200,
  'int.negative': -5,
  'int.zero': 0,
  'int.past_2^53': 2 ** 53 + 2,
  'int.2^62': 2 ** 62,
  'int.-2^60': -(2 ** 60),
  'double.plain': 3.25,
  'double.negative': -0.5,
  'double.huge': 1e300,
  'double.tiny': 5e-324,
  'list.strings': ['a', 'b', ''],
  'list.bools': [true, false],
  'list.ints': [1, -2, 2 ** 62],
  'list.doubles': [1.5, -2.25, 1e300],
  'list.empty': [],
};

function sdkSpans(): ReadableSpan[] {
  recorded.reset();
  const http = shop.getTracer('http-server', '1.2.3', { schemaUrl: SCHEMA_URL });
  const db = shop.getTracer('db-client');
  const queue = payments.getTracer('queue', '0.9.0');

  const remote = trace.setSpanContext(context.active(), REMOTE_PARENT);
  const server = http.startSpan(
    'GET /cart',
    { kind: ApiSpanKind.SERVER, startTime: [T0, 123_456_789], attributes: SDK_ATTRIBUTES, links: [{ context: LINKED, attributes: { 'link.reason': 'retry', 'link.n': 2 } }] },
    remote,
  );
  server.addEvent('cache miss', { 'cache.key': 'cart:42', 'cache.hits': 0, 'cache.ratio': 0.25, 'cache.tags': ['hot', 'eu'] }, [T0, 200_000_000]);
  server.addEvent('plain event', undefined, [T0, 300_000_001]);
  server.setStatus({ code: SpanStatusCode.OK });
  const inServer = trace.setSpan(context.active(), server);

  const client = db.startSpan('SELECT carts', { kind: ApiSpanKind.CLIENT, startTime: [T0, 150_000_000], attributes: { 'db.system': 'postgresql', 'db.rows': -5 } }, inServer);
  client.setStatus({ code: SpanStatusCode.ERROR, message: 'connection refused: 10.0.0.7:5432' });
  client.end([T0, 180_000_000]);

  const producer = http.startSpan('publish order', { kind: ApiSpanKind.PRODUCER, startTime: [T0, 400_000_000] }, inServer);
  producer.end([T0 + 1, 0]);
  const internal = http.startSpan('render', { kind: ApiSpanKind.INTERNAL, startTime: [T0, 500_000_000] }, context.active());
  internal.end([T0, 500_000_000]);
  server.end([T0 + 2, 999_999_999]);

  const consumer = queue.startSpan('consume order', { kind: ApiSpanKind.CONSUMER, startTime: [T0 + 3, 1], links: [{ context: producer.spanContext() }] }, context.active());
  consumer.setStatus({ code: SpanStatusCode.ERROR });
  consumer.end([T0 + 3, 2]);

  const spans = recorded.getFinishedSpans().slice();
  recorded.reset();
  assert.equal(spans.length, 5);
  return spans;
}

// ---- hand-made ReadableSpans: what the SDK API will not produce, but its serializers carry ----

const handScope = { name: 'hand-made', version: '0.0.1', schemaUrl: SCHEMA_URL, attributes: { 'scope.attr': 'x' }, droppedAttributesCount: 1 } as SdkScope;
const labResource = resourceFromAttributes({ 'service.namespace': 'lab', team: 'core' });
const bareResource = resourceFromAttributes({});
expectedNames.set(labResource, { serviceName: 'unknown_service', namespace: 'lab' });
expectedNames.set(bareResource, { serviceName: 'unknown_service', namespace: '' });

interface HandMadeSpan {
  name: string;
  traceId?: string;
  spanId?: string;
  /** Parent span id; no parent when absent. */
  parent?: string;
  kind?: ApiSpanKind;
  start?: HrTime;
  end?: HrTime;
  /** Anything the serializers take, including Uint8Array and nested objects (kvlists). */
  attributes?: Record<string, unknown>;
  events?: TimedEvent[];
  links?: Link[];
  status?: SpanStatus;
  traceState?: string;
  resource?: SdkResource;
  scope?: SdkScope;
  dropped?: { attributes: number; events: number; links: number };
}

let handIds = 0;
/** A distinct, valid hex id of `length` characters. */
function newId(length: number): string {
  handIds++;
  return (handIds.toString(16).padStart(4, '0') + 'c0ffee5eed5a1ad0b5e55ed1ce0ddba11').slice(0, length);
}

function handMade(s: HandMadeSpan): ReadableSpan {
  const spanContext: SpanContext = {
    traceId: s.traceId ?? newId(32),
    spanId: s.spanId ?? newId(16),
    traceFlags: TraceFlags.SAMPLED,
    ...(s.traceState ? { traceState: new TraceState(s.traceState) } : {}),
  };
  return {
    name: s.name,
    kind: s.kind as ApiSpanKind,
    spanContext: () => spanContext,
    parentSpanContext: s.parent === undefined ? undefined : { traceId: spanContext.traceId, spanId: s.parent, traceFlags: TraceFlags.SAMPLED },
    startTime: s.start ?? [T0, 1_000],
    endTime: s.end ?? [T0, 2_000],
    status: s.status ?? { code: SpanStatusCode.UNSET },
    attributes: (s.attributes ?? {}) as Attributes,
    links: s.links ?? [],
    events: s.events ?? [],
    duration: [0, 1_000],
    ended: true,
    resource: s.resource ?? labResource,
    instrumentationScope: s.scope ?? handScope,
    droppedAttributesCount: s.dropped?.attributes ?? 0,
    droppedEventsCount: s.dropped?.events ?? 0,
    droppedLinksCount: s.dropped?.links ?? 0,
  };
}

const NESTED = { a: 1, b: { c: [1, 'x', null], d: false }, big: 2 ** 62, neg: -(2 ** 60), raw: Uint8Array.of(1, 2, 3) };

function oddSpans(): ReadableSpan[] {
  return [
    handMade({
      name: 'odd values',
      attributes: {
        bytes: Uint8Array.of(0, 1, 2, 250, 255),
        'bytes.empty': new Uint8Array(0),
        mixed: ['a', 1, true, 2.5, null],
        nested: NESTED,
        lists: [[1, 2], ['a'], []],
        'kv.empty': {},
      },
      events: [{ name: 'with bytes', time: [T0, 1_500], attributes: { payload: Uint8Array.of(9, 8, 7) } as unknown as Attributes, droppedAttributesCount: 2 }],
      links: [{ context: LINKED, attributes: { deep: { k: ['v'] } } as unknown as Attributes, droppedAttributesCount: 1 }],
      traceState: 'hand=made',
      dropped: { attributes: 3, events: 4, links: 5 },
    }),
    handMade({ name: 'no kind, bare resource', resource: bareResource, status: { code: SpanStatusCode.ERROR, message: '' } }),
  ];
}

function findSpan(result: ConvertedTraces, name: string): SpanRecord {
  const span = result.spans.find((s) => s.name === name);
  assert.ok(span, `no span named "${name}"`);
  return span;
}

const attr = (span: SpanRecord, key: string): Attribute | undefined => span.attributes.find((a) => a.key === key);

// ---- a well-formedness check for anything a reader returns ----

const ATTRIBUTE_TYPES = new Set<AttributeType>(['string', 'bool', 'int', 'double', 'bytes', 'array', 'kvlist']);
const isUint32 = (n: unknown): boolean => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffffffff;

function assertWellFormedAttributes(attributes: Attribute[], where: string): void {
  for (const a of attributes) {
    assert.ok(typeof a.key === 'string' && a.key !== '', `${where}: attribute key ${String(a.key)}`);
    assert.ok(ATTRIBUTE_TYPES.has(a.type), `${where}: attribute type ${String(a.type)}`);
    assert.equal(typeof a.value, 'string', `${where}: attribute value type`);
    if (a.type === 'int') assert.match(a.value, /^-?[0-9]+$/, `${where}: int value`);
    if (a.type === 'bool') assert.ok(a.value === 'true' || a.value === 'false', `${where}: bool value`);
    if (a.type === 'array' || a.type === 'kvlist') assert.doesNotThrow(() => JSON.parse(a.value), `${where}: ${a.type} value is not JSON`);
  }
}

/** What every stored row relies on: types and ranges of every field (see span-rows.ts and the schema). */
function assertWellFormed(result: ConvertedTraces): void {
  assert.ok(Number.isInteger(result.rejected) && result.rejected >= 0);
  assert.equal(typeof result.errorMessage, 'string');
  assert.equal(result.errorMessage === '', result.rejected === 0);
  for (const s of result.spans) {
    const where = `span "${String(s.name)}"`;
    assert.match(s.traceId, /^[0-9a-f]{32}$/);
    assert.notEqual(s.traceId, '0'.repeat(32));
    assert.match(s.spanId, /^[0-9a-f]{16}$/);
    assert.notEqual(s.spanId, '0'.repeat(16));
    assert.match(s.parentSpanId, /^(|[0-9a-f]{16})$/);
    assert.notEqual(s.parentSpanId, '0'.repeat(16));
    for (const text of [s.traceState, s.name, s.statusMessage, s.scope.name, s.scope.version, s.resource.serviceName, s.resource.namespace]) {
      assert.equal(typeof text, 'string', `${where}: a text field is ${typeof text}`);
    }
    assert.ok([0, 1, 2, 3, 4, 5].includes(s.kind), `${where}: kind ${String(s.kind)}`);
    assert.ok([0, 1, 2].includes(s.statusCode), `${where}: status code ${String(s.statusCode)}`);
    for (const n of [s.flags, s.droppedAttributesCount, s.droppedEventsCount, s.droppedLinksCount]) assert.ok(isUint32(n), `${where}: ${String(n)} is not a uint32`);
    assert.equal(typeof s.startTimeUnixNano, 'bigint');
    assert.equal(typeof s.endTimeUnixNano, 'bigint');
    assert.ok(s.startTimeUnixNano > 0n && s.endTimeUnixNano >= s.startTimeUnixNano, `${where}: times`);
    assertWellFormedAttributes(s.attributes, where);
    assertWellFormedAttributes(s.resource.attributes, `${where} resource`);
    for (const e of s.events) {
      assert.equal(typeof e.timeUnixNano, 'bigint');
      assert.equal(typeof e.name, 'string');
      assert.ok(isUint32(e.droppedAttributesCount), `${where}: event dropped count ${String(e.droppedAttributesCount)}`);
      assertWellFormedAttributes(e.attributes, `${where} event`);
    }
    for (const l of s.links) {
      assert.match(l.traceId, /^[0-9a-f]{32}$/);
      assert.match(l.spanId, /^[0-9a-f]{16}$/);
      assert.equal(typeof l.traceState, 'string');
      assert.ok(isUint32(l.droppedAttributesCount), `${where}: link dropped count ${String(l.droppedAttributesCount)}`);
      assertWellFormedAttributes(l.attributes, `${where} link`);
    }
  }
}

/** Runs a conversion that must either succeed with well-formed output or refuse with BadRequestError. */
function convertsOrRefuses(convert: () => ConvertedTraces, reasons: ReadonlyArray<BadRequestError['reason']>): 'converted' | 'refused' {
  let result: ConvertedTraces;
  try {
    result = convert();
  } catch (error) {
    assert.ok(error instanceof BadRequestError, `expected BadRequestError, got ${String(error)}`);
    assert.ok(reasons.includes(error.reason), `unexpected reason ${error.reason}: ${error.message}`);
    assert.ok(!error.message.includes('\n'), 'the reason must be one line');
    return 'refused';
  }
  assertWellFormed(result);
  return 'converted';
}

// ==== 1. equivalence with the SDK's serializers ====

describe('both readers on requests from the SDK serializers', () => {
  const spans = [...sdkSpans(), ...oddSpans()];
  const result = convertBoth(spans);

  it('give exactly what the SDK recorded, in request order, with nothing rejected, cut or dropped', () => {
    assert.deepEqual(result, { spans: otlpOrder(spans).map(expectedRecord), rejected: 0, errorMessage: '', truncatedAttributes: 0, droppedAttributes: 0 });
    assertWellFormed(result);
  });

  it('carry every span kind, OK and ERROR with message, remote parent, trace state and flags', () => {
    assert.deepEqual(
      result.spans.map((s) => [s.name, s.kind, s.statusCode, s.statusMessage]),
      [
        ['SELECT carts', 3, 2, 'connection refused: 10.0.0.7:5432'],
        ['publish order', 4, 0, ''],
        ['render', 1, 0, ''],
        ['GET /cart', 2, 1, ''],
        ['consume order', 5, 2, ''],
        ['odd values', 0, 0, ''],
        ['no kind, bare resource', 0, 2, ''],
      ],
    );
    const server = findSpan(result, 'GET /cart');
    assert.equal(server.traceId, REMOTE_PARENT.traceId);
    assert.equal(server.parentSpanId, REMOTE_PARENT.spanId);
    assert.equal(server.traceState, 'vendor=abc,other=1');
    assert.equal(server.flags, 0x301, 'sampled, has-is-remote, parent is remote');
    assert.equal(server.startTimeUnixNano, 1_700_000_000_123_456_789n);
    assert.equal(server.endTimeUnixNano, 1_700_000_002_999_999_999n);
    const child = findSpan(result, 'SELECT carts');
    assert.equal(child.parentSpanId, server.spanId);
    assert.equal(child.flags, 0x101);
    assert.equal(findSpan(result, 'render').parentSpanId, '');
  });

  it('type attribute values as the model says: ints decimal (past 2^53 exact), doubles as JS prints them, arrays as JSON', () => {
    const server = findSpan(result, 'GET /cart');
    const expected: Array<[string, AttributeType, string]> = [
      ['http.method', 'string', 'GET'],
      ['text.unicode', 'string', 'naïve ✓ 日本 🚀'],
      ['text.empty', 'string', ''],
      ['flag.on', 'bool', 'true'],
      ['flag.off', 'bool', 'false'],
      ['int.small', 'int', '200'],
      ['int.negative', 'int', '-5'],
      ['int.zero', 'int', '0'],
      ['int.past_2^53', 'int', '9007199254740994'],
      ['int.2^62', 'int', '4611686018427387904'],
      ['int.-2^60', 'int', '-1152921504606846976'],
      ['double.plain', 'double', '3.25'],
      ['double.negative', 'double', '-0.5'],
      ['double.huge', 'double', '1e+300'],
      ['double.tiny', 'double', '5e-324'],
      ['list.strings', 'array', '["a","b",""]'],
      ['list.bools', 'array', '[true,false]'],
      ['list.ints', 'array', '[1,-2,"4611686018427387904"]'],
      ['list.doubles', 'array', '[1.5,-2.25,1e+300]'],
      ['list.empty', 'array', '[]'],
    ];
    assert.deepEqual(server.attributes, expected.map(([key, type, value]) => ({ key, type, value })));
    assert.deepEqual(server.events, [
      {
        timeUnixNano: 1_700_000_000_200_000_000n,
        name: 'cache miss',
        attributes: [
          { key: 'cache.key', type: 'string', value: 'cart:42' },
          { key: 'cache.hits', type: 'int', value: '0' },
          { key: 'cache.ratio', type: 'double', value: '0.25' },
          { key: 'cache.tags', type: 'array', value: '["hot","eu"]' },
        ],
        droppedAttributesCount: 0,
      },
      { timeUnixNano: 1_700_000_000_300_000_001n, name: 'plain event', attributes: [], droppedAttributesCount: 0 },
    ]);
    assert.deepEqual(server.links, [
      {
        traceId: LINKED.traceId,
        spanId: LINKED.spanId,
        traceState: 'linked=yes',
        attributes: [
          { key: 'link.reason', type: 'string', value: 'retry' },
          { key: 'link.n', type: 'int', value: '2' },
        ],
        droppedAttributesCount: 0,
      },
    ]);
  });

  it('carry bytes as base64, mixed arrays, nested kvlists and dropped counts', () => {
    const odd = findSpan(result, 'odd values');
    assert.deepEqual(attr(odd, 'bytes'), { key: 'bytes', type: 'bytes', value: 'AAEC+v8=' });
    assert.deepEqual(attr(odd, 'bytes.empty'), { key: 'bytes.empty', type: 'bytes', value: '' });
    assert.deepEqual(attr(odd, 'mixed'), { key: 'mixed', type: 'array', value: '["a",1,true,2.5,null]' });
    assert.deepEqual(attr(odd, 'nested'), {
      key: 'nested',
      type: 'kvlist',
      value: '{"a":1,"b":{"c":[1,"x",null],"d":false},"big":"4611686018427387904","neg":"-1152921504606846976","raw":"AQID"}',
    });
    assert.deepEqual(attr(odd, 'lists'), { key: 'lists', type: 'array', value: '[[1,2],["a"],[]]' });
    assert.deepEqual(attr(odd, 'kv.empty'), { key: 'kv.empty', type: 'kvlist', value: '{}' });
    assert.deepEqual(odd.events[0]?.attributes, [{ key: 'payload', type: 'bytes', value: 'CQgH' }]);
    assert.equal(odd.events[0]?.droppedAttributesCount, 2);
    assert.deepEqual(odd.links[0]?.attributes, [{ key: 'deep', type: 'kvlist', value: '{"k":["v"]}' }]);
    assert.deepEqual([odd.droppedAttributesCount, odd.droppedEventsCount, odd.droppedLinksCount, odd.links[0]?.droppedAttributesCount], [3, 4, 5, 1]);
    assert.equal(odd.traceState, 'hand=made');
  });

  it('share one Resource per ResourceSpans, with service name and namespace by the rules', () => {
    const byService = result.spans.map((s) => [s.name, s.resource.serviceName, s.resource.namespace, s.scope.name, s.scope.version]);
    assert.deepEqual(byService, [
      ['SELECT carts', 'checkout', 'shop', 'db-client', ''],
      ['publish order', 'checkout', 'shop', 'http-server', '1.2.3'],
      ['render', 'checkout', 'shop', 'http-server', '1.2.3'],
      ['GET /cart', 'checkout', 'shop', 'http-server', '1.2.3'],
      ['consume order', 'payments', 'billing', 'queue', '0.9.0'],
      ['odd values', 'unknown_service', 'lab', 'hand-made', '0.0.1'],
      ['no kind, bare resource', 'unknown_service', '', 'hand-made', '0.0.1'],
    ]);
    const [a, b, c] = result.spans;
    assert.ok(a!.resource === b!.resource && b!.resource === c!.resource, 'spans of one ResourceSpans share their Resource object');
    assert.deepEqual(a!.resource.attributes, [
      { key: 'service.name', type: 'string', value: 'checkout' },
      { key: 'k8s.namespace.name', type: 'string', value: 'shop' },
      { key: 'service.namespace', type: 'string', value: 'retail' },
      { key: 'host.cores', type: 'int', value: '4' },
      { key: 'deployment.canary', type: 'bool', value: 'true' },
    ]);
  });
});

// ==== 2. the protobuf reader at the wire level ====

/** A protobuf writer small enough to check by eye, for what no serializer writes. */
function varintBytes(value: bigint): number[] {
  let v = BigInt.asUintN(64, value);
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}
const concat = (...parts: Array<Uint8Array | number[]>): Buffer => Buffer.concat(parts.map((p) => (p instanceof Uint8Array ? p : Uint8Array.from(p))));
const tag = (field: number, wireType: number): number[] => varintBytes(BigInt(field * 8 + wireType));
const pb = {
  varint: (field: number, value: bigint | number): Buffer => concat(tag(field, 0), varintBytes(BigInt(value))),
  fixed64: (field: number, value: bigint): Buffer => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt.asUintN(64, value));
    return concat(tag(field, 1), b);
  },
  double: (field: number, value: number): Buffer => {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(value);
    return concat(tag(field, 1), b);
  },
  fixed32: (field: number, value: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(value);
    return concat(tag(field, 5), b);
  },
  bytes: (field: number, value: Uint8Array | string): Buffer => {
    const body = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    return concat(tag(field, 2), varintBytes(BigInt(body.length)), body);
  },
};

const protoRoot = new protobuf.Root();
protoRoot.resolvePath = (_origin, target) => (target.startsWith(OTLP_PROTO_DIR) ? target : OTLP_PROTO_DIR + target);
protoRoot.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto');
const ExportTraceServiceRequest = protoRoot.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
const encodeRequest = (request: object): Buffer => Buffer.from(ExportTraceServiceRequest.encode(request).finish());

const TRACE = Buffer.from('0af7651916cd43dd8448eb211c80319c', 'hex');
const SPAN = Buffer.from('b7ad6b7169203331', 'hex');
const OTHER_TRACE = Buffer.from('fedcba98765432100123456789abcdef', 'hex');
const OTHER_SPAN = Buffer.from('0102030405060708', 'hex');
const START = 1_700_000_000_000_000_000n;
const DEADBEEF = Uint8Array.of(0xde, 0xad, 0xbe, 0xef);

/** Unknown fields of every wire type, including a 10-byte varint and a body that looks like fields. */
const UNKNOWN_FIELDS = concat(
  pb.varint(1000, 300),
  pb.varint(1001, -1n),
  pb.fixed64(1002, 0x0102030405060708n),
  pb.bytes(1003, concat(pb.bytes(1, 'not a field here'), pb.varint(2, 7))),
  pb.fixed32(1004, 0xdeadbeef),
  pb.bytes(1005, ''),
);

/**
 * An ExportTraceServiceRequest written field by field: the resource after its scope_spans, odd enums,
 * ints that need 10 bytes, bytes and nested values. With `unknownFields`, every message at every
 * level starts and ends with UNKNOWN_FIELDS.
 */
function handWrittenRequest(unknownFields: boolean): Buffer {
  const extra = unknownFields ? UNKNOWN_FIELDS : Buffer.alloc(0);
  const msg = (field: number, ...parts: Buffer[]): Buffer => pb.bytes(field, concat(extra, ...parts, extra));
  const value = (...parts: Buffer[]): Buffer => msg(2, ...parts);
  const kv = (field: number, key: string, ...valueParts: Buffer[]): Buffer => msg(field, pb.bytes(1, key), value(...valueParts));
  const anyValue = (field: number, ...parts: Buffer[]): Buffer => msg(field, ...parts);
  const nested = msg(
    6, // kvlist_value
    kv(1, 'list', msg(5, anyValue(1, pb.varint(3, 1)), anyValue(1, pb.bytes(1, 'x')), anyValue(1, msg(6, kv(1, 'deep', pb.varint(2, 1)))),
      anyValue(1, pb.varint(3, 9_007_199_254_740_993n)), anyValue(1, pb.varint(3, -5n)), anyValue(1, pb.double(4, 1.5)), anyValue(1, pb.bytes(7, DEADBEEF)), anyValue(1))),
    kv(1, 'empty'),
  );
  const span = msg(
    2,
    pb.bytes(1, TRACE),
    pb.bytes(2, SPAN),
    pb.bytes(3, 'k=v'),
    pb.bytes(4, ''), // empty parent_span_id: a root
    pb.bytes(5, 'wire span'),
    pb.varint(6, 99), // kind out of range
    pb.fixed64(7, START),
    pb.fixed64(8, START + 500_000_000n),
    kv(9, 'neg', pb.varint(3, -5n)),
    kv(9, 'min', pb.varint(3, -(2n ** 63n))),
    kv(9, 'max', pb.varint(3, 2n ** 63n - 1n)),
    kv(9, 'past 2^53', pb.varint(3, 9_007_199_254_740_993n)),
    kv(9, 'yes', pb.varint(2, 1)),
    kv(9, 'no', pb.varint(2, 0)),
    kv(9, 'pi', pb.double(4, 3.14159)),
    kv(9, 'raw', pb.bytes(7, DEADBEEF)),
    kv(9, 'nested', nested),
    kv(9, 'none', pb.bytes(5, '')),
    kv(9, '', pb.bytes(1, 'a key-less attribute is skipped')),
    msg(9, pb.bytes(1, 'no value')),
    pb.varint(10, 2),
    msg(11, pb.fixed64(1, START + 1n), pb.bytes(2, 'ev'), kv(3, 'a', pb.bytes(1, 'b')), pb.varint(4, 1)),
    msg(13, pb.bytes(1, OTHER_TRACE), pb.bytes(2, OTHER_SPAN), pb.bytes(3, 'l=1'), kv(4, 'x', pb.varint(2, 1)), pb.varint(5, 3), pb.fixed32(6, 0x301)),
    msg(13, pb.bytes(1, OTHER_TRACE.subarray(0, 8)), pb.bytes(2, OTHER_SPAN)), // a link with a bad trace id is left out
    pb.varint(12, 6),
    pb.varint(14, 1),
    msg(15, pb.bytes(2, 'strange status'), pb.varint(3, 7)), // status code out of range
    pb.fixed32(16, 0x101),
  );
  const zeroParentSpan = msg(
    2,
    pb.bytes(1, TRACE),
    pb.bytes(2, OTHER_SPAN),
    pb.bytes(4, Buffer.alloc(8)), // all-zero parent: a root
    pb.bytes(5, 'zero parent'),
    pb.varint(6, -1n), // a negative enum takes 10 bytes
    pb.fixed64(7, START),
    pb.fixed64(8, START),
  );
  return concat(
    extra,
    msg(
      1, // ResourceSpans whose resource comes after its scope_spans
      msg(2, msg(1, pb.bytes(1, 'wire-scope'), pb.bytes(2, '9.9')), span),
      msg(1, kv(1, 'service.name', pb.bytes(1, 'late-resource')), kv(1, 'service.namespace', pb.bytes(1, 'late-ns')), pb.varint(2, 0)),
      pb.bytes(3, 'https://schema.example/1'),
    ),
    msg(1, msg(2, zeroParentSpan)), // no resource, no scope
    extra,
  );
}

const WIRE_RECORDS: SpanRecord[] = (() => {
  const lateResource: Resource = {
    serviceName: 'late-resource',
    namespace: 'late-ns',
    attributes: [
      { key: 'service.name', type: 'string', value: 'late-resource' },
      { key: 'service.namespace', type: 'string', value: 'late-ns' },
    ],
  };
  return [
    {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      parentSpanId: '',
      traceState: 'k=v',
      name: 'wire span',
      kind: 0,
      startTimeUnixNano: START,
      endTimeUnixNano: START + 500_000_000n,
      attributes: [
        { key: 'neg', type: 'int', value: '-5' },
        { key: 'min', type: 'int', value: '-9223372036854775808' },
        { key: 'max', type: 'int', value: '9223372036854775807' },
        { key: 'past 2^53', type: 'int', value: '9007199254740993' },
        { key: 'yes', type: 'bool', value: 'true' },
        { key: 'no', type: 'bool', value: 'false' },
        { key: 'pi', type: 'double', value: '3.14159' },
        { key: 'raw', type: 'bytes', value: '3q2+7w==' },
        { key: 'nested', type: 'kvlist', value: '{"list":[1,"x",{"deep":true},"9007199254740993",-5,1.5,"3q2+7w==",null],"empty":null}' },
        { key: 'none', type: 'array', value: '[]' },
        { key: 'no value', type: 'string', value: '' },
      ],
      droppedAttributesCount: 2,
      events: [{ timeUnixNano: START + 1n, name: 'ev', attributes: [{ key: 'a', type: 'string', value: 'b' }], droppedAttributesCount: 1 }],
      droppedEventsCount: 6,
      links: [{ traceId: 'fedcba98765432100123456789abcdef', spanId: '0102030405060708', traceState: 'l=1', attributes: [{ key: 'x', type: 'bool', value: 'true' }], droppedAttributesCount: 3 }],
      droppedLinksCount: 1,
      statusCode: 0,
      statusMessage: 'strange status',
      flags: 0x101,
      resource: lateResource,
      scope: { name: 'wire-scope', version: '9.9' },
    },
    {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: '0102030405060708',
      parentSpanId: '',
      traceState: '',
      name: 'zero parent',
      kind: 0,
      startTimeUnixNano: START,
      endTimeUnixNano: START,
      attributes: [],
      droppedAttributesCount: 0,
      events: [],
      droppedEventsCount: 0,
      links: [],
      droppedLinksCount: 0,
      statusCode: 0,
      statusMessage: '',
      flags: 0,
      resource: { serviceName: 'unknown_service', namespace: '', attributes: [] },
      scope: { name: '', version: '' },
    },
  ];
})();

describe('protobuf reader: the wire format', () => {
  it('skips the schema_url of a resource and a scope, and scope attributes, as real SDKs send them', () => {
    const span = handMade({ name: 'with schema urls', resource: shopResource });
    assert.ok(span.resource.schemaUrl && span.instrumentationScope.schemaUrl);
    assert.deepEqual(convertTraceProto(protoBody([span]), WIDE).spans, [expectedRecord(span)]);
  });

  it('the hand-written request is valid protobuf (protobufjs reads it as intended)', () => {
    const decoded = ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(handWrittenRequest(false)), { longs: String, bytes: String }) as {
      resourceSpans: Array<{ resource: { attributes: Array<{ key: string }> }; scopeSpans: Array<{ spans: Array<{ kind: number; attributes: Array<{ key: string; value: { intValue?: string } }> }> }> }>;
    };
    const span = decoded.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
    assert.equal(span.kind, 99);
    assert.deepEqual(span.attributes.slice(0, 4).map((a) => a.value.intValue), ['-5', '-9223372036854775808', '9223372036854775807', '9007199254740993']);
    assert.equal(decoded.resourceSpans[0]!.resource.attributes[0]!.key, 'service.name');
    // protobufjs writes int64 -5 in the same 10 bytes.
    assert.deepEqual([...protobuf.Writer.create().int64(-5).finish()], varintBytes(-5n));
    assert.equal(varintBytes(-5n).length, 10);
  });

  it('reads a resource that follows its scope_spans, 10-byte varints, out-of-range enums, empty and zero parents, bytes and nested values', () => {
    const result = convertTraceProto(handWrittenRequest(false), WIDE);
    assert.deepEqual(result, { spans: WIRE_RECORDS, rejected: 0, errorMessage: '', truncatedAttributes: 0, droppedAttributes: 0 });
  });

  it('skips unknown fields of every wire type at every message level', () => {
    const plain = handWrittenRequest(false);
    const withUnknown = handWrittenRequest(true);
    assert.ok(withUnknown.length > plain.length * 2, 'the unknown fields are really there');
    assert.deepEqual(convertTraceProto(withUnknown, WIDE), convertTraceProto(plain, WIDE));
  });

  it('refuses wire types 3, 4, 6 and 7, and varints longer than 10 bytes', () => {
    for (const wireType of [3, 4, 6, 7]) {
      assert.throws(() => convertTraceProto(concat(tag(20, wireType), [0]), WIDE), (e: unknown) => e instanceof BadRequestError && e.reason === 'decode');
    }
    const elevenByteVarint = concat(tag(20, 0), [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    assert.throws(() => convertTraceProto(elevenByteVarint, WIDE), (e: unknown) => e instanceof BadRequestError && e.reason === 'decode');
    // The same inside an AnyValue: int_value with an 11-byte varint.
    const elevenByteInt = pb.bytes(1, pb.bytes(2, pb.bytes(2, concat(pb.bytes(1, TRACE), pb.bytes(2, SPAN), pb.fixed64(7, START),
      pb.bytes(9, concat(pb.bytes(1, 'i'), pb.bytes(2, concat(tag(3, 0), [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))))))));
    assert.throws(() => convertTraceProto(elevenByteInt, WIDE), (e: unknown) => e instanceof BadRequestError && e.reason === 'decode');
  });

  it('messages encoded by protobufjs: kind 99 and status 7 become 0, empty and all-zero parents become root', () => {
    const base = { traceId: TRACE, startTimeUnixNano: String(START), endTimeUnixNano: String(START + 10n) };
    const result = convertTraceProto(
      encodeRequest({
        resourceSpans: [
          {
            resource: { attributes: [{ key: 'service.name', value: { stringValue: 'pbjs' } }, { key: 'k8s.namespace.name', value: { stringValue: 'kube' } }] },
            scopeSpans: [
              {
                scope: { name: 'pbjs-scope' },
                spans: [
                  { ...base, spanId: Buffer.from('0000000000000001', 'hex'), name: 'odd enums', kind: 99, status: { code: 7, message: 'seven' } },
                  { ...base, spanId: Buffer.from('0000000000000002', 'hex'), name: 'negative kind', kind: -1, status: { code: -3 } },
                  { ...base, spanId: Buffer.from('0000000000000003', 'hex'), name: 'empty parent', parentSpanId: Buffer.alloc(0), kind: 5, status: { code: 2 } },
                  { ...base, spanId: Buffer.from('0000000000000004', 'hex'), name: 'zero parent', parentSpanId: Buffer.alloc(8), kind: 1, status: { code: 1 } },
                  {
                    ...base,
                    spanId: Buffer.from('0000000000000005', 'hex'),
                    name: 'values',
                    parentSpanId: Buffer.from('0000000000000001', 'hex'),
                    attributes: [
                      { key: 'b', value: { bytesValue: Buffer.from('hello') } },
                      { key: 'i', value: { intValue: '-9007199254740993' } },
                      {
                        key: 'kv',
                        value: {
                          kvlistValue: {
                            values: [
                              { key: 'arr', value: { arrayValue: { values: [{ arrayValue: { values: [{ boolValue: true }] } }, { kvlistValue: { values: [] } }, { doubleValue: 0.1 }] } } },
                              { key: 'bin', value: { bytesValue: Buffer.from('hi') } },
                              { key: 'str', value: { stringValue: 'q"uote' } },
                            ],
                          },
                        },
                      },
                    ],
                  },
                ],
              },
            ],
          },
        ],
      }),
      WIDE,
    );
    assert.deepEqual(
      result.spans.map((s) => [s.name, s.kind, s.statusCode, s.statusMessage, s.parentSpanId]),
      [
        ['odd enums', 0, 0, 'seven', ''],
        ['negative kind', 0, 0, '', ''],
        ['empty parent', 5, 2, '', ''],
        ['zero parent', 1, 1, '', ''],
        ['values', 0, 0, '', '0000000000000001'],
      ],
    );
    assert.deepEqual(findSpan(result, 'values').attributes, [
      { key: 'b', type: 'bytes', value: 'aGVsbG8=' },
      { key: 'i', type: 'int', value: '-9007199254740993' },
      { key: 'kv', type: 'kvlist', value: '{"arr":[[true],{},0.1],"bin":"aGk=","str":"q\\"uote"}' },
    ]);
    assert.deepEqual(result.spans[0]!.resource, {
      serviceName: 'pbjs',
      namespace: 'kube',
      attributes: [
        { key: 'service.name', type: 'string', value: 'pbjs' },
        { key: 'k8s.namespace.name', type: 'string', value: 'kube' },
      ],
    });
    assert.deepEqual(result.spans[0]!.scope, { name: 'pbjs-scope', version: '' });
  });

  it('keeps uint32 counts within uint32, as protobuf does for a longer varint', () => {
    const body = concat(
      pb.bytes(
        1,
        pb.bytes(
          2,
          pb.bytes(
            2,
            concat(pb.bytes(1, TRACE), pb.bytes(2, SPAN), pb.fixed64(7, START), pb.varint(10, 2n ** 32n + 7n), pb.varint(12, -1n), pb.varint(14, 2n ** 64n - 1n)),
          ),
        ),
      ),
    );
    const [span] = convertTraceProto(body, WIDE).spans;
    assert.deepEqual([span?.droppedAttributesCount, span?.droppedEventsCount, span?.droppedLinksCount], [7, 0xffffffff, 0xffffffff]);
  });
});

// ==== 3. validation and limits, through both readers ====

describe('both readers: validation', () => {
  it('reject spans with bad ids or no start time, count them, name the first reason, and keep the others', () => {
    const good = handMade({ name: 'good' });
    const result = convertBoth([
      good,
      handMade({ name: 'short trace id', traceId: 'ab'.repeat(15) }),
      handMade({ name: 'zero trace id', traceId: '0'.repeat(32) }),
      handMade({ name: 'zero span id', spanId: '0'.repeat(16) }),
      handMade({ name: 'long span id', spanId: 'ab'.repeat(9) }),
      handMade({ name: 'short parent', parent: 'abcd' }),
      handMade({ name: 'zero parent', parent: '0'.repeat(16) }),
      handMade({ name: 'no start', start: [0, 0], end: [0, 0] }),
      handMade({ name: 'ends before it starts', start: [T0, 500], end: [T0, 100] }),
    ]);
    assert.equal(result.rejected, 6);
    assert.equal(result.errorMessage, 'span "short trace id" has an invalid trace_id (must be 16 bytes, not all zero)');
    assert.deepEqual(
      result.spans.map((s) => [s.name, s.parentSpanId, s.startTimeUnixNano, s.endTimeUnixNano]),
      [
        ['good', '', 1_700_000_000_000_001_000n, 1_700_000_000_000_002_000n],
        ['zero parent', '', 1_700_000_000_000_001_000n, 1_700_000_000_000_002_000n],
        ['ends before it starts', '', 1_700_000_000_000_000_500n, 1_700_000_000_000_000_500n],
      ],
    );
    assert.deepEqual(result.spans[0], expectedRecord(good));
  });

  it('name each reason', () => {
    const reasonFor = (span: ReadableSpan): string => convertBoth([span]).errorMessage;
    assert.equal(reasonFor(handMade({ name: 's', spanId: '0'.repeat(16) })), 'span "s" has an invalid span_id (must be 8 bytes, not all zero)');
    assert.equal(reasonFor(handMade({ name: 'p', parent: 'ab'.repeat(7) })), 'span "p" has an invalid parent_span_id (must be 8 bytes or empty)');
    assert.equal(reasonFor(handMade({ name: 't', start: [0, 0] })), 'span "t" has no start_time_unix_nano');
    assert.equal(reasonFor(handMade({ name: 'x'.repeat(300), traceId: '' })), `span "${'x'.repeat(100)}" has an invalid trace_id (must be 16 bytes, not all zero)`);
  });

  it('service name defaults to unknown_service; namespace is k8s.namespace.name, else service.namespace, else empty', () => {
    const cases: Array<[Attributes, string, string]> = [
      [{ 'service.name': 'a', 'k8s.namespace.name': 'k8s', 'service.namespace': 'svc' }, 'a', 'k8s'],
      [{ 'service.namespace': 'svc', 'k8s.namespace.name': 'k8s' }, 'unknown_service', 'k8s'],
      [{ 'service.name': 'b', 'service.namespace': 'svc' }, 'b', 'svc'],
      [{ 'service.name': '', 'k8s.namespace.name': '' }, 'unknown_service', ''],
      [{ other: 'x' }, 'unknown_service', ''],
    ];
    for (const [attributes, serviceName, namespace] of cases) {
      const resource = resourceFromAttributes(attributes);
      expectedNames.set(resource, { serviceName, namespace });
      const span = handMade({ name: 'r', resource });
      assert.deepEqual(convertBoth([span]).spans, [expectedRecord(span)]);
    }
  });
});

describe('both readers: limits', () => {
  const three = () => [handMade({ name: 'a' }), handMade({ name: 'b', resource: bareResource }), handMade({ name: 'c', resource: bareResource })];

  it('spans_per_request: one span over refuses the whole request as too_large; at the limit it is taken', () => {
    assertRefusedByBoth(three(), { ...WIDE, spansPerRequest: 2 }, 'too_large');
    assert.equal(convertBoth(three(), { ...WIDE, spansPerRequest: 3 }).spans.length, 3);
  });

  it('attributes_per_span: extra span, event and link attributes are dropped and counted; resource attributes are not limited', () => {
    const five = { a1: 1, a2: 'two', a3: true, a4: 4.5, a5: ['five'] };
    const resource = resourceFromAttributes({ 'service.name': 'many', r1: 1, r2: 2, r3: 3, r4: 4, r5: 5 });
    expectedNames.set(resource, { serviceName: 'many', namespace: '' });
    const span = handMade({
      name: 'many attributes',
      resource,
      attributes: five,
      events: [{ name: 'e', time: [T0, 5], attributes: { e1: 1, e2: 2, e3: 3, e4: 4 }, droppedAttributesCount: 10 }],
      links: [{ context: LINKED, attributes: { l1: 1, l2: 2, l3: 3, l4: 4, l5: 5, l6: 6 } }],
      dropped: { attributes: 1, events: 0, links: 0 },
    });
    const result = convertBoth([span], { ...WIDE, attributesPerSpan: 3 });
    const [got] = result.spans;
    const expected = expectedRecord(span);
    assert.deepEqual(got?.attributes, expected.attributes.slice(0, 3));
    assert.equal(got?.droppedAttributesCount, 1 + 2);
    assert.deepEqual(got?.events[0]?.attributes, expected.events[0]!.attributes.slice(0, 3));
    assert.equal(got?.events[0]?.droppedAttributesCount, 10 + 1);
    assert.deepEqual(got?.links[0]?.attributes, expected.links[0]!.attributes.slice(0, 3));
    assert.equal(got?.links[0]?.droppedAttributesCount, 3);
    assert.equal(got?.resource.attributes.length, 6);
    assert.equal(result.droppedAttributes, 2 + 1 + 3);
    assert.equal(result.truncatedAttributes, 0);
  });

  it('a link with bad ids is left out by both, its attributes counted alike; a kvlist key named __proto__ is kept', () => {
    const span = handMade({
      name: 'links',
      attributes: { kv: JSON.parse('{"__proto__": "kept", "x": 1}') as Record<string, unknown> },
      links: [
        { context: { ...LINKED, traceId: 'abcd' }, attributes: { long: 'LLLLLLLLLL', a: 1, b: 2, c: 3 } },
        { context: LINKED, attributes: { long: 'LLLLLLLLLL' } },
      ],
    });
    const result = convertBoth([span], { ...WIDE, attributesPerSpan: 3, attributeValueLength: 5 });
    assert.deepEqual(result.spans[0]?.links.map((l) => l.attributes), [[{ key: 'long', type: 'string', value: 'LLLLL' }]]);
    assert.deepEqual([result.truncatedAttributes, result.droppedAttributes], [2, 1]);
    assert.deepEqual(result.spans[0]?.attributes, [{ key: 'kv', type: 'kvlist', value: '{"__proto__":"kept","x":1}' }]);
  });

  it('attribute_value_length: strings (also in arrays and kvlists), names and status messages are cut and counted; other types never', () => {
    const resource = resourceFromAttributes({ 'service.name': 'a-long-service-name', 'host.id': 'short' });
    expectedNames.set(resource, { serviceName: 'a-lon', namespace: '' });
    const span = handMade({
      name: 'a span name that is long',
      resource,
      status: { code: SpanStatusCode.ERROR, message: 'a long message' },
      attributes: {
        long: 'ABCDEFGHIJ',
        exact: 'ABCDE',
        int: 1234567890123,
        negative: -1234567,
        double: 3.14159265,
        bool: false,
        bytes: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9),
        strings: ['abcdefgh', 'ab'],
        kv: { key: 'value-too-long', n: 1234567 },
      },
      events: [{ name: 'event name', time: [T0, 9], attributes: { e: 'eventvalue' } }],
      links: [{ context: LINKED, attributes: { l: 'linkvalue' } }],
    });
    const result = convertBoth([span], { ...WIDE, attributeValueLength: 5 });
    const [got] = result.spans;
    assert.equal(got?.name, 'a spa');
    assert.equal(got?.statusMessage, 'a lon');
    assert.deepEqual(got?.attributes, [
      { key: 'long', type: 'string', value: 'ABCDE' },
      { key: 'exact', type: 'string', value: 'ABCDE' },
      { key: 'int', type: 'int', value: '1234567890123' },
      { key: 'negative', type: 'int', value: '-1234567' },
      { key: 'double', type: 'double', value: '3.14159265' },
      { key: 'bool', type: 'bool', value: 'false' },
      { key: 'bytes', type: 'bytes', value: 'AQIDBAUGBwgJ' },
      { key: 'strings', type: 'array', value: '["abcde","ab"]' },
      { key: 'kv', type: 'kvlist', value: '{"key":"value","n":1234567}' },
    ]);
    assert.equal(got?.events[0]?.name, 'event');
    assert.deepEqual(got?.events[0]?.attributes, [{ key: 'e', type: 'string', value: 'event' }]);
    assert.deepEqual(got?.links[0]?.attributes, [{ key: 'l', type: 'string', value: 'linkv' }]);
    assert.deepEqual(got?.resource.attributes, [
      { key: 'service.name', type: 'string', value: 'a-lon' },
      { key: 'host.id', type: 'string', value: 'short' },
    ]);
    // name, status message, long, strings[0], kv.key, event name, event e, link l, service.name
    assert.equal(result.truncatedAttributes, 9);
    assertWellFormed(result);
  });

  it('attribute_value_length never keeps half of a surrogate pair', () => {
    const span = handMade({ name: 'ab🚀🚀', attributes: { emoji: 'abcd🚀', list: ['🚀🚀🚀'] } });
    const [got] = convertBoth([span], { ...WIDE, attributeValueLength: 5 }).spans;
    assert.equal(got?.name, 'ab🚀');
    assert.deepEqual(got?.attributes, [
      { key: 'emoji', type: 'string', value: 'abcd' },
      { key: 'list', type: 'array', value: '["🚀🚀"]' },
    ]);
  });
});

// ==== 4. robustness ====


describe('protobuf reader: robustness', () => {
  const spans = [...sdkSpans(), ...oddSpans()];
  const body = protoBody(spans);
  const whole = convertTraceProto(body, WIDE);

  it('every prefix converts (cut between ResourceSpans) or is refused as undecodable', { timeout: 10_000 }, () => {
    // Where the top-level fields end: only there may a cut request still be whole.
    const boundaries = new Set<number>([0]);
    const reader = protobuf.Reader.create(body);
    while (reader.pos < reader.len) {
      reader.skipType(reader.uint32() & 7);
      boundaries.add(reader.pos);
    }
    assert.equal(boundaries.size, 1 + 4, 'four ResourceSpans');
    const convertedAt: number[] = [];
    for (let length = 0; length < body.length; length++) {
      if (convertsOrRefuses(() => convertTraceProto(body.subarray(0, length), WIDE), ['decode']) === 'converted') convertedAt.push(length);
    }
    assert.deepEqual(convertedAt, [...boundaries].filter((b) => b < body.length));
    // A cut between ResourceSpans keeps exactly the whole ones before it.
    const firstCut = convertedAt[1]!;
    assert.deepEqual(convertTraceProto(body.subarray(0, firstCut), WIDE).spans, whole.spans.filter((s) => s.resource === whole.spans[0]!.resource));
  });

  it('random single-byte corruptions convert to well-formed spans or are refused as undecodable', { timeout: 10_000 }, () => {
    const random = seeded(20240501);
    const outcomes = { converted: 0, refused: 0 };
    for (let i = 0; i < 600; i++) {
      const corrupted = Buffer.from(body);
      const at = Math.floor(random() * corrupted.length);
      corrupted[at] = (corrupted[at]! + 1 + Math.floor(random() * 255)) & 0xff;
      outcomes[convertsOrRefuses(() => convertTraceProto(corrupted, WIDE), ['decode'])]++;
    }
    assert.ok(outcomes.converted > 50 && outcomes.refused > 50, `both outcomes happen: ${JSON.stringify(outcomes)}`);
  });

  it('random garbage and deep nesting are refused, not crashed on', { timeout: 10_000 }, () => {
    const random = seeded(7);
    for (let i = 0; i < 300; i++) {
      const garbage = Buffer.from(Array.from({ length: 1 + Math.floor(random() * 64) }, () => Math.floor(random() * 256)));
      convertsOrRefuses(() => convertTraceProto(garbage, WIDE), ['decode']);
    }
    // 100,000 nested array_values inside one attribute, each level's lengths written once.
    const depth = 100_000;
    const inner = pb.varint(3, 1);
    const prefixes: Buffer[] = [];
    let size = inner.length;
    for (let level = 0; level < depth; level++) {
      const arrayValue = 1 + varintBytes(BigInt(size)).length + size;
      const prefix = concat([0x2a], varintBytes(BigInt(arrayValue)), [0x0a], varintBytes(BigInt(size)));
      size += prefix.length;
      prefixes.push(prefix);
    }
    const deepValue = concat(...prefixes.reverse(), inner);
    const request = pb.bytes(1, pb.bytes(2, pb.bytes(2, concat(pb.bytes(1, TRACE), pb.bytes(2, SPAN), pb.fixed64(7, START), pb.bytes(9, concat(pb.bytes(1, 'deep'), pb.bytes(2, deepValue)))))));
    convertsOrRefuses(() => convertTraceProto(request, WIDE), ['decode']);
  });
});

describe('JSON reader: robustness', () => {
  const refusedAs = (body: string, reasons: ReadonlyArray<BadRequestError['reason']>) =>
    assert.throws(
      () => convertTraceJson(body, WIDE),
      (error: unknown) => error instanceof BadRequestError && reasons.includes(error.reason) && !error.message.includes('\n'),
      body.slice(0, 200),
    );
  const span = (fields: object) => JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: TRACE.toString('hex'), spanId: SPAN.toString('hex'), startTimeUnixNano: '1', ...fields }] }] }] });

  it('refuses bodies that are not an ExportTraceServiceRequest object', () => {
    for (const body of ['', 'not json', '{', '[]', 'null', '5', '"x"', 'true', '{"resourceSpans": {}}', '{"resourceSpans": "x"}', '{"resourceSpans": 5}']) {
      refusedAs(body, ['decode']);
    }
  });

  it('refuses values of the wrong type with BadRequestError, never a TypeError', () => {
    const bodies = [
      '{"resourceSpans": [null]}',
      '{"resourceSpans": [{"scopeSpans": "x"}]}',
      '{"resourceSpans": [{"scopeSpans": 5}]}',
      '{"resourceSpans": [{"scopeSpans": [{"spans": "x"}]}]}',
      '{"resourceSpans": [{"scopeSpans": [{"spans": {"0": {}}}]}]}',
      '{"resourceSpans": [{"scopeSpans": [{"spans": [null]}]}]}',
      '{"resourceSpans": [{"resource": {"attributes": 5}}]}',
      '{"resourceSpans": [{"resource": {"attributes": "abc"}}]}',
      '{"resourceSpans": [{"resource": {"attributes": [{"key": "k", "value": {"arrayValue": {"values": "x"}}}]}}]}',
      span({ attributes: 5 }),
      span({ attributes: 'abc' }),
      span({ attributes: [null] }),
      span({ attributes: [{ key: 5, value: { stringValue: 'v' } }] }),
      span({ attributes: [{ key: 'k', value: { kvlistValue: { values: 5 } } }] }),
      span({ attributes: [{ key: 'k', value: { boolValue: 'false' } }] }),
      span({ events: 5 }),
      span({ events: [{ attributes: 'x' }] }),
      span({ links: 'x' }),
      span({ name: 5 }),
      span({ traceState: 5 }),
      span({ status: { message: {} } }),
      span({ flags: 'x' }),
      span({ flags: -1 }),
      span({ flags: 1.5 }),
      span({ droppedAttributesCount: 'x' }),
      span({ droppedAttributesCount: -1 }),
      span({ droppedEventsCount: {} }),
      span({ events: [{ droppedAttributesCount: '3x' }] }),
      '{"resourceSpans": [{"scopeSpans": [{"scope": {"name": 5}}]}]}',
    ];
    for (const body of bodies) refusedAs(body, ['decode', 'invalid']);
  });

  it('accepts what proto3 JSON allows: enum names, integers as strings or numbers, ids in upper case', () => {
    const result = convertTraceJson(
      span({
        traceId: TRACE.toString('hex').toUpperCase(),
        kind: 'SPAN_KIND_CONSUMER',
        status: { code: 'STATUS_CODE_ERROR', message: 'm' },
        startTimeUnixNano: Number(1_700_000_000_000_000n),
        endTimeUnixNano: '1700000000000000500',
        flags: '257',
        droppedAttributesCount: '2',
        attributes: [
          { key: 'big', value: { intValue: '9007199254740993' } },
          { key: 'num', value: { intValue: 42 } },
          { key: 'nan', value: { doubleValue: 'NaN' } },
          { key: 'inf', value: { doubleValue: '-Infinity' } },
          { key: 'nested', value: { arrayValue: { values: [{ intValue: '-9007199254740993' }, { intValue: 7 }] } } },
        ],
      }),
      WIDE,
    );
    const [got] = result.spans;
    assert.deepEqual(
      [got?.traceId, got?.kind, got?.statusCode, got?.statusMessage, got?.startTimeUnixNano, got?.endTimeUnixNano, got?.flags, got?.droppedAttributesCount],
      [TRACE.toString('hex'), 5, 2, 'm', 1_700_000_000_000_000n, 1_700_000_000_000_000_500n, 257, 2],
    );
    assert.deepEqual(got?.attributes, [
      { key: 'big', type: 'int', value: '9007199254740993' },
      { key: 'num', type: 'int', value: '42' },
      { key: 'nan', type: 'double', value: 'NaN' },
      { key: 'inf', type: 'double', value: '-Infinity' },
      { key: 'nested', type: 'array', value: '["-9007199254740993",7]' },
    ]);
  });

  it('rejects span ids that are not hex, and leaves out links whose ids are not hex', () => {
    const result = convertTraceJson(
      JSON.stringify({
        resourceSpans: [
          {
            scopeSpans: [
              {
                spans: [
                  { traceId: 'z'.repeat(32), spanId: SPAN.toString('hex'), startTimeUnixNano: '1', name: 'bad' },
                  { traceId: TRACE.toString('hex'), spanId: SPAN.toString('hex'), startTimeUnixNano: '1', name: 'good', links: [{ traceId: 'g'.repeat(32), spanId: 'g'.repeat(16) }] },
                ],
              },
            ],
          },
        ],
      }),
      WIDE,
    );
    assert.equal(result.rejected, 1);
    assert.deepEqual(result.spans.map((s) => [s.name, s.links.length]), [['good', 0]]);
  });

  it('random type changes anywhere in a real request convert to well-formed spans or are refused', { timeout: 10_000 }, () => {
    const request = JSON.parse(jsonBody([...sdkSpans(), ...oddSpans()])) as unknown;
    // Every place in the request: [parent, key] pairs, found once.
    const places: Array<[Record<string, unknown> | unknown[], string | number]> = [];
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach((child, i) => (places.push([node, i]), walk(child)));
      else if (node && typeof node === 'object') for (const [k, child] of Object.entries(node)) places.push([node as Record<string, unknown>, k]), walk(child);
    };
    walk(request);
    assert.ok(places.length > 300);
    const replacements: unknown[] = [5, -1, 2.5, 'x', '', '-3', true, false, null, [], {}, [5], { values: 5 }, 1e300, '99999999999999999999999'];
    const random = seeded(99);
    const outcomes = { converted: 0, refused: 0 };
    for (let i = 0; i < 600; i++) {
      const [parent, key] = places[Math.floor(random() * places.length)]!;
      const replacement = replacements[Math.floor(random() * replacements.length)];
      const original = (parent as Record<string | number, unknown>)[key];
      (parent as Record<string | number, unknown>)[key] = replacement;
      const body = JSON.stringify(request);
      (parent as Record<string | number, unknown>)[key] = original;
      outcomes[convertsOrRefuses(() => convertTraceJson(body, WIDE), ['decode', 'invalid'])]++;
    }
    assert.ok(outcomes.converted > 50 && outcomes.refused > 50, `both outcomes happen: ${JSON.stringify(outcomes)}`);
  });

  it('deeply nested values are refused or converted, not crashed on', () => {
    const depth = 100_000;
    const deep = '{"arrayValue":{"values":['.repeat(depth) + '{"intValue":1}' + ']}}'.repeat(depth);
    const body = `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"${TRACE.toString('hex')}","spanId":"${SPAN.toString('hex')}","startTimeUnixNano":"1","attributes":[{"key":"deep","value":${deep}}]}]}]}]}`;
    convertsOrRefuses(() => convertTraceJson(body, WIDE), ['decode', 'invalid']);
  });
});
