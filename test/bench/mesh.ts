// npm run bench:mesh — the mesh receivers end to end against a real meshlens process, each against a raw
// chDB insert of the same rows in the same run. A list of scenarios; each starts its own meshlens (so peak
// RSS is its own), pushes pre-built load, counts what the server acknowledged, then checks that what was
// acknowledged arrived, so a figure cannot be inflated by dropped data.
//
//   --only a,b         scenarios to run (default: all): als, zipkin, statsd, remote-write, scrape
//   --entries N        access-log entries per ALS run (default 1,000,000)
//   --streams N        streams of the many-streams ALS run (default 16; the other run uses one)
//   --spans N          Zipkin spans (default 500,000)
//   --request-spans N  spans per Zipkin request (default 1,000, as bench:ingest's OTLP requests)
//   --concurrency N    Zipkin requests in flight (default 64, as bench:ingest)
//   --statsd-rates L   StatsD offered lines/s, one step each (default 25000,50000,100000,200000,300000,500000);
//                      steps stop once the kernel drops > 50 % (the collector is saturated)
//   --statsd-seconds N seconds per StatsD step (default 5)
//   --statsd-namespaces N  bookinfo copies in the StatsD load (default 100: 600 edges)
//   --statsd-threads N UDP sender threads (default 2)
//   --statsd-readers N meshlens' statsd.udp_readers (default 1: the collector reads the socket itself)
//   --statsd-receive-buffer S  meshlens' statsd.udp_receive_buffer (default 8MiB; the kernel caps it at
//                      net.core.rmem_max, doubled)
//   --rw-namespaces N  bookinfo copies in the remote-write load (default 100, 329 Istio series each)
//   --rw-rounds N      remote-write rounds of every series (default 6: a baseline, then 5 increases)
//   --rw-series N      series (1 sample each) per WriteRequest (default 2,000, Prometheus' max_samples_per_send)
//   --rw-concurrency N remote-write shards, each one request at a time (default 4)
//   --rw-other N       series per namespace that no mesh rule reads (cAdvisor, kube-state-metrics, Envoy's own
//                      stats: most of what remote-write carries; default 0, the Istio series only)
//   --rw-version N     remote-write protocol: 1 (prometheus.WriteRequest, default) or 2 (io.prometheus.write.v2.Request)
//   --scrape-targets N scrape targets (default 1,000), each a pod's Istio sidecar
//   --scrape-series N  series per target (default 2,000)
//   --scrape-intervals N  intervals measured after the first (baseline) one (default 2)
//   --scrape-interval S   scrape.interval in seconds (default 15)
//   --profile DIR      write V8 CPU profiles of the meshlens processes into DIR
//   --json FILE        write the full results as JSON
//
// To add a scenario: a Scenario in SCENARIOS whose run() returns rows. StatsD, remote write and scrapes
// keep their load and checks in their own files (statsd-load.ts, remote-write-load.ts, scrape-load.ts) and
// get resultRow/rawInsert through `kit`.
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { encodeSpanRow } from '../../collector/span-rows.ts';
import { convertZipkinV2Json } from '../../collector/zipkin/v2-json.ts';
import type { GraphEdge } from '../../query/service-graph.ts';
import { ownMetric } from '../helpers/meshlens.ts';
import { type StreamPlan, alsClient, baselineRows, buildPools, planStreams, planTotals, pushStream } from './als-load.ts';
import { type Measured, NO_TRACE_LIMITS, measure, meshlensSql, startMeshlens, stopMeshlens, worker } from './harness.ts';
import { postAll, zipkinBodies } from './zipkin-load.ts';
import { statsdScenario } from './statsd-load.ts';
import { remoteWriteScenario } from './remote-write-load.ts';
import { scrapeScenario } from './scrape-load.ts';

const { values: opts } = parseArgs({
  options: {
    only: { type: 'string' },
    entries: { type: 'string', default: '1000000' },
    streams: { type: 'string', default: '16' },
    spans: { type: 'string', default: '500000' },
    'request-spans': { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '64' },
    'statsd-rates': { type: 'string', default: '25000,50000,100000,200000,300000,500000' },
    'statsd-seconds': { type: 'string', default: '5' },
    'statsd-namespaces': { type: 'string', default: '100' },
    'statsd-threads': { type: 'string', default: '2' },
    'statsd-readers': { type: 'string', default: '1' },
    'statsd-receive-buffer': { type: 'string', default: '8MiB' },
    'rw-namespaces': { type: 'string', default: '100' },
    'rw-rounds': { type: 'string', default: '6' },
    'rw-series': { type: 'string', default: '2000' },
    'rw-concurrency': { type: 'string', default: '4' },
    'rw-other': { type: 'string', default: '0' },
    'rw-version': { type: 'string', default: '1' },
    'scrape-targets': { type: 'string', default: '1000' },
    'scrape-series': { type: 'string', default: '2000' },
    'scrape-intervals': { type: 'string', default: '2' },
    'scrape-interval': { type: 'string', default: '15' },
    profile: { type: 'string' },
    json: { type: 'string' },
  },
});
const log = (message: string) => process.stderr.write(`[bench:mesh] ${message}\n`);

/** The ingest target of issue 4 for both receivers: ≥ 100k entries or spans per second. */
const TARGET_PER_SECOND = 100_000;

interface Baseline {
  /** What was inserted, e.g. "edges_1m rows meshlens writes". */
  what: string;
  rows: number;
  seconds: number;
  /** The scenario's items (entries, spans) per second of the insert: comparable with the end-to-end rate. */
  itemsPerSecond: number;
}

interface ResultRow {
  scenario: string;
  unit: string;
  sent: number;
  seconds: number;
  /** Acknowledged and found stored, per second of sending. */
  perSecond: number;
  cpuSeconds: number;
  cpuSecondsPer100k: number;
  peakRssMiB: number;
  /** The load generator's CPU over the same time (it shares the cores). */
  clientCpuSeconds: number;
  baselines: Baseline[];
  /** How arrival was checked. */
  verified: string;
  /** The machine's 1-minute load average when sending ended: other work on the same cores. */
  loadAverage: number;
  details: Record<string, unknown>;
}

interface Scenario {
  name: string;
  run(work: string): Promise<ResultRow[]>;
}

function resultRow(scenario: string, unit: string, sent: number, m: Measured<unknown>, baselines: Baseline[], verified: string, details: Record<string, unknown>): ResultRow {
  return {
    scenario, unit, sent, seconds: round(m.seconds, 2), perSecond: Math.round(sent / m.seconds),
    cpuSeconds: round(m.cpuSeconds, 2), cpuSecondsPer100k: round((m.cpuSeconds / sent) * 100_000, 2), peakRssMiB: Math.round(m.peakRssMiB),
    clientCpuSeconds: round(m.clientCpuSeconds, 2), baselines, verified, loadAverage: round(loadavg()[0]!, 1), details,
  };
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

async function rawInsert(dir: string, rowsFile: string, table: string, items: number, what: string): Promise<Baseline> {
  const raw = (await worker('raw-insert', dir, rowsFile, '20000', table)) as { rows: number; seconds: number };
  return { what, rows: raw.rows, seconds: round(raw.seconds, 3), itemsPerSecond: Math.round(items / raw.seconds) };
}

// ---- Envoy access-log service ----

const ENTRIES = Number(opts.entries);
const STREAMS = Number(opts.streams);

async function alsRun(work: string, pools: ReturnType<typeof buildPools>, streams: number): Promise<ResultRow> {
  const label = `als, ${streams} stream${streams === 1 ? '' : 's'}`;
  const plans: StreamPlan[] = planStreams(pools, streams, ENTRIES);
  const totals = planTotals(plans);
  log(`${label}: ${totals.entries.toLocaleString()} entries in ${totals.messages.toLocaleString()} messages (${Math.round(totals.bytes / totals.messages)} B per message, ${Math.round(totals.bytes / totals.entries)} B per entry), ${totals.counted.toLocaleString()} of them counted on an edge`);

  // Baselines: the per-minute edge rows meshlens derives and writes, and one row per entry.
  const dir = join(work, `als-${streams}`);
  const entryFile = join(work, `als-${streams}-entries.jsonl`);
  const fd = openSync(entryFile, 'w');
  const rows = baselineRows(plans, (text) => writeSync(fd, text));
  closeSync(fd);
  if (rows.entryRows !== totals.entries) throw new Error(`${rows.entryRows} entry rows for ${totals.entries} entries`);
  const edgeFile = join(work, `als-${streams}-edges.jsonl`);
  writeFileSync(edgeFile, rows.edgeRows);
  log(`${label}: baselines — raw chDB insert of the ${rows.edgeRowCount} edges_1m rows meshlens writes, and of ${rows.entryRows.toLocaleString()} rows (one per entry) into a MergeTree`);
  const edgeBaseline = await rawInsert(join(dir, 'raw-edges'), edgeFile, 'edges_1m', totals.entries, `its ${rows.edgeRowCount} edges_1m rows`);
  const entryBaseline = await rawInsert(join(dir, 'raw-entries'), entryFile, 'als_entries', totals.entries, 'a row per entry (MergeTree)');
  rmSync(entryFile);

  // End to end: gRPC streams → meshlens, acknowledged when each stream is answered OK.
  log(`${label}: end to end`);
  const meshlens = await startMeshlens(join(dir, 'e2e'), { profileDir: opts.profile, env: { MESHLENS_GRAPH_FLUSH_INTERVAL: '2s' } });
  const address = `127.0.0.1:${meshlens.grpcPort}`;
  const clients = plans.map(() => alsClient(address));
  const startedMs = Date.now();
  const measured = await measure(meshlens, async () => (await Promise.all(plans.map((plan, i) => pushStream(clients[i]!, plan)))).reduce((a, b) => a + b, 0));
  for (const client of clients) client.close();
  if (measured.result !== totals.entries) throw new Error(`acknowledged ${measured.result} entries, planned ${totals.entries}`);

  // Arrival: the receiver's count, and the requests on the graph's edges once written (every flush interval).
  const queryUrl = `http://127.0.0.1:${meshlens.queryPort}`;
  const received = [...(await ownMetric(queryUrl, 'meshlens_envoy_als_entries_total')).entries()].filter(([labels]) => labels.includes('result="received"')).reduce((sum, [, value]) => sum + value, 0);
  let requests = 0;
  let edges: GraphEdge[] = [];
  for (let i = 0; i < 150 && requests !== totals.counted; i++) {
    await new Promise((r) => setTimeout(r, 200));
    const response = await fetch(`${queryUrl}/api/v1/service-graph?signal=envoy-als&start=${startedMs - 3_600_000}&end=${Date.now() + 60_000}`);
    edges = ((await response.json()) as { edges: GraphEdge[] }).edges;
    requests = edges.reduce((sum, e) => sum + e.requests, 0);
  }
  await stopMeshlens(meshlens);
  if (received !== totals.entries) throw new Error(`meshlens_envoy_als_entries_total{result="received"} is ${received}, sent ${totals.entries}`);
  if (requests !== totals.counted) throw new Error(`the envoy-als graph holds ${requests} requests, the entries sent count ${totals.counted}`);
  return resultRow(label, 'entries', totals.entries, measured, [edgeBaseline, entryBaseline], `${received} received (/metrics); graph edges sum to ${requests} requests = the ${totals.counted} counted entries`, {
    streams, messages: totals.messages, bytesPerEntry: Math.round(totals.bytes / totals.entries), countedEntries: totals.counted, edges: edges.length,
  });
}

const als: Scenario = {
  name: 'als',
  async run(work) {
    const encoder = alsClient('127.0.0.1:9');
    const pools = buildPools(encoder.encode, Date.now() - 30_000);
    encoder.close();
    return [await alsRun(work, pools, 1), await alsRun(work, pools, STREAMS)];
  },
};

// ---- Zipkin ----

const SPANS = Number(opts.spans);
const PER_REQUEST = Number(opts['request-spans']);
const CONCURRENCY = Number(opts.concurrency);

const zipkin: Scenario = {
  name: 'zipkin',
  async run(work) {
    log(`zipkin: building ${SPANS.toLocaleString()} spans as v2 JSON bodies of ${PER_REQUEST}`);
    const { bodies, spans } = zipkinBodies(SPANS, PER_REQUEST, BigInt(Date.now() - 10 * 60_000) * 1_000_000n);
    const bytes = bodies.reduce((sum, b) => sum + b.length, 0);
    // The exact rows meshlens will write, for the raw-insert baseline (as bench:ingest does for OTLP).
    const rowsFile = join(work, 'zipkin-rows.jsonl');
    const fd = openSync(rowsFile, 'w');
    let rows = 0;
    for (const body of bodies) {
      const converted = convertZipkinV2Json(body, NO_TRACE_LIMITS);
      let text = '';
      for (const span of converted.spans) text += encodeSpanRow(span);
      writeSync(fd, text);
      rows += converted.spans.length;
    }
    closeSync(fd);
    if (rows !== spans) throw new Error(`${rows} rows from ${spans} spans`);
    log(`zipkin: ${spans.toLocaleString()} spans, ${Math.round(bytes / spans)} B per span; baseline: raw chDB insert of the same rows`);
    const baseline = await rawInsert(join(work, 'zipkin-raw'), rowsFile, 'spans_ingest', spans, 'the same span rows');
    rmSync(rowsFile);

    log(`zipkin: end to end, ${bodies.length} POST /api/v2/spans, ${CONCURRENCY} in flight (service graph off, as bench:ingest's headline)`);
    const dataDir = join(work, 'zipkin-e2e');
    const meshlens = await startMeshlens(dataDir, { graph: false, profileDir: opts.profile });
    const measured = await measure(meshlens, () => postAll(meshlens.zipkinPort, bodies, CONCURRENCY));
    await stopMeshlens(meshlens);
    const [stored] = await meshlensSql<{ spans: string }>(dataDir, 'SELECT count() AS spans FROM spans');
    if (Number(stored?.spans) !== spans) throw new Error(`stored ${stored?.spans} spans, sent ${spans}`);
    return [
      resultRow('zipkin v2 JSON', 'spans', spans, measured, [baseline], `${stored!.spans} rows in spans (meshlens sql) = spans sent`, {
        requests: bodies.length, spansPerRequest: PER_REQUEST, concurrency: CONCURRENCY, bytesPerSpan: Math.round(bytes / spans), retries: measured.result.retries,
      }),
    ];
  },
};

// ---- StatsD, remote write, scrapes (their load and checks in statsd-load.ts, …) ----

const kit = { log, resultRow, rawInsert, profileDir: opts.profile };
const statsd: Scenario = statsdScenario(kit, {
  rates: opts['statsd-rates'].split(',').map(Number), stepSeconds: Number(opts['statsd-seconds']), namespaces: Number(opts['statsd-namespaces']), threads: Number(opts['statsd-threads']), readers: Number(opts['statsd-readers']), receiveBuffer: opts['statsd-receive-buffer'],
});

const remoteWrite: Scenario = remoteWriteScenario(kit, {
  namespaces: Number(opts['rw-namespaces']), rounds: Number(opts['rw-rounds']), seriesPerRequest: Number(opts['rw-series']), concurrency: Number(opts['rw-concurrency']), otherSeries: Number(opts['rw-other']),
  version: opts['rw-version'] === '2' ? 2 : 1,
});

const scrape: Scenario = scrapeScenario(kit, {
  targets: Number(opts['scrape-targets']), seriesPerTarget: Number(opts['scrape-series']), namespaces: 10, intervals: Number(opts['scrape-intervals']), intervalSeconds: Number(opts['scrape-interval']),
});

const SCENARIOS: Scenario[] = [als, zipkin, statsd, remoteWrite, scrape];

// ---- Running and the summary ----

function table(rows: ResultRow[]): string {
  const k = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : n.toLocaleString());
  const header = ['scenario', 'sent', 'meshlens /s', 'of target', 'raw chDB insert, same run (items/s)', 'CPU s (per 100k)', 'peak RSS MiB', 'load-gen CPU s', 'load avg'];
  const lines = rows.map((r) => [
    r.scenario,
    `${k(r.sent)} ${r.unit}`,
    k(r.perSecond),
    `${Math.round((r.perSecond / (typeof r.details.target === 'number' ? r.details.target : TARGET_PER_SECOND)) * 100)} %`,
    r.baselines.map((b) => `${k(b.itemsPerSecond)}: ${b.what}`).join('; '),
    `${r.cpuSeconds} (${r.cpuSecondsPer100k})`,
    String(r.peakRssMiB),
    String(r.clientCpuSeconds),
    String(r.loadAverage),
  ]);
  const all = [header, ...lines];
  const widths = header.map((_, c) => Math.max(...all.map((line) => line[c]!.length)));
  const format = (line: string[]) => `| ${line.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`;
  return [format(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(format)].join('\n');
}

async function main(): Promise<void> {
  const only = opts.only?.split(',').map((name) => name.trim()).filter((name) => name !== '');
  for (const name of only ?? []) {
    if (!SCENARIOS.some((s) => s.name === name)) throw new Error(`--only ${name}: no such scenario (${SCENARIOS.map((s) => s.name).join(', ')})`);
  }
  const chosen = SCENARIOS.filter((s) => only === undefined || only.includes(s.name));
  const work = mkdtempSync(join(tmpdir(), 'meshlens-bench-mesh-'));
  const results: ResultRow[] = [];
  try {
    for (const scenario of chosen) {
      for (const row of await scenario.run(work)) {
        results.push(row);
        log(`${row.scenario}: ${JSON.stringify(row)}`);
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  if (opts.json) writeFileSync(opts.json, `${JSON.stringify({ date: new Date().toISOString(), targetPerSecond: TARGET_PER_SECOND, results }, null, 2)}\n`);
  console.log(table(results));
  for (const r of results) console.log(`${r.scenario}: verified ${r.verified}`);
}

await main();
