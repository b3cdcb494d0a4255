// The Zipkin readers (v2 JSON, proto3, v1 JSON) and the conversion onto SpanRecords: exact records for
// Envoy-, Istio- and Kuma-shaped spans, the proto3 reader agreeing with the JSON reader on the same
// spans (bodies encoded with protobufjs from our zipkin.proto), v1's two-sided spans, how service
// identity is derived, and every kind of bad span and bad body.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SpanRecord } from '../model.ts';
import { SpanKind, StatusCode } from '../model.ts';
import { BadRequestError, type TraceLimits } from '../otlp/traces.ts';
import { ipv6Text } from './convert.ts';
import { ListOfSpans, convertZipkinProto } from './proto.ts';
import { nodeIdNamespace, serviceIdentity } from './service-identity.ts';
import { convertZipkinV1Json } from './v1-json.ts';
import { convertZipkinV2Json } from './v2-json.ts';

const WIDE: TraceLimits = { spansPerRequest: 1000, attributesPerSpan: 128, attributeValueLength: 10_000 };
const T0 = 1_764_140_000_000_000; // µs
const v2 = (spans: unknown[], limits = WIDE) => convertZipkinV2Json(Buffer.from(JSON.stringify(spans)), limits);
const v1 = (spans: unknown[], limits = WIDE) => convertZipkinV1Json(Buffer.from(JSON.stringify(spans)), limits);
const attrs = (span: SpanRecord) => span.attributes.map((a) => [a.key, a.type, a.value]);
const ISTIO_NODE = 'sidecar~10.1.0.7~reviews-v2-5d4d7b9c8-x2x9j.bookinfo~bookinfo.svc.cluster.local';

/** Envoy's CLIENT span from productpage's sidecar calling reviews (shared span context). */
const envoyClient = {
  traceId: '463AC35C9F6413AD',
  parentId: '8a2b3c4d5e6f7081',
  id: '1122334455667788',
  kind: 'CLIENT',
  name: 'reviews.bookinfo.svc.cluster.local:9080/*',
  timestamp: T0,
  duration: 2500,
  localEndpoint: { serviceName: 'productpage.bookinfo', ipv4: '10.1.0.5', port: 9080 },
  tags: {
    'upstream_cluster': 'outbound|9080|v2|reviews.bookinfo.svc.cluster.local',
    'http.status_code': '200',
    'node_id': 'sidecar~10.1.0.5~productpage-v1-6b7f6d8f6b-abcde.bookinfo~bookinfo.svc.cluster.local',
    'guid:x-request-id': '9f3c1e0a-7b1d-4c57-9a1e-0c6b1b2d3e4f',
    'peer.address': '10.1.0.5',
  },
  annotations: [{ timestamp: T0 + 100, value: 'retry' }],
};

describe('Zipkin v2 JSON → SpanRecords', () => {
  it('converts an Envoy span exactly: ids, times, kind, tags as they are, annotations, resource', () => {
    const { spans, rejected } = v2([envoyClient]);
    assert.equal(rejected, 0);
    assert.equal(spans.length, 1);
    const span = spans[0]!;
    assert.deepEqual(
      { ...span, attributes: attrs(span), resource: undefined },
      {
        traceId: '0000000000000000463ac35c9f6413ad',
        spanId: '1122334455667788',
        parentSpanId: '8a2b3c4d5e6f7081',
        traceState: '',
        name: 'reviews.bookinfo.svc.cluster.local:9080/*',
        kind: SpanKind.Client,
        startTimeUnixNano: BigInt(T0) * 1000n,
        endTimeUnixNano: BigInt(T0 + 2500) * 1000n,
        attributes: [
          ['upstream_cluster', 'string', 'outbound|9080|v2|reviews.bookinfo.svc.cluster.local'],
          ['http.status_code', 'string', '200'],
          ['node_id', 'string', 'sidecar~10.1.0.5~productpage-v1-6b7f6d8f6b-abcde.bookinfo~bookinfo.svc.cluster.local'],
          ['guid:x-request-id', 'string', '9f3c1e0a-7b1d-4c57-9a1e-0c6b1b2d3e4f'],
          ['peer.address', 'string', '10.1.0.5'],
        ],
        droppedAttributesCount: 0,
        events: [{ timeUnixNano: BigInt(T0 + 100) * 1000n, name: 'retry', attributes: [], droppedAttributesCount: 0 }],
        droppedEventsCount: 0,
        links: [],
        droppedLinksCount: 0,
        statusCode: StatusCode.Unset,
        statusMessage: '',
        flags: 0,
        resource: undefined,
        scope: { name: '', version: '' },
      },
    );
    // Istio's `<app>.<namespace>` with the namespace from node_id: productpage in bookinfo.
    assert.deepEqual(span.resource, {
      serviceName: 'productpage',
      namespace: 'bookinfo',
      attributes: [
        { key: 'service.name', type: 'string', value: 'productpage' },
        { key: 'k8s.namespace.name', type: 'string', value: 'bookinfo' },
        { key: 'zipkin.service_name', type: 'string', value: 'productpage.bookinfo' },
        { key: 'network.local.address', type: 'string', value: '10.1.0.5' },
        { key: 'network.local.port', type: 'int', value: '9080' },
      ],
    });
  });

  it('maps kinds, absent kind to INTERNAL, and the remote endpoint to peer attributes', () => {
    const base = { traceId: 'a'.repeat(32), timestamp: T0, localEndpoint: { serviceName: 'svc' } };
    const { spans } = v2([
      { ...base, id: '0000000000000001', kind: 'SERVER' },
      { ...base, id: '0000000000000002', kind: 'PRODUCER' },
      { ...base, id: '0000000000000003', kind: 'consumer' },
      { ...base, id: '0000000000000004' },
      { ...base, id: '0000000000000005', kind: 'CLIENT', remoteEndpoint: { serviceName: 'mysql', ipv6: '2001:db8::1', port: 3306 } },
      { ...base, id: '0000000000000006', kind: 'CLIENT', remoteEndpoint: { ipv4: '10.0.0.9', ipv6: '::1' }, tags: { 'peer.service': 'named-by-tag' } },
    ]);
    assert.deepEqual(
      spans.map((s) => s.kind),
      [SpanKind.Server, SpanKind.Producer, SpanKind.Consumer, SpanKind.Internal, SpanKind.Client, SpanKind.Client],
    );
    assert.deepEqual(attrs(spans[4]!), [
      ['peer.service', 'string', 'mysql'],
      ['network.peer.address', 'string', '2001:db8::1'],
      ['network.peer.port', 'int', '3306'],
    ]);
    // A tag the sender set wins over the endpoint; IPv4 is preferred over IPv6.
    assert.deepEqual(attrs(spans[5]!), [
      ['peer.service', 'string', 'named-by-tag'],
      ['network.peer.address', 'string', '10.0.0.9'],
    ]);
    // No duration: a span of zero length.
    assert.equal(spans[0]!.endTimeUnixNano, spans[0]!.startTimeUnixNano);
  });

  it('turns the error tag into status ERROR with its value as the message; "false" is no error', () => {
    const base = { traceId: 'b'.repeat(16), timestamp: T0, kind: 'SERVER' };
    const { spans } = v2([
      { ...base, id: '0000000000000001', tags: { error: 'upstream connect error', 'http.status_code': '503' } },
      { ...base, id: '0000000000000002', tags: { error: 'true' } },
      { ...base, id: '0000000000000003', tags: { error: '' } },
      { ...base, id: '0000000000000004', tags: { error: 'false' } },
      { ...base, id: '0000000000000005' },
    ]);
    assert.deepEqual(
      spans.map((s) => [s.statusCode, s.statusMessage, s.attributes.find((a) => a.key === 'error')?.value]),
      [
        [StatusCode.Error, 'upstream connect error', 'upstream connect error'],
        [StatusCode.Error, 'true', 'true'],
        [StatusCode.Error, '', ''],
        [StatusCode.Unset, '', 'false'],
        [StatusCode.Unset, '', undefined],
      ],
    );
  });

  it('gives spans of the same sender one Resource object, and different senders their own', () => {
    const span = (id: string, localEndpoint: object, tags: object = {}) => ({ traceId: 'c'.repeat(32), id, timestamp: T0, localEndpoint, tags });
    const { spans } = v2([
      span('0000000000000001', { serviceName: 'ratings', ipv4: '10.0.0.1' }),
      span('0000000000000002', { serviceName: 'ratings', ipv4: '10.0.0.1' }),
      span('0000000000000003', { serviceName: 'ratings', ipv4: '10.0.0.2' }),
      span('0000000000000004', { serviceName: 'ratings', ipv4: '10.0.0.1' }, { 'istio.canonical_revision': 'v2' }),
      span('0000000000000005', { serviceName: 'ratings', ipv4: '10.0.0.1' }, { 'istio.canonical_revision': 'v2' }),
    ]);
    const [a, b, c, d, e] = spans.map((s) => s.resource);
    assert.equal(a, b);
    assert.notEqual(a, c);
    assert.notEqual(a, d);
    assert.equal(d, e);
    assert.deepEqual(d!.attributes.find((x) => x.key === 'service.version'), { key: 'service.version', type: 'string', value: 'v2' });
    // No local endpoint at all: one shared unknown_service resource.
    const bare = v2([{ traceId: 'c'.repeat(32), id: '0000000000000009', timestamp: T0 }, { traceId: 'c'.repeat(32), id: '000000000000000a', timestamp: T0 }]);
    assert.equal(bare.spans[0]!.resource, bare.spans[1]!.resource);
    assert.deepEqual(bare.spans[0]!.resource, { serviceName: 'unknown_service', namespace: '', attributes: [] });
  });

  it('refuses bad spans one by one with a one-line reason, keeping the good ones', () => {
    const good = { traceId: 'd'.repeat(32), id: '0000000000000001', name: 'good', timestamp: T0 };
    const cases: Array<[object, string]> = [
      [{ ...good, traceId: 'd'.repeat(20) }, `span "good" (id "0000000000000001") has a traceId "${'d'.repeat(20)}" that is not 16 or 32 hex characters`],
      [{ ...good, traceId: 'x'.repeat(32) }, 'that is not 16 or 32 hex characters'],
      [{ ...good, traceId: '0'.repeat(32) }, 'has an all-zero traceId'],
      [{ ...good, id: '00000000000001' }, 'has an id "00000000000001" that is not 16 hex characters'],
      [{ ...good, id: '000000000000000g' }, 'that is not 16 hex characters'],
      [{ ...good, id: undefined }, 'has an id "" that is not 16 hex characters'],
      [{ ...good, id: '0'.repeat(16) }, 'has an all-zero id'],
      [{ ...good, parentId: '12' }, 'has a parentId "12" that is not 16 hex characters'],
      [{ ...good, timestamp: undefined }, 'has no timestamp'],
      [{ ...good, timestamp: 0 }, 'has no timestamp'],
      [{ ...good, timestamp: 'soon' }, 'has a timestamp that is not a number of microseconds'],
      [{ ...good, traceId: 42 }, 'has a traceId that is not a string'],
      [{ ...good, kind: 'SIDEWAYS' }, 'has a kind "SIDEWAYS" that is not CLIENT, SERVER, PRODUCER or CONSUMER'],
      [{ ...good, tags: { a: { nested: true } } }, 'has tag "a" with a value that is not a string'],
      [{ ...good, tags: ['a'] }, 'has tags that are not a JSON object'],
      [{ ...good, localEndpoint: 'me' }, 'has a localEndpoint that is not an object'],
      [{ ...good, remoteEndpoint: { port: 70000 } }, 'has a remoteEndpoint.port that is not a port number'],
      [{ ...good, annotations: {} }, 'has annotations that are not a JSON array'],
    ];
    for (const [bad, reason] of cases) {
      const result = v2([bad, good]);
      assert.equal(result.rejected, 1, reason);
      assert.deepEqual(result.spans.map((s) => s.name), ['good'], reason);
      assert.ok(result.errorMessage.includes(reason), `${result.errorMessage} should include ${reason}`);
      assert.ok(!result.errorMessage.includes('\n'));
    }
    const notObject = v2([good, 'span', good]);
    assert.equal(notObject.rejected, 1);
    assert.equal(notObject.errorMessage, 'span #2 is not a JSON object');
    // Numbers and booleans as tag values (hand-written JSON) are taken as their text.
    assert.deepEqual(attrs(v2([{ ...good, tags: { 'http.status_code': 200, cached: true } }]).spans[0]!), [
      ['http.status_code', 'string', '200'],
      ['cached', 'string', 'true'],
    ]);
  });

  it('refuses a body that is not a JSON array of spans as a whole', () => {
    for (const body of ['', '{', '{"spans":[]}', 'null', '"x"']) {
      assert.throws(
        () => convertZipkinV2Json(Buffer.from(body), WIDE),
        (error: unknown) => error instanceof BadRequestError && error.reason === 'decode' && error.message.startsWith('invalid Zipkin v2 JSON: '),
        body,
      );
    }
    assert.deepEqual(v2([]).spans, []);
  });

  it('applies the same limits as OTLP', () => {
    const span = (i: number) => ({ traceId: 'e'.repeat(32), id: (i + 1).toString(16).padStart(16, '0'), timestamp: T0, tags: { a: 'x'.repeat(50), b: '1', c: '2' } });
    assert.throws(
      () => v2([span(0), span(1), span(2)], { ...WIDE, spansPerRequest: 2 }),
      (error: unknown) => error instanceof BadRequestError && error.reason === 'too_large',
    );
    const limited = v2([{ ...span(0), remoteEndpoint: { serviceName: 'peer' } }], { spansPerRequest: 10, attributesPerSpan: 2, attributeValueLength: 10 });
    const only = limited.spans[0]!;
    assert.deepEqual(attrs(only), [
      ['a', 'string', 'x'.repeat(10)],
      ['b', 'string', '1'],
    ]);
    assert.equal(only.droppedAttributesCount, 2);
    assert.equal(limited.truncatedAttributes, 1);
    assert.equal(limited.droppedAttributes, 2);
  });

  it('gives a sender the same Resource request after request, and a new one when its identity changes', () => {
    const reviews = (id: string, revision: string) => ({
      traceId: 'f'.repeat(32), id, timestamp: T0, localEndpoint: { serviceName: 'reviews.bookinfo', ipv4: '10.1.0.7', port: 9080 },
      tags: { node_id: ISTIO_NODE, 'istio.canonical_service': 'reviews', 'istio.canonical_revision': revision },
    });
    const first = v2([reviews('0000000000000001', 'v2')]).spans[0]!.resource;
    const again = v2([reviews('0000000000000002', 'v2')]).spans[0]!.resource;
    // The same object: its identity and row encoding are worked out once per sender, not per request.
    assert.equal(again, first);
    assert.deepEqual([first.serviceName, first.namespace, first.attributes.find((a) => a.key === 'service.version')?.value], ['reviews', 'bookinfo', 'v2']);
    const rolled = v2([reviews('0000000000000003', 'v3')]).spans[0]!.resource;
    assert.notEqual(rolled, first);
    assert.equal(rolled.attributes.find((a) => a.key === 'service.version')?.value, 'v3');
    // A Resource whose values had to be cut is counted in every request that carries it.
    const long = { ...reviews('0000000000000004', 'v2'), localEndpoint: { serviceName: 'x'.repeat(300), ipv4: '10.1.0.8' } };
    const limits = { ...WIDE, attributeValueLength: 100 };
    for (let i = 0; i < 2; i++) {
      const cut = v2([long, { ...long, id: '0000000000000005' }], limits);
      assert.equal(cut.truncatedAttributes, 1);
      assert.equal(cut.spans[0]!.resource.attributes.find((a) => a.key === 'zipkin.service_name')?.value, 'x'.repeat(100));
    }
  });
});

describe('service identity', () => {
  const none = { canonicalService: '', namespace: '', canonicalRevision: '', nodeId: '' };
  it('follows the documented rule for each mesh', () => {
    const cases: Array<[string, Partial<typeof none>, { name: string; namespace: string; version: string }]> = [
      // Istio tags win.
      ['productpage.bookinfo', { canonicalService: 'productpage', namespace: 'bookinfo', canonicalRevision: 'v1' }, { name: 'productpage', namespace: 'bookinfo', version: 'v1' }],
      ['reviews.bookinfo', { canonicalService: 'reviews', namespace: 'bookinfo', canonicalRevision: 'latest' }, { name: 'reviews', namespace: 'bookinfo', version: '' }],
      // Istio's `<app>.<namespace>`, the namespace from a tag or from the Envoy node id.
      ['ratings.bookinfo', { namespace: 'bookinfo' }, { name: 'ratings', namespace: 'bookinfo', version: '' }],
      ['ratings.bookinfo', { nodeId: ISTIO_NODE }, { name: 'ratings', namespace: 'bookinfo', version: '' }],
      // The node id names another namespace: the dotted name is not cut.
      ['ratings.other', { nodeId: ISTIO_NODE }, { name: 'ratings.other', namespace: 'bookinfo', version: '' }],
      // Kuma's kuma.io/service.
      ['backend_kuma-demo_svc_3001', {}, { name: 'backend', namespace: 'kuma-demo', version: '' }],
      ['redis_kuma-demo_svc_6379', { nodeId: ISTIO_NODE }, { name: 'redis', namespace: 'kuma-demo', version: '' }],
      // Nothing says more: the name as sent, never split on a guess.
      ['api.example.com', {}, { name: 'api.example.com', namespace: '', version: '' }],
      ['frontend', {}, { name: 'frontend', namespace: '', version: '' }],
      ['Not_Kuma_svc_80', {}, { name: 'Not_Kuma_svc_80', namespace: '', version: '' }],
      ['', {}, { name: '', namespace: '', version: '' }],
      // The namespace alone must not become the name.
      ['.bookinfo', { namespace: 'bookinfo' }, { name: '.bookinfo', namespace: 'bookinfo', version: '' }],
    ];
    for (const [serviceName, tags, expected] of cases) {
      assert.deepEqual(serviceIdentity(serviceName, { ...none, ...tags }), expected, `${serviceName} ${JSON.stringify(tags)}`);
    }
  });

  it('reads the namespace out of Envoy node ids', () => {
    assert.equal(nodeIdNamespace(ISTIO_NODE), 'bookinfo');
    assert.equal(nodeIdNamespace('router~10.1.0.2~istio-ingressgateway-7f8.istio-system~istio-system.svc.cluster.local'), 'istio-system');
    assert.equal(nodeIdNamespace('sidecar~10.1.0.2~web-1.shop~'), 'shop');
    assert.equal(nodeIdNamespace('envoy-1'), '');
    assert.equal(nodeIdNamespace(''), '');
    assert.equal(nodeIdNamespace('a~b~c~d~e'), '');
  });

  it('derives Kuma and Istio-tag identities through the converter', () => {
    const { spans } = v2([
      { traceId: 'f'.repeat(16), id: '0000000000000001', timestamp: T0, kind: 'SERVER', localEndpoint: { serviceName: 'backend_kuma-demo_svc_3001' } },
      {
        traceId: 'f'.repeat(16), id: '0000000000000002', timestamp: T0, kind: 'SERVER',
        localEndpoint: { serviceName: 'reviews.bookinfo' },
        tags: { 'istio.canonical_service': 'reviews', 'istio.namespace': 'bookinfo', 'istio.canonical_revision': 'v2' },
      },
    ]);
    assert.deepEqual(
      spans.map((s) => [s.resource.serviceName, s.resource.namespace, s.resource.attributes.map((a) => `${a.key}=${a.value}`)]),
      [
        ['backend', 'kuma-demo', ['service.name=backend', 'k8s.namespace.name=kuma-demo', 'zipkin.service_name=backend_kuma-demo_svc_3001']],
        ['reviews', 'bookinfo', ['service.name=reviews', 'k8s.namespace.name=bookinfo', 'service.version=v2', 'zipkin.service_name=reviews.bookinfo']],
      ],
    );
    // The identity tags stay on the span as they came.
    assert.deepEqual(spans[1]!.attributes.map((a) => a.key), ['istio.canonical_service', 'istio.namespace', 'istio.canonical_revision']);
  });
});

/** A v2 JSON span as protobufjs wants it for our ListOfSpans. */
function protoBody(spans: object[]): Uint8Array {
  return ListOfSpans.encode(ListOfSpans.fromObject({ spans })).finish();
}
const bytes = (hex: string) => Buffer.from(hex, 'hex');

describe('Zipkin proto3 → SpanRecords', () => {
  it('agrees exactly with the JSON reader on the same spans', () => {
    const proto = convertZipkinProto(
      protoBody([
        {
          traceId: bytes('463ac35c9f6413ad'),
          parentId: bytes('8a2b3c4d5e6f7081'),
          id: bytes('1122334455667788'),
          kind: 1,
          name: envoyClient.name,
          timestamp: T0,
          duration: 2500,
          localEndpoint: { serviceName: 'productpage.bookinfo', ipv4: bytes('0a010005'), port: 9080 },
          annotations: [{ timestamp: T0 + 100, value: 'retry' }],
          tags: envoyClient.tags,
        },
      ]),
      WIDE,
    );
    assert.deepEqual(proto, v2([envoyClient]));
  });

  it('reads IPv6 endpoints, unknown kinds, shared SERVER halves and 128-bit ids', () => {
    const { spans, rejected } = convertZipkinProto(
      protoBody([
        {
          traceId: bytes('0123456789abcdef0123456789abcdef'), id: bytes('1122334455667788'), kind: 2, shared: true, timestamp: T0, duration: 10,
          localEndpoint: { serviceName: 'ratings', ipv6: bytes('20010db8000000000000000000000001'), port: 9080 },
          remoteEndpoint: { ipv6: bytes('fe800000000000000202b3fffe1e8329') },
        },
        { traceId: bytes('0123456789abcdef0123456789abcdef'), id: bytes('1122334455667789'), kind: 9, timestamp: T0 },
      ]),
      WIDE,
    );
    assert.equal(rejected, 0);
    assert.deepEqual(spans.map((s) => [s.traceId, s.kind]), [
      ['0123456789abcdef0123456789abcdef', SpanKind.Server],
      ['0123456789abcdef0123456789abcdef', SpanKind.Internal],
    ]);
    assert.deepEqual(spans[0]!.resource.attributes.find((a) => a.key === 'network.local.address')?.value, '2001:db8::1');
    assert.deepEqual(attrs(spans[0]!), [['zipkin.shared', 'bool', 'true'], ['network.peer.address', 'string', 'fe80::202:b3ff:fe1e:8329']]);
  });

  it('refuses spans with ids of the wrong size or no timestamp, and undecodable bodies whole', () => {
    const good = { traceId: bytes('0123456789abcdef'), id: bytes('1122334455667788'), name: 'ok', timestamp: T0 };
    const result = convertZipkinProto(
      protoBody([good, { ...good, traceId: bytes('0102030405') }, { ...good, id: bytes('11223344') }, { ...good, parentId: bytes('01') }, { ...good, timestamp: 0 }]),
      WIDE,
    );
    assert.equal(result.spans.length, 1);
    assert.equal(result.rejected, 4);
    assert.equal(result.errorMessage, 'span "ok" (id "1122334455667788") has a traceId "0102030405" that is not 16 or 32 hex characters');
    assert.throws(
      () => convertZipkinProto(Buffer.from('{"not":"protobuf"}'), WIDE),
      (error: unknown) => error instanceof BadRequestError && error.reason === 'decode' && error.message.startsWith('invalid Zipkin proto3 ListOfSpans: '),
    );
  });

  it('formats IPv6 addresses as RFC 5952 does', () => {
    assert.equal(ipv6Text(bytes('00000000000000000000000000000001')), '::1');
    assert.equal(ipv6Text(bytes('00000000000000000000000000000000')), '::');
    assert.equal(ipv6Text(bytes('20010db8000000010000000000000001')), '2001:db8:0:1::1');
    assert.equal(ipv6Text(bytes('20010db8000100010001000100010001')), '2001:db8:1:1:1:1:1:1');
    assert.equal(ipv6Text(bytes('20010db800000000000100000000000a')), '2001:db8::1:0:0:a');
    assert.equal(ipv6Text(bytes('0001')), '');
  });
});

describe('Zipkin v1 JSON → SpanRecords', () => {
  const client = { serviceName: 'frontend', ipv4: '10.0.0.1', port: 8080 };
  const server = { serviceName: 'backend', ipv4: '10.0.0.2', port: 9000 };

  it('splits a two-sided span into CLIENT and SERVER spans sharing one id', () => {
    const { spans, rejected } = v1([
      {
        traceId: '5af7183fb1d4cf5f', id: '6b221d5bc9e6496c', parentId: '5af7183fb1d4cf5f', name: 'get /api', timestamp: T0, duration: 900,
        annotations: [
          { timestamp: T0, value: 'cs', endpoint: client },
          { timestamp: T0 + 100, value: 'sr', endpoint: server },
          { timestamp: T0 + 300, value: 'cache miss', endpoint: server },
          { timestamp: T0 + 700, value: 'ss', endpoint: server },
          { timestamp: T0 + 900, value: 'cr', endpoint: client },
        ],
        binaryAnnotations: [
          { key: 'http.path', value: '/api', endpoint: client },
          { key: 'db.rows', value: 3, endpoint: server },
          { key: 'sa', value: true, endpoint: { serviceName: 'backend-svc', ipv4: '10.0.0.2', port: 9000 } },
          { key: 'ca', value: true, endpoint: { ipv4: '10.0.0.1', port: 51000 } },
        ],
      },
    ]);
    assert.equal(rejected, 0);
    assert.deepEqual(
      spans.map((s) => ({
        id: `${s.traceId}/${s.spanId}/${s.parentSpanId}`,
        kind: s.kind,
        service: s.resource.serviceName,
        start: s.startTimeUnixNano - BigInt(T0) * 1000n,
        durationNs: s.endTimeUnixNano - s.startTimeUnixNano,
        attributes: attrs(s),
        events: s.events.map((e) => e.name),
      })),
      [
        {
          id: '00000000000000005af7183fb1d4cf5f/6b221d5bc9e6496c/5af7183fb1d4cf5f', kind: SpanKind.Client, service: 'frontend', start: 0n, durationNs: 900_000n,
          attributes: [['http.path', 'string', '/api'], ['peer.service', 'string', 'backend-svc'], ['network.peer.address', 'string', '10.0.0.2'], ['network.peer.port', 'int', '9000']],
          events: [],
        },
        {
          id: '00000000000000005af7183fb1d4cf5f/6b221d5bc9e6496c/5af7183fb1d4cf5f', kind: SpanKind.Server, service: 'backend', start: 100_000n, durationNs: 600_000n,
          attributes: [['db.rows', 'string', '3'], ['zipkin.shared', 'bool', 'true'], ['network.peer.address', 'string', '10.0.0.1'], ['network.peer.port', 'int', '51000']],
          events: ['cache miss'],
        },
      ],
    );
  });

  it('reads one-sided, local (lc) and address-only spans', () => {
    const { spans } = v1([
      // Server side only, reported by the server: its own timestamp and duration.
      { traceId: 'a'.repeat(16), id: '0000000000000001', name: 'srv', timestamp: T0, duration: 50, annotations: [{ timestamp: T0, value: 'sr', endpoint: server }, { timestamp: T0 + 50, value: 'ss', endpoint: server }] },
      // A client that never got its reply: cs only, the span's duration.
      { traceId: 'a'.repeat(16), id: '0000000000000002', name: 'cli', timestamp: T0, duration: 70, annotations: [{ timestamp: T0, value: 'cs', endpoint: client }] },
      // A local span.
      { traceId: 'a'.repeat(16), id: '0000000000000003', name: 'compute', timestamp: T0, duration: 20, binaryAnnotations: [{ key: 'lc', value: 'worker', endpoint: server }] },
      // A client to an uninstrumented server, told only by `sa`.
      { traceId: 'a'.repeat(16), id: '0000000000000004', name: 'query', timestamp: T0, duration: 30, binaryAnnotations: [{ key: 'sa', value: true, endpoint: { serviceName: 'mysql', port: 3306 } }] },
    ]);
    assert.deepEqual(
      spans.map((s) => [s.name, s.kind, s.resource.serviceName, Number(s.endTimeUnixNano - s.startTimeUnixNano) / 1000, attrs(s)]),
      [
        ['srv', SpanKind.Server, 'backend', 50, []],
        ['cli', SpanKind.Client, 'frontend', 70, []],
        ['compute', SpanKind.Internal, 'backend', 20, [['lc', 'string', 'worker']]],
        ['query', SpanKind.Client, 'unknown_service', 30, [['peer.service', 'string', 'mysql'], ['network.peer.port', 'int', '3306']]],
      ],
    );
  });

  it('refuses bad v1 spans with a reason and bad bodies whole', () => {
    const result = v1([
      { traceId: 'a'.repeat(16), id: '0000000000000001', name: 'ok', timestamp: T0 },
      { traceId: 'a'.repeat(16), id: '0000000000000002', name: 'no time' },
      { traceId: 'a'.repeat(16), id: '0000000000000003', name: 'bad anno', annotations: [{ value: 'cs', timestamp: 'x' }] },
      7,
    ]);
    assert.equal(result.spans.length, 1);
    assert.equal(result.rejected, 3);
    assert.equal(result.errorMessage, 'span "no time" (id "0000000000000002") has no timestamp');
    assert.throws(
      () => convertZipkinV1Json(Buffer.from('{"traceId":"x"}'), WIDE),
      (error: unknown) => error instanceof BadRequestError && error.message === 'invalid Zipkin v1 JSON: the body must be a JSON array of spans',
    );
  });
});
