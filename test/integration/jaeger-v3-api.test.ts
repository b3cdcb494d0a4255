// Jaeger's /api/v3/ against a real meshlens, as Grafana's Jaeger data source calls it with the
// `jaegerEnableGrpcEndpoint` toggle (grafana.md §2.2): traces sent through the real OTLP/HTTP and Zipkin
// receivers, then services, operations, search (Grafana's exact parameters, times appended unencoded) and
// trace by id read back as OTLP/JSON field by field; errors in the gRPC gateway's shape.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { OtlpResourceSpans } from '../../query/jaeger-v3.ts';
import { getJson, startTestMeshlens, type TestMeshlens } from '../helpers/meshlens.ts';
import { postTraces } from '../helpers/otlp-json.ts';

let meshlens: TestMeshlens;
const MS = 1_000_000n;
/** Ten minutes ago, to the millisecond: inside every default window. */
const BASE_NS = (BigInt(Date.now()) - 600_000n) * MS;

const CHECKOUT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const HEALTH_TRACE = '5cf92f3577b34da6a3ce929d0e0e4737';
const LINKED_TRACE = '6df92f3577b34da6a3ce929d0e0e4738';
const ROOT = '00f067aa0ba902b7';
const PAY_CLIENT = '00f067aa0ba902b8';
const PAY_SERVER = '00f067aa0ba902b9';
const HEALTH = '00f067aa0ba902ba';
const ZIPKIN_TRACE_64 = '7a8b9c0d1e2f3a4b';

const str = (key: string, value: string) => ({ key, value: { stringValue: value } });
const at = (ms: number) => String(BASE_NS + BigInt(ms) * MS);

/** frontend (two scopes' worth of spans, typed attributes, an event, a link) and payments, over OTLP/JSON. */
const FRONTEND_REQUEST = {
  resourceSpans: [
    {
      resource: { attributes: [str('service.name', 'frontend'), str('k8s.namespace.name', 'shop'), str('host.name', 'node-1')] },
      scopeSpans: [
        {
          scope: { name: 'checkout-lib', version: '1.2.0' },
          spans: [
            {
              traceId: CHECKOUT_TRACE, spanId: ROOT, traceState: 'vendor=1', flags: 1, name: 'GET /checkout', kind: 2,
              startTimeUnixNano: at(0), endTimeUnixNano: at(120),
              attributes: [
                str('http.method', 'GET'),
                { key: 'http.status_code', value: { intValue: '200' } },
                { key: 'retry', value: { boolValue: true } },
                { key: 'ratio', value: { doubleValue: 0.25 } },
                { key: 'items', value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: '3' }] } } },
              ],
              events: [{ timeUnixNano: at(5), name: 'cache miss', attributes: [str('cache.key', 'cart:42')] }],
              status: { code: 1 },
            },
            {
              traceId: CHECKOUT_TRACE, spanId: PAY_CLIENT, parentSpanId: ROOT, name: 'POST /pay', kind: 3,
              startTimeUnixNano: at(10), endTimeUnixNano: at(90),
              attributes: [str('peer.service', 'payments')],
              links: [{ traceId: LINKED_TRACE, spanId: HEALTH, attributes: [str('link.reason', 'retry')] }],
              status: { code: 2, message: 'card declined' },
            },
          ],
        },
        {
          scope: { name: 'health-lib' },
          spans: [
            { traceId: HEALTH_TRACE, spanId: HEALTH, name: 'GET /health', kind: 1, startTimeUnixNano: at(1000), endTimeUnixNano: at(1002) },
          ],
        },
      ],
    },
    {
      resource: { attributes: [str('service.name', 'payments'), str('k8s.namespace.name', 'shop')] },
      scopeSpans: [
        {
          spans: [
            {
              traceId: CHECKOUT_TRACE, spanId: PAY_SERVER, parentSpanId: PAY_CLIENT, name: 'POST /pay', kind: 2,
              startTimeUnixNano: at(15), endTimeUnixNano: at(75), status: { code: 2, message: 'card declined' },
            },
          ],
        },
      ],
    },
  ],
};

/** What trace CHECKOUT must read back as: the request above, per resource and scope, in start order. */
const CHECKOUT_RESOURCE_SPANS: OtlpResourceSpans[] = [
  {
    resource: { attributes: [str('service.name', 'frontend'), str('k8s.namespace.name', 'shop'), str('host.name', 'node-1')] },
    scopeSpans: [
      {
        scope: { name: 'checkout-lib', version: '1.2.0' },
        spans: [
          {
            traceId: CHECKOUT_TRACE, spanId: ROOT, traceState: 'vendor=1', flags: 1, name: 'GET /checkout', kind: 2,
            startTimeUnixNano: at(0), endTimeUnixNano: at(120),
            attributes: [
              str('http.method', 'GET'),
              { key: 'http.status_code', value: { intValue: '200' } },
              { key: 'retry', value: { boolValue: true } },
              { key: 'ratio', value: { doubleValue: 0.25 } },
              { key: 'items', value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: '3' }] } } },
            ],
            events: [{ timeUnixNano: at(5), name: 'cache miss', attributes: [str('cache.key', 'cart:42')] }],
            status: { code: 1 },
          },
          {
            traceId: CHECKOUT_TRACE, spanId: PAY_CLIENT, parentSpanId: ROOT, name: 'POST /pay', kind: 3,
            startTimeUnixNano: at(10), endTimeUnixNano: at(90),
            attributes: [str('peer.service', 'payments')],
            links: [{ traceId: LINKED_TRACE, spanId: HEALTH, attributes: [str('link.reason', 'retry')] }],
            status: { code: 2, message: 'card declined' },
          },
        ],
      },
    ],
  },
  {
    resource: { attributes: [str('service.name', 'payments'), str('k8s.namespace.name', 'shop')] },
    scopeSpans: [
      {
        scope: {},
        spans: [
          {
            traceId: CHECKOUT_TRACE, spanId: PAY_SERVER, parentSpanId: PAY_CLIENT, name: 'POST /pay', kind: 2,
            startTimeUnixNano: at(15), endTimeUnixNano: at(75), status: { code: 2, message: 'card declined' },
          },
        ],
      },
    ],
  },
];

interface V3Result {
  result: { resourceSpans: OtlpResourceSpans[] };
}
interface V3Error {
  error: { grpcCode: number; httpCode: number; message: string; httpStatus: string };
}

/** Go's RFC3339Nano of a Unix-ns time (UTC, trailing fraction zeros dropped), as Grafana formats it. */
function rfc3339Nano(ns: bigint): string {
  const whole = new Date(Number(ns / 1_000_000_000n) * 1000).toISOString().slice(0, 19);
  const fraction = (ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return `${whole}${fraction ? `.${fraction}` : ''}Z`;
}

/** The search URL as Grafana's Jaeger client builds it: the times appended after the encoded rest, unencoded. */
function searchUrl(params: Record<string, string>, startNs: bigint, endNs: bigint): string {
  const encoded = new URLSearchParams(params).toString();
  return `${meshlens.queryUrl}/api/v3/traces?${encoded}${encoded ? '&' : ''}query.start_time_min=${rfc3339Nano(startNs)}&query.start_time_max=${rfc3339Nano(endNs)}`;
}

const WINDOW_START = BASE_NS - 60_000n * MS;
const WINDOW_END = BASE_NS + 60_000n * MS;

const traceIdsOf = (body: V3Result) => [...new Set(body.result.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans.map((span) => span.traceId))))];

before(async () => {
  meshlens = await startTestMeshlens({ overrides: { 'batch.max_delay': '50ms' } });
  await postTraces(meshlens.otlpHttpUrl, JSON.stringify(FRONTEND_REQUEST));
  // A 64-bit Zipkin trace: stored, and read back, as 128 bits with a zero upper half.
  const zipkin = await fetch(`${meshlens.zipkinUrl}/api/v2/spans`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify([
      {
        traceId: ZIPKIN_TRACE_64, id: '1111111111111111', name: 'get /reviews', kind: 'SERVER', timestamp: Number(BASE_NS / 1000n), duration: 5000,
        localEndpoint: { serviceName: 'reviews', ipv4: '10.0.0.1', port: 9080 }, tags: { 'http.status_code': '200' },
      },
    ]),
  });
  assert.equal(zipkin.status, 202);
  // Writes are batched: wait until every span can be read.
  for (let i = 0; i < 200; i++) {
    const checkout = await getJson<V3Result>(`${meshlens.queryUrl}/api/v3/traces/${CHECKOUT_TRACE}`);
    const health = await getJson(`${meshlens.queryUrl}/api/v3/traces/${HEALTH_TRACE}`);
    const zipkinTrace = await getJson(`${meshlens.queryUrl}/api/v3/traces/${ZIPKIN_TRACE_64}`);
    const spans = checkout.status === 200 ? checkout.body.result.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)).length : 0;
    if (spans === 3 && health.status === 200 && zipkinTrace.status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the test traces never became readable');
});
after(async () => {
  await meshlens?.destroy();
});

describe('Jaeger v3 API (Grafana, jaegerEnableGrpcEndpoint)', () => {
  it('GET /api/v3/services lists every service, sorted', async () => {
    const { status, body } = await getJson(`${meshlens.queryUrl}/api/v3/services`);
    assert.equal(status, 200);
    assert.deepEqual(body, { services: ['frontend', 'payments', 'reviews'] });
  });

  it('GET /api/v3/operations gives {name, spanKind} per operation, filtered by spanKind or span_kind', async () => {
    const all = await getJson(`${meshlens.queryUrl}/api/v3/operations?service=frontend`);
    assert.equal(all.status, 200);
    assert.deepEqual(all.body, {
      operations: [
        { name: 'GET /checkout', spanKind: 'server' },
        { name: 'GET /health', spanKind: 'internal' },
        { name: 'POST /pay', spanKind: 'client' },
      ],
    });
    const grafana = await getJson(`${meshlens.queryUrl}/api/v3/operations?service=frontend&spanKind=client`);
    assert.deepEqual(grafana.body, { operations: [{ name: 'POST /pay', spanKind: 'client' }] });
    const jaeger = await getJson(`${meshlens.queryUrl}/api/v3/operations?service=payments&span_kind=server`);
    assert.deepEqual(jaeger.body, { operations: [{ name: 'POST /pay', spanKind: 'server' }] });
    const bad = await getJson<V3Error>(`${meshlens.queryUrl}/api/v3/operations?service=frontend&spanKind=sideways`);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.grpcCode, 3);
    assert.match(bad.body.error.message, /sideways/);
  });

  it('GET /api/v3/traces/{id} gives the trace as OTLP/JSON: every field as sent', async () => {
    const { status, body } = await getJson<V3Result>(`${meshlens.queryUrl}/api/v3/traces/${CHECKOUT_TRACE}`);
    assert.equal(status, 200);
    assert.deepEqual(body, { result: { resourceSpans: CHECKOUT_RESOURCE_SPANS } });
  });

  it('GET /api/v3/traces/{id} with Grafana start_time/end_time: only spans inside the window', async () => {
    const url = (fromMs: number, toMs: number) =>
      `${meshlens.queryUrl}/api/v3/traces/${CHECKOUT_TRACE}?start_time=${rfc3339Nano(BASE_NS + BigInt(fromMs) * MS)}&end_time=${rfc3339Nano(BASE_NS + BigInt(toMs) * MS)}`;
    const whole = await getJson<V3Result>(url(-1000, 1000));
    assert.deepEqual(whole.body, { result: { resourceSpans: CHECKOUT_RESOURCE_SPANS } });
    // Spans are selected by start time: [12 ms, 1 s] holds only the payments server span.
    const part = await getJson<V3Result>(url(12, 1000));
    assert.deepEqual(part.body.result.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans.map((span) => span.spanId))), [PAY_SERVER]);
    const before = await getJson<V3Error>(url(-5000, -1000));
    assert.equal(before.status, 404);
  });

  it('a 64-bit (Zipkin) trace id is found by its 16 hex and given as 32 hex, kind and endpoint attributes kept', async () => {
    const { status, body } = await getJson<V3Result>(`${meshlens.queryUrl}/api/v3/traces/${ZIPKIN_TRACE_64}`);
    assert.equal(status, 200);
    assert.deepEqual(body.result.resourceSpans, [
      {
        resource: {
          attributes: [str('service.name', 'reviews'), str('network.local.address', '10.0.0.1'), { key: 'network.local.port', value: { intValue: '9080' } }],
        },
        scopeSpans: [
          {
            scope: {},
            spans: [
              {
                traceId: `0000000000000000${ZIPKIN_TRACE_64}`, spanId: '1111111111111111', name: 'get /reviews', kind: 2,
                startTimeUnixNano: String(BASE_NS), endTimeUnixNano: String(BASE_NS + 5_000_000n),
                attributes: [str('http.status_code', '200')], status: {},
              },
            ],
          },
        ],
      },
    ]);
  });

  it('an unknown trace answers 404 and a malformed id 400, both in the gateway error shape', async () => {
    const missing = await getJson<V3Error>(`${meshlens.queryUrl}/api/v3/traces/${'ab'.repeat(16)}`);
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.body, { error: { grpcCode: 5, httpCode: 404, message: `trace not found: ${'ab'.repeat(16)}`, httpStatus: 'Not Found' } });
    const malformed = await getJson<V3Error>(`${meshlens.queryUrl}/api/v3/traces/not-hex`);
    assert.equal(malformed.status, 400);
    assert.equal(malformed.body.error.grpcCode, 3);
    assert.equal(malformed.body.error.httpCode, 400);
    assert.equal(malformed.body.error.httpStatus, 'Bad Request');
  });

  it('search by service and operation (Grafana parameters) returns the whole matching trace', async () => {
    const { status, body } = await getJson<V3Result>(searchUrl({ 'query.service_name': 'frontend', 'query.operation_name': 'GET /checkout' }, WINDOW_START, WINDOW_END));
    assert.equal(status, 200);
    assert.deepEqual(body, { result: { resourceSpans: CHECKOUT_RESOURCE_SPANS } });
  });

  it('search results come newest trace first; query.num_traces limits them', async () => {
    const all = await getJson<V3Result>(searchUrl({ 'query.service_name': 'frontend' }, WINDOW_START, WINDOW_END));
    assert.deepEqual(traceIdsOf(all.body), [HEALTH_TRACE, CHECKOUT_TRACE]);
    const one = await getJson<V3Result>(searchUrl({ 'query.service_name': 'frontend', 'query.num_traces': '1' }, WINDOW_START, WINDOW_END));
    assert.deepEqual(traceIdsOf(one.body), [HEALTH_TRACE]);
  });

  it('search by query.attributes (JSON): span attributes, resource attributes and error', async () => {
    const find = async (attributes: object) =>
      traceIdsOf((await getJson<V3Result>(searchUrl({ 'query.attributes': JSON.stringify(attributes) }, WINDOW_START, WINDOW_END))).body);
    assert.deepEqual(await find({ 'http.status_code': '200', 'http.method': 'GET' }), [CHECKOUT_TRACE]);
    assert.deepEqual(await find({ 'host.name': 'node-1' }), [HEALTH_TRACE, CHECKOUT_TRACE]);
    assert.deepEqual(await find({ error: 'true' }), [CHECKOUT_TRACE]);
    assert.deepEqual(await find({ 'http.status_code': '500' }), []);
    const bad = await getJson<V3Error>(searchUrl({ 'query.attributes': 'status=500' }, WINDOW_START, WINDOW_END));
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.grpcCode, 3);
  });

  it('search by query.duration_min / duration_max (Go durations) bounds one span', async () => {
    const find = async (params: Record<string, string>) =>
      traceIdsOf((await getJson<V3Result>(searchUrl({ 'query.service_name': 'frontend', ...params }, WINDOW_START, WINDOW_END))).body);
    assert.deepEqual(await find({ 'query.duration_min': '100ms' }), [CHECKOUT_TRACE]);
    assert.deepEqual(await find({ 'query.duration_max': '2ms' }), [HEALTH_TRACE]);
    assert.deepEqual(await find({ 'query.duration_min': '1.5ms', 'query.duration_max': '0.1s' }), [HEALTH_TRACE, CHECKOUT_TRACE]);
    assert.deepEqual(await find({ 'query.duration_min': '121ms' }), []);
  });

  it('search honours the time window to the nanosecond, in any offset, and the camelCase spellings', async () => {
    // The health span starts at BASE + 1 s exactly: a window ending 1 ns before it excludes it.
    const justBefore = await getJson<V3Result>(searchUrl({ 'query.service_name': 'frontend' }, WINDOW_START, BASE_NS + 1000n * MS - 1n));
    assert.deepEqual(traceIdsOf(justBefore.body), [CHECKOUT_TRACE]);
    // A +01:00 offset appended unencoded reaches the server as a space; it is still that offset: BASE + 500 ms
    // written in UTC+1 leaves out the checkout trace (at BASE), read as UTC it would leave out both.
    const start = new Date(Number((BASE_NS + 500n * MS + 3_600_000n * MS) / MS)).toISOString().slice(0, 23);
    const url = `${meshlens.queryUrl}/api/v3/traces?query.service_name=frontend&query.start_time_min=${start}+01:00&query.start_time_max=${rfc3339Nano(WINDOW_END)}`;
    assert.deepEqual(traceIdsOf((await getJson<V3Result>(url)).body), [HEALTH_TRACE]);
    const camel = `${meshlens.queryUrl}/api/v3/traces?query.serviceName=payments&query.startTimeMin=${rfc3339Nano(WINDOW_START)}&query.startTimeMax=${rfc3339Nano(WINDOW_END)}&query.searchDepth=5`;
    assert.deepEqual(traceIdsOf((await getJson<V3Result>(camel)).body), [CHECKOUT_TRACE]);
    const empty = await getJson<V3Result>(searchUrl({ 'query.service_name': 'frontend' }, WINDOW_START, BASE_NS - 1n));
    assert.equal(empty.status, 200);
    assert.deepEqual(empty.body, { result: { resourceSpans: [] } });
  });

  it('bad search parameters answer 400 in the gateway error shape, naming the parameter', async () => {
    const badTime = await getJson<V3Error>(`${meshlens.queryUrl}/api/v3/traces?query.service_name=frontend&query.start_time_min=yesterday`);
    assert.equal(badTime.status, 400);
    assert.deepEqual(Object.keys(badTime.body.error).sort(), ['grpcCode', 'httpCode', 'httpStatus', 'message']);
    assert.equal(badTime.body.error.grpcCode, 3);
    assert.match(badTime.body.error.message, /query\.start_time_min/);
    const badDuration = await getJson<V3Error>(searchUrl({ 'query.duration_min': 'fast' }, WINDOW_START, WINDOW_END));
    assert.equal(badDuration.status, 400);
    assert.match(badDuration.body.error.message, /query\.duration_min/);
    const inverted = await getJson<V3Error>(searchUrl({}, WINDOW_END, WINDOW_START));
    assert.equal(inverted.status, 400);
  });
});
