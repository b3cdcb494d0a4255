// The Grafana data-source plugin against a real meshlens: spans go in through the OTLP HTTP receiver, then the
// plugin's DataSource.query() runs with Grafana's own @grafana/runtime (BackendSrv set to a fetch-based stand-in
// for Grafana's data-source proxy, applying the plugin.json route) and every frame is checked against what
// Grafana's panels read: field names and types, units, meta, node ids, arcs, trace times in ms.
// Also: the build (bin/build-grafana-plugin.ts) gives dist/module.js + plugin.json + logo + zip, and the bundle
// loads through an AMD `define` with Grafana's packages and exports a DataSourcePlugin.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import type { DataFrame, Field } from '@grafana/data';
import { GRAFANA_PROVIDED, buildGrafanaPlugin } from '../../bin/build-grafana-plugin.ts';
import type { MeshlensQuery } from '../../ui/grafana-datasource/src/types.ts';
import { SPAN_KIND, otlpJsonRequest, postTraces, type HandSpan } from '../helpers/otlp-json.ts';
import { graphEdgesUntil, startTestMeshlens, type TestMeshlens } from '../helpers/meshlens.ts';
import { type DataSourceConfig, type ProxiedRequest, grafanaData, installBackendSrv, installTemplateSrv, instanceSettings, pluginDataSource, pluginFrames, queryRequest } from './grafana-host.ts';

const { FieldType } = grafanaData;
// Through require() with the rest of the plugin: see grafana-host.ts on why not an ESM import.
const { ARC_COLORS, DASH, EDGE_COLORS } = pluginFrames;
type DataSource = InstanceType<typeof pluginDataSource.MeshlensDataSource>;

let meshlens: TestMeshlens;
let ds: DataSource;
let proxied: ProxiedRequest[];

// Twenty requests two minutes ago, all inside one minute: frontend → checkout over mTLS (Istio's
// connection_security_policy), checkout → payments in plaintext (tls.established=false), every 4th payments
// call a 500. Durations grow with i so percentiles and trace durations are known.
const minuteMs = Math.floor(Date.now() / 60_000) * 60_000 - 120_000;
const baseMs = minuteMs + 5_000;
const TRACES = 20;
const FAILED = [0, 4, 8, 12, 16];
const fromMs = minuteMs - 300_000;
const toMs = minuteMs + 300_000;
const traceId = (i: number) => (1000 + i).toString(16).padStart(32, '0');

function seedSpans(): { frontend: HandSpan[]; checkout: HandSpan[]; payments: HandSpan[] } {
  const frontend: HandSpan[] = [];
  const checkout: HandSpan[] = [];
  const payments: HandSpan[] = [];
  const mtls = { connection_security_policy: 'mutual_tls' };
  const plaintext = { 'tls.established': 'false' };
  for (let i = 0; i < TRACES; i++) {
    const trace = 1000 + i;
    const at = i * 100;
    frontend.push({ trace, id: 1, kind: SPAN_KIND.client, startMs: at, durationMs: 50 + i, attributes: { ...mtls, 'server.address': 'checkout' } });
    checkout.push({ trace, id: 2, parent: 1, kind: SPAN_KIND.server, startMs: at + 1, durationMs: 40 + i, attributes: mtls });
    checkout.push({ trace, id: 3, parent: 2, kind: SPAN_KIND.client, startMs: at + 5, durationMs: 12 + i, attributes: { ...plaintext, 'server.address': 'payments' } });
    const failed = FAILED.includes(i);
    payments.push({ trace, id: 4, parent: 3, kind: SPAN_KIND.server, startMs: at + 6, durationMs: 10 + i, attributes: { ...plaintext, 'http.response.status_code': failed ? 500 : 200 }, ...(failed ? { code: 2 } : {}) });
  }
  return { frontend, checkout, payments };
}

const DS_CONFIG = (url: string): DataSourceConfig => ({ uid: 'meshlens-test', name: 'meshlens', jsonData: { url }, secureJsonData: { authHeader: 'Bearer test-token' } });

before(async () => {
  meshlens = await startTestMeshlens({ overrides: { 'graph.wait': '1s', 'graph.flush_interval': '300ms' } });
  const baseNs = BigInt(baseMs) * 1_000_000n;
  const spans = seedSpans();
  for (const [service, list] of Object.entries(spans)) await postTraces(meshlens.otlpHttpUrl, otlpJsonRequest(service, 'shop', baseNs, list));
  const edges = await graphEdgesUntil(meshlens.queryUrl, 'spans', 'shop', (e) => e.reduce((n, edge) => n + edge.requests, 0) >= 2 * TRACES);
  assert.equal(edges.length, 2, `seeded edges: ${JSON.stringify(edges)}`);
  const config = DS_CONFIG(meshlens.queryUrl);
  proxied = installBackendSrv([config, { ...DS_CONFIG('http://127.0.0.1:9'), uid: 'meshlens-down' }]);
  installTemplateSrv({ svc: 'shop/payments', ns: 'shop' });
  ds = new pluginDataSource.MeshlensDataSource(instanceSettings(config));
});
after(async () => {
  await meshlens?.destroy();
});

async function run(query: Partial<MeshlensQuery>): Promise<DataFrame[]> {
  const response = await ds.query(queryRequest([{ refId: 'A', ...query }], fromMs, toMs));
  assert.equal(response.errors, undefined, `query ${JSON.stringify(query)} failed: ${JSON.stringify(response.errors)}`);
  return response.data as DataFrame[];
}

function field(frame: DataFrame, name: string): Field {
  const found = frame.fields.find((f) => f.name === name);
  assert.ok(found, `frame ${frame.name} has no field ${name}; fields: ${frame.fields.map((f) => f.name).join(', ')}`);
  return found;
}

/** Every field of the frame has as many values as the frame has rows. */
function assertRectangular(frame: DataFrame): void {
  for (const f of frame.fields) assert.equal(f.values.length, frame.length, `${frame.name}.${f.name} length`);
}

const sum = (values: ArrayLike<number | null>) => Array.from(values).reduce<number>((n, v) => n + (v ?? 0), 0);
const near = (actual: number, expected: number, tolerance: number, label: string) =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${label}: ${actual} is not within ${tolerance} of ${expected}`);

describe('service graph query → node graph frames', () => {
  it('gives a nodes and an edges frame with Grafana node-graph fields, types, units and colours', async () => {
    const frames = await run({ queryType: 'serviceGraph', namespace: 'shop' });
    assert.deepEqual(frames.map((f) => f.name), ['nodes', 'edges']);
    const [nodes, edges] = frames as [DataFrame, DataFrame];
    for (const frame of frames) {
      assert.equal(frame.refId, 'A');
      assert.equal(frame.meta?.preferredVisualisationType, 'nodeGraph');
      assertRectangular(frame);
    }
    const N = grafanaData.NodeGraphDataFrameFieldNames;
    const nodeIds = Array.from(field(nodes, N.id).values) as string[];
    assert.deepEqual(nodeIds, ['shop/checkout', 'shop/frontend', 'shop/payments']);
    assert.equal(field(nodes, N.id).type, FieldType.string);
    assert.deepEqual(Array.from(field(nodes, N.title).values), ['checkout', 'frontend', 'payments']);
    assert.deepEqual(Array.from(field(nodes, N.subTitle).values), ['shop', 'shop', 'shop']);

    const windowSeconds = (toMs - fromMs) / 1000;
    const main = field(nodes, N.mainStat);
    assert.equal(main.type, FieldType.number);
    assert.equal(main.config.unit, 'reqps');
    near(main.values[0] as number, TRACES / windowSeconds, 1e-4, 'checkout rps');
    assert.equal(main.values[1], 0, 'frontend serves nothing');
    assert.equal(field(nodes, N.secondaryStat).config.unit, 'ms');

    // Arcs: per node they sum to 1 where it served requests; colours fixed.
    const success = field(nodes, `${N.arc}success`);
    const errors = field(nodes, `${N.arc}errors`);
    assert.deepEqual(success.config.color, { mode: 'fixed', fixedColor: ARC_COLORS.success });
    assert.deepEqual(errors.config.color, { mode: 'fixed', fixedColor: ARC_COLORS.errors });
    assert.deepEqual([success.values[0], errors.values[0]], [1, 0], 'checkout: no errors');
    assert.deepEqual([success.values[1], errors.values[1]], [0, 0], 'frontend: served nothing, no arcs');
    assert.deepEqual([success.values[2], errors.values[2]], [0.75, 0.25], 'payments: 5 of 20 failed');
    for (const i of [0, 2]) near((success.values[i] as number) + (errors.values[i] as number), 1, 1e-9, `arcs of ${nodeIds[i]}`);

    // Details: kind, percentiles (ms) within the histogram's accuracy, mTLS over the node's edges.
    assert.deepEqual(Array.from(field(nodes, `${N.detail}kind`).values), ['service', 'service', 'service']);
    assert.equal(field(nodes, `${N.detail}p95`).config.unit, 'ms');
    near(field(nodes, `${N.detail}p50`).values[2] as number, 19.5, 1.5, 'payments p50 (10..29 ms)');
    near(field(nodes, `${N.detail}p99`).values[2] as number, 29, 1, 'payments p99');
    assert.deepEqual(Array.from(field(nodes, `${N.detail}mtls`).values), ['1 of 2 edges', 'all edges', 'none']);
    assert.ok(field(nodes, N.id).config.links?.some((l) => l.internal?.datasourceUid === 'meshlens-test' && (l.internal.query as MeshlensQuery).queryType === 'traceSearch'));

    // Edges: ids referring to node ids, stats, thickness, colour by errors, dashes by mTLS.
    assert.deepEqual(Array.from(field(edges, N.id).values), ['shop/checkout->shop/payments', 'shop/frontend->shop/checkout']);
    for (const name of [N.source, N.target]) for (const id of field(edges, name).values) assert.ok(nodeIds.includes(id as string), `${name} ${id} is a node id`);
    assert.deepEqual(Array.from(field(edges, N.source).values), ['shop/checkout', 'shop/frontend']);
    assert.deepEqual(Array.from(field(edges, N.target).values), ['shop/payments', 'shop/checkout']);
    assert.equal(field(edges, N.mainStat).config.unit, 'reqps');
    near(field(edges, N.mainStat).values[0] as number, TRACES / windowSeconds, 1e-4, 'edge rps');
    assert.deepEqual(Array.from(field(edges, N.thickness).values), [5, 5], 'equally busy edges are equally thick');
    assert.deepEqual(Array.from(field(edges, N.color).values), [EDGE_COLORS.failing, EDGE_COLORS.healthy]);
    assert.deepEqual(Array.from(field(edges, N.strokeDasharray).values), [DASH.plaintext, DASH.mtls]);
    assert.deepEqual(Array.from(field(edges, `${N.detail}mtls`).values), ['no (plaintext)', 'yes']);
    assert.equal(field(edges, `${N.detail}errorRate`).config.unit, 'percentunit');
    assert.deepEqual(Array.from(field(edges, `${N.detail}errorRate`).values), [0.25, 0]);
    assert.deepEqual(Array.from(field(edges, `${N.detail}signals`).values), ['spans', 'spans']);
    assert.deepEqual(Array.from(field(edges, 'sourceName').values), ['checkout', 'frontend']);

    // Through Grafana's data-source proxy route: jsonData.url plus the secure auth header.
    const last = proxied.at(-1)!;
    assert.ok(last.url.startsWith(`${meshlens.queryUrl}/api/v1/service-graph?`), last.url);
    assert.equal(last.headers.Authorization, 'Bearer test-token');
  });

  it('p95 as main stat, a focus service from a template variable, and a namespace with nothing', async () => {
    const [nodes, edges] = (await run({ queryType: 'serviceGraph', service: '$svc', graphMainStat: 'p95' })) as [DataFrame, DataFrame];
    assert.equal(field(nodes, 'mainstat').config.unit, 'ms');
    assert.equal(field(nodes, 'secondarystat').config.unit, 'reqps');
    assert.deepEqual(Array.from(field(edges, 'id').values), ['shop/checkout->shop/payments'], 'focus on payments: its edges only');
    near(field(edges, 'mainstat').values[0] as number, 28, 1.5, 'edge p95');
    const [emptyNodes, emptyEdges] = (await run({ queryType: 'serviceGraph', namespace: 'nowhere' })) as [DataFrame, DataFrame];
    assert.equal(emptyNodes.length, 0);
    assert.equal(emptyEdges.length, 0);
  });
});

describe('trace queries', () => {
  it('trace search gives a Jaeger-like table: traceID with an internal link, newest first, duration in µs', async () => {
    const [frame] = await run({ queryType: 'traceSearch', service: 'checkout', limit: 50 });
    assert.ok(frame);
    assert.equal(frame.meta?.preferredVisualisationType, 'table');
    assertRectangular(frame);
    assert.deepEqual(frame.fields.map((f) => [f.name, f.type]), [
      ['traceID', FieldType.string],
      ['traceName', FieldType.string],
      ['startTime', FieldType.time],
      ['duration', FieldType.number],
    ]);
    assert.equal(frame.length, TRACES);
    const link = field(frame, 'traceID').config.links?.[0];
    assert.deepEqual(link?.internal?.query, { queryType: 'traceId', traceId: '${__value.raw}' });
    assert.equal(link?.internal?.datasourceUid, 'meshlens-test');
    assert.equal(field(frame, 'duration').config.unit, 'µs');
    // Newest first: trace 19 started last; its root (frontend) lasted 50 + 19 ms.
    assert.equal(field(frame, 'traceID').values[0], traceId(19));
    assert.equal(field(frame, 'startTime').values[0], baseMs + 19 * 100);
    assert.equal(field(frame, 'duration').values[0], (50 + 19) * 1000);
    assert.equal(field(frame, 'traceName').values[0], 'frontend: frontend op');
    const starts = Array.from(field(frame, 'startTime').values) as number[];
    assert.deepEqual(starts, [...starts].sort((a, b) => b - a));
  });

  it('trace by id gives the trace-view frame: one row per span, times in ms, parents, kinds, status', async () => {
    const [frame] = await run({ queryType: 'traceId', traceId: traceId(4) });
    assert.ok(frame);
    assert.equal(frame.meta?.preferredVisualisationType, 'trace');
    assertRectangular(frame);
    assert.equal(frame.length, 4);
    for (const name of ['traceID', 'spanID', 'parentSpanID', 'operationName', 'serviceName', 'kind', 'statusMessage']) assert.equal(field(frame, name).type, FieldType.string, name);
    for (const name of ['startTime', 'duration', 'statusCode']) assert.equal(field(frame, name).type, FieldType.number, name);
    for (const name of ['serviceTags', 'logs', 'references', 'tags']) assert.equal(field(frame, name).type, FieldType.other, name);
    assert.equal(field(frame, 'startTime').config.unit, 'ms');
    const rows = Array.from({ length: frame.length }, (_, i) => Object.fromEntries(frame.fields.map((f) => [f.name, f.values[i]])));
    assert.deepEqual(rows.map((r) => [r.serviceName, r.kind, r.spanID, r.parentSpanID]), [
      ['frontend', 'client', '0000000000000001', undefined],
      ['checkout', 'server', '0000000000000002', '0000000000000001'],
      ['checkout', 'client', '0000000000000003', '0000000000000002'],
      ['payments', 'server', '0000000000000004', '0000000000000003'],
    ]);
    assert.equal(rows[0]!.startTime, baseMs + 400, 'ms since the epoch');
    assert.equal(rows[0]!.duration, 54);
    assert.equal(rows[3]!.duration, 14);
    assert.equal(rows[3]!.statusCode, 2, 'the payments call failed');
    assert.ok((rows[3]!.tags as Array<{ key: string; value: unknown }>).some((t) => t.key === 'error' && t.value === true));
    assert.ok((rows[0]!.serviceTags as Array<{ key: string; value: unknown }>).some((t) => t.key === 'k8s.namespace.name' && t.value === 'shop'));
    assert.equal(rows[0]!.serviceNamespace, 'shop');
  });

  it('an unknown trace id is an error of that query, naming the id', async () => {
    const response = await ds.query(queryRequest([{ refId: 'T', queryType: 'traceId', traceId: 'abc123' }], fromMs, toMs));
    assert.equal(response.errors?.[0]?.refId, 'T');
    assert.match(response.errors?.[0]?.message ?? '', /404.*trace not found/);
  });
});

describe('latency and RED queries', () => {
  it('latency → a pre-bucketed histogram frame (xMin, xMax, count) Grafana reads as is', async () => {
    const [frame] = await run({ queryType: 'latency', service: 'shop/payments' });
    assert.ok(frame);
    assert.equal(frame.meta?.type, 'histogram');
    assertRectangular(frame);
    assert.deepEqual(frame.fields.map((f) => f.name), [grafanaData.histogramFrameBucketMinFieldName, grafanaData.histogramFrameBucketMaxFieldName, 'count']);
    assert.equal(field(frame, 'xMin').config.unit, 'ms');
    assert.equal(sum(field(frame, 'count').values), TRACES);
    const mins = Array.from(field(frame, 'xMin').values) as number[];
    const maxs = Array.from(field(frame, 'xMax').values) as number[];
    for (let i = 0; i < frame.length; i++) {
      assert.ok(maxs[i]! > mins[i]!, `bucket ${i} has width`);
      if (i > 0) assert.equal(mins[i], maxs[i - 1], 'buckets are contiguous');
    }
    // 10..29 ms: ten in (5, 10]..(10, 20] and ten in (20, 50].
    const countAt = (le: number) => field(frame, 'count').values[maxs.indexOf(le)];
    assert.equal(countAt(10), 1);
    assert.equal(countAt(20), 10);
    assert.equal(countAt(50), 9);
  });

  it('latency heatmap → heatmap-rows: a time field, then one count field per le bucket', async () => {
    const [frame] = await run({ queryType: 'latencyHeatmap', source: 'shop/checkout', target: 'shop/payments', step: '1m' });
    assert.ok(frame);
    assert.equal(frame.meta?.type, 'heatmap-rows');
    assertRectangular(frame);
    const [time, ...buckets] = frame.fields;
    assert.equal(time?.type, FieldType.time);
    assert.equal(frame.length, 10, 'one row per minute of the 10-minute range');
    assert.ok(buckets.length > 2);
    for (const b of buckets) {
      assert.equal(b.type, FieldType.number);
      assert.equal(b.labels?.le, b.name);
    }
    assert.equal(buckets.at(-1)?.name, '+Inf');
    const bounds = buckets.slice(0, -1).map((b) => Number(b.name));
    assert.deepEqual(bounds, [...bounds].sort((a, b) => a - b), 'lowest bucket first');
    assert.equal(buckets.reduce((n, b) => n + sum(b.values as number[]), 0), TRACES);
    const row = (Array.from(time!.values) as number[]).indexOf(minuteMs);
    assert.equal(buckets.reduce((n, b) => n + (b.values[row] as number), 0), TRACES, 'all in the seeded minute');
  });

  it('RED of a service and of an edge → a time series of requests/s, errors/s, p50, p95, p99', async () => {
    for (const query of [{ service: 'shop/payments' }, { source: 'shop/checkout', target: 'shop/payments' }]) {
      const [frame] = await run({ queryType: 'red', step: '1m', ...query });
      assert.ok(frame);
      assert.equal(frame.meta?.type, 'timeseries-wide');
      assertRectangular(frame);
      assert.deepEqual(frame.fields.map((f) => [f.name, f.type, f.config.unit]), [
        ['Time', FieldType.time, undefined],
        ['requests/s', FieldType.number, 'reqps'],
        ['errors/s', FieldType.number, 'reqps'],
        ['p50', FieldType.number, 'ms'],
        ['p95', FieldType.number, 'ms'],
        ['p99', FieldType.number, 'ms'],
      ]);
      const row = (Array.from(field(frame, 'Time').values) as number[]).indexOf(minuteMs);
      near(field(frame, 'requests/s').values[row] as number, TRACES / 60, 1e-3, 'requests/s in the seeded minute');
      near(field(frame, 'errors/s').values[row] as number, FAILED.length / 60, 1e-3, 'errors/s');
      near(sum(field(frame, 'requests/s').values as number[]) * 60, TRACES, 0.01, 'requests over the range');
      near(field(frame, 'p95').values[row] as number, 28, 1.5, 'p95');
      assert.equal(field(frame, 'p95').values[row === 0 ? 1 : 0], null, 'no latency where there were no calls');
    }
  });

  it('a latency query without a service or an edge is an error of that query only', async () => {
    const response = await ds.query(queryRequest([{ refId: 'OK', queryType: 'latency', service: 'shop/payments' }, { refId: 'BAD', queryType: 'latency' }], fromMs, toMs));
    assert.deepEqual(response.errors?.map((e) => e.refId), ['BAD']);
    assert.match(response.errors?.[0]?.message ?? '', /pick a service/);
    assert.equal(response.data.length, 1);
  });
});

describe('variables and health', () => {
  it('metricFindQuery lists services, namespaces and node ids', async () => {
    const range = { from: grafanaData.dateTime(fromMs), to: grafanaData.dateTime(toMs) };
    assert.deepEqual((await ds.metricFindQuery('services', { range })).map((v) => v.text), ['checkout', 'frontend', 'payments']);
    assert.deepEqual((await ds.metricFindQuery('namespaces', { range })).map((v) => v.text), ['shop']);
    assert.deepEqual((await ds.metricFindQuery({ query: 'nodes($ns)' }, { range })).map((v) => v.value), ['shop/checkout', 'shop/frontend', 'shop/payments']);
    assert.deepEqual(await ds.metricFindQuery('services(elsewhere)', { range }), []);
    await assert.rejects(ds.metricFindQuery('pods', { range }), /use services, namespaces or nodes/);
  });

  it('testDatasource: success with service count; a clear error when meshlens is unreachable', async () => {
    const ok = await ds.testDatasource();
    assert.equal(ok.status, 'success');
    assert.match(ok.message, /traces from 3 services/);
    const down = new pluginDataSource.MeshlensDataSource(instanceSettings({ ...DS_CONFIG('http://127.0.0.1:9'), uid: 'meshlens-down' }));
    const failed = await down.testDatasource();
    assert.equal(failed.status, 'error');
    assert.match(failed.message, /meshlens did not answer: HTTP 502.*query port/);
  });
});

describe('the built plugin', () => {
  it('npm run build:grafana writes dist/ (module.js, plugin.json, logo, README) and a zip', async () => {
    const { dist, zip } = await buildGrafanaPlugin({ quiet: true });
    for (const file of ['module.js', 'plugin.json', 'README.md', 'img/logo.svg']) assert.ok(existsSync(join(dist, file)), `${file} in dist`);
    const pluginJson = JSON.parse(readFileSync(join(dist, 'plugin.json'), 'utf8')) as Record<string, unknown> & {
      info: { logos: { small: string; large: string }; version: string; updated: string; keywords: string[] };
      dependencies: { grafanaDependency: string };
      routes: Array<{ path: string; url: string; headers: Array<{ name: string; content: string }> }>;
    };
    assert.equal(pluginJson.type, 'datasource');
    assert.match(String(pluginJson.id), /^[0-9a-z]+-([0-9a-z]+-)?(app|panel|datasource)$/);
    assert.equal(typeof pluginJson.name, 'string');
    assert.equal(pluginJson.metrics, true);
    assert.equal(pluginJson.tracing, true);
    assert.equal(pluginJson.category, 'tracing');
    for (const logo of [pluginJson.info.logos.small, pluginJson.info.logos.large]) assert.ok(existsSync(join(dist, logo)), `logo ${logo}`);
    const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    assert.equal(pluginJson.info.version, version);
    assert.match(pluginJson.info.updated, /^\d{4}-\d{2}-\d{2}$/);
    assert.ok(pluginJson.info.keywords.length > 0);
    assert.match(pluginJson.dependencies.grafanaDependency, /^>=\d+\.\d+\.\d+$/);
    assert.deepEqual(pluginJson.routes.map((r) => [r.path, r.url]), [[pluginDataSource.PROXY_ROUTE, '{{ .JsonData.url }}']]);
    assert.equal(readFileSync(zip).readUInt32LE(0), 0x04034b50, 'a zip file');
    assert.ok(readFileSync(zip).includes(`${pluginJson.id}/module.js`), 'files under a folder named by the plugin id');

    // module.js through an AMD loader, as Grafana's SystemJS loads it: only Grafana-provided dependencies.
    const source = readFileSync(join(dist, 'module.js'), 'utf8');
    const require = createRequire(import.meta.url);
    let exported: Record<string, unknown> | undefined;
    let dependencies: string[] = [];
    const define = (deps: string[], factory: (...modules: unknown[]) => void) => {
      dependencies = deps;
      const exports: Record<string, unknown> = {};
      factory(...deps.map((d) => (d === 'exports' ? exports : require(d))));
      exported = exports;
    };
    define.amd = true;
    runInNewContext(source, { define, Symbol, Object, Math, JSON, Promise, Array, Error, Number, String, Set, Map, encodeURIComponent });
    for (const dep of dependencies) assert.ok(dep === 'exports' || GRAFANA_PROVIDED.includes(dep), `bundle imports ${dep}, which Grafana does not provide`);
    assert.ok(dependencies.includes('@grafana/data') && dependencies.includes('react'));
    const plugin = exported?.plugin;
    assert.ok(plugin instanceof grafanaData.DataSourcePlugin, 'module.js exports `plugin`, a DataSourcePlugin');
    assert.ok(plugin.components.ConfigEditor && plugin.components.QueryEditor && plugin.components.VariableQueryEditor);
    const built = new plugin.DataSourceClass(instanceSettings(DS_CONFIG(meshlens.queryUrl)));
    const [nodes] = (await built.query(queryRequest([{ refId: 'B', queryType: 'serviceGraph', namespace: 'shop' }], fromMs, toMs)) as { data: DataFrame[] }).data;
    assert.equal(nodes?.length, 3, 'the bundled data source queries meshlens too');
  });
});
