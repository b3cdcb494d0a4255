// Tempo's HTTP API subset under /tempo/ against a real meshlens, as Grafana's built-in Tempo data source calls
// it with URL http://HOST:16686/tempo (grafana.md §4): hand-written traces sent through the real OTLP/HTTP
// receiver, then Grafana's requests replayed — the echo health check, trace by id as its Go backend asks
// (pkg/tsdb/tempo/trace.go: /api/v2/traces/<id> first, Accept: application/protobuf, decoded as
// tempopb.TraceByIDResponse; /api/traces/<id> as tempopb.Trace when v2 is 404), TraceQL search with every
// supported operator and the exact traces each query must find, tags and tag values v1/v2, and 400s.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import protobuf from 'protobufjs';
import { OTLP_PROTO_DIR } from '../../collector/otlp/traces.ts';
import type { OtlpResourceSpans } from '../../query/jaeger-v3.ts';
import type { TraceSearchMetadata } from '../../query/tempo.ts';
import { getJson, startTestMeshlens, type TestMeshlens } from '../helpers/meshlens.ts';
import { postTraces } from '../helpers/otlp-json.ts';

let meshlens: TestMeshlens;
const MS = 1_000_000n;
/** Ten minutes ago, to the millisecond: inside the default one-hour window of the tag endpoints. */
const BASE_NS = (BigInt(Date.now()) - 600_000n) * MS;
const at = (ms: number) => String(BASE_NS + BigInt(ms) * MS);
/** Grafana's search window in epoch seconds, around the test traces. */
const START_S = Number(BASE_NS / 1_000_000_000n) - 60;
const END_S = Number(BASE_NS / 1_000_000_000n) + 60;

// A: checkout that failed (300 ms; frontend → payments, 5xx); B: checkout that worked (50 ms, frontend →
// cart); C: a health check (2 ms); D: a cart span whose parent never arrived (120 ms, 500).
const A = 'a1000000000000000000000000000001';
const B = 'b2000000000000000000000000000002';
const C = 'c3000000000000000000000000000003';
const D = 'd4000000000000000000000000000004';
const A_ROOT = 'a100000000000001';
const A_PAY_CLIENT = 'a100000000000002';
const A_PAY_SERVER = 'a100000000000003';
const B_ROOT = 'b200000000000001';
const B_CART_CLIENT = 'b200000000000002';
const B_CART_SERVER = 'b200000000000003';
const C_ROOT = 'c300000000000001';
const D_ORPHAN = 'd400000000000001';

const str = (key: string, value: string) => ({ key, value: { stringValue: value } });
const int = (key: string, value: number) => ({ key, value: { intValue: String(value) } });
const resource = (service: string, environment: string) => ({
  attributes: [str('service.name', service), str('k8s.namespace.name', 'shop'), str('deployment.environment', environment)],
});
const span = (trace: string, id: string, parent: string | undefined, name: string, kind: number, startMs: number, endMs: number, attributes: object[], code?: number) => ({
  traceId: trace, spanId: id, ...(parent ? { parentSpanId: parent } : {}), name, kind,
  startTimeUnixNano: at(startMs), endTimeUnixNano: at(endMs), attributes, ...(code ? { status: { code, ...(code === 2 ? { message: 'boom' } : {}) } } : {}),
});

const REQUEST = {
  resourceSpans: [
    {
      resource: resource('frontend', 'prod'),
      scopeSpans: [
        {
          scope: { name: 'shop-lib', version: '2.0.0' },
          spans: [
            span(A, A_ROOT, undefined, 'GET /checkout', 2, 0, 300, [str('http.method', 'GET'), int('http.status_code', 500)], 2),
            span(A, A_PAY_CLIENT, A_ROOT, 'POST /pay', 3, 10, 250, [str('peer.service', 'payments'), int('http.status_code', 503)]),
            span(B, B_ROOT, undefined, 'GET /checkout', 2, 1000, 1050, [str('http.method', 'GET'), int('http.status_code', 200)], 1),
            span(B, B_CART_CLIENT, B_ROOT, 'GET /cart', 3, 1010, 1040, []),
            span(C, C_ROOT, undefined, 'GET /health', 2, 2000, 2002, [int('http.status_code', 200), str('http.route', '/health')]),
          ],
        },
      ],
    },
    {
      resource: resource('payments', 'prod'),
      scopeSpans: [{ spans: [span(A, A_PAY_SERVER, A_PAY_CLIENT, 'POST /pay', 2, 20, 240, [int('http.status_code', 503)], 2)] }],
    },
    {
      resource: resource('cart', 'staging'),
      scopeSpans: [
        {
          spans: [
            span(B, B_CART_SERVER, B_CART_CLIENT, 'GET /cart', 2, 1015, 1035, [
              int('http.status_code', 200), { key: 'ratio', value: { doubleValue: 0.5 } }, { key: 'cache.hit', value: { boolValue: true } },
            ]),
            span(D, D_ORPHAN, 'dead00000000beef', 'GET /cart', 2, 3000, 3120, [int('http.status_code', 500)], 2),
          ],
        },
      ],
    },
  ],
};

interface SearchBody {
  traces: TraceSearchMetadata[];
  metrics: { inspectedTraces: number; inspectedBytes: string; completedJobs: number; totalJobs: number };
}

/** A search as Grafana sends it: q, limit, spss, start and end in epoch seconds. */
async function search(params: Record<string, string>): Promise<{ status: number; body: SearchBody }> {
  const query = new URLSearchParams({ start: String(START_S), end: String(END_S), ...params });
  return getJson<SearchBody>(`${meshlens.queryUrl}/tempo/api/search?${query}`);
}
async function traceIds(q: string, extra: Record<string, string> = {}): Promise<string[]> {
  const { status, body } = await search({ q, ...extra });
  assert.equal(status, 200, `${q}: ${JSON.stringify(body)}`);
  return body.traces.map((t) => t.traceID);
}
/** A 400 as Tempo sends it: the reason as plain text. */
async function plainError(path: string): Promise<{ status: number; type: string; text: string }> {
  const response = await fetch(`${meshlens.queryUrl}${path}`);
  return { status: response.status, type: response.headers.get('content-type') ?? '', text: await response.text() };
}

// A protobuf reader of our own, from the OTLP protos: tempopb.TraceByIDResponse {Trace trace = 1; …} and
// tempopb.Trace {repeated ResourceSpans resourceSpans = 1} (grafana/tempo pkg/tempopb/tempo.proto).
const root = new protobuf.Root();
root.resolvePath = (_origin, target) => (target.startsWith(OTLP_PROTO_DIR) ? target : OTLP_PROTO_DIR + target);
root.loadSync('opentelemetry/proto/trace/v1/trace.proto');
root.define('tempopb')
  .add(new protobuf.Type('Trace').add(new protobuf.Field('resourceSpans', 1, '.opentelemetry.proto.trace.v1.ResourceSpans', 'repeated')))
  .add(new protobuf.Type('TraceByIDResponse').add(new protobuf.Field('trace', 1, 'Trace')).add(new protobuf.Field('status', 3, 'int32')));
root.resolveAll();
const TempoTrace = root.lookupType('tempopb.Trace');
const TempoTraceByIDResponse = root.lookupType('tempopb.TraceByIDResponse');
const decoded = (type: protobuf.Type, body: Buffer) =>
  type.toObject(type.decode(body), { longs: String, bytes: String, enums: Number, defaults: false }) as Record<string, unknown>;

interface ProtoSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes?: Array<{ key: string; value: Record<string, unknown> }>;
  status?: { code?: number; message?: string };
}
const b64hex = (b64: string | undefined) => (b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('hex'));
function protoSpans(resourceSpans: unknown): Array<ProtoSpan & { service: string }> {
  return (resourceSpans as Array<{ resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }; scopeSpans: Array<{ spans: ProtoSpan[] }> }>).flatMap((rs) =>
    rs.scopeSpans.flatMap((ss) =>
      ss.spans.map((s) => ({
        ...s,
        traceId: b64hex(s.traceId)!,
        spanId: b64hex(s.spanId)!,
        ...(s.parentSpanId ? { parentSpanId: b64hex(s.parentSpanId) } : {}),
        service: rs.resource.attributes.find((a) => a.key === 'service.name')!.value.stringValue!,
      })),
    ),
  );
}

before(async () => {
  meshlens = await startTestMeshlens({ overrides: { 'batch.max_delay': '50ms' } });
  await postTraces(meshlens.otlpHttpUrl, JSON.stringify(REQUEST));
  // Writes are batched: wait until all eight spans can be searched.
  for (let i = 0; i < 200; i++) {
    const { status, body } = await search({ q: '{}' });
    if (status === 200 && body.traces.reduce((n, t) => n + Object.values(t.serviceStats).reduce((m, s) => m + s.spanCount, 0), 0) === 8) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the test traces never became searchable');
});
after(async () => {
  await meshlens?.destroy();
});

describe('Tempo API: health and build info', () => {
  it("GET /tempo/api/echo answers 200 'echo' (Grafana's Tempo health check)", async () => {
    const response = await fetch(`${meshlens.queryUrl}/tempo/api/echo`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
    assert.equal(await response.text(), 'echo');
  });

  it('GET /tempo/api/status/buildinfo gives Tempo\'s fields, the version from package.json', async () => {
    const { version } = (await import('../../package.json', { with: { type: 'json' } })).default as { version: string };
    const { status, body } = await getJson(`${meshlens.queryUrl}/tempo/api/status/buildinfo`);
    assert.equal(status, 200);
    assert.deepEqual(body, { version, revision: '', branch: '', buildUser: '', buildDate: '', goVersion: '' });
  });

  it('an unknown /tempo/ path is a JSON 404, never the web app', async () => {
    const response = await fetch(`${meshlens.queryUrl}/tempo/api/nothing-here`);
    assert.equal(response.status, 404);
    assert.match(response.headers.get('content-type') ?? '', /application\/json/);
  });
});

describe('Tempo API: trace by id', () => {
  it('v1 JSON: {"batches":[resourceSpans]} with every span, per resource and scope', async () => {
    const { status, body } = await getJson<{ batches: OtlpResourceSpans[] }>(`${meshlens.queryUrl}/tempo/api/traces/${A}`);
    assert.equal(status, 200);
    assert.deepEqual(Object.keys(body), ['batches']);
    assert.deepEqual(body.batches, [
      {
        resource: resource('frontend', 'prod'),
        scopeSpans: [
          {
            scope: { name: 'shop-lib', version: '2.0.0' },
            spans: [
              { ...span(A, A_ROOT, undefined, 'GET /checkout', 2, 0, 300, [str('http.method', 'GET'), int('http.status_code', 500)], 2) },
              { ...span(A, A_PAY_CLIENT, A_ROOT, 'POST /pay', 3, 10, 250, [str('peer.service', 'payments'), int('http.status_code', 503)]), status: {} },
            ],
          },
        ],
      },
      {
        resource: resource('payments', 'prod'),
        scopeSpans: [{ scope: {}, spans: [span(A, A_PAY_SERVER, A_PAY_CLIENT, 'POST /pay', 2, 20, 240, [int('http.status_code', 503)], 2)] }],
      },
    ]);
  });

  it('v2 JSON: {"trace":{"resourceSpans":[…]}}, the same spans', async () => {
    const v1 = await getJson<{ batches: OtlpResourceSpans[] }>(`${meshlens.queryUrl}/tempo/api/traces/${A}`);
    const v2 = await getJson(`${meshlens.queryUrl}/tempo/api/v2/traces/${A}`);
    assert.equal(v2.status, 200);
    assert.deepEqual(v2.body, { trace: { resourceSpans: v1.body.batches } });
  });

  it("v2 protobuf, Grafana's exact request (Accept: application/protobuf, no window): a tempopb.TraceByIDResponse", async () => {
    const response = await fetch(`${meshlens.queryUrl}/tempo/api/v2/traces/${A}`, { headers: { accept: 'application/protobuf' } });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'application/protobuf');
    const message = decoded(TempoTraceByIDResponse, Buffer.from(await response.arrayBuffer()));
    assert.equal(message.status, undefined, 'COMPLETE is proto3 default: not written');
    const spans = protoSpans((message.trace as { resourceSpans: unknown }).resourceSpans);
    assert.deepEqual(
      spans.map((s) => [s.service, s.traceId, s.spanId, s.parentSpanId, s.name, s.kind, s.startTimeUnixNano, s.endTimeUnixNano, s.status?.code]),
      [
        ['frontend', A, A_ROOT, undefined, 'GET /checkout', 2, at(0), at(300), 2],
        ['frontend', A, A_PAY_CLIENT, A_ROOT, 'POST /pay', 3, at(10), at(250), undefined],
        ['payments', A, A_PAY_SERVER, A_PAY_CLIENT, 'POST /pay', 2, at(20), at(240), 2],
      ],
    );
    assert.deepEqual(spans[0]!.attributes, [
      { key: 'http.method', value: { stringValue: 'GET' } },
      { key: 'http.status_code', value: { intValue: '500' } },
    ]);
    assert.equal(spans[0]!.status?.message, 'boom');
  });

  it('v1 protobuf (the fallback): a tempopb.Trace, i.e. OTLP TracesData', async () => {
    const response = await fetch(`${meshlens.queryUrl}/tempo/api/traces/${B}`, { headers: { accept: 'application/protobuf' } });
    assert.equal(response.status, 200);
    const message = decoded(TempoTrace, Buffer.from(await response.arrayBuffer()));
    const spans = protoSpans(message.resourceSpans);
    assert.deepEqual(
      spans.map((s) => [s.service, s.spanId, s.name]),
      [
        ['frontend', B_ROOT, 'GET /checkout'],
        ['frontend', B_CART_CLIENT, 'GET /cart'],
        ['cart', B_CART_SERVER, 'GET /cart'],
      ],
    );
    assert.deepEqual(spans[2]!.attributes, [
      { key: 'http.status_code', value: { intValue: '200' } },
      { key: 'ratio', value: { doubleValue: 0.5 } },
      { key: 'cache.hit', value: { boolValue: true } },
    ]);
  });

  it('start/end (epoch s, with the time-shift option) are honoured: outside the window the trace is not found', async () => {
    const inside = await fetch(`${meshlens.queryUrl}/tempo/api/v2/traces/${A}?start=${START_S}&end=${END_S}`, { headers: { accept: 'application/protobuf' } });
    assert.equal(inside.status, 200);
    const before = await fetch(`${meshlens.queryUrl}/tempo/api/v2/traces/${A}?start=${START_S - 7200}&end=${START_S - 3600}`);
    assert.equal(before.status, 404);
    const afterWindow = await fetch(`${meshlens.queryUrl}/tempo/api/traces/${A}?start=${END_S + 3600}&end=${END_S + 7200}`);
    assert.equal(afterWindow.status, 404);
  });

  it('an unknown trace is 404 in both versions (Grafana then reports it not found); a bad id is 400', async () => {
    for (const path of [`/tempo/api/v2/traces/${'e'.repeat(32)}`, `/tempo/api/traces/${'e'.repeat(32)}`, '/tempo/api/traces/0']) {
      const { status, text } = await plainError(path);
      assert.equal(status, 404, path);
      assert.equal(text, 'trace not found');
    }
    const bad = await plainError('/tempo/api/v2/traces/not-hex');
    assert.equal(bad.status, 400);
    assert.match(bad.type, /^text\/plain/);
    assert.match(bad.text, /^invalid trace id: "not-hex"/);
  });
});

describe('Tempo API: TraceQL search', () => {
  it('{} finds every trace, newest first, with Tempo\'s result fields', async () => {
    const { status, body } = await search({ q: '{}' });
    assert.equal(status, 200);
    assert.deepEqual(body.traces.map((t) => t.traceID), [D, C, B, A]);
    assert.deepEqual(body.metrics, { inspectedTraces: 4, inspectedBytes: '0', completedJobs: 1, totalJobs: 1 });
    const [d, c] = body.traces;
    // D's root never arrived: Tempo's placeholder, and no rootTraceName.
    assert.equal(d!.rootServiceName, '<root span not yet received>');
    assert.equal('rootTraceName' in d!, false);
    assert.equal(d!.startTimeUnixNano, at(3000));
    assert.equal(d!.durationMs, 120);
    assert.deepEqual(c, {
      traceID: C,
      rootServiceName: 'frontend',
      rootTraceName: 'GET /health',
      startTimeUnixNano: at(2000),
      durationMs: 2,
      spanSet: { spans: [{ spanID: C_ROOT, name: 'GET /health', startTimeUnixNano: at(2000), durationNanos: '2000000', attributes: [str('service.name', 'frontend')] }], matched: 1 },
      spanSets: [{ spans: [{ spanID: C_ROOT, name: 'GET /health', startTimeUnixNano: at(2000), durationNanos: '2000000', attributes: [str('service.name', 'frontend')] }], matched: 1 }],
      serviceStats: { frontend: { spanCount: 1 } },
    });
  });

  it('the query-builder filter from the brief finds exactly the failed checkout, every field checked', async () => {
    const q = '{ resource.service.name = "frontend" && name = "GET /checkout" && span.http.status_code >= 500 && duration > 100ms && status = error && kind = server }';
    const { status, body } = await search({ q, limit: '20', spss: '3' });
    assert.equal(status, 200);
    const rootSpan = {
      spanID: A_ROOT,
      name: 'GET /checkout',
      startTimeUnixNano: at(0),
      durationNanos: '300000000',
      attributes: [str('service.name', 'frontend'), int('http.status_code', 500), str('status', 'error'), str('kind', 'server')],
    };
    assert.deepEqual(body.traces, [
      {
        traceID: A,
        rootServiceName: 'frontend',
        rootTraceName: 'GET /checkout',
        startTimeUnixNano: at(0),
        durationMs: 300,
        spanSet: { spans: [rootSpan], matched: 1 },
        spanSets: [{ spans: [rootSpan], matched: 1 }],
        serviceStats: { frontend: { spanCount: 2, errorCount: 1 }, payments: { spanCount: 1, errorCount: 1 } },
      },
    ]);
    assert.equal(body.metrics.inspectedTraces, 1);
  });

  const cases: Array<[string, string[]]> = [
    // strings: = != =~ (anchored) !~
    ['{ resource.service.name = "payments" }', [A]],
    ['{ resource.service.name != "frontend" }', [D, B, A]],
    ['{ name = "GET /checkout" }', [B, A]],
    ['{ name =~ "GET /(cart|health)" }', [D, C, B]],
    ['{ name =~ "GET" }', []],
    ['{ name !~ "GET.*" }', [A]],
    ['{ span.http.method = "GET" }', [B, A]],
    // numbers: = != > >= < <= (by value)
    ['{ span.http.status_code = 200 }', [C, B]],
    ['{ span.http.status_code != 200 }', [D, A]],
    ['{ span.http.status_code > 500 }', [A]],
    ['{ span.http.status_code >= 500 }', [D, A]],
    ['{ span.http.status_code < 300 }', [C, B]],
    ['{ span.http.status_code <= 500 }', [D, C, B, A]],
    ['{ span.ratio > 0.25 }', [B]],
    ['{ span.cache.hit = true }', [B]],
    ['{ span.peer.service != nil }', [A]],
    // intrinsics
    ['{ duration > 100ms }', [D, A]],
    ['{ duration < 5ms }', [C]],
    ['{ status = error }', [D, A]],
    ['{ status != error }', [C, B, A]],
    ['{ kind = client }', [B, A]],
    ['{ kind = server && resource.service.name = "cart" }', [D, B]],
    ['{ traceDuration > 200ms }', [A]],
    ['{ rootServiceName = "frontend" }', [C, B, A]],
    ['{ rootName = "GET /health" }', [C]],
    // unscoped attributes: span or resource
    ['{ .deployment.environment = "staging" }', [D, B]],
    ['{ .service.name = "cart" }', [D, B]],
    ['{ resource.deployment.environment = "prod" && span.peer.service = "payments" }', [A]],
    // && binds within ONE span: no single span of B is both a client and from cart
    ['{ kind = client && resource.service.name = "cart" }', []],
  ];
  for (const [q, expected] of cases) {
    it(`${q} → ${expected.length ? expected.map((id) => id[0]!.toUpperCase()).join(', ') : 'nothing'}`, async () => {
      assert.deepEqual(await traceIds(q), expected);
    });
  }

  it('limit keeps the newest traces; spss caps the spans per spanset while matched counts them all', async () => {
    const limited = await search({ q: '{}', limit: '2' });
    assert.deepEqual(limited.body.traces.map((t) => t.traceID), [D, C]);
    assert.equal(limited.body.metrics.inspectedTraces, 4);
    const { body } = await search({ q: '{ resource.service.name = "frontend" && trace:rootName = "GET /checkout" }', spss: '1' });
    const a = body.traces.find((t) => t.traceID === A)!;
    assert.equal(a.spanSets[0]!.matched, 2);
    assert.equal(a.spanSets[0]!.spans.length, 1);
    assert.ok([A_ROOT, A_PAY_CLIENT].includes(a.spanSets[0]!.spans[0]!.spanID));
  });

  it('tags= (logfmt, case-insensitive substring) with minDuration / maxDuration on the whole trace', async () => {
    const ids = async (params: Record<string, string>) => (await search(params)).body.traces.map((t) => t.traceID);
    assert.deepEqual(await ids({ tags: 'service.name=cart' }), [D, B]);
    assert.deepEqual(await ids({ tags: 'http.method=get' }), [B, A]);
    assert.deepEqual(await ids({ tags: 'http.method=get', minDuration: '200ms' }), [A]);
    assert.deepEqual(await ids({ tags: 'deployment.environment="prod" name=checkout' }), [B, A]);
    assert.deepEqual(await ids({ maxDuration: '60ms' }), [C, B]);
  });

  it('the search window (start/end, epoch s) bounds what is found', async () => {
    const { body } = await search({ q: '{}', start: String(END_S + 60), end: String(END_S + 120) });
    assert.deepEqual(body.traces, []);
  });

  it('TraceQL meshlens does not take is a 400 naming what is supported; bad parameters too', async () => {
    for (const [q, reason] of [
      ['{ name = "a" || name = "b" }', '|| (or) is not supported'],
      ['{ status = error } | count() > 1', 'pipelines'],
      ['{ } | rate()', 'pipelines'],
      ['{ name = "a" } >> { name = "b" }', 'operations between spansets (>>)'],
      ['{ name = checkout }', 'is not a value here'],
    ]) {
      const { status, type, text } = await plainError(`/tempo/api/search?${new URLSearchParams({ q: q!, start: String(START_S), end: String(END_S) })}`);
      assert.equal(status, 400, q);
      assert.match(type, /^text\/plain/);
      assert.ok(text.startsWith('invalid TraceQL query: '), text);
      assert.ok(text.includes(reason!), `${q}: ${text}`);
      assert.ok(text.includes('meshlens supports one spanset filter'), text);
    }
    for (const [params, message] of [
      ['limit=0', /^invalid limit/],
      ['start=yesterday', /^invalid start/],
      [`start=${END_S}&end=${START_S}`, /start must not be after end/],
      ['minDuration=100', /^invalid minDuration: "100" needs a unit/],
      ['tags=' + encodeURIComponent('a="unterminated'), /^invalid tags/],
    ] as const) {
      const { status, text } = await plainError(`/tempo/api/search?${params}`);
      assert.equal(status, 400, params);
      assert.match(text, message);
    }
  });
});

describe('Tempo API: tags and tag values', () => {
  const window = `start=${START_S}&end=${END_S}`;
  const SPAN_TAGS = ['cache.hit', 'http.method', 'http.route', 'http.status_code', 'peer.service', 'ratio'];
  const RESOURCE_TAGS = ['deployment.environment', 'k8s.namespace.name', 'service.name'];
  const INTRINSICS = ['duration', 'kind', 'name', 'rootName', 'rootServiceName', 'status', 'statusMessage', 'traceDuration'];

  it('v1 /api/search/tags: span and resource tag names; scope=intrinsic the intrinsics', async () => {
    const all = await getJson(`${meshlens.queryUrl}/tempo/api/search/tags`);
    assert.equal(all.status, 200);
    assert.deepEqual(all.body, { tagNames: [...SPAN_TAGS, ...RESOURCE_TAGS].sort() });
    assert.deepEqual((await getJson(`${meshlens.queryUrl}/tempo/api/search/tags?scope=resource&${window}`)).body, { tagNames: RESOURCE_TAGS });
    assert.deepEqual((await getJson(`${meshlens.queryUrl}/tempo/api/search/tags?scope=intrinsic`)).body, { tagNames: INTRINSICS });
  });

  it('v2 /api/v2/search/tags: one entry per scope; scope= and q= narrow it', async () => {
    const all = await getJson(`${meshlens.queryUrl}/tempo/api/v2/search/tags?${window}&limit=5000`);
    assert.equal(all.status, 200);
    assert.deepEqual(all.body, {
      scopes: [
        { name: 'resource', tags: RESOURCE_TAGS },
        { name: 'span', tags: SPAN_TAGS },
        { name: 'intrinsic', tags: INTRINSICS },
      ],
    });
    const cartOnly = await getJson(`${meshlens.queryUrl}/tempo/api/v2/search/tags?scope=span&${new URLSearchParams({ q: '{resource.service.name="cart"}' })}`);
    assert.deepEqual(cartOnly.body, { scopes: [{ name: 'span', tags: ['cache.hit', 'http.status_code', 'ratio'] }] });
    assert.deepEqual((await getJson(`${meshlens.queryUrl}/tempo/api/v2/search/tags?scope=event`)).body, { scopes: [{ name: 'event', tags: [] }] });
    const bad = await plainError('/tempo/api/v2/search/tags?scope=nope');
    assert.equal(bad.status, 400);
    assert.match(bad.text, /^invalid scope: "nope"/);
  });

  it('v1 /api/search/tag/<tag>/values: the distinct values, sorted', async () => {
    assert.deepEqual((await getJson(`${meshlens.queryUrl}/tempo/api/search/tag/service.name/values?${window}`)).body, { tagValues: ['cart', 'frontend', 'payments'] });
    assert.deepEqual((await getJson(`${meshlens.queryUrl}/tempo/api/search/tag/http.status_code/values`)).body, { tagValues: ['200', '500', '503'] });
    assert.deepEqual((await getJson(`${meshlens.queryUrl}/tempo/api/search/tag/name/values`)).body, { tagValues: ['GET /cart', 'GET /checkout', 'GET /health', 'POST /pay'] });
    assert.deepEqual((await getJson(`${meshlens.queryUrl}/tempo/api/search/tag/deployment.environment/values?limit=1`)).body, { tagValues: ['prod'] });
  });

  it('v2 /api/v2/search/tag/<scope.tag>/values: typed values; intrinsics; q= filters', async () => {
    const values = async (tag: string, params = '') => (await getJson(`${meshlens.queryUrl}/tempo/api/v2/search/tag/${tag}/values?${window}${params}`)).body;
    const strings = (...v: string[]) => ({ tagValues: v.map((value) => ({ type: 'string', value })) });
    assert.deepEqual(await values('resource.service.name'), strings('cart', 'frontend', 'payments'));
    assert.deepEqual(await values('.service.name'), strings('cart', 'frontend', 'payments'));
    assert.deepEqual(await values('span.http.status_code'), { tagValues: ['200', '500', '503'].map((value) => ({ type: 'int', value })) });
    assert.deepEqual(await values('span.ratio'), { tagValues: [{ type: 'float', value: '0.5' }] });
    assert.deepEqual(await values('span.cache.hit'), { tagValues: [{ type: 'bool', value: 'true' }] });
    assert.deepEqual(await values('name'), strings('GET /cart', 'GET /checkout', 'GET /health', 'POST /pay'));
    assert.deepEqual(await values('rootServiceName'), strings('frontend'));
    assert.deepEqual(await values('status'), { tagValues: ['error', 'ok', 'unset'].map((value) => ({ type: 'keyword', value })) });
    assert.deepEqual(await values('kind'), { tagValues: ['client', 'consumer', 'internal', 'producer', 'server', 'unspecified'].map((value) => ({ type: 'keyword', value })) });
    assert.deepEqual(await values('resource.service.name', `&${new URLSearchParams({ q: '{span.http.status_code>=500 && kind=server}' })}`), strings('cart', 'frontend', 'payments'));
    assert.deepEqual(await values('resource.service.name', `&${new URLSearchParams({ q: '{span.peer.service="payments"}' })}`), strings('frontend'));
    // An unparseable q is ignored, as Tempo does (the editor sends half-typed queries).
    assert.deepEqual(await values('resource.service.name', `&${new URLSearchParams({ q: '{ span.http.method = ' })}`), strings('cart', 'frontend', 'payments'));
    const bad = await plainError('/tempo/api/v2/search/tag/service.name/values');
    assert.equal(bad.status, 400);
    assert.match(bad.text, /^invalid tag: "service.name"/);
  });
});
