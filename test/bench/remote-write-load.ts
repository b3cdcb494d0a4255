// Load for Prometheus remote-write (bench:mesh): what a Prometheus server scraping Istio sidecars
// forwards — istio_requests_total from both sidecars of each call (the reporter rule counts each call
// once), istio_request_duration_milliseconds histograms, byte sums — for a bookinfo-like mesh repeated
// over many namespaces, with the target labels Prometheus' kubernetes-pods job adds. Pre-built as
// snappy-compressed WriteRequests of `seriesPerRequest` series × 1 sample (Prometheus' default
// max_samples_per_send is 2,000), one round of every series per scrape interval: round 0 is the
// baseline (first sight counts nothing), each later round adds the same increase to every call.
// Sent as Prometheus' queue manager does: `shards` queues, each series always in the same one, each queue
// one request at a time — so a series' samples arrive in order (a sample older than the stored one is
// ignored by meshlens, as by Prometheus' own TSDB).
import { Agent, request } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import snappy from 'snappyjs';
import { PrometheusEdgeConverter } from '../../collector/prometheus/mesh-series.ts';
import type { PromSample } from '../../collector/prometheus/samples.ts';
import { decodeRemoteWrite, decodeRemoteWriteV2 } from '../../collector/receivers/remote-write.ts';
import { EdgeMinutes } from '../../collector/service-graph/edge-rows.ts';
import type { GraphEdge } from '../../query/service-graph.ts';
import { ENVOY_BOUNDS_MS, type IstioCall, type Workload, histogramSamples, istioLabels, istioRequests, workloadName } from '../helpers/mesh-series.ts';
import { ownMetric } from '../helpers/meshlens.ts';
import { freePort, measure, processStats, startMeshlens, stopMeshlens } from './harness.ts';
import type { MeshBenchKit } from './statsd-load.ts';

/** The issue-5 target. */
export const REMOTE_WRITE_TARGET_SAMPLES_PER_SECOND = 1_000_000;
const SCRAPE_INTERVAL_MS = 15_000;

export interface Call extends IstioCall {
  /** Added to `total` every round after the baseline. */
  increase: number;
}

/** One namespace's bookinfo calls, as istioBookinfo() has them, with per-round increases. */
export function bookinfoCalls(namespace: string): Call[] {
  const w = (app: string, version: string): Workload => ({ app, version, namespace });
  const [productpage, details, ratings] = [w('productpage', 'v1'), w('details', 'v1'), w('ratings', 'v1')];
  const [reviewsV1, reviewsV2, reviewsV3] = [w('reviews', 'v1'), w('reviews', 'v2'), w('reviews', 'v3')];
  return [
    { source: productpage, destination: details, code: 200, total: 1000, increase: 60 },
    { source: productpage, destination: reviewsV1, code: 200, total: 300, increase: 20 },
    { source: productpage, destination: reviewsV2, code: 200, total: 300, increase: 25 },
    { source: productpage, destination: reviewsV3, code: 200, total: 100, increase: 10 },
    { source: productpage, destination: reviewsV3, code: 503, total: 5, increase: 3 },
    { source: productpage, destination: reviewsV3, code: 404, total: 7, increase: 2 },
    { source: reviewsV2, destination: ratings, code: 200, total: 300, increase: 25 },
    { source: reviewsV3, destination: ratings, code: 200, total: 100, increase: 12 },
    { source: null, destination: productpage, code: 200, total: 2000, increase: 95, mtls: false },
  ];
}

/** Every series of one namespace at round `round`: requests by code, duration histograms, byte sums. */
function namespaceSamples(namespace: string, round: number): PromSample[] {
  const calls = bookinfoCalls(namespace).map((call) => ({ ...call, total: call.total + round * call.increase }));
  const samples = istioRequests(calls);
  const pairs = new Map<string, Call>();
  for (const call of calls) pairs.set(`${call.source === null ? '' : workloadName(call.source)}>${workloadName(call.destination)}`, call);
  for (const call of pairs.values()) {
    const calls = round * call.increase + call.total;
    for (const reporter of call.source === null ? (['destination'] as const) : (['source', 'destination'] as const)) {
      const labels = istioLabels(reporter, call.source, call.destination, call.mtls === undefined ? {} : { mtls: call.mtls });
      // Latencies spread over the 5–250 ms buckets.
      samples.push(...histogramSamples('istio_request_duration_milliseconds', labels, ENVOY_BOUNDS_MS, { 5: Math.floor(calls / 4), 25: Math.floor(calls / 2), 250: calls - Math.floor(calls / 4) - Math.floor(calls / 2) }, calls * 31));
      samples.push({ name: 'istio_request_bytes_sum', labels, value: calls * 180 });
      samples.push({ name: 'istio_response_bytes_sum', labels, value: calls * 5200 });
    }
  }
  return samples;
}

/** Metric names of what else a Prometheus server scrapes from a meshed pod and forwards (no mesh rule reads them). */
const OTHER_NAMES = [
  'container_cpu_usage_seconds_total', 'container_memory_working_set_bytes', 'container_network_receive_bytes_total', 'container_fs_reads_total',
  'kube_pod_container_status_restarts_total', 'kube_pod_status_phase', 'envoy_cluster_upstream_cx_total', 'envoy_cluster_membership_healthy',
  'envoy_server_memory_allocated', 'process_resident_memory_bytes', 'go_goroutines', 'http_server_requests_seconds_count',
];

/**
 * `count` series per pod of a namespace that no mesh rule reads: cAdvisor, kube-state-metrics, Envoy's own
 * stats, the app's metrics — most of what remote-write carries. Labels as Prometheus sends them (sorted).
 */
function otherSeries(namespace: string, count: number): Array<Record<string, string> & { __name__: string }> {
  const pods = ['productpage-v1', 'details-v1', 'reviews-v1', 'reviews-v2', 'reviews-v3', 'ratings-v1'];
  const out: Array<Record<string, string> & { __name__: string }> = [];
  for (const workload of pods) {
    for (let i = 0; i < count / pods.length; i++) {
      out.push({
        __name__: OTHER_NAMES[i % OTHER_NAMES.length]!,
        cluster_name: `outbound|9080||svc-${i}.${namespace}.svc.cluster.local`,
        container: i % 3 === 0 ? 'istio-proxy' : workload.replace(/-v[0-9]$/, ''),
        instance: `${workload}.${namespace}:15020`,
        job: 'kubernetes-pods',
        namespace,
        pod: `${workload}-5d8f7b6c9d-x7k2p`,
      });
    }
  }
  return out;
}

/** Requests the graph gains per round after the baseline, per namespace: each call counted once. */
const increasePerRound = (namespace: string) => bookinfoCalls(namespace).reduce((sum, call) => sum + call.increase, 0);

/** What Prometheus' kubernetes-pods job adds: the scraped pod. */
function targetLabels(labels: PromSample['labels']): Record<string, string> {
  const workload = labels.reporter === 'source' ? labels.source_workload! : labels.destination_workload!;
  const namespace = labels.reporter === 'source' ? labels.source_workload_namespace! : labels.destination_workload_namespace!;
  return { job: 'kubernetes-pods', instance: `${workload}.${namespace}:15020`, namespace, pod: `${workload}-5d8f7b6c9d-x7k2p` };
}

export interface RemoteWriteLoad {
  version: RemoteWriteVersion;
  /** Per shard, round by round: each shard's requests in sending order. */
  shards: Buffer[][];
  requests: number;
  seriesPerRound: number;
  rounds: number;
  samples: number;
  /** Requests the graph must hold after all rounds. */
  expectedRequests: number;
  edges: number;
  bytes: number;
}

/**
 * A prometheus.WriteRequest (remote.proto: timeseries = 1; types.proto: labels = 1 {name = 1, value = 2},
 * samples = 2 {value = 1 double, timestamp = 2 int64}), snappy block compressed, written with protobufjs'
 * Writer: prometheus-remote-write's serialize() verifies each message and takes ~150 µs per series.
 */
function encodeWriteRequest(series: Array<{ labels: Record<string, string>; value: number; timestamp: number }>): Buffer {
  const writer = protobuf.Writer.create();
  for (const one of series) {
    writer.uint32((1 << 3) | 2).fork();
    for (const [name, value] of Object.entries(one.labels)) writer.uint32((1 << 3) | 2).fork().uint32((1 << 3) | 2).string(name).uint32((2 << 3) | 2).string(value).ldelim();
    writer.uint32((2 << 3) | 2).fork().uint32((1 << 3) | 1).double(one.value).uint32((2 << 3) | 0).int64(one.timestamp).ldelim();
    writer.ldelim();
  }
  return Buffer.from(snappy.compress(writer.finish()));
}

/**
 * The same series as a remote-write 2.0 io.prometheus.write.v2.Request (types.proto: symbols = 4, timeseries =
 * 5 {labels_refs = 1 packed, samples = 2}), as Prometheus builds one: every string once in `symbols`
 * (symbols[0] = ""), each series' labels as pairs of refs.
 */
function encodeRequestV2(series: Array<{ labels: Record<string, string>; value: number; timestamp: number }>): Buffer {
  const refs = new Map<string, number>([['', 0]]);
  const refOf = (text: string) => {
    let ref = refs.get(text);
    if (ref === undefined) refs.set(text, (ref = refs.size));
    return ref;
  };
  const labelRefs = series.map((one) => Object.entries(one.labels).flatMap(([name, value]) => [refOf(name), refOf(value)]));
  const writer = protobuf.Writer.create();
  for (const symbol of refs.keys()) writer.uint32((4 << 3) | 2).string(symbol);
  for (const [i, one] of series.entries()) {
    writer.uint32((5 << 3) | 2).fork();
    writer.uint32((1 << 3) | 2).fork();
    for (const ref of labelRefs[i]!) writer.uint32(ref);
    writer.ldelim();
    writer.uint32((2 << 3) | 2).fork().uint32((1 << 3) | 1).double(one.value).uint32((2 << 3) | 0).int64(one.timestamp).ldelim();
    writer.ldelim();
  }
  return Buffer.from(snappy.compress(writer.finish()));
}

/** The remote-write protocol version a load is sent in: 1 = prometheus.WriteRequest, 2 = io.prometheus.write.v2.Request. */
export type RemoteWriteVersion = 1 | 2;

/** Namespace n's series go to shard n % shards (a namespace's pods are one target set, as hashing would spread them anyway). */
export function remoteWriteLoad(namespaces: number, rounds: number, seriesPerRequest: number, shardCount: number, startMs: number, otherPerNamespace = 0, version: RemoteWriteVersion = 1): RemoteWriteLoad {
  const encode = version === 2 ? encodeRequestV2 : encodeWriteRequest;
  const width = String(namespaces - 1).length;
  const names = Array.from({ length: namespaces }, (_, n) => `bookinfo-${String(n).padStart(width, '0')}`);
  const shards: Buffer[][] = Array.from({ length: shardCount }, () => []);
  let seriesPerRound = 0;
  for (let round = 0; round < rounds; round++) {
    const timestamp = startMs + round * SCRAPE_INTERVAL_MS;
    seriesPerRound = 0;
    for (let shard = 0; shard < shardCount; shard++) {
      const series = names
        .filter((_, n) => n % shardCount === shard)
        .flatMap((ns) => [
          ...namespaceSamples(ns, round).map((s) => ({ labels: { __name__: s.name, ...s.labels, ...targetLabels(s.labels) }, value: s.value, timestamp })),
          ...otherSeries(ns, otherPerNamespace).map((labels, i) => ({ labels, value: round * 10 + i, timestamp })),
        ]);
      seriesPerRound += series.length;
      for (let i = 0; i < series.length; i += seriesPerRequest) shards[shard]!.push(encode(series.slice(i, i + seriesPerRequest)));
    }
  }
  const expectedRequests = (rounds - 1) * names.reduce((sum, ns) => sum + increasePerRound(ns), 0);
  const all = shards.flat();
  return { version, shards, requests: all.length, seriesPerRound, rounds, samples: seriesPerRound * rounds, expectedRequests, edges: 7 * namespaces, bytes: all.reduce((sum, b) => sum + b.length, 0) };
}

/** The edges_1m rows meshlens writes for the load, through the receiver's own decoder and converter. */
export function remoteWriteEdgeRows(load: RemoteWriteLoad): { body: Buffer; rows: number; requests: number } {
  const converter = new PrometheusEdgeConverter({ maxSeries: 1e9 });
  const minutes = new EdgeMinutes();
  let requests = 0;
  // Round by round, as the shards' requests interleave.
  const order = load.shards.flatMap((requests, shard) => requests.map((body, i) => ({ body, at: i + shard / load.shards.length }))).sort((a, b) => a.at - b.at);
  for (const { body } of order) {
    const { samples } = load.version === 2 ? decodeRemoteWriteV2(body, 1 << 30) : decodeRemoteWrite(body, 1 << 30);
    const { increments } = converter.convert({ source: 'remote-write', samples, receivedAtMs: Date.now() });
    for (const increment of increments) requests += increment.requests;
    minutes.addIncrements(increments, 'prometheus');
  }
  const drained = minutes.drain();
  return { body: drained?.body ?? Buffer.alloc(0), rows: drained?.rows ?? 0, requests };
}

/**
 * Each shard POSTs its requests one after another over its keep-alive connection; every answer must be 204.
 * With `rounds`, each shard's requests are that many rounds of equal length, and `onRound` is called as
 * the last shard finishes each round.
 */
export async function writeAll(port: number, shards: Buffer[][], version: RemoteWriteVersion = 1, rounds = 1, onRound: (round: number) => void = () => {}): Promise<{ acknowledged: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: shards.length });
  const headers =
    version === 2
      ? { 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request', 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '2.0.0', 'user-agent': 'Prometheus/3.5.0' }
      : { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '0.1.0', 'user-agent': 'Prometheus/2.53.0' };
  const post = (body: Buffer) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/api/v1/write', method: 'POST', agent, headers: { ...headers, 'content-length': body.length } }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  let acknowledged = 0;
  const shardsDone = new Array<number>(rounds).fill(0);
  const sender = async (bodies: Buffer[]) => {
    const perRound = bodies.length / rounds;
    for (let i = 0; i < bodies.length; i++) {
      const { status, text } = await post(bodies[i]!);
      if (status !== 204) throw new Error(`POST /api/v1/write answered ${status}: ${text}`);
      acknowledged++;
      if ((i + 1) % perRound === 0 && ++shardsDone[(i + 1) / perRound - 1]! === shards.length) onRound((i + 1) / perRound - 1);
    }
  };
  await Promise.all(shards.map(sender));
  agent.destroy();
  return { acknowledged };
}

export interface RemoteWriteBenchOptions {
  namespaces: number;
  rounds: number;
  seriesPerRequest: number;
  concurrency: number;
  /** Series per namespace that no mesh rule reads (0: the Istio series only). */
  otherSeries: number;
  /** Remote-write protocol version of the requests (default 1). */
  version?: RemoteWriteVersion;
}

export function remoteWriteScenario<Row, Baseline>(kit: MeshBenchKit<Row, Baseline>, options: RemoteWriteBenchOptions): { name: string; run(work: string): Promise<Row[]> } {
  return {
    name: 'remote-write',
    async run(work) {
      // The rounds' timestamps end a minute ago, 15 s apart, as a Prometheus that has been scraping.
      const startMs = Date.now() - 60_000 - options.rounds * SCRAPE_INTERVAL_MS;
      const built = performance.now();
      const version = options.version ?? 1;
      const load = remoteWriteLoad(options.namespaces, options.rounds, options.seriesPerRequest, options.concurrency, startMs, options.otherSeries, version);
      kit.log(`remote-write ${version}.0: ${load.seriesPerRound.toLocaleString()} series (${options.namespaces} bookinfo namespaces, ${load.edges} edges; ${options.otherSeries} series per namespace no mesh rule reads) × ${load.rounds} rounds = ${load.samples.toLocaleString()} samples in ${load.requests} ${version === 2 ? 'v2 Requests' : 'WriteRequests'} of ≤ ${options.seriesPerRequest} series (${Math.round(load.bytes / load.requests / 1024)} KiB snappy each, ${(load.bytes / load.samples).toFixed(0)} B per sample); built in ${((performance.now() - built) / 1000).toFixed(1)} s`);

      const rows = remoteWriteEdgeRows(load);
      if (rows.requests !== load.expectedRequests) throw new Error(`baseline rows count ${rows.requests} requests, the load ${load.expectedRequests}`);
      const rowsFile = join(work, 'remote-write-edges.jsonl');
      writeFileSync(rowsFile, rows.body);
      const baseline = await kit.rawInsert(join(work, 'remote-write-raw'), rowsFile, 'edges_1m', load.samples, `its ${rows.rows} edges_1m rows`);

      kit.log(`remote-write: end to end, ${options.concurrency} shards (requests in flight)`);
      const httpPort = await freePort();
      const meshlens = await startMeshlens(join(work, 'remote-write-e2e'), {
        profileDir: kit.profileDir,
        env: { MESHLENS_SERVER_OTLP_HTTP_PORT: String(httpPort), MESHLENS_GRAPH_FLUSH_INTERVAL: '2s', MESHLENS_LIMITS_LABEL_CARDINALITY: String(Math.max(200_000, load.seriesPerRound * 2)) },
      });
      const queryUrl = `http://127.0.0.1:${meshlens.queryPort}`;
      // The first round is every series' first sight (a Prometheus starting to forward); the rest is what a
      // forwarding Prometheus sends from then on, timed apart.
      let firstRound = { atMs: 0, cpuSeconds: 0 };
      const measured = await measure(meshlens, () =>
        writeAll(httpPort, load.shards, version, load.rounds, (round) => {
          if (round === 0) firstRound = { atMs: performance.now(), cpuSeconds: processStats(meshlens.child.pid!).cpuSeconds };
        }),
      );
      const endCpuSeconds = processStats(meshlens.child.pid!).cpuSeconds;
      const steadySeconds = (performance.now() - firstRound.atMs) / 1000;
      const steadySamples = load.samples - load.seriesPerRound;
      const steady = { samplesPerSecond: Math.round(steadySamples / steadySeconds), cpuSecondsPer100k: Math.round(((endCpuSeconds - firstRound.cpuSeconds) / steadySamples) * 1e7) / 100, seconds: Math.round(steadySeconds * 100) / 100 };
      kit.log(`remote-write ${version}.0: first round (every series new) ${((measured.seconds - steadySeconds)).toFixed(2)} s; the ${load.rounds - 1} rounds after it: ${steady.samplesPerSecond.toLocaleString()} samples/s, ${steady.cpuSecondsPer100k} CPU s per 100k`);
      if (measured.result.acknowledged !== load.requests) throw new Error(`${measured.result.acknowledged} of ${load.requests} requests acknowledged`);

      const series = await ownMetric(queryUrl, 'meshlens_remote_write_series_total');
      const of = (result: string) => series.get(`{result="${result}"}`) ?? 0;
      let requests = 0;
      let edges: GraphEdge[] = [];
      for (let i = 0; i < 150 && requests !== load.expectedRequests; i++) {
        await new Promise((r) => setTimeout(r, 200));
        const response = await fetch(`${queryUrl}/api/v1/service-graph?signal=prometheus&start=${startMs - 3_600_000}&end=${Date.now() + 60_000}`);
        edges = ((await response.json()) as { edges: GraphEdge[] }).edges;
        requests = edges.reduce((sum, e) => sum + e.requests, 0);
      }
      await stopMeshlens(meshlens);
      if (of('received') !== load.samples) throw new Error(`meshlens_remote_write_series_total{result="received"} is ${of('received')}, sent ${load.samples}`);
      if (of('dropped') !== 0) throw new Error(`${of('dropped')} series dropped (label cardinality)`);
      if (requests !== load.expectedRequests) throw new Error(`the prometheus graph holds ${requests} requests, the load counts ${load.expectedRequests}`);
      return [
        kit.resultRow(`remote-write ${version}.0, ${options.seriesPerRequest} series/request, ${options.concurrency} in flight`, 'samples', load.samples, measured, [baseline],
          `${of('received')} samples received (/metrics: ${of('counted')} counted, ${of('baseline')} baseline, ${of('skipped')} skipped, 0 dropped), ${load.requests} × 204; graph edges sum to ${requests} requests = the load's increases`,
          {
            requests: load.requests, seriesPerRequest: options.seriesPerRequest, concurrency: options.concurrency, rounds: load.rounds, seriesPerRound: load.seriesPerRound, afterFirstRound: steady,
            bytesPerSample: Math.round(load.bytes / load.samples), version, edges: edges.length, target: REMOTE_WRITE_TARGET_SAMPLES_PER_SECOND,
          }),
      ];
    },
  };
}
