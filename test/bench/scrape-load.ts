// Load for Prometheus scraping (bench:mesh): `targets` Istio sidecars (merged metrics on :15020), each
// exposing `seriesPerTarget` series in the text format — its istio_requests_total, duration histograms and
// byte sums for the calls it makes (reporter="source") and takes (reporter="destination"), padded with the
// Envoy cluster stats a sidecar keeps for every service of the mesh (no edges) — served by a separate
// process (this file run as a script: one node:http server, target i at /targets/<i>/stats/prometheus).
//
// The targets are pods of a bookinfo repeated over a few namespaces: replicas of one workload expose the
// same series (as real replicas do); the scrape's target labels (pod) keep them apart. Bodies are
// pre-rendered per workload and variant: a target's n-th scrape gets variant n, whose counters have grown
// by one step — so what the graph must hold is known from which variants each target was served. Before
// the graph is checked the server is frozen (every target gets its last variant again: no more increase).
import { type ChildProcess, fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PrometheusEdgeConverter } from '../../collector/prometheus/mesh-series.ts';
import type { PromSample } from '../../collector/prometheus/samples.ts';
import { EdgeMinutes } from '../../collector/service-graph/edge-rows.ts';
import type { GraphEdge } from '../../query/service-graph.ts';
import { ENVOY_BOUNDS_MS, histogramSamples, istioLabels, workloadName } from '../helpers/mesh-series.ts';
import { ownMetric } from '../helpers/meshlens.ts';
import { measure, processStats, startMeshlens, stopMeshlens } from './harness.ts';
import { type Call, bookinfoCalls } from './remote-write-load.ts';
import type { MeshBenchKit } from './statsd-load.ts';

const WORKLOADS = ['productpage-v1', 'details-v1', 'reviews-v1', 'reviews-v2', 'reviews-v3', 'ratings-v1'];
const APPS = ['productpage', 'details', 'reviews', 'ratings'];

interface Template {
  namespace: string;
  workload: string;
  /** Requests the graph gains per variant step from one target of this template (each call counted once). */
  increasePerStep: number;
}

const templateOf = (index: number, namespaces: number): Template => {
  const workload = WORKLOADS[index % WORKLOADS.length]!;
  const namespace = `bookinfo-${Math.floor(index / WORKLOADS.length) % namespaces}`;
  const counted = bookinfoCalls(namespace).filter((c) => (c.source !== null ? workloadName(c.source) === workload : workloadName(c.destination) === workload));
  return { namespace, workload, increasePerStep: counted.reduce((sum, c) => sum + c.increase, 0) };
};

/** Target i is a pod of template i % templates. */
export const templateCount = (namespaces: number) => namespaces * WORKLOADS.length;

/** One sidecar's series at variant `v`: Istio's for its calls, then Envoy cluster stats up to `series`. */
function sidecarSamples(template: Template, v: number, series: number, namespaces: number): PromSample[] {
  const grown = (call: Call) => ({ ...call, total: call.total + v * call.increase });
  const mine = bookinfoCalls(template.namespace)
    .filter((c) => (c.source !== null && workloadName(c.source) === template.workload) || workloadName(c.destination) === template.workload)
    .map(grown);
  const samples: PromSample[] = [];
  for (const call of mine) {
    const reporter = call.source !== null && workloadName(call.source) === template.workload ? 'source' : 'destination';
    const labels = istioLabels(reporter, call.source, call.destination, { code: call.code, ...(call.mtls === undefined ? {} : { mtls: call.mtls }) });
    samples.push({ name: 'istio_requests_total', labels, value: call.total });
  }
  // Per caller/callee pair (not per code): the latency histogram and byte sums.
  const pairs = new Map<string, Call>();
  for (const call of mine) pairs.set(`${call.source === null ? '' : workloadName(call.source)}>${workloadName(call.destination)}`, call);
  for (const call of pairs.values()) {
    const reporter = call.source !== null && workloadName(call.source) === template.workload ? 'source' : 'destination';
    const labels = istioLabels(reporter, call.source, call.destination, call.mtls === undefined ? {} : { mtls: call.mtls });
    const n = call.total;
    samples.push(...histogramSamples('istio_request_duration_milliseconds', labels, ENVOY_BOUNDS_MS, { 5: Math.floor(n / 4), 25: Math.floor(n / 2), 250: n - Math.floor(n / 4) - Math.floor(n / 2) }, n * 31));
    samples.push({ name: 'istio_request_bytes_sum', labels, value: n * 180 });
    samples.push({ name: 'istio_response_bytes_sum', labels, value: n * 5200 });
  }
  // Envoy's own cluster stats for every service it knows (Istio pushes all of them to every sidecar).
  for (let k = 0; samples.length < series; k++) {
    const cluster = `outbound|9080||${APPS[k % APPS.length]}-${Math.floor(k / APPS.length)}.bookinfo-${k % namespaces}.svc.cluster.local`;
    const which = k % 4;
    const labels = { cluster_name: cluster };
    if (which === 0) samples.push({ name: 'envoy_cluster_upstream_cx_total', labels, value: 100 + k + v * 3 });
    else if (which === 1) samples.push({ name: 'envoy_cluster_upstream_cx_active', labels, value: 1 + (k % 7) });
    else if (which === 2) samples.push({ name: 'envoy_cluster_membership_healthy', labels, value: 1 + (k % 3) });
    else samples.push({ name: 'envoy_cluster_upstream_cx_connect_fail', labels, value: k % 5 });
  }
  return samples.slice(0, series);
}

const TYPES: Record<string, string> = {
  istio_requests_total: 'counter',
  istio_request_duration_milliseconds: 'histogram',
  envoy_cluster_upstream_cx_total: 'counter',
  envoy_cluster_upstream_cx_active: 'gauge',
  envoy_cluster_membership_healthy: 'gauge',
  envoy_cluster_upstream_cx_connect_fail: 'counter',
};

/** The text format (0.0.4): families together, each after its # TYPE line. */
function render(samples: PromSample[]): Buffer {
  const families = new Map<string, string[]>();
  for (const s of samples) {
    // A histogram's _bucket/_sum/_count lines belong to its family; other names are their own.
    const base = s.name.replace(/_(bucket|sum|count)$/, '');
    const family = TYPES[base] === 'histogram' ? base : s.name;
    const labels = Object.entries(s.labels).map(([k, v]) => `${k}="${v}"`).join(',');
    let lines = families.get(family);
    if (lines === undefined) families.set(family, (lines = TYPES[family] ? [`# TYPE ${family} ${TYPES[family]}`] : []));
    lines.push(`${s.name}${labels === '' ? '' : `{${labels}}`} ${s.value}`);
  }
  return Buffer.from(`${[...families.values()].flat().join('\n')}\n`);
}

/**
 * The edges_1m rows meshlens writes for one interval's increase (replicas of a workload add into the same
 * rows, so one target per workload makes them all), through the scrape path's converter.
 */
function scrapeEdgeRows(namespaces: number, series: number): { body: Buffer; rows: number } {
  const converter = new PrometheusEdgeConverter({ maxSeries: 1e9 });
  const minutes = new EdgeMinutes();
  const now = Date.now();
  for (let variant = 0; variant < 2; variant++) {
    for (let t = 0; t < templateCount(namespaces); t++) {
      const template = templateOf(t, namespaces);
      const samples = sidecarSamples(template, variant, series, namespaces);
      const batch = { source: `template-${t}`, reporter: { mesh: 'istio', workload: template.workload, namespace: template.namespace }, samples, receivedAtMs: now - 15_000 + variant * 15_000 };
      minutes.addIncrements(converter.convert(batch).increments, 'prometheus');
    }
  }
  const drained = minutes.drain();
  return { body: drained?.body ?? Buffer.alloc(0), rows: drained?.rows ?? 0 };
}

// ---- The target server (this file as a script) ----

interface ServeRequest {
  targets: number;
  namespaces: number;
  series: number;
  variants: number;
}

interface ServeRecord {
  /** Per target: the first and last variant served (-1: never scraped). */
  first: number[];
  last: number[];
  /** Per target: the times (ms) of its scrapes. */
  times: number[][];
  bodies: number;
  samples: number;
  cpuSeconds: number;
}

function serve(request: ServeRequest): void {
  const templates = templateCount(request.namespaces);
  const cache = new Map<number, Buffer>();
  const body = (template: number, variant: number) => {
    const key = template * request.variants + variant;
    let text = cache.get(key);
    if (text === undefined) cache.set(key, (text = render(sidecarSamples(templateOf(template, request.namespaces), variant, request.series, request.namespaces))));
    return text;
  };
  // Render everything up front: serving is then a write of a ready buffer.
  for (let t = 0; t < templates; t++) for (let v = 0; v < request.variants; v++) body(t, v);
  const scrapes = new Array<number>(request.targets).fill(0);
  const first = new Array<number>(request.targets).fill(-1);
  const last = new Array<number>(request.targets).fill(-1);
  const times: number[][] = Array.from({ length: request.targets }, () => []);
  let frozen = false;
  let bodies = 0;
  const server = createServer((req, res) => {
    const match = /^\/targets\/([0-9]+)\/stats\/prometheus$/.exec(req.url ?? '');
    const target = match ? Number(match[1]) : -1;
    if (!(target >= 0 && target < request.targets)) {
      res.writeHead(404).end();
      return;
    }
    const variant = frozen ? last[target]! : Math.min(scrapes[target]!, request.variants - 1);
    scrapes[target]!++;
    if (first[target] === -1) first[target] = variant;
    last[target] = variant;
    times[target]!.push(Date.now());
    bodies++;
    const text = body(target % templates, variant);
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': text.length }).end(text);
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    const bytes = [...cache.values()].reduce((sum, b) => sum + b.length, 0);
    process.send!({ port: (server.address() as { port: number }).port, bytesPerBody: Math.round(bytes / cache.size) });
  });
  process.on('message', (message: string) => {
    if (message === 'freeze') {
      frozen = true;
      const cpu = process.cpuUsage();
      const record: ServeRecord = { first, last, times, bodies, samples: bodies * request.series, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
      process.send!(record);
    } else if (message === 'stop') {
      server.close();
      process.exit(0);
    }
  });
}

const self = fileURLToPath(import.meta.url);
if (process.argv[1] === self && process.argv[2] === 'serve') process.once('message', (request: ServeRequest) => serve(request));

class TargetServer {
  private constructor(private readonly child: ChildProcess, readonly port: number, readonly bytesPerBody: number) {}

  static async start(request: ServeRequest): Promise<TargetServer> {
    const child = fork(self, ['serve'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.send(request);
    const ready = await new Promise<{ port: number; bytesPerBody: number }>((resolve, reject) => {
      child.once('message', (m) => resolve(m as { port: number; bytesPerBody: number }));
      child.once('exit', (code) => reject(new Error(`scrape target server exited ${code}`)));
    });
    return new TargetServer(child, ready.port, ready.bytesPerBody);
  }

  get pid(): number {
    return this.child.pid!;
  }

  freeze(): Promise<ServeRecord> {
    this.child.send('freeze');
    return new Promise((resolve) => this.child.once('message', (m) => resolve(m as ServeRecord)));
  }

  async stop(): Promise<void> {
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.send('stop');
    await exited;
  }
}

// ---- The scenario ----

export interface ScrapeBenchOptions {
  targets: number;
  seriesPerTarget: number;
  namespaces: number;
  /** Scrape intervals measured (after the first, which only takes baselines). */
  intervals: number;
  intervalSeconds: number;
}

export function scrapeScenario<Row, Baseline>(kit: MeshBenchKit<Row, Baseline>, options: ScrapeBenchOptions): { name: string; run(work: string): Promise<Row[]> } {
  return {
    name: 'scrape',
    async run(work) {
      const intervalMs = options.intervalSeconds * 1000;
      const built = performance.now();
      const server = await TargetServer.start({ targets: options.targets, namespaces: options.namespaces, series: options.seriesPerTarget, variants: options.intervals + 3 });
      kit.log(`scrape: ${options.targets} targets × ${options.seriesPerTarget} series (Istio sidecars of ${templateCount(options.namespaces)} workloads in ${options.namespaces} namespaces; ${Math.round(server.bytesPerBody / 1024)} KiB per body), pre-rendered in ${((performance.now() - built) / 1000).toFixed(1)} s; interval ${options.intervalSeconds} s, ${options.intervals + 1} intervals`);
      const targets = Array.from({ length: options.targets }, (_, i) => {
        const template = templateOf(i % templateCount(options.namespaces), options.namespaces);
        return { url: `http://127.0.0.1:${server.port}/targets/${i}/stats/prometheus`, labels: { mesh: 'istio', workload: template.workload, namespace: template.namespace, pod: `${template.workload}-5d8f7b6c9d-${String(i).padStart(5, '0')}` } };
      });
      const rows = scrapeEdgeRows(options.namespaces, options.seriesPerTarget);
      const rowsFile = join(work, 'scrape-edges.jsonl');
      writeFileSync(rowsFile, rows.body);
      const baseline = await kit.rawInsert(join(work, 'scrape-raw'), rowsFile, 'edges_1m', options.targets * options.seriesPerTarget, `its ${rows.rows} edges_1m rows per interval`);
      const configFile = join(work, 'scrape.yaml');
      writeFileSync(configFile, JSON.stringify({ scrape: { interval: `${options.intervalSeconds}s`, timeout: `${Math.min(10, options.intervalSeconds)}s`, targets } }));
      const serverBefore = processStats(server.pid);
      const meshlens = await startMeshlens(join(work, 'scrape-e2e'), { profileDir: kit.profileDir, env: { MESHLENS_CONFIG: configFile, MESHLENS_GRAPH_FLUSH_INTERVAL: '2s' } });
      const queryUrl = `http://127.0.0.1:${meshlens.queryPort}`;
      const startedMs = Date.now();
      // The whole run: the first interval (baselines) and the measured ones.
      const measured = await measure(meshlens, () => new Promise((r) => setTimeout(r, (options.intervals + 1) * intervalMs)));
      const record = await server.freeze();
      const serverCpuSeconds = processStats(server.pid).cpuSeconds - serverBefore.cpuSeconds;

      let expected = 0;
      for (let i = 0; i < options.targets; i++) if (record.first[i]! >= 0) expected += (record.last[i]! - record.first[i]!) * templateOf(i % templateCount(options.namespaces), options.namespaces).increasePerStep;
      let requests = 0;
      let edges: GraphEdge[] = [];
      for (let i = 0; i < 150 && requests !== expected; i++) {
        await new Promise((r) => setTimeout(r, 200));
        const response = await fetch(`${queryUrl}/api/v1/service-graph?signal=prometheus&start=${startedMs - 3_600_000}&end=${Date.now() + 60_000}`);
        edges = ((await response.json()) as { edges: GraphEdge[] }).edges;
        requests = edges.reduce((sum, e) => sum + e.requests, 0);
      }
      const scrapes = await ownMetric(queryUrl, 'meshlens_scrapes_total');
      const durations = [...(await ownMetric(queryUrl, 'meshlens_scrape_duration_seconds')).values()].sort((a, b) => a - b);
      const up = [...(await ownMetric(queryUrl, 'meshlens_scrape_target_up')).values()];
      const seriesResults = await ownMetric(queryUrl, 'meshlens_scrape_series_total');
      await stopMeshlens(meshlens);
      await server.stop();

      const scrapesOf = (result: string) => scrapes.get(`{result="${result}"}`) ?? 0;
      const failed = [...scrapes].filter(([labels]) => !labels.includes('"ok"')).reduce((sum, [, v]) => sum + v, 0);
      // Every target once per interval: the gaps between its scrapes (the server's clock).
      const gaps = record.times.flatMap((t) => t.slice(1).map((at, i) => at - t[i]!)).sort((a, b) => a - b);
      const late = gaps.filter((gap) => gap > intervalMs * 1.5).length;
      const scrapedEveryInterval = record.times.filter((t) => t.length >= options.intervals + 1).length;
      const at = (values: number[], q: number) => values[Math.min(values.length - 1, Math.floor(q * values.length))] ?? Number.NaN;
      kit.log(`scrape: ${record.bodies} scrapes served (${scrapesOf('ok')} ok in meshlens, ${failed} not ok or skipped), ${scrapedEveryInterval}/${options.targets} targets scraped in each of ${options.intervals + 1} intervals, gaps between a target's scrapes p50 ${(at(gaps, 0.5) / 1000).toFixed(1)} s max ${(at(gaps, 1) / 1000).toFixed(1)} s (${late} over 1.5 intervals); last scrape durations p50 ${at(durations, 0.5).toFixed(2)} s p99 ${at(durations, 0.99).toFixed(2)} s max ${at(durations, 1).toFixed(2)} s; ${up.filter((v) => v === 1).length}/${up.length} up; series ${JSON.stringify(Object.fromEntries(seriesResults))}; target server CPU ${serverCpuSeconds.toFixed(1)} s`);
      if (requests !== expected) throw new Error(`the prometheus graph holds ${requests} requests, the served counters increased by ${expected}`);
      const everyTargetInTime = failed === 0 && late === 0 && scrapedEveryInterval === options.targets && at(durations, 1) < options.intervalSeconds;
      return [
        kit.resultRow(`scrape, ${options.targets} targets × ${options.seriesPerTarget} series, ${options.intervalSeconds} s interval`, 'samples', record.samples, measured, [baseline],
          `${everyTargetInTime ? 'every target scraped once per interval, all ok' : 'NOT every target within its interval'}: ${scrapesOf('ok')} ok scrapes, ${failed} failed/skipped, max gap ${(at(gaps, 1) / 1000).toFixed(1)} s, max scrape duration ${at(durations, 1).toFixed(2)} s; graph edges sum to ${requests} requests = the served counters' increases`,
          {
            targets: options.targets, seriesPerTarget: options.seriesPerTarget, intervalSeconds: options.intervalSeconds, scrapesServed: record.bodies, scrapesOk: scrapesOf('ok'), scrapesNotOk: failed,
            targetsScrapedEveryInterval: scrapedEveryInterval, maxGapSeconds: at(gaps, 1) / 1000, scrapeDurationP50: at(durations, 0.5), scrapeDurationP99: at(durations, 0.99), scrapeDurationMax: at(durations, 1),
            everyTargetInTime, neededSamplesPerSecond: Math.round((options.targets * options.seriesPerTarget) / options.intervalSeconds), bytesPerBody: server.bytesPerBody,
            targetServerCpuSeconds: serverCpuSeconds, edges: edges.length, seriesResults: Object.fromEntries(seriesResults),
            target: Math.round((options.targets * options.seriesPerTarget) / options.intervalSeconds),
          }),
      ];
    },
  };
}
