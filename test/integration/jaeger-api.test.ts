// Jaeger v1 trace search as Grafana's Jaeger data source calls it, against a real meshlens fed through
// its real OTLP/HTTP receiver. The traces are written by hand (fixed ids, times, durations) so every
// query has a known answer: each case checks what must come back AND what must not.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { JaegerTrace } from '../../query/jaeger.ts';
import { getJson, startTestMeshlens, type TestMeshlens } from '../helpers/meshlens.ts';

// ---- the seed: a hand-written OTLP/JSON request ----

const MS = 1_000_000n;
const SECOND = 1_000_000_000n;
const NOW_NS = BigInt(Date.now()) * MS;
/** Every recent trace starts within five minutes before the test began. */
const BASE_NS = NOW_NS - 300n * SECOND;
/** One trace lies two hours back: outside the default one-hour search window. */
const OLD_NS = NOW_NS - 7200n * SECOND;

type Kind = 'internal' | 'server' | 'client';
const KIND_NUMBER: Record<Kind, number> = { internal: 1, server: 2, client: 3 };

interface SeedSpan {
  spanId: string;
  parent?: string;
  resource: keyof typeof RESOURCES;
  name: string;
  kind: Kind;
  /** Start, after the trace's start. */
  offsetNs: bigint;
  durationNs: bigint;
  attributes?: Record<string, string | number>;
  error?: string;
}
interface SeedTrace {
  id: string;
  startNs: bigint;
  spans: SeedSpan[];
}

const RESOURCES = {
  frontend: { 'service.name': 'frontend', 'k8s.namespace.name': 'web' },
  productpage: { 'service.name': 'productpage', 'k8s.namespace.name': 'bookinfo' },
  reviewsV1: { 'service.name': 'reviews', 'k8s.namespace.name': 'bookinfo', 'service.version': 'v1' },
  reviewsV2: { 'service.name': 'reviews', 'k8s.namespace.name': 'bookinfo', 'service.version': 'v2' },
} as const;

const US = 1000n;
const at = (seconds: number) => BASE_NS + BigInt(seconds) * SECOND;
const seed = (t: SeedTrace): SeedTrace => t;

/** The traces, by a short name used in expectations. */
const TRACES = {
  // A full page load: frontend → productpage → reviews, all fine.
  page: seed({
    id: 'a1000000000000000000000000000001',
    startNs: at(0),
    spans: [
      { spanId: 'a100000000000001', resource: 'frontend', name: 'GET /', kind: 'server', offsetNs: 0n, durationNs: 500n * MS, attributes: { 'http.request.method': 'GET', 'http.response.status_code': 200 } },
      { spanId: 'a100000000000002', parent: 'a100000000000001', resource: 'productpage', name: 'GET /productpage', kind: 'server', offsetNs: 10n * MS, durationNs: 50n * MS, attributes: { 'http.response.status_code': 200 } },
      { spanId: 'a100000000000003', parent: 'a100000000000002', resource: 'productpage', name: 'GET reviews', kind: 'client', offsetNs: 15n * MS, durationNs: 8n * MS, attributes: { 'http.response.status_code': 200 } },
      { spanId: 'a100000000000004', parent: 'a100000000000003', resource: 'reviewsV1', name: 'GET /reviews', kind: 'server', offsetNs: 20n * MS, durationNs: 5n * MS, attributes: { 'http.response.status_code': 200 } },
    ],
  }),
  // The same page failing: productpage answers 500 with an error status; reviews v2 said 503.
  failing: seed({
    id: 'a2000000000000000000000000000002',
    startNs: at(30),
    spans: [
      { spanId: 'a200000000000001', resource: 'frontend', name: 'GET /', kind: 'server', offsetNs: 0n, durationNs: 60n * MS, attributes: { 'http.request.method': 'GET', 'http.response.status_code': 502 } },
      { spanId: 'a200000000000002', parent: 'a200000000000001', resource: 'productpage', name: 'GET /productpage', kind: 'server', offsetNs: 5n * MS, durationNs: 50n * MS, attributes: { 'http.response.status_code': 500 }, error: 'reviews unavailable' },
      { spanId: 'a200000000000003', parent: 'a200000000000002', resource: 'reviewsV2', name: 'GET /reviews', kind: 'server', offsetNs: 10n * MS, durationNs: 5n * MS, attributes: { 'http.response.status_code': 503 } },
    ],
  }),
  // A 64-bit trace id (upper half zero), as Zipkin-era clients make them.
  cart: seed({
    id: '0000000000000000c3c3c3c3c3c3c3c3',
    startNs: at(60),
    spans: [{ spanId: 'c300000000000001', resource: 'frontend', name: 'POST /cart', kind: 'server', offsetNs: 0n, durationNs: 5n * MS, attributes: { 'http.request.method': 'POST', 'http.response.status_code': 200 } }],
  }),
  slowV2: seed({
    id: 'a4000000000000000000000000000004',
    startNs: at(90),
    spans: [{ spanId: 'a400000000000001', resource: 'reviewsV2', name: 'GET /reviews', kind: 'server', offsetNs: 0n, durationNs: 1500n * MS, attributes: { 'http.response.status_code': 200 } }],
  }),
  slowerV1: seed({
    id: 'a5000000000000000000000000000005',
    startNs: at(120),
    spans: [{ spanId: 'a500000000000001', resource: 'reviewsV1', name: 'GET /reviews', kind: 'server', offsetNs: 0n, durationNs: 2000n * MS, attributes: { 'http.response.status_code': 200 } }],
  }),
  cacheInternal: seed({
    id: 'a6000000000000000000000000000006',
    startNs: at(150),
    spans: [{ spanId: 'a600000000000001', resource: 'reviewsV1', name: 'cache lookup', kind: 'internal', offsetNs: 0n, durationNs: 300n * US }],
  }),
  cacheClient: seed({
    id: 'a7000000000000000000000000000007',
    startNs: at(160),
    spans: [{ spanId: 'a700000000000001', resource: 'reviewsV1', name: 'cache lookup', kind: 'client', offsetNs: 0n, durationNs: 800n * US }],
  }),
  // Two traces whose spans start at the same nanosecond: their order must come from the id.
  tieHigh: seed({
    id: 'b0000000000000000000000000000002',
    startNs: at(180),
    spans: [{ spanId: 'b200000000000001', resource: 'productpage', name: 'GET /tie', kind: 'server', offsetNs: 0n, durationNs: 5n * MS }],
  }),
  tieLow: seed({
    id: 'b0000000000000000000000000000001',
    startNs: at(180),
    spans: [{ spanId: 'b100000000000001', resource: 'productpage', name: 'GET /tie', kind: 'server', offsetNs: 0n, durationNs: 5n * MS }],
  }),
  old: seed({
    id: 'd0000000000000000000000000000009',
    startNs: OLD_NS,
    spans: [{ spanId: 'd000000000000001', resource: 'frontend', name: 'GET /', kind: 'server', offsetNs: 0n, durationNs: 500n * MS, attributes: { 'http.request.method': 'GET', 'http.response.status_code': 200 } }],
  }),
};

type TraceName = keyof typeof TRACES;
const TRACE_NAMES = Object.keys(TRACES) as TraceName[];
const nameOf = (id: string): string => TRACE_NAMES.find((n) => TRACES[n].id === id) ?? `unknown trace ${id}`;

function otlpValue(value: string | number): object {
  return typeof value === 'number' ? { intValue: String(value) } : { stringValue: value };
}
const otlpAttributes = (attributes: Record<string, string | number>) =>
  Object.entries(attributes).map(([key, value]) => ({ key, value: otlpValue(value) }));

/** One ExportTraceServiceRequest in OTLP/JSON: one ResourceSpans per resource. */
function otlpJsonRequest(traces: readonly SeedTrace[]): object {
  const byResource = new Map<keyof typeof RESOURCES, object[]>();
  for (const t of traces) {
    for (const s of t.spans) {
      const start = t.startNs + s.offsetNs;
      const list = byResource.get(s.resource) ?? [];
      byResource.set(s.resource, list);
      list.push({
        traceId: t.id,
        spanId: s.spanId,
        ...(s.parent ? { parentSpanId: s.parent } : {}),
        name: s.name,
        kind: KIND_NUMBER[s.kind],
        startTimeUnixNano: String(start),
        endTimeUnixNano: String(start + s.durationNs),
        attributes: otlpAttributes(s.attributes ?? {}),
        status: s.error ? { code: 2, message: s.error } : {},
      });
    }
  }
  return {
    resourceSpans: [...byResource].map(([resource, spans]) => ({
      resource: { attributes: otlpAttributes(RESOURCES[resource]) },
      scopeSpans: [{ scope: { name: 'jaeger-api-test', version: '1.0.0' }, spans }],
    })),
  };
}

// ---- the running meshlens ----

let meshlens: TestMeshlens;

before(async () => {
  meshlens = await startTestMeshlens();
  // Two requests, so the seed also crosses batches; the receiver answers only once stored.
  const all = TRACE_NAMES.map((n) => TRACES[n]);
  for (const part of [all.slice(0, 4), all.slice(4)]) {
    const response = await fetch(`${meshlens.otlpHttpUrl}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(otlpJsonRequest(part)),
    });
    const reply = await response.text();
    assert.equal(response.status, 200, `seed accepted: ${reply}`);
    assert.deepEqual(JSON.parse(reply), {}, 'no span rejected');
  }
});
after(async () => {
  await meshlens?.destroy();
});

// ---- Jaeger API calls ----

interface Envelope<T> {
  data: T;
  total: number;
  limit: number;
  offset: number;
  errors: Array<{ code: number; msg: string }> | null;
}

/** Asserts the exact envelope Grafana reads and returns its data. */
function okEnvelope<T>(status: number, body: Envelope<T>): T {
  assert.equal(status, 200, `status 200, got ${status}: ${JSON.stringify(body)}`);
  assert.deepEqual(Object.keys(body).sort(), ['data', 'errors', 'limit', 'offset', 'total']);
  assert.equal(body.errors, null);
  assert.equal(body.limit, 0);
  assert.equal(body.offset, 0);
  if (Array.isArray(body.data)) assert.equal(body.total, body.data.length, 'total counts data');
  return body.data;
}

/** Asserts Jaeger's error envelope with one error of `status` and a one-line message; returns it. */
function errorEnvelope(status: number, got: { status: number; body: Envelope<unknown> }): string {
  assert.equal(got.status, status, `status ${status}, got ${got.status}: ${JSON.stringify(got.body)}`);
  assert.deepEqual(Object.keys(got.body).sort(), ['data', 'errors', 'limit', 'offset', 'total']);
  assert.equal(got.body.data, null);
  assert.equal(got.body.errors?.length, 1);
  const [error] = got.body.errors!;
  assert.equal(error!.code, status);
  assert.ok(error!.msg.length > 0, 'a message');
  assert.doesNotMatch(error!.msg, /\n/, 'one line');
  return error!.msg;
}

const api = <T>(path: string) => getJson<Envelope<T>>(`${meshlens.queryUrl}${path}`);

/** GET /api/traces with these parameters; returns the traces found, by their seed names, in order. */
async function search(params: Record<string, string | string[]>): Promise<{ names: string[]; traces: JaegerTrace[] }> {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) for (const v of Array.isArray(value) ? value : [value]) query.append(key, v);
  const { status, body } = await api<JaegerTrace[]>(`/api/traces?${query}`);
  const traces = okEnvelope(status, body);
  return { names: traces.map((t) => nameOf(t.traceID)), traces };
}

/** Newest first by the latest span start, ties by id: the order the API promises. */
function newestFirst(names: TraceName[]): TraceName[] {
  const latest = (n: TraceName) => TRACES[n].spans.reduce((max, s) => (TRACES[n].startNs + s.offsetNs > max ? TRACES[n].startNs + s.offsetNs : max), 0n);
  return [...names].sort((a, b) => (latest(a) === latest(b) ? (TRACES[a].id < TRACES[b].id ? -1 : 1) : latest(a) > latest(b) ? -1 : 1));
}

const RECENT = TRACE_NAMES.filter((n) => n !== 'old');
const micros = (ns: bigint) => String(ns / 1000n);

// ---- tests ----

describe('GET /api/services', () => {
  it('lists every service that sent spans, sorted, in the Jaeger envelope', async () => {
    const { status, body } = await api<string[]>('/api/services');
    assert.deepEqual(okEnvelope(status, body), ['frontend', 'productpage', 'reviews']);
    assert.equal(body.total, 3);
  });
});

describe('GET /api/services/{service}/operations', () => {
  it("lists that service's operation names once each, whatever their kinds", async () => {
    const { status, body } = await api<string[]>('/api/services/reviews/operations');
    assert.deepEqual(okEnvelope(status, body).sort(), ['GET /reviews', 'cache lookup']);
  });

  it("does not mix in other services' operations", async () => {
    const { status, body } = await api<string[]>('/api/services/productpage/operations');
    const ops = okEnvelope(status, body);
    assert.deepEqual([...ops].sort(), ['GET /productpage', 'GET /tie', 'GET reviews']);
    assert.ok(!ops.includes('GET /'), "frontend's operation is not productpage's");
  });

  it('an unknown service has no operations', async () => {
    const { status, body } = await api<string[]>('/api/services/nobody/operations');
    assert.deepEqual(okEnvelope(status, body), []);
  });
});

describe('GET /api/operations', () => {
  it('lists operations with their span kind names', async () => {
    const { status, body } = await api<Array<{ name: string; spanKind: string }>>('/api/operations?service=reviews');
    const ops = okEnvelope(status, body);
    const key = (o: { name: string; spanKind: string }) => `${o.name}/${o.spanKind}`;
    const sorted = [...ops].sort((a, b) => (key(a) < key(b) ? -1 : 1));
    assert.deepEqual(sorted, [
      { name: 'GET /reviews', spanKind: 'server' },
      { name: 'cache lookup', spanKind: 'client' },
      { name: 'cache lookup', spanKind: 'internal' },
    ]);
  });

  it('spanKind=server keeps only server operations', async () => {
    const { status, body } = await api<Array<{ name: string; spanKind: string }>>('/api/operations?service=productpage&spanKind=server');
    const ops = okEnvelope(status, body);
    assert.deepEqual([...ops].sort((a, b) => a.name.localeCompare(b.name)), [
      { name: 'GET /productpage', spanKind: 'server' },
      { name: 'GET /tie', spanKind: 'server' },
    ]);
    assert.ok(!ops.some((o) => o.name === 'GET reviews'), 'the client operation is left out');
  });

  it('spanKind=internal / client split one operation name by kind', async () => {
    const internal = await api<Array<{ name: string; spanKind: string }>>('/api/operations?service=reviews&spanKind=internal');
    assert.deepEqual(okEnvelope(internal.status, internal.body), [{ name: 'cache lookup', spanKind: 'internal' }]);
    const client = await api<Array<{ name: string; spanKind: string }>>('/api/operations?service=reviews&spanKind=client');
    assert.deepEqual(okEnvelope(client.status, client.body), [{ name: 'cache lookup', spanKind: 'client' }]);
  });

  it('an unknown spanKind or a missing service is a 400', async () => {
    const msg = errorEnvelope(400, await api('/api/operations?service=reviews&spanKind=sideways'));
    assert.match(msg, /spanKind/);
    errorEnvelope(400, await api('/api/operations'));
  });
});

describe('GET /api/traces: search', () => {
  it('without filters returns every trace in the default window, newest first, ties by id', async () => {
    const { names } = await search({});
    assert.deepEqual(names, newestFirst(RECENT));
    assert.ok(!names.includes('old'), 'the two-hour-old trace is outside the default one-hour window');
    assert.ok(names.indexOf('tieLow') + 1 === names.indexOf('tieHigh'), 'equal times: the lower id first');
  });

  it('gives the same order for the same query', async () => {
    const first = await search({});
    const second = await search({});
    assert.deepEqual(second.names, first.names);
    const tie1 = await search({ service: 'productpage', operation: 'GET /tie' });
    const tie2 = await search({ service: 'productpage', operation: 'GET /tie' });
    assert.deepEqual(tie1.names, ['tieLow', 'tieHigh']);
    assert.deepEqual(tie2.names, tie1.names);
  });

  it('service filters on the service of some span', async () => {
    assert.deepEqual((await search({ service: 'frontend' })).names, newestFirst(['page', 'failing', 'cart']));
    assert.deepEqual((await search({ service: 'nobody' })).names, []);
    assert.deepEqual((await search({ service: "frontend' OR 1=1 OR service='" })).names, [], 'quotes in a value stay inside the value');
  });

  it('service + operation', async () => {
    const { names } = await search({ service: 'reviews', operation: 'GET /reviews' });
    assert.deepEqual(names, newestFirst(['page', 'failing', 'slowV2', 'slowerV1']));
    assert.deepEqual((await search({ service: 'reviews', operation: 'cache lookup' })).names, newestFirst(['cacheInternal', 'cacheClient']));
    assert.deepEqual((await search({ service: 'frontend', operation: 'GET /reviews' })).names, [], 'the operation must belong to the service');
  });

  it('each trace found carries all of its spans, not only the matching ones', async () => {
    const { traces } = await search({ service: 'reviews', operation: 'GET /reviews' });
    const page = traces.find((t) => t.traceID === TRACES.page.id)!;
    assert.ok(page, 'the page trace is found');
    assert.deepEqual(page.spans.map((s) => s.spanID).sort(), TRACES.page.spans.map((s) => s.spanId).sort());
    assert.deepEqual(Object.values(page.processes).map((p) => p.serviceName).sort(), ['frontend', 'productpage', 'reviews']);
    for (const t of traces) {
      const seed = TRACES[nameOf(t.traceID) as TraceName];
      assert.equal(t.spans.length, seed.spans.length, `${nameOf(t.traceID)}: every span`);
      for (const span of t.spans) assert.equal(span.traceID, t.traceID);
    }
  });

  it('tags: an integer span attribute given as text', async () => {
    assert.deepEqual((await search({ tags: JSON.stringify({ 'http.response.status_code': '500' }) })).names, ['failing']);
    assert.deepEqual((await search({ tags: JSON.stringify({ 'http.response.status_code': '503' }) })).names, ['failing']);
    assert.deepEqual((await search({ tags: JSON.stringify({ 'http.response.status_code': '404' }) })).names, []);
    assert.deepEqual((await search({ tags: JSON.stringify({ 'http.response.status_code': 500 }) })).names, ['failing'], 'a JSON number works too');
  });

  it('tags: error=true finds the traces with an error span', async () => {
    assert.deepEqual((await search({ tags: JSON.stringify({ error: 'true' }) })).names, ['failing']);
    // error=false: some span without an error; the failing trace has those too, so it is not excluded.
    const { names } = await search({ tags: JSON.stringify({ error: 'false' }), service: 'productpage' });
    assert.deepEqual(names, newestFirst(['page', 'tieHigh', 'tieLow']), 'only productpage spans without error');
  });

  it('tags: resource attributes, including the Kubernetes namespace', async () => {
    assert.deepEqual((await search({ tags: JSON.stringify({ 'service.version': 'v2' }) })).names, newestFirst(['failing', 'slowV2']));
    assert.deepEqual((await search({ tags: JSON.stringify({ 'k8s.namespace.name': 'web' }) })).names, newestFirst(['page', 'failing', 'cart']));
    const bookinfo = (await search({ tags: JSON.stringify({ 'k8s.namespace.name': 'bookinfo' }) })).names;
    assert.deepEqual(bookinfo, newestFirst(RECENT.filter((n) => n !== 'cart')));
    assert.ok(!bookinfo.includes('cart'), 'the frontend-only trace is not in bookinfo');
  });

  it('tags must all hold on one span', async () => {
    assert.deepEqual((await search({ tags: JSON.stringify({ 'http.request.method': 'POST', 'http.response.status_code': '200' }) })).names, ['cart']);
    assert.deepEqual((await search({ tags: JSON.stringify({ 'http.request.method': 'POST', 'http.response.status_code': '500' }) })).names, []);
    assert.deepEqual((await search({ service: 'frontend', tags: JSON.stringify({ 'service.version': 'v2' }) })).names, [], 'v2 is on a reviews span, not a frontend one');
  });

  it('repeated tag=key:value, as older clients send them', async () => {
    assert.deepEqual((await search({ tag: ['http.response.status_code:200', 'http.request.method:POST'] })).names, ['cart']);
    assert.deepEqual((await search({ tag: ['http.response.status_code:500'] })).names, ['failing']);
    assert.deepEqual((await search({ tag: ['http.response.status_code:500', 'http.request.method:POST'] })).names, []);
  });

  it('minDuration / maxDuration as Go durations', async () => {
    assert.deepEqual((await search({ minDuration: '100ms' })).names, newestFirst(['page', 'slowV2', 'slowerV1']));
    assert.deepEqual((await search({ minDuration: '1.5s' })).names, newestFirst(['slowV2', 'slowerV1']), '1.5s itself is included');
    assert.deepEqual((await search({ minDuration: '1s', maxDuration: '1.5s' })).names, ['slowV2'], 'the 2 s trace is over the maximum');
    assert.deepEqual((await search({ maxDuration: '500us' })).names, ['cacheInternal'], 'only the 300 µs span');
    assert.deepEqual((await search({ minDuration: '500us', maxDuration: '1ms' })).names, ['cacheClient']);
    assert.deepEqual((await search({ service: 'reviews', maxDuration: '1.5s', operation: 'GET /reviews' })).names, newestFirst(['page', 'failing', 'slowV2']));
    assert.deepEqual((await search({ minDuration: '1m' })).names, []);
  });

  it('start / end in microseconds bound the window', async () => {
    const oldWindow = { start: micros(OLD_NS - 60n * SECOND), end: micros(OLD_NS + 60n * SECOND) };
    assert.deepEqual((await search(oldWindow)).names, ['old']);
    const wide = { start: micros(OLD_NS - 60n * SECOND), end: micros(NOW_NS + 60n * SECOND), service: 'frontend' };
    assert.deepEqual((await search(wide)).names, newestFirst(['page', 'failing', 'cart', 'old']));
    // Older Grafana frontends add lookback=custom beside start/end.
    assert.deepEqual((await search({ ...wide, lookback: 'custom' })).names, newestFirst(['page', 'failing', 'cart', 'old']));
    // lookback without start: the window reaches that far back from end (or now).
    assert.deepEqual((await search({ lookback: '3h', service: 'frontend' })).names, newestFirst(['page', 'failing', 'cart', 'old']));
    assert.deepEqual((await search({ lookback: '1h', service: 'frontend' })).names, newestFirst(['page', 'failing', 'cart']));
    const middle = { start: micros(at(25)), end: micros(at(100)) };
    assert.deepEqual((await search(middle)).names, newestFirst(['failing', 'cart', 'slowV2']), 'only traces with a span starting inside');
  });

  it('limit returns the newest traces first', async () => {
    const all = (await search({})).names;
    assert.deepEqual((await search({ limit: '2' })).names, all.slice(0, 2));
    assert.deepEqual((await search({ limit: '3', service: 'frontend' })).names, newestFirst(['page', 'failing', 'cart']).slice(0, 3));
    assert.deepEqual((await search({ limit: '1', service: 'frontend' })).names, ['cart']);
  });
});

describe('GET /api/traces/{traceId}', () => {
  it('returns the whole trace in data[0]', async () => {
    const { status, body } = await api<JaegerTrace[]>(`/api/traces/${TRACES.failing.id}`);
    const [trace] = okEnvelope(status, body);
    assert.equal(body.total, 1);
    assert.equal(trace!.traceID, TRACES.failing.id);
    assert.deepEqual(trace!.spans.map((s) => s.spanID).sort(), TRACES.failing.spans.map((s) => s.spanId).sort());
    const failed = trace!.spans.find((s) => s.spanID === 'a200000000000002')!;
    assert.ok(failed.tags.some((t) => t.key === 'error' && t.value === true));
    assert.deepEqual(failed.references, [{ refType: 'CHILD_OF', traceID: TRACES.failing.id, spanID: 'a200000000000001' }]);
    assert.equal(failed.duration, 50_000, 'µs');
    assert.equal(failed.startTime, Number((TRACES.failing.startNs + 5n * MS) / 1000n), 'µs');
    const process = trace!.processes[failed.processID]!;
    assert.equal(process.serviceName, 'productpage');
    assert.ok(process.tags.some((t) => t.key === 'k8s.namespace.name' && t.value === 'bookinfo'));
  });

  it('finds a 64-bit id given with 16 digits, and an id given without its leading zeros or in upper case', async () => {
    for (const given of ['c3c3c3c3c3c3c3c3', 'C3C3C3C3C3C3C3C3', TRACES.cart.id]) {
      const { status, body } = await api<JaegerTrace[]>(`/api/traces/${given}`);
      const [trace] = okEnvelope(status, body);
      assert.equal(trace!.traceID, TRACES.cart.id, `asked as ${given}`);
      assert.equal(trace!.spans.length, 1);
    }
  });

  it('honours start/end (µs) when given, as Grafana sends them with "time range for trace ID" on', async () => {
    const around = `start=${micros(TRACES.failing.startNs - SECOND)}&end=${micros(TRACES.failing.startNs + SECOND)}`;
    const inside = await api<JaegerTrace[]>(`/api/traces/${TRACES.failing.id}?${around}`);
    assert.equal(okEnvelope(inside.status, inside.body)[0]!.spans.length, TRACES.failing.spans.length);
    const before = `start=${micros(OLD_NS)}&end=${micros(TRACES.failing.startNs - SECOND)}`;
    errorEnvelope(404, await api(`/api/traces/${TRACES.failing.id}?${before}`));
  });

  it('an unknown id is a 404 in the Jaeger envelope', async () => {
    const msg = errorEnvelope(404, await api('/api/traces/ffffffffffffffffffffffffffffffff'));
    assert.match(msg, /not found/);
    errorEnvelope(404, await api('/api/traces/1234'));
  });

  it('a non-hex id is a 400', async () => {
    errorEnvelope(400, await api('/api/traces/not-a-trace-id'));
  });
});

describe('GET /api/traces: bad parameters are a 400 with one line', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['limit=-1', 'limit=-1', /limit/],
    ['start=abc', 'start=abc', /start/],
    ['end=abc', 'end=abc', /end/],
    ['minDuration=bogus', 'minDuration=bogus', /minDuration/],
    ['maxDuration=10 parsecs', 'maxDuration=10%20parsecs', /maxDuration/],
    ['lookback=soon', 'lookback=soon', /lookback/],
    ['tags=not-json', 'tags=not-json', /tags/],
    ['tags=[1,2] (not an object)', 'tags=%5B1%2C2%5D', /tags/],
    ['tag without a colon', 'tag=nocolon', /tag/],
    ['start after end', `start=${micros(NOW_NS)}&end=${micros(NOW_NS - SECOND)}`, /start/],
  ];
  for (const [title, query, names] of cases) {
    it(title, async () => {
      const msg = errorEnvelope(400, await api(`/api/traces?${query}`));
      assert.match(msg, names, `the message names the parameter: ${msg}`);
    });
  }
});
