// The data source: turns each query into one meshlens API call through Grafana's backend (the data-source
// proxy, which adds the auth header from plugin.json `routes`), and the JSON into frames (frames.ts).
import {
  type DataFrame,
  type DataQueryError,
  type DataQueryRequest,
  type DataQueryResponse,
  DataSourceApi,
  type DataSourceInstanceSettings,
  type MetricFindValue,
  type ScopedVars,
  type TestDataSourceResponse,
} from '@grafana/data';
import { type FetchError, getBackendSrv, getTemplateSrv } from '@grafana/runtime';
import { lastValueFrom } from 'rxjs';
import { latencyHeatmapFrame, latencyHistogramFrame, redFrame, serviceGraphFrames, traceFrame, traceSearchFrame } from './frames.ts';
import {
  type ApiHeatmap,
  type ApiLatency,
  type ApiRed,
  type ApiServiceGraph,
  DEFAULT_QUERY,
  type JaegerEnvelope,
  type JaegerTrace,
  type MeshlensOptions,
  type MeshlensQuery,
} from './types.ts';

/** The proxy route in plugin.json that forwards to jsonData.url with the Authorization header. */
export const PROXY_ROUTE = 'meshlens';

type Params = Record<string, string | number | undefined>;

export class MeshlensDataSource extends DataSourceApi<MeshlensQuery, MeshlensOptions> {
  /** Where API paths are appended: Grafana's proxy URL for this data source, plus our route. */
  readonly baseUrl: string;

  constructor(instanceSettings: DataSourceInstanceSettings<MeshlensOptions>) {
    super(instanceSettings);
    this.baseUrl = `${instanceSettings.url ?? ''}/${PROXY_ROUTE}`;
  }

  override getDefaultQuery(): Partial<MeshlensQuery> {
    return DEFAULT_QUERY;
  }

  override filterQuery(query: MeshlensQuery): boolean {
    return !query.hide;
  }

  async query(request: DataQueryRequest<MeshlensQuery>): Promise<DataQueryResponse> {
    const window = { start: request.range.from.valueOf(), end: request.range.to.valueOf() };
    const targets = request.targets.filter((t) => !t.hide);
    const results = await Promise.allSettled(targets.map((t) => this.runQuery(this.interpolate(t, request.scopedVars), window)));
    const data: DataFrame[] = [];
    const errors: DataQueryError[] = [];
    results.forEach((result, i) => {
      if (result.status === 'fulfilled') data.push(...result.value);
      else errors.push({ refId: targets[i]!.refId, message: errorMessage(result.reason) });
    });
    return errors.length > 0 ? { data, errors } : { data };
  }

  /** One query → its frames. */
  async runQuery(query: MeshlensQuery, window: { start: number; end: number }): Promise<DataFrame[]> {
    const ref = { uid: this.uid, name: this.name };
    const signal = query.signal && query.signal !== 'all' ? query.signal : undefined;
    switch (query.queryType ?? 'serviceGraph') {
      case 'serviceGraph': {
        const graph = await this.get<ApiServiceGraph>('/api/v1/service-graph', { ...window, namespace: query.namespace || undefined, service: query.service || undefined, signal });
        return serviceGraphFrames(graph, query.refId, ref, query.graphMainStat);
      }
      case 'traceSearch': {
        const found = await this.get<JaegerEnvelope<JaegerTrace[]>>('/api/traces', {
          service: query.service || undefined,
          operation: query.operation || undefined,
          tags: query.tags ? tagsAsJson(query.tags) : undefined,
          minDuration: query.minDuration || undefined,
          maxDuration: query.maxDuration || undefined,
          limit: query.limit ?? 20,
          start: window.start * 1000,
          end: window.end * 1000,
        });
        return [traceSearchFrame(found.data ?? [], query.refId, ref)];
      }
      case 'traceId': {
        const id = (query.traceId ?? '').trim();
        if (!/^[0-9a-fA-F]{1,32}$/.test(id)) throw new Error(`enter a trace id (1 to 32 hex digits), got "${id}"`);
        const found = await this.get<JaegerEnvelope<JaegerTrace[]>>(`/api/traces/${id}`, {});
        const trace = found.data?.[0];
        if (!trace) throw new Error(`trace ${id} not found`);
        return [traceFrame(trace, query.refId)];
      }
      case 'latency':
        return [latencyHistogramFrame(await this.get<ApiLatency>('/api/v1/latency', { ...window, ...subject(query), signal }), query.refId)];
      case 'latencyHeatmap':
        return [latencyHeatmapFrame(await this.get<ApiHeatmap>('/api/v1/latency/heatmap', { ...window, ...subject(query), signal, step: query.step || undefined }), query.refId)];
      case 'red': {
        const red = await this.get<ApiRed>('/api/v1/red', { ...window, ...subject(query), signal, step: query.step || undefined });
        return [redFrame(red, query.refId, subjectName(query))];
      }
    }
  }

  /** Template variables in the text fields of a query. */
  private interpolate(query: MeshlensQuery, scopedVars: ScopedVars): MeshlensQuery {
    const templates = getTemplateSrv();
    const replace = (value: string | undefined) => (value ? templates.replace(value, scopedVars) : value);
    return {
      ...query,
      namespace: replace(query.namespace),
      service: replace(query.service),
      source: replace(query.source),
      target: replace(query.target),
      operation: replace(query.operation),
      traceId: replace(query.traceId),
      tags: replace(query.tags),
    };
  }

  /**
   * Template variable values. `services` (names), `namespaces`, `nodes` (node ids), each optionally
   * `services(<namespace>)`: read from the service graph over the dashboard's range (every signal, so services
   * only the mesh sees are listed too).
   */
  override async metricFindQuery(query: string | { query?: string }, options?: { range?: { from: { valueOf(): number }; to: { valueOf(): number } } }): Promise<MetricFindValue[]> {
    const text = (typeof query === 'string' ? query : (query.query ?? '')).trim();
    const match = /^(services|namespaces|nodes)\s*(?:\(\s*([^)]*?)\s*\))?$/.exec(text);
    if (!match) throw new Error(`unknown variable query "${text}": use services, namespaces or nodes, optionally with (<namespace>)`);
    const [, what, namespace] = match;
    const end = options?.range?.to.valueOf() ?? Date.now();
    const start = options?.range?.from.valueOf() ?? end - 3_600_000;
    const graph = await this.get<ApiServiceGraph>('/api/v1/service-graph', { start, end, namespace: namespace ? getTemplateSrv().replace(namespace) : undefined });
    const nodes = graph.nodes.filter((n) => n.kind !== 'unknown');
    const values = what === 'namespaces' ? nodes.map((n) => n.namespace).filter((ns) => ns !== '') : what === 'nodes' ? nodes.map((n) => n.id) : nodes.map((n) => n.name);
    return [...new Set(values)].sort().map((text) => ({ text, value: text }));
  }

  /** Save & test: the query API answers, and its trace index is readable. */
  override async testDatasource(): Promise<TestDataSourceResponse> {
    try {
      await this.get<{ status: string }>('/healthz', {});
      const services = await this.get<JaegerEnvelope<string[]>>('/api/services', {});
      const count = services.data?.length ?? 0;
      return {
        status: 'success',
        message: count > 0 ? `meshlens is reachable; it has traces from ${count} services` : 'meshlens is reachable; no traces yet (send OTLP to port 4317/4318)',
      };
    } catch (error) {
      return {
        status: 'error',
        message:
          `meshlens did not answer: ${errorMessage(error)}. Check that the URL is meshlens' query port (default ` +
          'http://<host>:16686) as seen from the Grafana server, not from your browser, and that the auth header ' +
          'is right if a proxy in front of meshlens asks for one.',
      };
    }
  }

  private async get<T>(path: string, params: Params): Promise<T> {
    const query = Object.entries(params)
      .filter((entry): entry is [string, string | number] => entry[1] !== undefined && entry[1] !== '')
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
      .join('&');
    const response = await lastValueFrom(
      getBackendSrv().fetch<T>({ url: `${this.baseUrl}${path}${query ? `?${query}` : ''}`, method: 'GET', showErrorAlert: false }),
    );
    return response.data;
  }
}

/** `service` (+ `operation`), or the edge `source` → `target`. */
function subject(query: MeshlensQuery): Params {
  if (query.source || query.target) return { source: query.source, target: query.target };
  if (!query.service) throw new Error('pick a service, or a source and target node for an edge');
  return { service: query.service, operation: query.operation || undefined };
}

function subjectName(query: MeshlensQuery): string {
  if (query.source || query.target) return `${query.source} → ${query.target}`;
  return query.operation ? `${query.service} ${query.operation}` : (query.service ?? '');
}

/** Trace-search tags as JSON for meshlens' /api/traces: a JSON object as is, or logfmt `k=v k2="v 2"`. */
export function tagsAsJson(tags: string): string {
  const trimmed = tags.trim();
  if (trimmed.startsWith('{')) return trimmed;
  const out: Record<string, string> = {};
  for (const [, key, quoted, bare] of trimmed.matchAll(/([^\s=]+)=(?:"([^"]*)"|(\S*))/g)) out[key!] = quoted ?? bare ?? '';
  return JSON.stringify(out);
}

/** A readable line from a fetch failure (Grafana's FetchError carries the server's JSON body). */
export function errorMessage(error: unknown): string {
  const fetchError = error as Partial<FetchError<{ error?: string; message?: string; errors?: Array<{ msg: string }> }>>;
  if (fetchError && typeof fetchError === 'object' && 'status' in fetchError && fetchError.status !== undefined) {
    const body = fetchError.data;
    const detail = body?.error ?? body?.errors?.[0]?.msg ?? body?.message ?? fetchError.statusText ?? '';
    return `HTTP ${fetchError.status}${detail ? `: ${detail}` : ''}`;
  }
  return error instanceof Error ? error.message : String(error);
}
