// Load for the StatsD receiver (bench:mesh): what App Mesh's Envoy sends through its dog_statsd sink
// (Envoy's default tag extraction + ENABLE_ENVOY_STATS_TAGS' appmesh.* tags), for a bookinfo-like mesh
// repeated over many namespaces (EKS virtual node names `<name>_<namespace>`), pre-built as datagrams of
// at most MAX_DATAGRAM_BYTES, and the worker threads that send them at a fixed offered rate.
//
// Every datagram has the same shape: the same number of lines and the same number of requests its
// per-code counters count (a call's whole flush — upstream_rq by code, upstream_rq_xx by class,
// upstream_rq_total, upstream_rq_time — sits in one datagram, so a datagram the kernel drops takes it
// whole). So the graph's request sum must be exactly (datagrams the receiver counted) ×
// requestsPerDatagram, and its metric lines (datagrams counted) × linesPerDatagram, whatever the kernel
// dropped before the collector.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { EdgeMinutes } from '../../collector/service-graph/edge-rows.ts';
import { StatsdAggregator } from '../../collector/statsd/aggregator.ts';
import { statsdIncrements } from '../../collector/statsd/edges.ts';
import { identifySender } from '../../collector/statsd/identity.ts';
import { parseLine } from '../../collector/statsd/line.ts';
import type { GraphEdge } from '../../query/service-graph.ts';
import { ownMetric } from '../helpers/meshlens.ts';
import { REPORT_MS } from '../../collector/receivers/statsd-readers.ts';
import { type Meshlens, type Measured, freePort, measure, processStats, startMeshlens, stopMeshlens } from './harness.ts';

/** A datagram's payload at most: DogStatsD clients' default for UDP (a 1,500-byte MTU less IP/UDP headers). */
export const MAX_DATAGRAM_BYTES = 1432;
const MESH = 'bookinfo-mesh';

/** Bookinfo's calls: caller virtual node → callee virtual nodes. */
const BOOKINFO_CALLS: Array<[string, string]> = [
  ['productpage-v1', 'details-v1'],
  ['productpage-v1', 'reviews-v1'],
  ['productpage-v1', 'reviews-v2'],
  ['productpage-v1', 'reviews-v3'],
  ['reviews-v2', 'ratings-v1'],
  ['reviews-v3', 'ratings-v1'],
];

export interface StatsdLoad {
  datagrams: Buffer[];
  linesPerDatagram: number;
  /** Requests the per-code upstream_rq counters of one datagram count (what the graph sums). */
  requestsPerDatagram: number;
  /** Distinct series the datagrams hold (sender + name + type + tags). */
  series: number;
  edges: number;
  bytes: number;
}

/** Requests each datagram's per-code counters count. */
const REQUESTS_PER_DATAGRAM = 5;

/**
 * Datagram `d`: one call's flush as Envoy's dog_statsd sink writes it (upstream_rq by code, upstream_rq_xx
 * by class, upstream_rq_total, an upstream_rq_time sample), then two more lines: every third datagram the
 * call's failures (a 503, by code and by class; one of each call's four datagrams), the others two of the caller's non-edge stats (its
 * listener aggregate, a gauge). Tagged lines are long (~190 B), so that is what fits in 1,432 bytes.
 */
function datagramLines(ns: string, from: string, to: string, d: number, failing: boolean): string[] {
  const proxy = `appmesh.mesh:${MESH},appmesh.virtual_node:${from}_${ns}`;
  const cluster = `envoy.cluster_name:cds_egress_${MESH}_${to}_${ns}_http_9080`;
  const ok = failing ? REQUESTS_PER_DATAGRAM - 1 : REQUESTS_PER_DATAGRAM;
  return [
    `envoy.cluster.upstream_rq:${ok}|c|#${proxy},${cluster},envoy.response_code:200`,
    `envoy.cluster.upstream_rq_xx:${ok}|c|#${proxy},${cluster},envoy.response_code_class:2`,
    `envoy.cluster.upstream_rq_total:${REQUESTS_PER_DATAGRAM}|c|#${proxy},${cluster}`,
    `envoy.cluster.upstream_rq_time:${2 + ((d * 37) % 400)}|ms|#${proxy},${cluster}`,
    ...(failing
      ? [`envoy.cluster.upstream_rq:1|c|#${proxy},${cluster},envoy.response_code:503`, `envoy.cluster.upstream_rq_xx:1|c|#${proxy},${cluster},envoy.response_code_class:5`]
      : [
          `envoy.http.downstream_rq_xx:${1 + (d % 9)}|c|#${proxy},envoy.http_conn_manager_prefix:ingress,envoy.response_code_class:2`,
          `envoy.cluster.membership_healthy:${1 + (d % 3)}|g|#${proxy},envoy.cluster_name:cds_ingress_${MESH}_${from}_${ns}_http_9080`,
        ]),
  ];
}

/** `namespaces` copies of bookinfo's six calls; each call in several datagrams (with and without failures). */
export function statsdLoad(namespaces: number): StatsdLoad {
  const width = String(namespaces - 1).length;
  const calls: Array<{ ns: string; from: string; to: string }> = [];
  for (let n = 0; n < namespaces; n++) {
    const ns = `bookinfo-${String(n).padStart(width, '0')}`;
    for (const [from, to] of BOOKINFO_CALLS) calls.push({ ns, from, to });
  }
  const datagrams: Buffer[] = [];
  const series = new Set<string>();
  // 4 datagrams per call, the calls interleaved: call c appears as datagram c, c + n, c + 2n, c + 3n.
  for (let d = 0; d < 4 * calls.length; d++) {
    const call = calls[d % calls.length]!;
    const lines = datagramLines(call.ns, call.from, call.to, d, Math.floor(d / calls.length) === 0);
    for (const line of lines) series.add(line.replace(/:[0-9]+\|/, '|'));
    const text = lines.join('\n');
    if (text.length > MAX_DATAGRAM_BYTES) throw new Error(`a datagram of ${text.length} bytes`);
    datagrams.push(Buffer.from(text));
  }
  return { datagrams, linesPerDatagram: 6, requestsPerDatagram: REQUESTS_PER_DATAGRAM, series: series.size, edges: calls.length, bytes: datagrams.reduce((sum, d) => sum + d.length, 0) };
}

/**
 * The edges_1m rows meshlens writes for `count` datagrams sent in turn, aggregated over `flushes`
 * intervals, through the receiver's own parser, aggregator and edge reader (for the raw-insert baseline).
 */
export function statsdEdgeRows(load: StatsdLoad, count: number, flushes: number): { body: Buffer; rows: number; requests: number } {
  const minutes = new EdgeMinutes();
  const perFlush = Math.ceil(count / flushes);
  let requests = 0;
  for (let start = 0; start < count; start += perFlush) {
    const aggregator = new StatsdAggregator({ maxSeries: 1e9 });
    for (let i = start; i < Math.min(count, start + perFlush); i++) {
      for (const line of load.datagrams[i % load.datagrams.length]!.toString().split('\n')) {
        const parsed = parseLine(line);
        if (parsed.kind === 'metric') aggregator.add(parsed.metric, '127.0.0.1');
      }
    }
    const increments = statsdIncrements(aggregator.drain(), (sender, tags) => identifySender(sender, tags, {}), BigInt(Date.now()) * 1_000_000n);
    for (const increment of increments) requests += increment.requests;
    minutes.addIncrements(increments, 'statsd');
  }
  const drained = minutes.drain();
  return { body: drained?.body ?? Buffer.alloc(0), rows: drained?.rows ?? 0, requests };
}

// ---- Sending at a fixed rate from worker threads ----

interface SenderData {
  port: number;
  datagrams: Buffer[];
  /** Datagrams per second this thread offers. */
  rate: number;
  seconds: number;
  /** Where in the datagram list this thread starts. */
  offset: number;
}

export interface Sent {
  /** Datagrams handed to the kernel without error. */
  datagrams: number;
  /** Send errors (e.g. ENOBUFS): never reached the socket. */
  errors: number;
  seconds: number;
}

/**
 * A sender thread: paced sends on a connected socket, checked every millisecond against the clock, never
 * more than 10 ms' worth at once nor an unbounded queue in libuv. Plain JavaScript evaluated in the worker
 * (a worker thread on Node 20 does not get tsx's loader for a .ts entry).
 */
const SENDER_SOURCE = `
const { parentPort, workerData: data } = require('node:worker_threads');
const { createSocket } = require('node:dgram');
const socket = createSocket('udp4');
socket.connect(data.port, '127.0.0.1', async () => {
  let offered = 0, sent = 0, errors = 0, pending = 0, next = data.offset;
  const done = (error) => { pending--; if (error) errors++; else sent++; };
  const started = performance.now();
  for (;;) {
    const elapsed = (performance.now() - started) / 1000;
    if (elapsed >= data.seconds) break;
    const due = Math.min(Math.floor(elapsed * data.rate) - offered, Math.max(1, data.rate / 100));
    for (let i = 0; i < due && pending < 4096; i++) {
      pending++;
      offered++;
      socket.send(data.datagrams[next], done);
      next = next + 1 === data.datagrams.length ? 0 : next + 1;
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  while (pending > 0) await new Promise((r) => setTimeout(r, 1));
  socket.close();
  parentPort.postMessage({ datagrams: sent, errors });
});
`;

/** Offers `datagramsPerSecond` over `threads` worker threads for `seconds`. */
export async function sendAtRate(port: number, load: StatsdLoad, datagramsPerSecond: number, seconds: number, threads: number): Promise<Sent> {
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: threads }, (_, t) => {
      const data: SenderData = { port, datagrams: load.datagrams, rate: datagramsPerSecond / threads, seconds, offset: Math.floor((t * load.datagrams.length) / threads) };
      const worker = new Worker(SENDER_SOURCE, { eval: true, workerData: data });
      return new Promise<Omit<Sent, 'seconds'>>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.once('exit', (code) => code !== 0 && reject(new Error(`StatsD sender exited ${code}`)));
      });
    }),
  );
  return { datagrams: results.reduce((sum, r) => sum + r.datagrams, 0), errors: results.reduce((sum, r) => sum + r.errors, 0), seconds: (performance.now() - started) / 1000 };
}

// ---- Kernel-side drops ----

/** /proc/net/snmp's Udp InErrors and RcvbufErrors (the whole network namespace: other work counts too). */
export function udpKernelErrors(): { inErrors: number; rcvbufErrors: number } {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((line) => line.startsWith('Udp: '));
  const names = lines[0]!.split(/\s+/);
  const values = lines[1]!.split(/\s+/).map(Number);
  return { inErrors: values[names.indexOf('InErrors')]!, rcvbufErrors: values[names.indexOf('RcvbufErrors')]! };
}

/** One UDP socket's drop counter and receive queue from /proc/net/udp, by local port (127.0.0.1). */
export function udpSocketStats(port: number): { drops: number; rxQueueBytes: number } | undefined {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] === local) return { drops: Number(fields[12]), rxQueueBytes: parseInt(fields[4]!.split(':')[1]!, 16) };
  }
  return undefined;
}

/** The socket's receive buffer as granted (`ss -m`: skmem rb), if ss is there. */
function socketReceiveBuffer(port: number): number | undefined {
  try {
    const out = execFileSync('ss', ['-uamnH', 'sport', '=', `:${port}`], { encoding: 'utf8' });
    const rb = /\brb([0-9]+)/.exec(out)?.[1];
    return rb === undefined ? undefined : Number(rb);
  } catch {
    return undefined;
  }
}

// ---- The scenario ----

/** What mesh.ts lends a scenario kept in its own file: its row, its raw-insert baseline, its log. */
export interface MeshBenchKit<Row, Baseline> {
  log(message: string): void;
  resultRow(scenario: string, unit: string, sent: number, m: Measured<unknown>, baselines: Baseline[], verified: string, details: Record<string, unknown>): Row;
  rawInsert(dir: string, rowsFile: string, table: string, items: number, what: string): Promise<Baseline>;
  profileDir: string | undefined;
}

export interface StatsdBenchOptions {
  /** Offered lines per second, one step each, in order. */
  rates: number[];
  stepSeconds: number;
  namespaces: number;
  /** Sender threads. */
  threads: number;
  /** meshlens' statsd.udp_readers. */
  readers: number;
  /** meshlens' statsd.udp_receive_buffer. */
  receiveBuffer: string;
}

/** The issue-5 target: StatsD lines per second over UDP with no loss inside the collector. */
export const STATSD_TARGET_LINES_PER_SECOND = 500_000;

const sumOf = (values: Map<string, number>, match: string) => [...values].filter(([labels]) => labels.includes(match)).reduce((sum, [, v]) => sum + v, 0);

interface ReceiverCounts {
  datagrams: number;
  /** Lines aggregated (`metric`) plus lines counted and skipped unread as no edge stat (`ignored`). */
  metricLines: number;
  /** Of those, the skipped ones. */
  ignored: number;
  /** Every line the receiver counted, whatever became of it. */
  lines: number;
  dropped: number;
  malformed: number;
}

async function receiverCounts(queryUrl: string): Promise<ReceiverCounts> {
  const lines = await ownMetric(queryUrl, 'meshlens_statsd_lines_total');
  const udp = 'receiver="statsd-udp"';
  const of = (result: string) => [...lines].filter(([l]) => l.includes(udp) && l.includes(`result="${result}"`)).reduce((sum, [, v]) => sum + v, 0);
  return {
    datagrams: sumOf(await ownMetric(queryUrl, 'meshlens_statsd_packets_total'), udp),
    metricLines: of('metric') + of('ignored'),
    ignored: of('ignored'),
    lines: sumOf(lines, udp),
    dropped: of('dropped'),
    malformed: of('malformed'),
  };
}

/**
 * Waits until the socket's receive queue is empty and the receiver's datagram count has stood still for
 * longer than UDP reader processes take to report theirs (REPORT_MS). Returns when it last moved (within
 * the 100 ms it is polled at): the end of the reading.
 */
async function drained(queryUrl: string, port: number): Promise<number> {
  let last = -1;
  let stillSinceMs = Date.now();
  for (let i = 0; i < 600; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const queued = udpSocketStats(port)?.rxQueueBytes ?? 0;
    const datagrams = (await receiverCounts(queryUrl)).datagrams;
    if (queued !== 0 || datagrams !== last) stillSinceMs = Date.now();
    else if (Date.now() - stillSinceMs > 2 * REPORT_MS) return stillSinceMs;
    last = datagrams;
  }
  throw new Error('the StatsD socket did not drain within 60 s');
}

export function statsdScenario<Row, Baseline>(kit: MeshBenchKit<Row, Baseline>, options: StatsdBenchOptions): { name: string; run(work: string): Promise<Row[]> } {
  return {
    name: 'statsd',
    async run(work) {
      const load = statsdLoad(options.namespaces);
      kit.log(`statsd: ${load.datagrams.length} distinct datagrams of ${load.linesPerDatagram} lines (${Math.round(load.bytes / load.datagrams.length)} B, ${Math.round(load.bytes / load.datagrams.length / load.linesPerDatagram)} B per line, ${load.requestsPerDatagram} requests counted each), ${load.series.toLocaleString()} series, ${load.edges} edges; steps ${options.rates.map((r) => `${r / 1000}k`).join(', ')} lines/s × ${options.stepSeconds} s, ${options.threads} sender threads, ${options.readers} UDP reader process${options.readers === 1 ? ' (the collector itself)' : 'es'}`);
      const port = await freePort();
      const dataDir = join(work, 'statsd-e2e');
      const meshlens: Meshlens = await startMeshlens(dataDir, {
        profileDir: kit.profileDir,
        env: { MESHLENS_SERVER_STATSD_PORT: String(port), MESHLENS_STATSD_FLUSH_INTERVAL: '1s', MESHLENS_STATSD_UDP_READERS: String(options.readers), MESHLENS_STATSD_UDP_RECEIVE_BUFFER: options.receiveBuffer, MESHLENS_GRAPH_FLUSH_INTERVAL: '2s' },
      });
      const queryUrl = `http://127.0.0.1:${meshlens.queryPort}`;
      if (udpSocketStats(port) === undefined) throw new Error(`meshlens does not listen on 127.0.0.1:${port}/udp`);
      const receiveBufferBytes = socketReceiveBuffer(port);
      kit.log(`statsd: the receiver's UDP socket has a ${receiveBufferBytes === undefined ? '(unknown)' : `${(receiveBufferBytes / 1048576).toFixed(1)} MiB`} receive buffer (SO_RCVBUF as the kernel granted it; net.core.rmem_max ${readFileSync('/proc/sys/net/core/rmem_max', 'utf8').trim()})`);
      const startedMs = Date.now();
      const steps: Array<{ rate: number; sent: Sent; measured: Measured<Sent & { drainSeconds: number }>; counts: ReceiverCounts; socketDrops: number; snmp: { inErrors: number; rcvbufErrors: number } }> = [];
      let totalDatagrams = 0;
      for (const rate of options.rates) {
        const before = await receiverCounts(queryUrl);
        const socketBefore = udpSocketStats(port)!.drops;
        const snmpBefore = udpKernelErrors();
        const datagramsPerSecond = rate / load.linesPerDatagram;
        const measured = await measure(meshlens, async () => {
          const sent = await sendAtRate(port, load, datagramsPerSecond, options.stepSeconds, options.threads);
          const sendEndMs = Date.now();
          const drainSeconds = Math.max(0, (await drained(queryUrl, port)) - sendEndMs) / 1000;
          return { ...sent, drainSeconds };
        });
        const after = await receiverCounts(queryUrl);
        const snmpAfter = udpKernelErrors();
        const counts: ReceiverCounts = {
          datagrams: after.datagrams - before.datagrams, metricLines: after.metricLines - before.metricLines, ignored: after.ignored - before.ignored, lines: after.lines - before.lines,
          dropped: after.dropped - before.dropped, malformed: after.malformed - before.malformed,
        };
        const step = {
          rate, sent: measured.result, measured, counts, socketDrops: udpSocketStats(port)!.drops - socketBefore,
          snmp: { inErrors: snmpAfter.inErrors - snmpBefore.inErrors, rcvbufErrors: snmpAfter.rcvbufErrors - snmpBefore.rcvbufErrors },
        };
        steps.push(step);
        totalDatagrams += counts.datagrams;
        const lost = measured.result.datagrams - counts.datagrams;
        kit.log(`statsd: offered ${rate.toLocaleString()} lines/s: sent ${(measured.result.datagrams * load.linesPerDatagram / measured.result.seconds / 1000).toFixed(0)}k lines/s, the collector took ${counts.metricLines.toLocaleString()} lines (${counts.ignored.toLocaleString()} of them ignored as no edge stat; ${(counts.metricLines / (measured.result.seconds + measured.result.drainSeconds) / 1000).toFixed(0)}k/s over the ${measured.result.seconds.toFixed(1)} s of sending and the ${measured.result.drainSeconds.toFixed(1)} s the socket took to drain after), kernel dropped ${lost} of ${measured.result.datagrams} datagrams (socket drops ${step.socketDrops}, snmp RcvbufErrors ${step.snmp.rcvbufErrors}), in-collector: ${counts.dropped} dropped, ${counts.malformed} malformed; CPU ${measured.cpuSeconds.toFixed(1)} s, peak RSS ${measured.peakRssMiB.toFixed(0)} MiB`);
        // Past saturation the kernel drops most of what comes: more steps tell nothing new.
        if (lost > 0.5 * measured.result.datagrams) break;
      }

      // The graph: every request the datagrams that reached the collector counted.
      const expected = totalDatagrams * load.requestsPerDatagram;
      let requests = 0;
      let edges: GraphEdge[] = [];
      for (let i = 0; i < 150 && requests !== expected; i++) {
        await new Promise((r) => setTimeout(r, 200));
        const response = await fetch(`${queryUrl}/api/v1/service-graph?signal=statsd&start=${startedMs - 3_600_000}&end=${Date.now() + 60_000}`);
        edges = ((await response.json()) as { edges: GraphEdge[] }).edges;
        requests = edges.reduce((sum, e) => sum + e.requests, 0);
      }
      const peakRssMiB = processStats(meshlens.child.pid!).peakRssMiB;
      await stopMeshlens(meshlens);
      if (requests !== expected) throw new Error(`the statsd graph holds ${requests} requests; the ${totalDatagrams} datagrams the collector counted carry ${expected}`);
      if (edges.length !== load.edges) throw new Error(`the statsd graph has ${edges.length} edges, the load ${load.edges}`);

      // Baseline: the edges_1m rows those datagrams make (one flush a second, as run here).
      const seconds = steps.reduce((sum, s) => sum + s.measured.seconds, 0);
      const rows = statsdEdgeRows(load, totalDatagrams, Math.max(1, Math.round(seconds)));
      if (rows.requests !== expected) throw new Error(`baseline rows count ${rows.requests} requests, expected ${expected}`);
      const rowsFile = join(work, 'statsd-edges.jsonl');
      writeFileSync(rowsFile, rows.body);
      const baseline = await kit.rawInsert(join(work, 'statsd-raw'), rowsFile, 'edges_1m', totalDatagrams * load.linesPerDatagram, `its ${rows.rows} edges_1m rows`);

      return steps.map((step) => {
        const reached = step.counts.datagrams;
        const inCollectorLoss = reached * load.linesPerDatagram - step.counts.metricLines;
        const kernelLoss = step.sent.datagrams - reached;
        if (inCollectorLoss !== 0 || step.counts.dropped !== 0 || step.counts.malformed !== 0) {
          kit.log(`statsd: LOSS INSIDE THE COLLECTOR at ${step.rate} lines/s: ${inCollectorLoss} lines, ${step.counts.dropped} dropped, ${step.counts.malformed} malformed`);
        }
        return kit.resultRow(`statsd UDP, ${step.rate / 1000}k lines/s offered`, 'lines', step.counts.metricLines, step.measured, [baseline],
          `${reached} datagrams counted × ${load.linesPerDatagram} = ${step.counts.metricLines} metric lines taken (${step.counts.ignored} of them ignored as no edge stat; ${step.counts.dropped} dropped, ${step.counts.malformed} malformed); kernel dropped ${kernelLoss} of ${step.sent.datagrams} sent (socket drops ${step.socketDrops}); graph (whole run): ${requests} requests = ${totalDatagrams} datagrams × ${load.requestsPerDatagram}`,
          {
            offeredLinesPerSecond: step.rate, sentLinesPerSecond: Math.round((step.sent.datagrams * load.linesPerDatagram) / step.sent.seconds), sendErrors: step.sent.errors,
            takenLinesPerSecond: Math.round(step.counts.metricLines / (step.measured.result.seconds + step.measured.result.drainSeconds)), drainSeconds: step.measured.result.drainSeconds,
            datagramsSent: step.sent.datagrams, datagramsCounted: reached, kernelDroppedDatagrams: kernelLoss, socketDrops: step.socketDrops, snmpUdp: step.snmp,
            inCollectorLostLines: inCollectorLoss, linesPerDatagram: load.linesPerDatagram, series: load.series, edges: load.edges, target: STATSD_TARGET_LINES_PER_SECOND,
            endToEndPeakRssMiB: Math.round(peakRssMiB), receiveBufferBytes,
          });
      });
    },
  };
}
