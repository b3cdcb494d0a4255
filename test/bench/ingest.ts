// npm run bench:ingest — end-to-end OTLP/gRPC ingest into a real meshlens, against raw chDB insert
// of the same rows in the same run; then trace-by-id and search latency over a large span table.
//
//   --spans N          spans sent end to end (default 1,000,000; 0 skips the ingest part)
//   --request-spans N  spans per OTLP request (default 1,000)
//   --concurrency N    requests in flight (default 64: many proxies at once, as the documented figures)
//   --query-spans N    spans in the table for the query-latency part (default 10,000,000; 0 skips it)
//   --profile DIR      write a V8 CPU profile of the meshlens process into DIR (open it in Chrome DevTools)
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { convertTraceProto } from '../../collector/otlp/traces-proto.ts';
import { encodeSpanRow } from '../../collector/span-rows.ts';
import { NO_TRACE_LIMITS, measure, startMeshlens, stopMeshlens, timed, worker } from './harness.ts';
import { meshSpans } from './mesh-spans.ts';

const { values: opts } = parseArgs({
  options: {
    spans: { type: 'string', default: '1000000' },
    'request-spans': { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '64' },
    'query-spans': { type: 'string', default: '10000000' },
    profile: { type: 'string' },
  },
});
const TOTAL = Number(opts.spans);
const PER_REQUEST = Number(opts['request-spans']);
const CONCURRENCY = Number(opts.concurrency);
const QUERY_SPANS = Number(opts['query-spans']);
const log = (message: string) => process.stderr.write(`[bench:ingest] ${message}\n`);

const identity = (b: Buffer) => b;

/** meshlens_graph_busy_seconds_total of a running meshlens. */
async function graphBusy(queryPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${queryPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('meshlens_graph_busy_seconds_total '));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

async function sendAll(grpcPort: number, payloads: Buffer[]): Promise<number> {
  const client = new grpc.Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 64 << 20 });
  let next = 0;
  let retries = 0;
  const call = (body: Buffer) =>
    new Promise<void>((resolve, reject) => {
      client.makeUnaryRequest('/opentelemetry.proto.collector.trace.v1.TraceService/Export', identity, identity, body, (error) => (error ? reject(error) : resolve()));
    });
  const sender = async () => {
    while (next < payloads.length) {
      const body = payloads[next++]!;
      for (;;) {
        try {
          await call(body);
          break;
        } catch (error) {
          // Backpressure is part of the contract: wait as an OTLP exporter would, then resend.
          if ((error as grpc.ServiceError).code !== grpc.status.RESOURCE_EXHAUSTED) throw error;
          retries++;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, sender));
  client.close();
  return retries;
}

async function ingest(work: string): Promise<Record<string, unknown>> {
  // 1. Build the OTLP requests once, outside the timed part.
  log(`building ${TOTAL.toLocaleString()} mesh spans as OTLP protobuf requests of ${PER_REQUEST}`);
  const startNs = BigInt(Date.now() - 10 * 60_000) * 1_000_000n;
  const payloads: Buffer[] = [];
  const rowsFile = join(work, 'rows.jsonl');
  const rowsFd = openSync(rowsFile, 'w');
  let spanCount = 0;
  let bytesOnWire = 0;
  for (let sent = 0; sent < TOTAL; sent += PER_REQUEST) {
    const spans = meshSpans(Math.min(PER_REQUEST, TOTAL - sent), startNs, sent);
    const body = Buffer.from(ProtobufTraceSerializer.serializeRequest(spans)!);
    payloads.push(body);
    bytesOnWire += body.length;
    // The exact rows meshlens will write, for the raw-insert baseline.
    const converted = convertTraceProto(body, NO_TRACE_LIMITS);
    let rows = '';
    for (const span of converted.spans) rows += encodeSpanRow(span);
    writeSync(rowsFd, rows);
    spanCount += converted.spans.length;
    if (payloads.length % 100 === 0) log(`built ${spanCount.toLocaleString()} spans`);
  }
  closeSync(rowsFd);
  log(`${spanCount.toLocaleString()} spans, ${(bytesOnWire / spanCount).toFixed(0)} B/span on the wire`);

  // 2. Raw chDB insert of the same rows (engine + its JSON parser only), same batch size.
  log('baseline: raw chDB insert of the same rows');
  const raw = (await worker('raw-insert', join(work, 'raw'), rowsFile, '20000')) as { rowsPerSecond: number; seconds: number };

  // 3. End to end: OTLP/gRPC → meshlens → chDB, acknowledged after storage; first storing spans only,
  // then with the service graph derived as well (the graph's upkeep is the difference).
  const run = async (graph: boolean) => {
    log(`end to end${graph ? ' with the service graph' : ''}: ${payloads.length} OTLP/gRPC requests, ${CONCURRENCY} in flight`);
    const dataDir = join(work, graph ? 'e2e-graph' : 'e2e');
    const meshlens = await startMeshlens(dataDir, { graph, profileDir: opts.profile });
    const { result: retries, seconds, cpuSeconds, peakRssMiB } = await measure(meshlens, () => sendAll(meshlens.grpcPort, payloads));
    // The graph times its own work on the main thread (meshlens_graph_busy_seconds_total): its upkeep as
    // CPU, which the machine's load skews far less than a difference of two throughputs does.
    const graphBusySeconds = graph ? await graphBusy(meshlens.queryPort) : 0;
    await stopMeshlens(meshlens);
    return { dataDir, seconds, retries, cpuSeconds, peakRssMiB, graphBusySeconds };
  };
  const { dataDir, seconds, retries, cpuSeconds, peakRssMiB } = await run(false);
  const withGraph = await run(true);
  const disk = (await worker('disk', dataDir)) as { tables: Array<{ table: string; rows: string; bytes: string }>; spanColumns: Array<{ column: string; bytes: string }> };
  const spansTable = disk.tables.find((t) => t.table === 'spans')!;
  const allBytes = disk.tables.reduce((sum, t) => sum + Number(t.bytes), 0);
  if (Number(spansTable.rows) !== spanCount) throw new Error(`stored ${spansTable.rows} spans, sent ${spanCount}`);

  const e2eRate = spanCount / seconds;
  return {
    spans: spanCount,
    spansPerRequest: PER_REQUEST,
    concurrency: CONCURRENCY,
    endToEndSpansPerSecond: Math.round(e2eRate),
    rawChdbInsertRowsPerSecond: Math.round(raw.rowsPerSecond),
    ratioToRawInsert: Math.round((e2eRate / raw.rowsPerSecond) * 100) / 100,
    cpuSecondsPer100kSpans: Math.round((cpuSeconds / spanCount) * 100_000 * 100) / 100,
    meshlensPeakRssMiB: Math.round(peakRssMiB),
    backpressureRetries: retries,
    withServiceGraph: {
      endToEndSpansPerSecond: Math.round(spanCount / withGraph.seconds),
      cpuSecondsPer100kSpans: Math.round((withGraph.cpuSeconds / spanCount) * 100_000 * 100) / 100,
      meshlensPeakRssMiB: Math.round(withGraph.peakRssMiB),
      // Share of ingest throughput the graph costs (issue #3's budget: at most 15 %): two runs' difference.
      throughputCost: Math.round((1 - seconds / withGraph.seconds) * 100) / 100,
      // The graph's own main-thread time against the rest of the process's CPU in the same run.
      graphBusySecondsPer100kSpans: Math.round((withGraph.graphBusySeconds / spanCount) * 100_000 * 100) / 100,
      graphCpuShare: Math.round((withGraph.graphBusySeconds / (withGraph.cpuSeconds - withGraph.graphBusySeconds)) * 1000) / 1000,
    },
    bytesPerSpanOnDisk: { spansTable: Math.round((Number(spansTable.bytes) / spanCount) * 10) / 10, allTables: Math.round((allBytes / spanCount) * 10) / 10 },
    spanColumnsBytesPerSpan: Object.fromEntries(disk.spanColumns.slice(0, 8).map((c) => [c.column, Math.round((Number(c.bytes) / spanCount) * 10) / 10])),
  };

}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'meshlens-bench-'));
  try {
    const result: Record<string, unknown> = TOTAL > 0 ? await ingest(work) : {};
    log(`end to end: ${JSON.stringify(result)}`);

    // 4. Query latency over a large table.
    if (QUERY_SPANS > 0) {
      log(`query latency: filling ${QUERY_SPANS.toLocaleString()} synthetic spans inside the engine`);
      const queryDir = join(work, 'query');
      const fill = (await worker('fill', queryDir, String(QUERY_SPANS))) as { seconds: number; sample: Array<{ id: string; service: string; name: string }> };
      const m = await startMeshlens(queryDir);
      const base = `http://127.0.0.1:${m.queryPort}`;
      const id = fill.sample[0]!.id;
      const { service, name } = fill.sample[1]!;
      await timed(`${base}/api/traces/${id}`, 3); // warm-up
      const byId: Array<{ minMs: number; medianMs: number; p95Ms: number }> = [];
      for (const s of fill.sample.slice(0, 20)) byId.push(await timed(`${base}/api/traces/${s.id}`, 1));
      const lookback = 3600_000_000;
      const search = await timed(`${base}/api/traces?service=${encodeURIComponent(service)}&operation=${encodeURIComponent(name)}&limit=20&start=${Date.now() * 1000 - lookback}&end=${Date.now() * 1000}`, 10);
      const services = await timed(`${base}/api/services`, 10);
      await stopMeshlens(m);
      const medians = byId.map((t) => t.medianMs).sort((a, b) => a - b);
      result.queryLatency = {
        spansStored: QUERY_SPANS,
        fillSeconds: Math.round(fill.seconds),
        traceByIdMs: { min: medians[0], median: medians[Math.floor(medians.length / 2)], max: medians[medians.length - 1] },
        searchServiceOperationMs: search,
        servicesMs: services,
      };
    }
    console.log(JSON.stringify(result, null, 2));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
