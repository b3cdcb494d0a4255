// deploy/grafana/ against a real meshlens: the provisioning YAML and the dashboard JSON agree with each other
// (every data source a panel, target or variable names is provisioned, with the same type; Tempo's service
// map points at the Prometheus one; the compose file mounts what the providers read and allows the plugin),
// and every URL they use answers: each data source's health/lookup paths, every Prometheus expression of the
// dashboard (through meshlens' PromQL subset), and every plugin query and variable of the dashboard (run
// through the plugin's DataSource, as Grafana would).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import type { MeshlensQuery } from '../../ui/grafana-datasource/src/types.ts';
import { SPAN_KIND, otlpJsonRequest, postTraces } from '../helpers/otlp-json.ts';
import { graphEdgesUntil, startTestMeshlens, type TestMeshlens } from '../helpers/meshlens.ts';
import { PLUGIN_JSON_PATH, installBackendSrv, installTemplateSrv, instanceSettings, pluginDataSource, queryRequest } from './grafana-host.ts';

const DEPLOY = new URL('../../deploy/grafana/', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, DEPLOY), 'utf8');
/** The host name the provisioning files give meshlens. */
const MESHLENS_IN_FILES = 'http://meshlens:16686';

interface ProvisionedDataSource {
  name: string;
  uid: string;
  type: string;
  access: string;
  url?: string;
  jsonData?: { url?: string; serviceMap?: { datasourceUid?: string } };
}
interface DataSourceRef {
  type: string;
  uid: string;
}
interface Target {
  refId: string;
  datasource?: DataSourceRef;
  expr?: string;
  [key: string]: unknown;
}
interface Panel {
  type: string;
  title: string;
  datasource?: DataSourceRef;
  targets?: Target[];
  panels?: Panel[];
  repeat?: string;
}
interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; datasource: DataSourceRef; query: { query: string } }> };
}

const dataSources = (parse(read('provisioning/datasources/meshlens.yaml')) as { datasources: ProvisionedDataSource[] }).datasources;
const providers = (parse(read('provisioning/dashboards/meshlens.yaml')) as { providers: Array<{ type: string; options: { path: string } }> }).providers;
const dashboard = JSON.parse(read('dashboards/meshlens-mesh.json')) as Dashboard;
const compose = parse(read('docker-compose.yaml')) as { services: { grafana: { environment: Record<string, string>; volumes: string[] } } };
const pluginId = (JSON.parse(readFileSync(PLUGIN_JSON_PATH, 'utf8')) as { id: string }).id;

const allPanels = (panels: Panel[]): Panel[] => panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
const byUid = new Map(dataSources.map((d) => [d.uid, d]));
const pluginSource = dataSources.find((d) => d.type === pluginId)!;

let meshlens: TestMeshlens;
/** A provisioned URL, pointed at the test meshlens. */
const local = (url: string) => url.replace(MESHLENS_IN_FILES, meshlens.queryUrl);

before(async () => {
  meshlens = await startTestMeshlens({ overrides: { 'graph.wait': '1s', 'graph.flush_interval': '300ms' } });
  // Ten calls frontend → payments a minute ago, every other one failing.
  const baseNs = BigInt(Date.now() - 60_000) * 1_000_000n;
  const calls = Array.from({ length: 10 }, (_, i) => i);
  await postTraces(meshlens.otlpHttpUrl, otlpJsonRequest('frontend', 'shop', baseNs, calls.map((i) => ({ trace: 1 + i, id: 1, kind: SPAN_KIND.client, startMs: i * 10, durationMs: 20, attributes: { 'server.address': 'payments' } }))));
  await postTraces(
    meshlens.otlpHttpUrl,
    otlpJsonRequest('payments', 'shop', baseNs, calls.map((i) => ({ trace: 1 + i, id: 2, parent: 1, kind: SPAN_KIND.server, startMs: i * 10 + 1, durationMs: 15, ...(i % 2 ? { code: 2 } : {}) }))),
  );
  await graphEdgesUntil(meshlens.queryUrl, 'spans', 'shop', (edges) => edges.some((e) => e.requests >= 10));
});
after(async () => {
  await meshlens?.destroy();
});

describe('deploy/grafana files agree with each other', () => {
  it('provisions the plugin, Jaeger, Zipkin, Prometheus and Tempo, each with a unique uid', () => {
    assert.deepEqual(dataSources.map((d) => d.type).sort(), [pluginId, 'jaeger', 'prometheus', 'tempo', 'zipkin'].sort());
    assert.equal(byUid.size, dataSources.length, 'uids are unique');
    for (const d of dataSources) assert.equal(d.access, 'proxy', `${d.name} goes through Grafana's proxy (the plugin's route needs it)`);
    assert.equal(pluginSource.jsonData?.url, MESHLENS_IN_FILES, "the plugin's route reads jsonData.url");
    const tempo = dataSources.find((d) => d.type === 'tempo')!;
    assert.equal(byUid.get(tempo.jsonData?.serviceMap?.datasourceUid ?? '')?.type, 'prometheus', "Tempo's service graph reads the Prometheus data source");
  });

  it('every data source the dashboard names is provisioned with that type', () => {
    const refs: Array<[string, DataSourceRef]> = [];
    for (const panel of allPanels(dashboard.panels)) {
      if (panel.datasource) refs.push([`panel "${panel.title}"`, panel.datasource]);
      for (const t of panel.targets ?? []) if (t.datasource) refs.push([`panel "${panel.title}" target ${t.refId}`, t.datasource]);
    }
    for (const v of dashboard.templating.list) refs.push([`variable ${v.name}`, v.datasource]);
    assert.ok(refs.length >= 10);
    for (const [where, ref] of refs) {
      const provisioned = byUid.get(ref.uid);
      assert.ok(provisioned, `${where} names data source uid "${ref.uid}", which is not provisioned`);
      assert.equal(ref.type, provisioned.type, `${where}: type of ${ref.uid}`);
    }
    const types = new Set(allPanels(dashboard.panels).map((p) => p.type));
    for (const type of ['nodeGraph', 'timeseries', 'heatmap']) assert.ok(types.has(type), `a ${type} panel`);
    for (const repeated of allPanels(dashboard.panels).filter((p) => p.repeat)) assert.ok(dashboard.templating.list.some((v) => v.name === repeated.repeat), `panel "${repeated.title}" repeats over a variable that exists`);
  });

  it('docker-compose mounts the plugin, provisioning and dashboards where Grafana and the provider read them', () => {
    const grafana = compose.services.grafana;
    assert.equal(grafana.environment.GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS, pluginId);
    const mounts = new Map(grafana.volumes.map((v) => v.split(':') as [string, string, string?]).map(([from, to]) => [to, from]));
    assert.equal(mounts.get(`/var/lib/grafana/plugins/${pluginId}`), '../../ui/grafana-datasource/dist');
    assert.equal(mounts.get('/etc/grafana/provisioning/datasources'), './provisioning/datasources');
    assert.equal(mounts.get('/etc/grafana/provisioning/dashboards'), './provisioning/dashboards');
    assert.equal(providers.length, 1);
    assert.equal(mounts.get(providers[0]!.options.path), './dashboards');
  });
});

describe('every URL and query of deploy/grafana answers on a real meshlens', () => {
  it("each data source's health check and lookups", async () => {
    const endMs = Date.now();
    const paths: Record<string, string[]> = {
      [pluginId]: ['/healthz', '/api/services', `/api/v1/service-graph?start=${endMs - 3_600_000}&end=${endMs}`],
      jaeger: ['/api/services', '/api/services/payments/operations', `/api/dependencies?endTs=${endMs}&lookback=3600000`],
      zipkin: ['/api/v2/services', '/api/v2/spans?serviceName=payments'],
      prometheus: ['/api/v1/labels', '/api/v1/label/server/values'],
      tempo: ['/api/echo', '/api/search/tags'],
    };
    for (const d of dataSources) {
      const base = local(d.type === pluginId ? d.jsonData!.url! : d.url!);
      for (const path of paths[d.type] ?? []) {
        const response = await fetch(base + path);
        assert.equal(response.status, 200, `${d.name}: GET ${base}${path} → ${response.status} ${await response.clone().text()}`);
        assert.doesNotMatch(response.headers.get('content-type') ?? '', /text\/html/, `${d.name}: ${path} is an API, not the web UI`);
      }
    }
  });

  it("the dashboard's Prometheus expressions are understood and find the seeded edge", async () => {
    const prometheus = dataSources.find((d) => d.type === 'prometheus')!;
    const expressions = allPanels(dashboard.panels).flatMap((p) => (p.targets ?? []).filter((t) => t.datasource?.uid === prometheus.uid).map((t) => t.expr!));
    assert.equal(expressions.length, 3);
    for (const expr of expressions) {
      // What Grafana sends after interpolation, with service = payments.
      const query = expr.replaceAll('${service:regex}', 'payments').replaceAll('$__rate_interval', '5m');
      const response = await fetch(`${local(prometheus.url!)}/api/v1/query`, { method: 'POST', body: new URLSearchParams({ query, time: String(Date.now() / 1000) }) });
      const body = (await response.json()) as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
      assert.equal(response.status, 200, `${query}: ${JSON.stringify(body)}`);
      assert.equal(body.status, 'success');
      assert.deepEqual(body.data.result.map((r) => [r.metric.client, r.metric.server]), [['frontend', 'payments']], query);
      assert.ok(Number(body.data.result[0]!.value[1]) > 0, `${query} has a value`);
    }
  });

  it("the dashboard's plugin queries and variables run through the plugin without errors", async () => {
    const config = { uid: pluginSource.uid, name: pluginSource.name, jsonData: { url: local(pluginSource.jsonData!.url!) }, secureJsonData: {} };
    installBackendSrv([config]);
    // What the variables resolve to: namespace All (empty for the plugin), service payments.
    installTemplateSrv({ namespace: '', service: 'payments' });
    const ds = new pluginDataSource.MeshlensDataSource(instanceSettings(config));
    const range = { from: Date.now() - 3_600_000, to: Date.now() };
    const variables = new Map<string, string[]>();
    for (const v of dashboard.templating.list) {
      const found = await ds.metricFindQuery(v.query, { range: { from: { valueOf: () => range.from }, to: { valueOf: () => range.to } } });
      variables.set(v.name, found.map((f) => String(f.value)));
    }
    assert.deepEqual(variables.get('namespace'), ['shop']);
    assert.deepEqual(variables.get('service'), ['frontend', 'payments']);

    const targets = allPanels(dashboard.panels).flatMap((p) => (p.targets ?? []).filter((t) => t.datasource?.uid === pluginSource.uid).map((t) => ({ ...t, refId: `${p.title}/${t.refId}` }) as MeshlensQuery));
    assert.deepEqual(targets.map((t) => t.queryType).sort(), ['latencyHeatmap', 'red', 'serviceGraph', 'traceSearch']);
    const response = await ds.query(queryRequest(targets, range.from, range.to));
    assert.equal(response.errors, undefined, JSON.stringify(response.errors));
    for (const target of targets) {
      const frames = response.data.filter((f: { refId?: string }) => f.refId === target.refId) as Array<{ length: number }>;
      assert.ok(frames.length > 0 && frames.every((f) => f.length > 0), `${target.refId} (${target.queryType}) gives non-empty frames`);
    }
  });
});
