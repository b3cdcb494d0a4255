// Zipkin's v2 read API on the query port against a real meshlens: spans sent through the real Zipkin
// receiver (hand-written v2 JSON for exact fields, and zipkin-js' real Tracer + HttpLogger) and through
// OTLP/HTTP, then read back with Grafana's Zipkin data source requests (services → span names → traces
// picker → trace by id, grafana.md §3) and the rest of zipkin2-api.yaml (search parameters, remote
// services, traceMany, errors). A Zipkin span must come back as it was sent, except for the documented
// normalisation: a 128-bit id with a zero upper half is given as 16 hex (Zipkin's own rule), `shared` and
// `debug` are not kept by the receiver.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jsonEncoder, type JsonEncoder, type model } from 'zipkin';
import type { ZipkinSpanJson } from '../../query/zipkin.ts';
import { getJson, startTestMeshlens, type TestMeshlens } from '../helpers/meshlens.ts';
import { postTraces } from '../helpers/otlp-json.ts';
import { recordHomeTrace } from '../helpers/zipkin-js.ts';

let meshlens: TestMeshlens;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Ten minutes ago in µs (Zipkin's unit): inside the default 24-hour lookback. */
const BASE_US = (Date.now() - 600_000) * 1000;

// ---- the hand-written Zipkin v2 spans ----

const CHECKOUT = '463ac35c9f6413ad48485a3953bb6124';
const QUEUE_64 = '7a8b9c0d1e2f3a4b';
const ROOT = 'a000000000000001';
const PAY_CLIENT = 'a000000000000002';
const RENDER = 'a000000000000003';
const SEND = 'b000000000000001';
const RECEIVE = 'b000000000000002';

/** frontend serves /checkout, calls payments (whose sidecar names itself Istio-style), renders locally. */
const CHECKOUT_SPANS: ZipkinSpanJson[] = [
  {
    traceId: CHECKOUT, id: ROOT, kind: 'SERVER', name: 'get /checkout', timestamp: BASE_US, duration: 120_000,
    localEndpoint: { serviceName: 'frontend', ipv4: '10.0.0.5', port: 8080 },
    remoteEndpoint: { ipv4: '10.0.0.9', port: 51000 },
    annotations: [{ timestamp: BASE_US + 1, value: 'wr' }, { timestamp: BASE_US + 119_999, value: 'ws' }],
    tags: { 'http.method': 'GET', 'http.path': '/checkout' },
  },
  {
    traceId: CHECKOUT, parentId: ROOT, id: PAY_CLIENT, kind: 'CLIENT', name: 'post /pay', timestamp: BASE_US + 10_000, duration: 80_000,
    localEndpoint: { serviceName: 'frontend', ipv4: '10.0.0.5' },
    remoteEndpoint: { serviceName: 'payments', ipv6: '2001:db8::7', port: 9000 },
    tags: { 'http.method': 'POST', 'http.status_code': '500', error: 'card declined' },
  },
  {
    traceId: CHECKOUT, parentId: ROOT, id: PAY_CLIENT, kind: 'SERVER', name: 'post /pay', timestamp: BASE_US + 12_000, duration: 70_000,
    localEndpoint: { serviceName: 'payments.shop', ipv4: '10.0.1.7', port: 9000 },
    tags: { 'istio.canonical_service': 'payments', 'istio.namespace': 'shop', 'istio.canonical_revision': 'v2', 'http.status_code': '500', error: 'card declined' },
  },
  {
    traceId: CHECKOUT, parentId: ROOT, id: RENDER, name: 'render', timestamp: BASE_US + 95_000, duration: 3_000,
    localEndpoint: { serviceName: 'frontend' },
    tags: { template: 'checkout' },
  },
];
/** As the receiver is sent them: the payments server half marks itself `shared`, which Zipkin allows. */
const CHECKOUT_SENT = CHECKOUT_SPANS.map((s) => (s.kind === 'SERVER' && s.id === PAY_CLIENT ? { ...s, shared: true } : s));

/** A 64-bit trace: the producer sends 16 hex, the consumer the same id as 32 hex with a zero upper half. */
const QUEUE_SENT = [
  {
    traceId: QUEUE_64, id: SEND, kind: 'PRODUCER', name: 'send orders', timestamp: BASE_US + 200_000, duration: 1_000,
    localEndpoint: { serviceName: 'orders' }, remoteEndpoint: { serviceName: 'kafka' }, tags: { 'messaging.destination': 'orders' },
  },
  {
    traceId: `0000000000000000${QUEUE_64}`, parentId: SEND, id: RECEIVE, kind: 'CONSUMER', name: 'receive orders', timestamp: BASE_US + 250_000, duration: 4_000,
    localEndpoint: { serviceName: 'shipping' }, remoteEndpoint: { serviceName: 'kafka' },
  },
];
/** …and both read back with the 16-hex id. */
const QUEUE_SPANS: ZipkinSpanJson[] = QUEUE_SENT.map((s) => ({ ...(s as ZipkinSpanJson), traceId: QUEUE_64 }));

// ---- an OTLP trace, read through the Zipkin model ----

const OTLP_TRACE = 'c0ffee00000000000000000000000001';
const OTLP_ROOT = 'c0ffee0000000001';
const OTLP_CALL = 'c0ffee0000000002';
const str = (key: string, value: string) => ({ key, value: { stringValue: value } });
const OTLP_REQUEST = {
  resourceSpans: [
    {
      resource: { attributes: [str('service.name', 'inventory'), str('k8s.namespace.name', 'shop'), str('host.name', 'node-3')] },
      scopeSpans: [
        {
          scope: { name: 'inventory-lib', version: '0.9.1' },
          spans: [
            {
              traceId: OTLP_TRACE, spanId: OTLP_ROOT, name: 'GET /stock', kind: 2,
              startTimeUnixNano: String(BigInt(BASE_US + 300_000) * 1000n), endTimeUnixNano: String(BigInt(BASE_US + 340_000) * 1000n + 999n),
              attributes: [{ key: 'http.status_code', value: { intValue: 503 } }, { key: 'cached', value: { boolValue: false } }],
              events: [{ timeUnixNano: String(BigInt(BASE_US + 301_000) * 1000n), name: 'retry', attributes: [str('attempt', '2')] }],
              status: { code: 2, message: 'db down' },
            },
            {
              traceId: OTLP_TRACE, spanId: OTLP_CALL, parentSpanId: OTLP_ROOT, name: 'SELECT stock', kind: 3,
              startTimeUnixNano: String(BigInt(BASE_US + 302_000) * 1000n), endTimeUnixNano: String(BigInt(BASE_US + 330_000) * 1000n),
              attributes: [str('peer.service', 'postgres'), str('network.peer.address', '10.0.2.2'), { key: 'network.peer.port', value: { intValue: 5432 } }],
              status: { code: 1 },
            },
          ],
        },
      ],
    },
  ],
};

// ---- zipkin-js: the real client, recording exactly what it sent ----

/** zipkin-js' JSON_V2 encoder, keeping each span it encodes (HttpLogger posts `[` + these joined + `]`). */
function recordingEncoder(sent: object[]): JsonEncoder {
  return {
    encode(span: model.Span): string {
      const text = jsonEncoder.JSON_V2.encode(span);
      sent.push(JSON.parse(text) as object);
      return text;
    },
  };
}

/** storefront serves GET /home, calls catalog, renders: three spans through HttpLogger. */
async function sendWithZipkinJs(sent: object[]): Promise<string> {
  const { traceId, statuses } = recordHomeTrace({ endpoint: `${meshlens.zipkinUrl}/api/v2/spans`, encoder: recordingEncoder(sent), service: 'storefront', callee: 'catalog' });
  for (let i = 0; i < 200 && statuses.length === 0; i++) await sleep(20);
  assert.deepEqual(statuses, [202]);
  return traceId;
}

// ---- reading ----

async function postZipkin(spans: object[]): Promise<void> {
  const response = await fetch(`${meshlens.zipkinUrl}/api/v2/spans`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spans) });
  assert.equal(response.status, 202, await response.text());
}

/** GET /api/v2/trace/{id} once it has `count` spans (writes are batched). */
async function traceWhenComplete(traceId: string, count: number): Promise<ZipkinSpanJson[]> {
  for (let i = 0; i < 200; i++) {
    const { status, body } = await getJson<ZipkinSpanJson[]>(`${meshlens.queryUrl}/api/v2/trace/${traceId}`);
    if (status === 200 && body.length === count) return body;
    await sleep(50);
  }
  throw new Error(`trace ${traceId} never had ${count} spans`);
}

/** Spans in a stable order for comparison: the API gives them by start time, a sender in any order. */
const byIdAndKind = (spans: readonly object[]) =>
  [...spans].sort((a, b) => {
    const x = a as ZipkinSpanJson;
    const y = b as ZipkinSpanJson;
    return x.id === y.id ? String(x.kind).localeCompare(String(y.kind)) : x.id.localeCompare(y.id);
  });

const traceIdsOf = (traces: ZipkinSpanJson[][]) => traces.map((t) => t[0]!.traceId);
const search = async (params: Record<string, string>) => {
  const { status, body } = await getJson<ZipkinSpanJson[][]>(`${meshlens.queryUrl}/api/v2/traces?${new URLSearchParams(params)}`);
  assert.equal(status, 200, JSON.stringify(body));
  return body;
};

let zipkinJsTrace = '';
const zipkinJsSent: object[] = [];

before(async () => {
  meshlens = await startTestMeshlens({ overrides: { 'batch.max_delay': '50ms' } });
  await postZipkin(CHECKOUT_SENT);
  await postZipkin(QUEUE_SENT);
  await postTraces(meshlens.otlpHttpUrl, JSON.stringify(OTLP_REQUEST));
  zipkinJsTrace = await sendWithZipkinJs(zipkinJsSent);
  await traceWhenComplete(CHECKOUT, 4);
  await traceWhenComplete(QUEUE_64, 2);
  await traceWhenComplete(OTLP_TRACE, 2);
  await traceWhenComplete(zipkinJsTrace, 3);
});
after(async () => {
  await meshlens?.destroy();
});

describe('Zipkin read API: what Grafana calls', () => {
  it('GET /api/v2/services (health check and service list): every service, sorted', async () => {
    const { status, body } = await getJson(`${meshlens.queryUrl}/api/v2/services`);
    assert.equal(status, 200);
    // The Istio-named sender is listed by the name its tags give it (as the Jaeger API lists it).
    assert.deepEqual(body, ['frontend', 'inventory', 'orders', 'payments', 'shipping', 'storefront']);
  });

  it('GET /api/v2/spans?serviceName= gives the span names of one service, sorted', async () => {
    assert.deepEqual((await getJson(`${meshlens.queryUrl}/api/v2/spans?serviceName=frontend`)).body, ['get /checkout', 'post /pay', 'render']);
    assert.deepEqual((await getJson(`${meshlens.queryUrl}/api/v2/spans?serviceName=storefront`)).body, ['get /api/items', 'get /home', 'render']);
    assert.deepEqual((await getJson(`${meshlens.queryUrl}/api/v2/spans?serviceName=nobody`)).body, []);
  });

  it('GET /api/v2/traces?serviceName=&spanName= (the picker, server defaults): the matching traces', async () => {
    const traces = await search({ serviceName: 'frontend', spanName: 'get /checkout' });
    assert.equal(traces.length, 1);
    assert.deepEqual(byIdAndKind(traces[0]!), byIdAndKind(CHECKOUT_SENT));
  });

  it('GET /api/v2/trace/{id}: a Zipkin trace comes back as sent, field by field (128-bit id, both halves of a shared span)', async () => {
    const spans = await traceWhenComplete(CHECKOUT, 4);
    assert.deepEqual(byIdAndKind(spans), byIdAndKind(CHECKOUT_SENT));
    // In start order, as Grafana lays them out.
    assert.deepEqual(spans.map((s) => s.timestamp), [BASE_US, BASE_US + 10_000, BASE_US + 12_000, BASE_US + 95_000]);
  });

  it('GET /api/v2/trace/{id}: a 64-bit trace, sent as 16 and as 32 hex, is one trace with the 16-hex id, found by either form', async () => {
    const short = await traceWhenComplete(QUEUE_64, 2);
    assert.deepEqual(short, QUEUE_SPANS);
    const long = await getJson<ZipkinSpanJson[]>(`${meshlens.queryUrl}/api/v2/trace/0000000000000000${QUEUE_64}`);
    assert.deepEqual(long.body, QUEUE_SPANS);
    // Zipkin's normalizeTraceId: fewer than 16 hex are left-padded.
    const trimmed = await getJson<ZipkinSpanJson[]>(`${meshlens.queryUrl}/api/v2/trace/${QUEUE_64.toUpperCase()}`);
    assert.deepEqual(trimmed.body, QUEUE_SPANS);
  });

  it('zipkin-js (Tracer + HttpLogger): the trace read back equals what the client posted', async () => {
    assert.equal(zipkinJsSent.length, 3);
    const spans = await traceWhenComplete(zipkinJsTrace, 3);
    assert.equal(zipkinJsTrace.length, 32);
    assert.deepEqual(byIdAndKind(spans), byIdAndKind(zipkinJsSent));
  });

  it('an OTLP span through the Zipkin model: kind, µs times, endpoints, tags, error, annotations', async () => {
    const spans = await traceWhenComplete(OTLP_TRACE, 2);
    assert.deepEqual(spans, [
      {
        traceId: OTLP_TRACE, id: OTLP_ROOT, kind: 'SERVER', name: 'GET /stock',
        // 40 000.999 µs: Zipkin's whole microseconds, truncated.
        timestamp: BASE_US + 300_000, duration: 40_000,
        localEndpoint: { serviceName: 'inventory' },
        annotations: [{ timestamp: BASE_US + 301_000, value: 'retry {"attempt":"2"}' }],
        tags: {
          'http.status_code': '503', cached: 'false', 'k8s.namespace.name': 'shop', 'host.name': 'node-3',
          'otel.status_code': 'ERROR', error: 'db down', 'otel.scope.name': 'inventory-lib', 'otel.scope.version': '0.9.1',
        },
      },
      {
        traceId: OTLP_TRACE, parentId: OTLP_ROOT, id: OTLP_CALL, kind: 'CLIENT', name: 'SELECT stock',
        timestamp: BASE_US + 302_000, duration: 28_000,
        localEndpoint: { serviceName: 'inventory' },
        remoteEndpoint: { serviceName: 'postgres', ipv4: '10.0.2.2', port: 5432 },
        tags: { 'k8s.namespace.name': 'shop', 'host.name': 'node-3', 'otel.status_code': 'OK', 'otel.scope.name': 'inventory-lib', 'otel.scope.version': '0.9.1' },
      },
    ]);
  });
});

describe('Zipkin read API: search parameters (zipkin2-api.yaml)', () => {
  it('defaults: the last 24 hours, newest first, at most 10', async () => {
    assert.deepEqual(traceIdsOf(await search({})), [zipkinJsTrace, OTLP_TRACE, QUEUE_64, CHECKOUT]);
  });

  it('limit keeps the newest traces', async () => {
    assert.deepEqual(traceIdsOf(await search({ limit: '2' })), [zipkinJsTrace, OTLP_TRACE]);
  });

  it('endTs and lookback (ms) bound the window', async () => {
    const endMs = Math.floor((BASE_US + 260_000) / 1000);
    // [BASE + 100 ms, BASE + 260 ms]: only the queue trace's spans start in it.
    assert.deepEqual(traceIdsOf(await search({ endTs: String(endMs), lookback: '160' })), [QUEUE_64]);
    assert.deepEqual(traceIdsOf(await search({ endTs: String(Math.floor(BASE_US / 1000) - 1), lookback: '60000' })), []);
  });

  it('minDuration / maxDuration (µs) bound one span of the service', async () => {
    assert.deepEqual(traceIdsOf(await search({ serviceName: 'frontend', minDuration: '100000' })), [CHECKOUT]);
    assert.deepEqual(traceIdsOf(await search({ serviceName: 'frontend', minDuration: '120001' })), []);
    // Across services, within the hand-written traces' second (zipkin-js' spans take real, machine-dependent time).
    const handWritten = { endTs: String(Math.floor(BASE_US / 1000) + 1000), lookback: '2000' };
    assert.deepEqual(traceIdsOf(await search({ minDuration: '3000', maxDuration: '5000', ...handWritten })), [QUEUE_64, CHECKOUT]);
  });

  it('spanName and remoteServiceName; "all" means any', async () => {
    assert.deepEqual(traceIdsOf(await search({ serviceName: 'orders', spanName: 'all' })), [QUEUE_64]);
    assert.deepEqual(traceIdsOf(await search({ spanName: 'post /pay' })), [CHECKOUT]);
    assert.deepEqual(traceIdsOf(await search({ remoteServiceName: 'kafka' })), [QUEUE_64]);
    assert.deepEqual(traceIdsOf(await search({ serviceName: 'inventory', remoteServiceName: 'postgres' })), [OTLP_TRACE]);
    assert.deepEqual(traceIdsOf(await search({ serviceName: 'frontend', remoteServiceName: 'kafka' })), []);
  });

  it('annotationQuery: a word matches an annotation or a tag key, key=value a tag; terms joined by " and " hold on one span', async () => {
    assert.deepEqual(traceIdsOf(await search({ annotationQuery: 'wr' })), [CHECKOUT]);
    assert.deepEqual(traceIdsOf(await search({ annotationQuery: 'rendered' })), [zipkinJsTrace]);
    assert.deepEqual(traceIdsOf(await search({ annotationQuery: 'template' })), [zipkinJsTrace, CHECKOUT]);
    assert.deepEqual(traceIdsOf(await search({ annotationQuery: 'http.status_code=500 and error' })), [CHECKOUT]);
    assert.deepEqual(traceIdsOf(await search({ annotationQuery: 'error=card declined' })), [CHECKOUT]);
    // error: a Zipkin error tag or an OTLP status ERROR (with its message as the value).
    assert.deepEqual(traceIdsOf(await search({ annotationQuery: 'error' })), [OTLP_TRACE, CHECKOUT]);
    assert.deepEqual(traceIdsOf(await search({ annotationQuery: 'error=db down' })), [OTLP_TRACE]);
    // The method tag is on the root span, the error on the client span: no single span has both.
    assert.deepEqual(traceIdsOf(await search({ annotationQuery: 'http.method=GET and error' })), []);
    assert.deepEqual(traceIdsOf(await search({ annotationQuery: 'http.method=POST and error' })), [CHECKOUT]);
  });

  it('bad parameters answer 400 with the reason as plain text', async () => {
    for (const [query, reason] of [
      ['maxDuration=10', /maxDuration is only valid with minDuration/],
      ['minDuration=10&maxDuration=5', /maxDuration < minDuration/],
      ['limit=0', /limit/],
      ['endTs=soon', /endTs/],
      ['lookback=-5', /lookback/],
    ] as const) {
      const response = await fetch(`${meshlens.queryUrl}/api/v2/traces?${query}`);
      assert.equal(response.status, 400, query);
      assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
      assert.match(await response.text(), reason);
    }
  });
});

describe('Zipkin read API: the other reads and not-found', () => {
  it('GET /api/v2/remoteServices?serviceName= lists the peers a service named', async () => {
    assert.deepEqual((await getJson(`${meshlens.queryUrl}/api/v2/remoteServices?serviceName=frontend`)).body, ['payments']);
    assert.deepEqual((await getJson(`${meshlens.queryUrl}/api/v2/remoteServices?serviceName=storefront`)).body, ['catalog']);
    assert.deepEqual((await getJson(`${meshlens.queryUrl}/api/v2/remoteServices?serviceName=payments`)).body, []);
  });

  it('GET /api/v2/traceMany?traceIds= gives the traces found, in the order asked', async () => {
    const { status, body } = await getJson<ZipkinSpanJson[][]>(`${meshlens.queryUrl}/api/v2/traceMany?traceIds=${QUEUE_64},${'ab'.repeat(16)},${OTLP_TRACE}`);
    assert.equal(status, 200);
    assert.deepEqual(traceIdsOf(body), [QUEUE_64, OTLP_TRACE]);
    assert.deepEqual(body[0], QUEUE_SPANS);
  });

  it('autocompleteKeys and autocompleteValues answer empty lists (none configured)', async () => {
    assert.deepEqual((await getJson(`${meshlens.queryUrl}/api/v2/autocompleteKeys`)).body, []);
    assert.deepEqual((await getJson(`${meshlens.queryUrl}/api/v2/autocompleteValues?key=http.method`)).body, []);
  });

  it('an unknown trace answers 404, a malformed id and a missing serviceName 400, as plain text', async () => {
    const missing = await fetch(`${meshlens.queryUrl}/api/v2/trace/${'ab'.repeat(16)}`);
    assert.equal(missing.status, 404);
    assert.equal(await missing.text(), `${'ab'.repeat(16)} not found`);
    for (const path of ['/api/v2/trace/not-hex', `/api/v2/trace/${'a'.repeat(33)}`, '/api/v2/trace/0000', '/api/v2/spans', '/api/v2/remoteServices']) {
      const response = await fetch(`${meshlens.queryUrl}${path}`);
      assert.equal(response.status, 400, path);
      assert.match(response.headers.get('content-type') ?? '', /^text\/plain/, path);
      assert.notEqual(await response.text(), '', path);
    }
  });
});
