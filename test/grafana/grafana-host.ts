// The Grafana side of a plugin test, in Node: Grafana's real @grafana/data and @grafana/runtime (their CommonJS
// builds), with the runtime's BackendSrv set to a small one over fetch that does what Grafana's data-source
// proxy does for our plugin (plugin.json `routes`: path prefix → URL and headers from jsonData /
// secureJsonData), and a TemplateSrv that replaces `$name` variables.
//
// Loading the packages in Node needs a few browser stand-ins, set before they load:
// - their ESM builds fail in Node (`moment-timezone` has no named ESM export `tz`), so everything — the
//   plugin's sources too — is loaded with require(), which picks the `.cjs` builds: one instance of each;
// - @grafana/ui (which @grafana/runtime loads) requires .css files, reads `navigator` at load time, and with
//   NODE_ENV other than production writes a debug global onto `false` (a TypeError) outside a browser;
// - @grafana/runtime reads `window.grafanaBootData` at load time and, unless NODE_ENV is `test`, creates a
//   browser history (which needs a DOM).
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import type * as GrafanaData from '@grafana/data';
import type * as GrafanaRuntime from '@grafana/runtime';
import type * as Rxjs from 'rxjs';
import type * as PluginDataSource from '../../ui/grafana-datasource/src/datasource.ts';
import type * as PluginFrames from '../../ui/grafana-datasource/src/frames.ts';
import type { MeshlensOptions } from '../../ui/grafana-datasource/src/types.ts';

const require = createRequire(import.meta.url);

function loadGrafanaPackages(): { data: typeof GrafanaData; runtime: typeof GrafanaRuntime; rxjs: typeof Rxjs } {
  const originalNodeEnv = process.env.NODE_ENV;
  require.extensions['.css'] ??= (module) => {
    module.exports = {};
  };
  const globals = globalThis as Record<string, unknown>;
  if (globals.navigator === undefined) globals.navigator = { userAgent: 'node', language: 'en-US', languages: ['en-US'] };
  process.env.NODE_ENV = 'production';
  const data = require('@grafana/data') as typeof GrafanaData;
  require('@grafana/ui');
  process.env.NODE_ENV = 'test';
  globals.window ??= {
    grafanaBootData: { assets: { dark: '', light: '' }, settings: {}, user: {}, navTree: [] },
    location: new URL('http://localhost:3000/'),
    addEventListener() {},
    removeEventListener() {},
  };
  const runtime = require('@grafana/runtime') as typeof GrafanaRuntime;
  if (originalNodeEnv === undefined) delete process.env.NODE_ENV;
  else process.env.NODE_ENV = originalNodeEnv;
  return { data, runtime, rxjs: require('rxjs') as typeof Rxjs };
}

export const { data: grafanaData, runtime: grafanaRuntime, rxjs } = loadGrafanaPackages();

/** The plugin's DataSource module, loaded against the same @grafana instances as above. */
export const pluginDataSource = require('../../ui/grafana-datasource/src/datasource.ts') as typeof PluginDataSource;
export const pluginFrames = require('../../ui/grafana-datasource/src/frames.ts') as typeof PluginFrames;

export const PLUGIN_JSON_PATH = new URL('../../ui/grafana-datasource/src/plugin.json', import.meta.url);

interface PluginRoute {
  path: string;
  url: string;
  headers?: Array<{ name: string; content: string }>;
}

export interface DataSourceConfig {
  uid: string;
  name: string;
  jsonData: Record<string, string>;
  secureJsonData: Record<string, string>;
}

/** A request as it left the emulated Grafana proxy. */
export interface ProxiedRequest {
  url: string;
  headers: Record<string, string>;
}

/** Go-template fields of a route: `{{ .JsonData.x }}`, `{{ .SecureJsonData.x }}` (missing keys → ''). */
function interpolate(template: string, ds: DataSourceConfig): string {
  return template.replace(/\{\{\s*\.(JsonData|SecureJsonData)\.([A-Za-z0-9_]+)\s*\}\}/g, (_, where: string, key: string) =>
    (where === 'JsonData' ? ds.jsonData : ds.secureJsonData)[key] ?? '',
  );
}

/**
 * Sets Grafana's BackendSrv to one that proxies `/api/datasources/proxy/uid/<uid>/<route>/…` as Grafana does,
 * for the given data sources. Returns the list the proxied requests are recorded in.
 */
export function installBackendSrv(dataSources: DataSourceConfig[]): ProxiedRequest[] {
  const routes = (JSON.parse(readFileSync(PLUGIN_JSON_PATH, 'utf8')) as { routes: PluginRoute[] }).routes;
  const sent: ProxiedRequest[] = [];
  const proxied = async (options: GrafanaRuntime.BackendSrvRequest): Promise<GrafanaRuntime.FetchResponse<unknown>> => {
    const match = /^\/api\/datasources\/proxy\/uid\/([^/]+)\/(.*)$/.exec(options.url);
    const ds = match && dataSources.find((d) => d.uid === match[1]);
    if (!match || !ds) throw { status: 404, statusText: 'Not Found', data: { message: 'Data source not found' }, config: options };
    const path = match[2]!;
    const route = routes.find((r) => path.startsWith(r.path));
    if (!route) throw { status: 502, statusText: 'Bad Gateway', data: { message: 'no route: this test host proxies only plugin routes' }, config: options };
    const url = interpolate(route.url, ds).replace(/\/$/, '') + path.slice(route.path.length);
    const headers = Object.fromEntries((route.headers ?? []).map((h) => [h.name, interpolate(h.content, ds)]));
    sent.push({ url, headers });
    let response: Response;
    try {
      response = await fetch(url, { method: options.method ?? 'GET', headers });
    } catch (error) {
      throw { status: 502, statusText: 'Bad Gateway', data: { message: `proxy: ${(error as Error).message}` }, config: options };
    }
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text, as Grafana's backendSrv does
    }
    if (!response.ok) throw { status: response.status, statusText: response.statusText, data: body, config: options } satisfies GrafanaRuntime.FetchError;
    return { data: body, status: response.status, statusText: response.statusText, ok: true, headers: response.headers, redirected: false, type: 'basic', url: options.url, config: options };
  };
  const unused = () => {
    throw new Error('not used by the meshlens plugin');
  };
  grafanaRuntime.setBackendSrv({
    fetch: <T>(options: GrafanaRuntime.BackendSrvRequest) => rxjs.from(proxied(options)) as Rxjs.Observable<GrafanaRuntime.FetchResponse<T>>,
    get: unused,
    delete: unused,
    post: unused,
    patch: unused,
    put: unused,
    request: unused,
    datasourceRequest: unused,
    chunked: unused,
  } as GrafanaRuntime.BackendSrv);
  return sent;
}

/** A TemplateSrv that replaces `$name` and `${name}` from `variables`. */
export function installTemplateSrv(variables: Record<string, string>): void {
  grafanaRuntime.setTemplateSrv({
    getVariables: () => [],
    replace: (target?: string) => (target ?? '').replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced?: string, bare?: string) => variables[braced ?? bare ?? ''] ?? whole),
    containsTemplate: (target?: string) => /\$\{?\w+/.test(target ?? ''),
    updateTimeRange: () => {},
  });
}

/** Instance settings as Grafana gives a proxy-mode data source. */
export function instanceSettings(ds: DataSourceConfig): GrafanaData.DataSourceInstanceSettings<MeshlensOptions> {
  const meta = JSON.parse(readFileSync(PLUGIN_JSON_PATH, 'utf8')) as GrafanaData.DataSourcePluginMeta<MeshlensOptions>;
  return {
    id: 1,
    uid: ds.uid,
    type: meta.id,
    name: ds.name,
    meta,
    url: `/api/datasources/proxy/uid/${ds.uid}`,
    access: 'proxy',
    jsonData: ds.jsonData,
    readOnly: false,
  };
}

/** A panel's query request over [fromMs, toMs]. */
export function queryRequest<Q extends GrafanaData.DataQuery>(targets: Q[], fromMs: number, toMs: number): GrafanaData.DataQueryRequest<Q> {
  const from = grafanaData.dateTime(fromMs);
  const to = grafanaData.dateTime(toMs);
  return {
    requestId: 'test',
    interval: '1m',
    intervalMs: 60_000,
    range: { from, to, raw: { from, to } },
    scopedVars: {},
    targets,
    timezone: 'utc',
    app: 'dashboard',
    startTime: Date.now(),
  };
}
