// `meshlens demo`: a meshlens all-in-one plus a simulated bookinfo-like mesh whose telemetry goes through the
// real receivers on loopback, so a new user sees live east-west traffic in the UI within a minute.
//
// Every signal describes its own part of the mesh (the graph's `signal` filter shows each part):
//   OTLP/HTTP JSON spans  istio-ingressgateway → productpage → details (plaintext), → reviews v1/v2/v3 (mTLS),
//                         ratings → mysql (a database)
//   Zipkin v2 JSON spans  reviews v2/v3 → ratings (same traces as the OTLP spans)
//   DogStatsD over UDP    productpage → details as App Mesh's Envoy reports it (appmesh.* tags)
//   Prometheus endpoint   reviews v2/v3 → ratings as Istio sidecars expose it (istio_requests_total), scraped
//                         by meshlens through a `scrape.targets` entry the demo adds
import { randomBytes } from 'node:crypto';
import { type Socket, createSocket } from 'node:dgram';
import { type Server, createServer } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import type { MeshlensConfig } from '../collector/config.ts';
import { type RunningMeshlens, createLogger, startMeshlens } from './run.ts';

// ---- The topology, as plain data ----

export const NAMESPACE = 'bookinfo';

export interface Workload {
  service: string;
  version?: string;
}

/** How long a service takes on its own (log-normal: median and spread), and how often it answers 503. */
interface ServiceBehaviour {
  medianMs: number;
  sigma: number;
  errorRate: number;
}

// Only reviews has versions (the canary). Each signal below names a workload as its mesh does (Istio's
// metrics `reviews-v2` as the workload and `reviews` + `v2` as canonical service and revision, its spans
// `reviews` + `v2`); meshlens names Istio nodes by canonical service and revision in every signal, so
// where two signals describe one call it is one edge (signals are joined by node identity, interface.md).
export const WORKLOADS = {
  ingress: { service: 'istio-ingressgateway' },
  productpage: { service: 'productpage' },
  details: { service: 'details' },
  reviewsV1: { service: 'reviews', version: 'v1' },
  reviewsV2: { service: 'reviews', version: 'v2' },
  reviewsV3: { service: 'reviews', version: 'v3' },
  ratings: { service: 'ratings' },
} as const satisfies Record<string, Workload>;

export const DATABASE = { name: 'mysql', system: 'mysql', host: 'mysqldb.bookinfo.svc.cluster.local' };

const BEHAVIOUR: Record<string, ServiceBehaviour> = {
  'istio-ingressgateway': { medianMs: 1, sigma: 0.3, errorRate: 0 },
  productpage: { medianMs: 8, sigma: 0.4, errorRate: 0 },
  details: { medianMs: 3, sigma: 0.5, errorRate: 0 },
  'reviews-v1': { medianMs: 6, sigma: 0.4, errorRate: 0 },
  'reviews-v2': { medianMs: 12, sigma: 0.5, errorRate: 0.01 },
  'reviews-v3': { medianMs: 25, sigma: 0.6, errorRate: 0.08 },
  ratings: { medianMs: 4, sigma: 0.4, errorRate: 0 },
  mysql: { medianMs: 1.5, sigma: 0.7, errorRate: 0 },
};

/** productpage's canary split of reviews traffic. */
export const REVIEWS_SPLIT: ReadonlyArray<{ workload: Workload; weight: number }> = [
  { workload: WORKLOADS.reviewsV1, weight: 0.5 },
  { workload: WORKLOADS.reviewsV2, weight: 0.3 },
  { workload: WORKLOADS.reviewsV3, weight: 0.2 },
];

/** Which calls are mutual TLS (Istio's connection_security_policy); productpage → details is plaintext. */
const PLAINTEXT = new Set(['productpage→details']);

export const workloadName = (w: Workload) => (w.version ? `${w.service}-${w.version}` : w.service);
const behaviourOf = (w: Workload) => BEHAVIOUR[workloadName(w)] ?? BEHAVIOUR[w.service]!;

// ---- Randomness: seeded, so a test sees the same traffic every run ----

export type Random = () => number;

/** mulberry32: a small, well-spread 32-bit generator. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A log-normal latency: most calls near the median, a long right tail, as real services have. */
export function logNormalMs(random: Random, medianMs: number, sigma: number): number {
  const u = Math.max(random(), 1e-12);
  const normal = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  return medianMs * Math.exp(sigma * normal);
}

function pickWeighted<T extends { weight: number }>(random: Random, choices: readonly T[]): T {
  let r = random() * choices.reduce((sum, c) => sum + c.weight, 0);
  for (const choice of choices) if ((r -= choice.weight) < 0) return choice;
  return choices[choices.length - 1]!;
}

// ---- One request through the mesh, as a tree of calls ----

/** One call from `caller` to `callee` (a workload or the database), with the callee's own calls inside it. */
export interface Call {
  caller: Workload;
  callee: Workload | typeof DATABASE;
  startMs: number;
  durationMs: number;
  status: number;
  children: Call[];
}

const isDatabase = (callee: Call['callee']): callee is typeof DATABASE => 'system' in callee;

/** What productpage's page view does downstream; times are absolute ms, children inside their parent. */
export function simulateRequest(random: Random, nowMs: number): Call {
  const call = (caller: Workload, callee: Workload, startMs: number, downstream: (startMs: number) => Call[]): Call => {
    const own = behaviourOf(callee);
    const selfMs = logNormalMs(random, own.medianMs, own.sigma);
    const children = downstream(startMs + selfMs / 2);
    const childEnd = children.reduce((end, c) => Math.max(end, c.startMs + c.durationMs), startMs);
    const status = random() < own.errorRate ? 503 : children.some((c) => c.status >= 500) ? 500 : 200;
    return { caller, callee, startMs, durationMs: Math.max(childEnd - startMs, 0) + selfMs, status, children };
  };
  const database = (caller: Workload, startMs: number): Call => {
    const own = BEHAVIOUR[DATABASE.name]!;
    return { caller, callee: DATABASE, startMs, durationMs: logNormalMs(random, own.medianMs, own.sigma), status: 200, children: [] };
  };
  const ratings = (caller: Workload, startMs: number) => call(caller, WORKLOADS.ratings, startMs, (t) => [database(WORKLOADS.ratings, t)]);
  const reviews = pickWeighted(random, REVIEWS_SPLIT).workload;
  return call(WORKLOADS.ingress, WORKLOADS.productpage, nowMs, (t) => {
    const details = call(WORKLOADS.productpage, WORKLOADS.details, t, () => []);
    const afterDetails = details.startMs + details.durationMs + 0.2;
    const review = call(WORKLOADS.productpage, reviews, afterDetails, (r) => (reviews.version === 'v1' ? [] : [ratings(reviews, r)]));
    return [details, review];
  });
}

/** Every call of a request tree, parents before children. */
export function flatten(root: Call): Call[] {
  return [root, ...root.children.flatMap(flatten)];
}

// ---- Signal emitters: each turns calls into one wire format and sends it to a real receiver ----

const hexId = (bytes: number) => randomBytes(bytes).toString('hex');
const nanos = (ms: number) => String(BigInt(Math.round(ms * 1000)) * 1000n);
const edgeKey = (call: Call) => `${call.caller.service}→${isDatabase(call.callee) ? call.callee.name : call.callee.service}`;
const securityPolicy = (call: Call) => (PLAINTEXT.has(edgeKey(call)) ? 'none' : 'mutual_tls');

/** Span ids per call: the caller's client span and the callee's server span (Zipkin and OTLP share them). */
interface SpanIds {
  traceId: string;
  client: string;
  server: string;
}

/** A span in OTLP/JSON form, as the demo (and the UI benchmark) send it. */
export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Array<{ key: string; value: { stringValue: string } | { intValue: number } }>;
  status?: { code: number };
}

const str = (key: string, value: string) => ({ key, value: { stringValue: value } });
const int = (key: string, value: number) => ({ key, value: { intValue: value } });

/** Which calls go out as Zipkin (reviews → ratings); the rest are OTLP. */
const viaZipkin = (call: Call) => !isDatabase(call.callee) && call.callee.service === 'ratings';

/** Assigns span ids to a request's calls: each server span is the parent of its children's client spans. */
export function spanIds(root: Call): Map<Call, SpanIds> {
  const traceId = hexId(16);
  const ids = new Map<Call, SpanIds>();
  for (const call of flatten(root)) ids.set(call, { traceId, client: hexId(8), server: hexId(8) });
  return ids;
}

function parentServerSpan(root: Call, ids: Map<Call, SpanIds>): Map<Call, string> {
  const parents = new Map<Call, string>();
  for (const call of flatten(root)) for (const child of call.children) parents.set(child, ids.get(call)!.server);
  return parents;
}

/** OTLP spans of a request, per resource (workload): client span at the caller, server span at the callee. */
export function otlpSpans(root: Call, ids: Map<Call, SpanIds>, out: Map<Workload, OtlpSpan[]>): void {
  const parents = parentServerSpan(root, ids);
  const add = (w: Workload, span: OtlpSpan) => {
    const list = out.get(w) ?? [];
    list.push(span);
    out.set(w, list);
  };
  for (const call of flatten(root)) {
    if (viaZipkin(call)) continue;
    const id = ids.get(call)!;
    const error = call.status >= 500 ? { status: { code: 2 } } : {};
    const times = { startTimeUnixNano: nanos(call.startMs), endTimeUnixNano: nanos(call.startMs + call.durationMs) };
    const parent = parents.get(call);
    if (isDatabase(call.callee)) {
      add(call.caller, {
        traceId: id.traceId, spanId: id.client, ...(parent ? { parentSpanId: parent } : {}), name: 'SELECT ratings', kind: 3, ...times,
        attributes: [str('db.system', call.callee.system), str('server.address', call.callee.host), str('db.statement', 'SELECT * FROM ratings WHERE id = ?')],
      });
      continue;
    }
    const callee = call.callee;
    const http = [str('http.request.method', 'GET'), int('http.response.status_code', call.status), str('url.path', `/${callee.service}`)];
    // The ingress gateway is the mesh's edge: its server side (the user's browser) is not simulated.
    add(call.caller, {
      traceId: id.traceId, spanId: id.client, ...(parent ? { parentSpanId: parent } : {}), name: `GET /${callee.service}`, kind: 3, ...times,
      attributes: [...http, str('server.address', `${callee.service}.${NAMESPACE}.svc.cluster.local`)], ...error,
    });
    add(callee, {
      traceId: id.traceId, spanId: id.server, parentSpanId: id.client, name: `GET /${callee.service}`, kind: 2,
      startTimeUnixNano: nanos(call.startMs + 0.1), endTimeUnixNano: nanos(call.startMs + call.durationMs - 0.1),
      attributes: [...http, str('connection_security_policy', securityPolicy(call))], ...error,
    });
  }
}

export function otlpRequestBody(spansByWorkload: Map<Workload, OtlpSpan[]>): string {
  return JSON.stringify({
    resourceSpans: [...spansByWorkload].map(([w, spans]) => ({
      resource: {
        attributes: [str('service.name', w.service), str('k8s.namespace.name', NAMESPACE), ...(w.version ? [str('service.version', w.version)] : [])],
      },
      scopeSpans: [{ scope: { name: 'meshlens-demo' }, spans }],
    })),
  });
}

interface ZipkinSpan {
  traceId: string;
  id: string;
  parentId?: string;
  name: string;
  kind: 'CLIENT' | 'SERVER';
  timestamp: number;
  duration: number;
  localEndpoint: { serviceName: string };
  tags: Record<string, string>;
}

/** Zipkin v2 spans of the calls that go via Zipkin, as Istio's Envoys report them (identity in istio.* tags). */
export function zipkinSpans(root: Call, ids: Map<Call, SpanIds>, out: ZipkinSpan[]): void {
  const parents = parentServerSpan(root, ids);
  const endpoint = (w: Workload) => ({ serviceName: `${w.service}.${NAMESPACE}` });
  const identity = (w: Workload) => ({ 'istio.canonical_service': w.service, 'istio.namespace': NAMESPACE, 'istio.canonical_revision': w.version ?? 'latest' });
  for (const call of flatten(root)) {
    if (!viaZipkin(call) || isDatabase(call.callee)) continue;
    const id = ids.get(call)!;
    const parent = parents.get(call);
    const tags = { 'http.method': 'GET', 'http.status_code': String(call.status), ...(call.status >= 500 ? { error: 'true' } : {}) };
    const micros = (ms: number) => Math.round(ms * 1000);
    out.push({
      traceId: id.traceId, id: id.client, ...(parent ? { parentId: parent } : {}), name: `GET /${call.callee.service}`, kind: 'CLIENT',
      timestamp: micros(call.startMs), duration: Math.max(micros(call.durationMs), 1), localEndpoint: endpoint(call.caller),
      tags: { ...identity(call.caller), ...tags },
    });
    out.push({
      traceId: id.traceId, id: id.server, parentId: id.client, name: `GET /${call.callee.service}`, kind: 'SERVER',
      timestamp: micros(call.startMs + 0.1), duration: Math.max(micros(call.durationMs - 0.2), 1), localEndpoint: endpoint(call.callee),
      tags: { ...identity(call.callee), ...tags, connection_security_policy: securityPolicy(call) },
    });
  }
}

/** DogStatsD lines of App Mesh's Envoy in productpage for its calls to details (ENABLE_ENVOY_STATS_TAGS=1). */
export function appMeshStatsdLines(calls: readonly Call[]): string[] {
  const lines: string[] = [];
  for (const call of calls) {
    if (isDatabase(call.callee) || call.caller.service !== 'productpage' || call.callee.service !== 'details') continue;
    const callee = workloadName(call.callee);
    const tags = `appmesh.mesh:${NAMESPACE},appmesh.virtual_node:${workloadName(call.caller)},envoy.cluster_name:cds_egress_${NAMESPACE}_${callee}_http_9080`;
    lines.push(`envoy.cluster.upstream_rq:1|c|#${tags},envoy.response_code:${call.status}`);
    lines.push(`envoy.cluster.upstream_rq_time:${call.durationMs.toFixed(2)}|ms|#${tags}`);
  }
  return lines;
}

/** Lines packed into datagrams of at most `maxBytes` (one line per datagram when a line alone is longer). */
export function datagrams(lines: readonly string[], maxBytes = 1400): string[] {
  const packets: string[] = [];
  let current = '';
  for (const line of lines) {
    if (current !== '' && current.length + 1 + line.length > maxBytes) {
      packets.push(current);
      current = '';
    }
    current = current === '' ? line : `${current}\n${line}`;
  }
  if (current !== '') packets.push(current);
  return packets;
}

/** Envoy's default histogram bounds (ms), which istio_request_duration_milliseconds uses. */
const ISTIO_BOUNDS_MS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/**
 * Istio sidecars' standard metrics, cumulative since the demo started: each calling sidecar reports its
 * calls (`reporter="source"`), the called sidecar reports the same calls with the connection's mTLS
 * (`reporter="destination"`). One page per sidecar.
 */
export class IstioSidecars {
  /** Sidecar (workload name) → series key → { labels, count, buckets, sum }. */
  private readonly pages = new Map<string, Map<string, { labels: string; requests: number; buckets: number[]; sumMs: number }>>();

  constructor(readonly sidecars: readonly Workload[]) {
    for (const w of sidecars) this.pages.set(workloadName(w), new Map());
  }

  /** Counts the calls that go via Prometheus (reviews → ratings), on both sidecars. */
  record(calls: readonly Call[]): void {
    for (const call of calls) {
      if (isDatabase(call.callee) || call.callee.service !== 'ratings') continue;
      for (const reporter of ['source', 'destination'] as const) {
        const page = this.pages.get(workloadName(reporter === 'source' ? call.caller : call.callee));
        if (!page) continue;
        const labels = istioLabels(reporter, call.caller, call.callee, call.status, reporter === 'source' ? 'unknown' : securityPolicy(call));
        let series = page.get(labels);
        if (!series) page.set(labels, (series = { labels, requests: 0, buckets: ISTIO_BOUNDS_MS.map(() => 0), sumMs: 0 }));
        series.requests++;
        series.sumMs += call.durationMs;
        ISTIO_BOUNDS_MS.forEach((le, i) => {
          if (call.durationMs <= le) series.buckets[i]!++;
        });
      }
    }
  }

  /** Prometheus text exposition (0.0.4) of one sidecar, or undefined for an unknown one. */
  page(workload: string): string | undefined {
    const page = this.pages.get(workload);
    if (!page) return undefined;
    const lines = ['# HELP istio_requests_total Total requests.', '# TYPE istio_requests_total counter'];
    for (const s of page.values()) lines.push(`istio_requests_total{${s.labels}} ${s.requests}`);
    lines.push('# HELP istio_request_duration_milliseconds Request duration.', '# TYPE istio_request_duration_milliseconds histogram');
    for (const s of page.values()) {
      ISTIO_BOUNDS_MS.forEach((le, i) => lines.push(`istio_request_duration_milliseconds_bucket{${s.labels},le="${le}"} ${s.buckets[i]}`));
      lines.push(`istio_request_duration_milliseconds_bucket{${s.labels},le="+Inf"} ${s.requests}`);
      lines.push(`istio_request_duration_milliseconds_sum{${s.labels}} ${s.sumMs.toFixed(3)}`);
      lines.push(`istio_request_duration_milliseconds_count{${s.labels}} ${s.requests}`);
    }
    return `${lines.join('\n')}\n`;
  }
}

function istioLabels(reporter: 'source' | 'destination', source: Workload, destination: Workload, code: number, policy: string): string {
  const labels: Record<string, string> = {
    reporter,
    source_workload: workloadName(source),
    source_workload_namespace: NAMESPACE,
    source_canonical_service: source.service,
    source_canonical_revision: source.version ?? 'latest',
    source_version: source.version ?? 'unknown',
    source_principal: `spiffe://cluster.local/ns/${NAMESPACE}/sa/bookinfo-${source.service}`,
    destination_workload: workloadName(destination),
    destination_workload_namespace: NAMESPACE,
    destination_canonical_service: destination.service,
    destination_canonical_revision: destination.version ?? 'latest',
    destination_version: destination.version ?? 'unknown',
    destination_service: `${destination.service}.${NAMESPACE}.svc.cluster.local`,
    destination_service_name: destination.service,
    destination_service_namespace: NAMESPACE,
    request_protocol: 'http',
    response_code: String(code),
    response_flags: '-',
    connection_security_policy: policy,
  };
  return Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',');
}

// ---- The demo: meshlens plus the simulator on a timer ----

export const DEMO_SIGNALS = ['OTLP/HTTP spans', 'Zipkin v2 spans', 'DogStatsD (UDP)', 'Prometheus scrape'] as const;

export interface DemoOptions {
  config: MeshlensConfig;
  log?: FastifyBaseLogger;
  /** How often a batch of requests is simulated and sent (default 1000 ms). */
  tickMs?: number;
  /** Page views per tick (default 5). */
  requestsPerTick?: number;
  seed?: number;
}

export interface RunningDemo {
  meshlens: RunningMeshlens;
  /** http://<host>:<query port>/ */
  uiUrl: string;
  /** Where meshlens scrapes the simulated sidecars. */
  prometheusUrl: string;
  /** Page views simulated so far. */
  requests(): number;
  /** Stops the simulator, then meshlens (which writes what it took). Safe to call twice. */
  stop(): Promise<void>;
}

/** The sidecars whose Prometheus pages meshlens scrapes. */
const SCRAPED = [WORKLOADS.reviewsV2, WORKLOADS.reviewsV3, WORKLOADS.ratings];

async function listen(server: Server, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const address = server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

/** A loopback address to send to: the configured host unless it listens on every interface. */
const loopbackFor = (host: string) => (host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host);

export async function startDemo(options: DemoOptions): Promise<RunningDemo> {
  const log = options.log ?? createLogger(options.config.log.level);
  const tickMs = options.tickMs ?? 1000;
  const requestsPerTick = options.requestsPerTick ?? 5;
  const random = seededRandom(options.seed ?? 6);
  const host = loopbackFor(options.config.server.host);

  const sidecars = new IstioSidecars(SCRAPED);
  const promServer = createServer((request, response) => {
    const workload = /^\/([a-z0-9-]+)\/stats\/prometheus$/.exec(request.url ?? '')?.[1];
    const page = workload === undefined ? undefined : sidecars.page(workload);
    if (page === undefined) response.writeHead(404).end();
    else response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(page);
  });
  const promPort = await listen(promServer, '127.0.0.1');
  const prometheusUrl = `http://127.0.0.1:${promPort}`;
  const targets = SCRAPED.map((w) => ({
    url: `${prometheusUrl}/${workloadName(w)}/stats/prometheus`,
    labels: { workload: workloadName(w), namespace: NAMESPACE, ...('version' in w ? { version: w.version } : {}), mesh: 'istio' },
  }));
  const config: MeshlensConfig = { ...options.config, scrape: { ...options.config.scrape, targets: [...options.config.scrape.targets, ...targets] } };

  let meshlens: RunningMeshlens;
  try {
    meshlens = await startMeshlens('all-in-one', config, log);
  } catch (error) {
    promServer.close();
    throw error;
  }
  const otlpUrl = `http://${host}:${meshlens.ports.otlpHttp}/v1/traces`;
  const zipkinUrl = `http://${host}:${meshlens.ports.zipkin}/api/v2/spans`;
  const udp: Socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');

  let simulated = 0;
  let warned = false;
  const post = async (url: string, body: string, what: string) => {
    try {
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      if (response.status >= 300 && !warned) {
        warned = true;
        log.warn(`demo: ${what} answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
      } else await response.arrayBuffer();
    } catch (error) {
      if (!warned) log.warn(`demo: sending ${what} failed: ${(error as Error).message}`);
      warned = true;
    }
  };
  const sendDatagram = (packet: string) =>
    new Promise<void>((resolve) => udp.send(packet, meshlens.ports.statsd!, host, () => resolve()));

  const tick = async () => {
    const now = Date.now();
    const spansByWorkload = new Map<Workload, OtlpSpan[]>();
    const zipkin: ZipkinSpan[] = [];
    const calls: Call[] = [];
    for (let i = 0; i < requestsPerTick; i++) {
      // Spread over the tick, ending now: every timestamp is in the past, none in the future.
      const root = simulateRequest(random, now - tickMs + (i * tickMs) / requestsPerTick);
      const ids = spanIds(root);
      otlpSpans(root, ids, spansByWorkload);
      zipkinSpans(root, ids, zipkin);
      calls.push(...flatten(root));
    }
    simulated += requestsPerTick;
    sidecars.record(calls);
    await Promise.all([
      post(otlpUrl, otlpRequestBody(spansByWorkload), 'OTLP/HTTP'),
      post(zipkinUrl, JSON.stringify(zipkin), 'Zipkin'),
      ...datagrams(appMeshStatsdLines(calls)).map(sendDatagram),
    ]);
  };

  // meshlens answers a POST once its batch is stored (up to batch.max_delay), so ticks overlap; past a few
  // unanswered ones a tick is skipped (never a backlog): a slow meshlens gets fewer requests, not a queue.
  const MAX_TICKS_IN_FLIGHT = 4;
  const inFlight = new Set<Promise<void>>();
  const startTick = () => {
    if (inFlight.size >= MAX_TICKS_IN_FLIGHT) return;
    const sent: Promise<void> = tick().finally(() => inFlight.delete(sent));
    inFlight.add(sent);
  };
  const timer = setInterval(startTick, tickMs);
  startTick();

  let stopping: Promise<void> | undefined;
  return {
    meshlens,
    uiUrl: `http://${host === '127.0.0.1' && options.config.server.host !== '127.0.0.1' ? 'localhost' : host}:${meshlens.ports.query}/`,
    prometheusUrl,
    requests: () => simulated,
    stop: () =>
      (stopping ??= (async () => {
        clearInterval(timer);
        await Promise.all(inFlight);
        await meshlens.stop();
        udp.close();
        await new Promise<void>((resolve) => promServer.close(() => resolve()));
      })()),
  };
}
