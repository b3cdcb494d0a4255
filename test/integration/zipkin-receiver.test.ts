// The Zipkin receiver (9411) against a real meshlens: zipkin-js' real Tracer and HttpLogger sending v2
// and v1 JSON, hand-written proto3 bodies (encoded with protobufjs from our zipkin.proto) shaped like
// Envoy's, v1 spans holding both sides of a call, gzip with an explicit Content-Length — each read
// back through the Jaeger API; a bookinfo topology sent as Envoy does (one request per sidecar, CLIENT
// and SERVER halves sharing span ids) read back through the service graph; then every kind of bad
// input and overload, each with its status, its one-line reason and its count in /metrics.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { jsonEncoder, type JsonEncoder } from 'zipkin';
import { createLogger } from '../../bin/run.ts';
import { Collector } from '../../collector/collector.ts';
import { loadConfig } from '../../collector/config.ts';
import { CollectorMetrics } from '../../collector/metrics.ts';
import { ListOfSpans } from '../../collector/zipkin/proto.ts';
import type { JaegerSpan, JaegerTrace } from '../../query/jaeger.ts';
import type { GraphEdge, GraphNode } from '../../query/service-graph.ts';
import { getJson, startTestMeshlens, type TestMeshlens } from '../helpers/meshlens.ts';
import { scrapeMetrics, type MetricsScrape } from '../helpers/otlp-wire.ts';
import { recordHomeTrace } from '../helpers/zipkin-js.ts';

const MAX_BODY_BYTES = 256 * 1024;
const SPANS_PER_REQUEST = 50;

let meshlens: TestMeshlens;
before(async () => {
  meshlens = await startTestMeshlens({
    overrides: {
      // Long enough that the halves of one trace, posted one request after another (each answered once
      // stored), meet in memory even on a loaded machine.
      'graph.wait': '2s',
      'graph.flush_interval': '300ms',
      'batch.max_delay': '50ms',
      'limits.max_body_bytes': '256KiB',
      'limits.spans_per_request': String(SPANS_PER_REQUEST),
    },
  });
});
after(async () => {
  await meshlens?.destroy();
});

// ---- sending ----

interface Reply {
  status: number;
  text: string;
  retryAfter: string | undefined;
}

/** POSTs a body with an explicit Content-Length (fetch would hide whether one was sent). */
function post(url: string, body: Buffer | string, headers: Record<string, string> = {}): Promise<Reply> {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: 'POST', headers: { ...headers, 'content-length': String(bytes.length) } }, (response) => {
      let text = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text, retryAfter: response.headers['retry-after'] }));
    });
    request.on('error', reject);
    request.end(bytes);
  });
}

const JSON_TYPE = { 'content-type': 'application/json' };
const PROTO_TYPE = { 'content-type': 'application/x-protobuf' };
const v2Url = () => `${meshlens.zipkinUrl}/api/v2/spans`;
const v1Url = () => `${meshlens.zipkinUrl}/api/v1/spans`;
const protoBody = (spans: object[]) => Buffer.from(ListOfSpans.encode(ListOfSpans.fromObject({ spans })).finish());
const bytes = (hex: string) => Buffer.from(hex, 'hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- reading back ----

/** The trace through the Jaeger API once it has `count` spans (polling: writes are batched). */
async function jaegerTrace(traceId: string, count: number): Promise<JaegerTrace> {
  let last: JaegerTrace | undefined;
  for (let i = 0; i < 100; i++) {
    const { status, body } = await getJson<{ data: JaegerTrace[] }>(`${meshlens.queryUrl}/api/traces/${traceId}`);
    last = status === 200 ? body.data[0] : undefined;
    if (last && last.spans.length >= count) return last;
    await sleep(50);
  }
  assert.fail(`trace ${traceId} has ${last?.spans.length ?? 0} spans, expected ${count}`);
}

async function jaegerSpanCount(traceId: string): Promise<number> {
  const { status, body } = await getJson<{ data: JaegerTrace[] }>(`${meshlens.queryUrl}/api/traces/${traceId}`);
  return status === 200 ? (body.data[0]?.spans.length ?? 0) : 0;
}

type TagValue = string | number | boolean;

/** A Jaeger span as a test compares it: ids left out, parent by operation name. */
function view(trace: JaegerTrace, span: JaegerSpan) {
  const parentId = span.references[0]?.spanID;
  const parent = trace.spans.find((s) => s.spanID === parentId && s !== span);
  const process = trace.processes[span.processID]!;
  return {
    operation: span.operationName,
    service: process.serviceName,
    processTags: Object.fromEntries(process.tags.map((t): [string, TagValue] => [t.key, t.value])),
    parent: parent?.operationName ?? null,
    tags: span.tags.map((t): [string, TagValue] => [t.key, t.value]),
    logs: span.logs.map((l) => l.fields.map((f) => f.value).join(' ')),
  };
}

const byOperation = (trace: JaegerTrace) => trace.spans.map((s) => view(trace, s)).sort((a, b) => (a.operation < b.operation ? -1 : a.operation > b.operation ? 1 : 0));

/** What meshlens' own metrics say about the Zipkin receiver. */
class ZipkinCounts {
  constructor(private readonly scrape: MetricsScrape) {}
  static async now(): Promise<ZipkinCounts> {
    return new ZipkinCounts(await scrapeMetrics(meshlens.queryUrl));
  }
  get received() {
    return this.scrape.value('meshlens_received_spans_total', { receiver: 'zipkin' });
  }
  get accepted() {
    return this.scrape.value('meshlens_accepted_spans_total', { receiver: 'zipkin' });
  }
  get rejected() {
    return this.scrape.value('meshlens_rejected_spans_total', { receiver: 'zipkin', reason: 'invalid' });
  }
  badRequests(reason: string) {
    return this.scrape.value('meshlens_bad_requests_total', { receiver: 'zipkin', reason });
  }
}

// ---- zipkin-js: the real Tracer and HttpLogger ----

/**
 * frontend serves GET /home: calls backend (CLIENT, remote endpoint from ServerAddr), renders locally,
 * annotates, answers. Resolves with the trace id once HttpLogger's posts have been answered.
 */
async function sendWithZipkinJs(encoder: JsonEncoder, endpoint: string): Promise<{ traceId: string; statuses: number[] }> {
  const { traceId, statuses } = recordHomeTrace({ endpoint, encoder, service: 'frontend', callee: 'backend' });
  // The three spans end in one synchronous block, so HttpLogger posts them together, once.
  await jaegerTrace(traceId, 3);
  for (let i = 0; i < 100 && statuses.length === 0; i++) await sleep(20);
  return { traceId, statuses };
}

/** What both encodings must come back as (zipkin-js lowercases span names). */
const ZIPKIN_JS_TRACE = [
  {
    operation: 'get /api/items',
    service: 'frontend',
    processTags: {},
    parent: 'get /home',
    tags: [
      ['http.status_code', '200'],
      ['peer.service', 'backend'],
      ['network.peer.address', '10.0.0.2'],
      ['network.peer.port', 9000],
      ['span.kind', 'client'],
    ],
    logs: [],
  },
  {
    operation: 'get /home',
    service: 'frontend',
    processTags: {},
    parent: null,
    tags: [
      ['http.path', '/home'],
      ['network.peer.address', '10.0.0.9'],
      ['network.peer.port', 51000],
      ['span.kind', 'server'],
    ],
    logs: ['rendered'],
  },
  { operation: 'render', service: 'frontend', processTags: {}, parent: 'get /home', tags: [['template', 'home'], ['span.kind', 'internal']], logs: [] },
];

describe('Zipkin receiver: what arrives is stored and read back', () => {
  it('takes v2 JSON from zipkin-js (Tracer + HttpLogger, JSON_V2) with 202', async () => {
    const before = await ZipkinCounts.now();
    const { traceId, statuses } = await sendWithZipkinJs(jsonEncoder.JSON_V2, v2Url());
    assert.match(traceId, /^[0-9a-f]{32}$/);
    assert.deepEqual(statuses, [202]);
    assert.deepEqual(byOperation(await jaegerTrace(traceId, 3)), ZIPKIN_JS_TRACE);
    const after = await ZipkinCounts.now();
    assert.equal(after.received - before.received, 3);
    assert.equal(after.accepted - before.accepted, 3);
  });

  it('takes v1 JSON from zipkin-js (JSON_V1 to /api/v1/spans) as the same spans', async () => {
    const { traceId, statuses } = await sendWithZipkinJs(jsonEncoder.JSON_V1, v1Url());
    assert.deepEqual(statuses, [202]);
    assert.deepEqual(byOperation(await jaegerTrace(traceId, 3)), ZIPKIN_JS_TRACE);
  });

  it('splits a v1 span holding both sides of a call into CLIENT and SERVER spans sharing one id, times exact', async () => {
    const t0 = Date.now() * 1000 - 5_000_000;
    const client = { serviceName: 'frontend', ipv4: '10.0.0.1', port: 8080 };
    const server = { serviceName: 'backend', ipv4: '10.0.0.2', port: 9000 };
    const reply = await post(
      v1Url(),
      JSON.stringify([
        {
          traceId: '7D4A0C1B2E3F4051', id: '1A2B3C4D5E6F7081', name: 'get /api', timestamp: t0, duration: 900,
          annotations: [
            { timestamp: t0, value: 'cs', endpoint: client },
            { timestamp: t0 + 100, value: 'sr', endpoint: server },
            { timestamp: t0 + 700, value: 'ss', endpoint: server },
            { timestamp: t0 + 900, value: 'cr', endpoint: client },
          ],
          binaryAnnotations: [
            { key: 'http.path', value: '/api', endpoint: client },
            { key: 'error', value: 'timeout', endpoint: server },
          ],
        },
      ]),
      JSON_TYPE,
    );
    assert.deepEqual([reply.status, reply.text], [202, '']);
    const trace = await jaegerTrace('00000000000000007d4a0c1b2e3f4051', 2);
    assert.deepEqual(
      trace.spans.map((s) => [s.spanID, trace.processes[s.processID]!.serviceName, s.startTime - t0, s.duration, s.tags.map((t) => `${t.key}=${t.value}`)]).sort(),
      [
        ['1a2b3c4d5e6f7081', 'backend', 100, 600, ['error=timeout', 'zipkin.shared=true', 'span.kind=server', 'otel.status_code=ERROR', 'error=true', 'otel.status_description=timeout']],
        ['1a2b3c4d5e6f7081', 'frontend', 0, 900, ['http.path=/api', 'span.kind=client']],
      ],
    );
  });

  it('takes proto3 and gzip with an explicit Content-Length; names services the way each mesh does', async () => {
    const t0 = Date.now() * 1000 - 5_000_000;
    const span = (id: string, serviceName: string, tags: Record<string, string>) => ({
      traceId: bytes('5c6d7e8f90a1b2c3'), id: bytes(id), kind: 2, name: `${serviceName} inbound`, timestamp: t0, duration: 1000,
      localEndpoint: { serviceName, ipv4: bytes('0a000001') }, tags,
    });
    const body = protoBody([
      span('0000000000000001', 'productpage.shop', { node_id: 'sidecar~10.0.0.1~productpage-v1-6b7f6d8f6b-abcde.shop~shop.svc.cluster.local' }),
      span('0000000000000002', 'reviews.shop', { 'istio.canonical_service': 'reviews', 'istio.namespace': 'shop', 'istio.canonical_revision': 'v2' }),
      span('0000000000000003', 'backend_kuma-demo_svc_3001', {}),
      span('0000000000000004', 'legacy-app', {}),
    ]);
    const gzipped = gzipSync(body);
    const before = await ZipkinCounts.now();
    const reply = await post(v2Url(), gzipped, { ...PROTO_TYPE, 'content-encoding': 'gzip' });
    assert.deepEqual([reply.status, reply.text], [202, '']);
    const trace = await jaegerTrace('00000000000000005c6d7e8f90a1b2c3', 4);
    assert.deepEqual(
      byOperation(trace).map((s) => [s.operation, s.service, s.processTags]),
      [
        ['backend_kuma-demo_svc_3001 inbound', 'backend', { 'k8s.namespace.name': 'kuma-demo', 'zipkin.service_name': 'backend_kuma-demo_svc_3001', 'network.local.address': '10.0.0.1' }],
        ['legacy-app inbound', 'legacy-app', { 'network.local.address': '10.0.0.1' }],
        ['productpage.shop inbound', 'productpage', { 'k8s.namespace.name': 'shop', 'zipkin.service_name': 'productpage.shop', 'network.local.address': '10.0.0.1' }],
        ['reviews.shop inbound', 'reviews', { 'k8s.namespace.name': 'shop', 'service.version': 'v2', 'zipkin.service_name': 'reviews.shop', 'network.local.address': '10.0.0.1' }],
      ],
    );
    assert.ok(trace.spans.every((s) => s.startTime === t0 && s.duration === 1000));
    const after = await ZipkinCounts.now();
    assert.equal(after.accepted - before.accepted, 4);
  });

  it('reads a body without Content-Type as JSON, as Zipkin does', async () => {
    const reply = await post(v2Url(), JSON.stringify([{ traceId: 'abcdefabcdef0001', id: 'abcdefabcdef0001', name: 'untyped', timestamp: Date.now() * 1000 }]));
    assert.deepEqual([reply.status, reply.text], [202, '']);
    assert.equal((await jaegerTrace('0000000000000000abcdefabcdef0001', 1)).spans[0]!.operationName, 'untyped');
  });
});

// ---- bookinfo, Envoy style ----

interface Sidecar {
  serviceName: string;
  ip: string;
  tags: Record<string, string>;
}

const nodeId = (ip: string, pod: string) => `sidecar~${ip}~${pod}.bookinfo~bookinfo.svc.cluster.local`;
const istioTags = (service: string, revision: string) => ({ 'istio.canonical_service': service, 'istio.namespace': 'bookinfo', 'istio.canonical_revision': revision });
const SIDECARS = {
  productpage: { serviceName: 'productpage.bookinfo', ip: '10.1.0.5', tags: { node_id: nodeId('10.1.0.5', 'productpage-v1-6b7f6d8f6b-abcde') } },
  details: { serviceName: 'details.bookinfo', ip: '10.1.0.6', tags: { node_id: nodeId('10.1.0.6', 'details-v1-79f774bdb9-qwert') } },
  reviewsV1: { serviceName: 'reviews.bookinfo', ip: '10.1.0.7', tags: { node_id: nodeId('10.1.0.7', 'reviews-v1-545db77b95-aaaaa'), ...istioTags('reviews', 'v1') } },
  reviewsV2: { serviceName: 'reviews.bookinfo', ip: '10.1.0.8', tags: { node_id: nodeId('10.1.0.8', 'reviews-v2-7bf8c9648f-bbbbb'), ...istioTags('reviews', 'v2') } },
  ratings: { serviceName: 'ratings.bookinfo', ip: '10.1.0.9', tags: { node_id: nodeId('10.1.0.9', 'ratings-v1-b6994bb9-ccccc') } },
} satisfies Record<string, Sidecar>;

/**
 * The proto3 spans one sidecar reports, as Envoy's Zipkin tracer with shared span context builds
 * them: the SERVER span reuses its caller's CLIENT span id and parent; no remote endpoint; tags.
 */
class EnvoyReports {
  private readonly bySidecar = new Map<Sidecar, object[]>();

  constructor(private readonly t0: number) {}

  /** One call: the caller's CLIENT span and the callee's SERVER span with the same id. */
  call(trace: string, id: string, parent: string | null, caller: Sidecar | null, callee: Sidecar, host: string, startMs: number, serverMs: number, status: number): void {
    const common = {
      traceId: bytes(trace), id: bytes(id), ...(parent ? { parentId: bytes(parent) } : {}), name: `${host}:9080/*`,
      tags: { 'http.status_code': String(status), 'http.method': 'GET', 'guid:x-request-id': `${trace}-${id}`, component: 'proxy', ...(status >= 500 ? { error: 'true', response_flags: 'UF' } : {}) },
    };
    const start = this.t0 + startMs * 1000;
    if (caller !== null) {
      this.add(caller, { ...common, kind: 1, timestamp: start, duration: serverMs * 1000 + 500, tags: { ...common.tags, ...caller.tags, upstream_cluster: `outbound|9080||${host}`, 'peer.address': caller.ip } });
    }
    this.add(callee, { ...common, kind: 2, shared: caller !== null, timestamp: start + 200, duration: serverMs * 1000, tags: { ...common.tags, ...callee.tags, upstream_cluster: `inbound|9080||`, 'peer.address': caller?.ip ?? '10.1.0.1' } });
  }

  private add(sidecar: Sidecar, span: object): void {
    const spans = this.bySidecar.get(sidecar) ?? [];
    spans.push({ ...span, localEndpoint: { serviceName: sidecar.serviceName, ipv4: bytes(sidecar.ip.split('.').map((n) => Number(n).toString(16).padStart(2, '0')).join('')), port: 9080 } });
    this.bySidecar.set(sidecar, spans);
  }

  /** Each sidecar's spans, one request each, in the order given. */
  bodies(order: Sidecar[]): Buffer[] {
    return order.map((sidecar) => protoBody(this.bySidecar.get(sidecar) ?? []));
  }
}

describe('Zipkin receiver: Envoy halves sharing span ids become the service graph', () => {
  it('derives the bookinfo graph exactly: productpage → details, reviews v1/v2 (canary) → ratings, one 503', async () => {
    const reports = new EnvoyReports(Date.now() * 1000 - 60_000_000);
    for (let i = 1; i <= 4; i++) {
      // 64-bit trace ids; a new root has traceId == id, as Envoy makes it.
      const trace = `b00c1f0000000${i}00`;
      const reviews = i % 2 === 1 ? SIDECARS.reviewsV1 : SIDECARS.reviewsV2;
      const at = i * 1000;
      reports.call(trace, trace, null, null, SIDECARS.productpage, 'productpage.bookinfo.svc.cluster.local', at, 40, 200);
      reports.call(trace, `b00c1f0000000${i}01`, trace, SIDECARS.productpage, SIDECARS.details, 'details.bookinfo.svc.cluster.local', at + 2, 3, 200);
      reports.call(trace, `b00c1f0000000${i}02`, trace, SIDECARS.productpage, reviews, 'reviews.bookinfo.svc.cluster.local', at + 8, i % 2 === 1 ? 10 : 20, 200);
      // Only reviews v2 calls ratings (as in bookinfo); the second of those calls gets a 503.
      if (reviews === SIDECARS.reviewsV2) {
        reports.call(trace, `b00c1f0000000${i}03`, `b00c1f0000000${i}02`, reviews, SIDECARS.ratings, 'ratings.bookinfo.svc.cluster.local', at + 10, 5, i === 4 ? 503 : 200);
      }
    }
    // Callees report before their callers for some calls: pairing must not depend on arrival order.
    const order = [SIDECARS.ratings, SIDECARS.reviewsV2, SIDECARS.details, SIDECARS.productpage, SIDECARS.reviewsV1];
    const before = await ZipkinCounts.now();
    for (const body of reports.bodies(order)) {
      const reply = await post(v2Url(), body, PROTO_TYPE);
      assert.deepEqual([reply.status, reply.text], [202, '']);
    }
    const after = await ZipkinCounts.now();
    // 4 roots + 4×2 details + 4×2 reviews + 2×2 ratings.
    assert.equal(after.accepted - before.accepted, 24);
    assert.equal(after.rejected - before.rejected, 0);

    // One trace through the Jaeger API: the shared ids are kept, and both halves are there.
    const first = await jaegerTrace('0000000000000000b00c1f0000000100', 5);
    assert.deepEqual(
      first.spans.map((s) => [s.spanID, first.processes[s.processID]!.serviceName, s.tags.find((t) => t.key === 'span.kind')?.value]).sort(),
      [
        ['b00c1f0000000100', 'productpage', 'server'],
        ['b00c1f0000000101', 'details', 'server'],
        ['b00c1f0000000101', 'productpage', 'client'],
        ['b00c1f0000000102', 'productpage', 'client'],
        ['b00c1f0000000102', 'reviews', 'server'],
      ],
    );

    let graph: { nodes: GraphNode[]; edges: GraphEdge[] } = { nodes: [], edges: [] };
    // 4 from outside to productpage, 4 to details, 2 + 2 to reviews, 2 to ratings.
    for (let i = 0; i < 80 && graph.edges.reduce((n, e) => n + e.requests, 0) < 14; i++) {
      await sleep(250);
      graph = (await getJson<typeof graph>(`${meshlens.queryUrl}/api/v1/service-graph?start=${Date.now() - 600_000}&namespace=bookinfo`)).body;
    }
    assert.deepEqual(
      graph.edges.map((e) => [e.id, e.requests, e.errors, e.protocol, e.signals]),
      [
        ['bookinfo/productpage->bookinfo/details', 4, 0, 'http', ['spans']],
        ['bookinfo/productpage->bookinfo/reviews@v1', 2, 0, 'http', ['spans']],
        ['bookinfo/productpage->bookinfo/reviews@v2', 2, 0, 'http', ['spans']],
        ['bookinfo/reviews@v2->bookinfo/ratings', 2, 1, 'http', ['spans']],
        ['unknown->bookinfo/productpage', 4, 0, 'http', ['spans']],
      ],
    );
    // Latency is what the callee's SERVER span took (±1 %).
    const p50 = Object.fromEntries(graph.edges.map((e) => [e.id, e.p50Ms!]));
    for (const [id, ms] of [['bookinfo/productpage->bookinfo/details', 3], ['bookinfo/productpage->bookinfo/reviews@v1', 10], ['bookinfo/productpage->bookinfo/reviews@v2', 20], ['bookinfo/reviews@v2->bookinfo/ratings', 5], ['unknown->bookinfo/productpage', 40]] as const) {
      assert.ok(Math.abs(p50[id]! - ms) <= ms * 0.01, `${id} p50 ${p50[id]}, expected ${ms}`);
    }
    assert.deepEqual(
      graph.nodes.filter((n) => n.namespace === 'bookinfo').map((n) => [n.id, n.name, n.version ?? null, n.kind, n.requests, n.errors]),
      [
        ['bookinfo/details', 'details', null, 'service', 4, 0],
        ['bookinfo/productpage', 'productpage', null, 'service', 4, 0],
        ['bookinfo/ratings', 'ratings', null, 'service', 2, 1],
        ['bookinfo/reviews@v1', 'reviews', 'v1', 'service', 2, 0],
        ['bookinfo/reviews@v2', 'reviews', 'v2', 'service', 2, 0],
      ],
    );
  });
});

// ---- bad input ----

describe('Zipkin receiver: bad input gets a clear one-line refusal and is counted', () => {
  const good = (id: string, name = 'good') => ({ traceId: 'ca11ab1e00000001', id, name, timestamp: Date.now() * 1000 - 1_000_000, duration: 10 });

  /** Sends, checks status and one-line reason, and returns how the counters moved. */
  async function refused(url: string, body: Buffer | string, headers: Record<string, string>, status: number, reason: RegExp) {
    const before = await ZipkinCounts.now();
    const reply = await post(url, body, headers);
    assert.equal(reply.status, status, reply.text);
    assert.match(reply.text, reason);
    assert.ok(reply.text.endsWith('\n') && !reply.text.slice(0, -1).includes('\n'), `one line: ${JSON.stringify(reply.text)}`);
    const after = await ZipkinCounts.now();
    return {
      received: after.received - before.received,
      accepted: after.accepted - before.accepted,
      rejected: after.rejected - before.rejected,
      badRequests: Object.fromEntries(['decode', 'invalid', 'too_large', 'media_type'].map((r) => [r, after.badRequests(r) - before.badRequests(r)])),
    };
  }
  const noBad = { decode: 0, invalid: 0, too_large: 0, media_type: 0 };

  it('415 for a content type the endpoint does not read', async () => {
    const spans = JSON.stringify([good('ca11ab1e00000101')]);
    assert.deepEqual(
      await refused(v2Url(), spans, { 'content-type': 'text/plain' }, 415, /^unsupported content type "text\/plain" for \/api\/v2\/spans; send application\/json or application\/x-protobuf$/m),
      { received: 0, accepted: 0, rejected: 0, badRequests: { ...noBad, media_type: 1 } },
    );
    assert.deepEqual(
      await refused(v1Url(), spans, PROTO_TYPE, 415, /^unsupported content type "application\/x-protobuf" for \/api\/v1\/spans; send application\/json$/m),
      { received: 0, accepted: 0, rejected: 0, badRequests: { ...noBad, media_type: 1 } },
    );
    assert.equal(await jaegerSpanCount('0000000000000000ca11ab1e00000001'), 0);
  });

  it('400 for undecodable JSON, proto and gzip, and an unknown content-encoding', async () => {
    const cases: Array<[string, Buffer | string, Record<string, string>, RegExp]> = [
      [v2Url(), '[{"traceId":', JSON_TYPE, /^invalid Zipkin v2 JSON: /],
      [v2Url(), '{"spans":[]}', JSON_TYPE, /^invalid Zipkin v2 JSON: the body must be a JSON array of spans$/m],
      [v1Url(), 'not json', JSON_TYPE, /^invalid Zipkin v1 JSON: /],
      [v2Url(), Buffer.from([0x0a, 0xff, 0xff, 0xff]), PROTO_TYPE, /^invalid Zipkin proto3 ListOfSpans: /],
      [v2Url(), Buffer.from('not gzip at all'), { ...JSON_TYPE, 'content-encoding': 'gzip' }, /^body is not valid gzip: /],
      [v2Url(), JSON.stringify([good('ca11ab1e00000102')]), { ...JSON_TYPE, 'content-encoding': 'br' }, /^unsupported content-encoding "br"; send gzip or none$/m],
    ];
    for (const [url, body, headers, reason] of cases) {
      assert.deepEqual(await refused(url, body, headers, 400, reason), { received: 0, accepted: 0, rejected: 0, badRequests: { ...noBad, decode: 1 } }, String(reason));
    }
  });

  it('400 naming the first problem when every span is bad: wrong-length or non-hex ids, no timestamp', async () => {
    const cases: Array<[object[], RegExp]> = [
      [[{ ...good('ca11ab1e00000103'), traceId: 'ca11ab1e0001' }], /^no span stored: 1 invalid; the first: span "good" \(id "ca11ab1e00000103"\) has a traceId "ca11ab1e0001" that is not 16 or 32 hex characters$/m],
      [[{ ...good('ca11ab1e00000104'), traceId: 'ca11ab1e0000000g' }], /has a traceId "ca11ab1e0000000g" that is not 16 or 32 hex characters$/m],
      [[good('ca11ab1e000001')], /has an id "ca11ab1e000001" that is not 16 hex characters$/m],
      [[{ ...good('ca11ab1e00000105'), timestamp: undefined }, { ...good('ca11ab1e00000106', 'other'), timestamp: undefined }], /^no span stored: 2 invalid; the first: span "good" \(id "ca11ab1e00000105"\) has no timestamp$/m],
    ];
    for (const [spans, reason] of cases) {
      assert.deepEqual(await refused(v2Url(), JSON.stringify(spans), JSON_TYPE, 400, reason), {
        received: spans.length, accepted: 0, rejected: spans.length, badRequests: { ...noBad, invalid: 1 },
      });
    }
    // The same checks through proto3 and v1.
    const proto = protoBody([{ traceId: bytes('ca11ab1e00000001'), id: bytes('ca11ab1e'), name: 'short', timestamp: Date.now() * 1000 }]);
    await refused(v2Url(), proto, PROTO_TYPE, 400, /span "short" \(id "ca11ab1e"\) has an id "ca11ab1e" that is not 16 hex characters$/m);
    await refused(v1Url(), JSON.stringify([{ ...good('ca11ab1e00000107'), timestamp: undefined }]), JSON_TYPE, 400, /has no timestamp$/m);
    assert.equal(await jaegerSpanCount('0000000000000000ca11ab1e00000001'), 0);
  });

  it('stores the good spans of a batch with bad ones and answers 202, naming what it refused', async () => {
    const spans = [good('ca11ab1e00000201', 'first'), { ...good('ca11ab1e00000202', 'bad'), parentId: 'xyz' }, good('ca11ab1e00000203', 'third')];
    const before = await ZipkinCounts.now();
    const reply = await post(v2Url(), JSON.stringify(spans), JSON_TYPE);
    assert.deepEqual([reply.status, reply.text], [202, 'stored 2 spans; refused 1 invalid; the first: span "bad" (id "ca11ab1e00000202") has a parentId "xyz" that is not 16 hex characters\n']);
    const trace = await jaegerTrace('0000000000000000ca11ab1e00000001', 2);
    assert.deepEqual(trace.spans.map((s) => s.operationName).sort(), ['first', 'third']);
    const after = await ZipkinCounts.now();
    assert.deepEqual([after.received - before.received, after.accepted - before.accepted, after.rejected - before.rejected], [3, 2, 1]);
    assert.equal(after.badRequests('invalid'), before.badRequests('invalid'));
  });

  it('413 past limits.max_body_bytes (after decompression) and limits.spans_per_request', async () => {
    const many = Array.from({ length: SPANS_PER_REQUEST + 1 }, (_, i) => good(`ca11ab1e0000${(0x300 + i).toString(16).padStart(4, '0')}`));
    assert.deepEqual(await refused(v2Url(), JSON.stringify(many), JSON_TYPE, 413, /^request has more than 50 spans \(limits\.spans_per_request\)$/m), {
      received: 0, accepted: 0, rejected: 0, badRequests: { ...noBad, too_large: 1 },
    });
    const huge = JSON.stringify([{ ...good('ca11ab1e00000401'), tags: { big: 'x'.repeat(MAX_BODY_BYTES) } }]);
    const tooLarge = /^request body over limits\.max_body_bytes \(262144 bytes after decompression\)$/m;
    await refused(v2Url(), huge, JSON_TYPE, 413, tooLarge);
    // Small on the wire, too large once inflated.
    const gzipped = gzipSync(huge);
    assert.ok(gzipped.length < 4096);
    await refused(v2Url(), gzipped, { ...JSON_TYPE, 'content-encoding': 'gzip' }, 413, tooLarge);
    assert.equal(await jaegerSpanCount('0000000000000000ca11ab1e00000001'), 2, 'only the two good spans of the mixed batch');
  });

  it('answers 429 with Retry-After when the collector is full, and stores nothing of what it refused', async () => {
    // A second collector on the same storage with a tiny queue and a long batch delay: the first
    // request waits in the queue, the next one finds it full.
    const config = loadConfig({
      env: {},
      overrides: {
        'server.host': '127.0.0.1', 'server.otlp_grpc_port': '0', 'server.otlp_http_port': '0', 'server.zipkin_port': '0', 'server.statsd_port': '0',
        'limits.queue_bytes': '1KiB', 'batch.max_delay': '1s', 'graph.enabled': 'false',
      },
    });
    const metrics = new CollectorMetrics({ processMetrics: false });
    const collector = new Collector(meshlens.running.store, config, metrics, createLogger('warn'));
    await collector.start();
    try {
      const url = `http://127.0.0.1:${collector.zipkin.port}/api/v2/spans`;
      const span = (trace: string, id: string) => ({ traceId: trace, id, name: 'load', timestamp: Date.now() * 1000, duration: 5, tags: { note: 'x'.repeat(600) } });
      const first = post(url, JSON.stringify([span('10adf1257000000a', '10adf1257000000a'), span('10adf1257000000a', '10adf1257000000b')]), JSON_TYPE);
      for (let i = 0; i < 100 && ((await metrics.queueBytes.get()).values[0]?.value ?? 0) === 0; i++) await sleep(10);
      const second = await post(url, JSON.stringify([span('10adf1257000000c', '10adf1257000000c')]), JSON_TYPE);
      assert.equal(second.status, 429, second.text);
      assert.ok(Number(second.retryAfter) >= 1, `Retry-After: ${second.retryAfter}`);
      assert.match(second.text, /^[^\n]+\n$/);
      assert.deepEqual([(await first).status, (await first).text], [202, '']);
      const refusedSpans = (await metrics.refusedSpans.get()).values.filter((v) => v.labels.receiver === 'zipkin' && v.labels.reason === 'overload');
      assert.deepEqual(refusedSpans.map((v) => v.value), [1]);
      assert.equal((await jaegerTrace('000000000000000010adf1257000000a', 2)).spans.length, 2);
      assert.equal(await jaegerSpanCount('000000000000000010adf1257000000c'), 0);
    } finally {
      await collector.stop();
    }
  });
});
