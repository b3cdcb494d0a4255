// npm run bench:graph-cpu — the service graph's CPU and allocation per span, without storage or
// network: the same stages GraphProcessor runs once a second (toHalf, HalfPairer.add + expire with the
// final pairing, EdgeMinutes.add), each measured alone and then all together. Spans are the bookinfo
// mesh spans bench:ingest sends, serialized by the OpenTelemetry serializer and read back by our OTLP
// reader, so resources are shared per ResourceSpans exactly as in the collector. Every round reads them
// from the bytes anew, outside its measurement: strings a previous round had already hashed would make
// lookups look cheaper than they are for spans just off the wire.
//
//   --spans N           spans (default 300,000)
//   --tick-spans N      spans arriving per 1 s tick (default 30,000: bench:ingest's end-to-end rate)
//   --wait-ms N         graph.wait (default 10,000)
//   --rounds N          measured rounds per stage after one warm-up round (default 3; the median is shown)
//
// CPU is this process's user + system time (GC helper threads included; each round starts after a full
// GC and its sweeping, so the heap the previous stage left is not charged to the next). Allocation is
// the V8 heap growth plus what every GC in the stage freed (v8.GCProfiler), so it counts garbage too.
import { parseArgs } from 'node:util';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { SpanRecord } from '../../collector/model.ts';
import { convertTraceProto } from '../../collector/otlp/traces-proto.ts';
import { EdgeMinutes } from '../../collector/service-graph/edge-rows.ts';
import { type SpanHalf, toHalf } from '../../collector/service-graph/halves.ts';
import { HalfPairer } from '../../collector/service-graph/pairer.ts';
import type { EdgeObservation } from '../../collector/service-graph/pairing.ts';
import { meshSpans } from './mesh-spans.ts';
import { type Measure, measureCpu as measure, median, requireExposedGc } from './cpu-measure.ts';

const { values: opts } = parseArgs({
  options: {
    spans: { type: 'string', default: '300000' },
    'tick-spans': { type: 'string', default: '30000' },
    'wait-ms': { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '3' },
  },
});
const TOTAL = Number(opts.spans);
const TICK_SPANS = Number(opts['tick-spans']);
const WAIT_MS = Number(opts['wait-ms']);
const ROUNDS = Number(opts.rounds);
const REQUEST_SPANS = 1000;
const TICK_MS = 1000;
const FLUSH_EVERY_TICKS = 10;
const log = (message: string) => process.stderr.write(`[bench:graph-cpu] ${message}\n`);
requireExposedGc('bench:graph-cpu');


/** The requests of one tick, as GraphProcessor.observe() receives them: one SpanRecord[] per request. */
type Tick = SpanRecord[][];

const LIMITS = { spansPerRequest: 1e9, attributesPerSpan: 128, attributeValueLength: 16384 };

/** The OTLP requests of the run, as bytes. */
function buildBodies(): Buffer[] {
  const startNs = BigInt(Date.now() - 10 * 60_000) * 1_000_000n;
  const bodies: Buffer[] = [];
  for (let sent = 0; sent < TOTAL; sent += REQUEST_SPANS) {
    bodies.push(Buffer.from(ProtobufTraceSerializer.serializeRequest(meshSpans(Math.min(REQUEST_SPANS, TOTAL - sent), startNs, sent))!));
  }
  return bodies;
}

/** The requests read by our OTLP reader, grouped into ticks of about TICK_SPANS spans. */
function readTicks(bodies: readonly Buffer[]): { ticks: Tick[]; spans: number } {
  const ticks: Tick[] = [];
  let current: Tick = [];
  let inTick = 0;
  let spans = 0;
  for (const body of bodies) {
    const request = convertTraceProto(body, LIMITS).spans;
    current.push(request);
    spans += request.length;
    inTick += request.length;
    if (inTick >= TICK_SPANS) {
      ticks.push(current);
      current = [];
      inTick = 0;
    }
  }
  if (current.length > 0) ticks.push(current);
  return { ticks, spans };
}


/** Pairs tick by tick as GraphProcessor.tick() does, then lets time run until every trace closed. */
function pairAll(halvesByTick: readonly SpanHalf[][], onEdges: (edges: EdgeObservation[], tick: number) => void): void {
  const pairer = new HalfPairer({ waitMs: WAIT_MS, maxHalves: 1_000_000 });
  let tick = 0;
  for (const halves of halvesByTick) {
    const now = tick * TICK_MS;
    onEdges(pairer.add(halves, now).edges, tick);
    onEdges(pairer.expire(now).edges, tick);
    tick++;
  }
  while (pairer.size > 0) {
    onEdges(pairer.expire(tick * TICK_MS).edges, tick);
    tick++;
  }
}


async function main(): Promise<void> {
  log(`building ${TOTAL.toLocaleString()} mesh spans (OTLP protobuf → SpanRecord), ${TICK_SPANS.toLocaleString()} per tick`);
  const bodies = buildBodies();
  const { spans, ticks: { length: tickCount } } = readTicks(bodies);
  const freshTicks = () => readTicks(bodies).ticks;

  // Each stage's input is made just before it, outside its measurement, and let go after it: inputs
  // kept alive would make every later stage's garbage collection dearer.
  let edgeCount = 0;
  const stages: Record<string, () => () => void> = {
    toHalf: () => {
      const ticks = freshTicks();
      return () => {
        for (const tick of ticks) tick.flat().map(toHalf);
      };
    },
    'HalfPairer.add+expire': () => {
      const halvesByTick = freshTicks().map((tick) => tick.flat().map(toHalf));
      return () => pairAll(halvesByTick, () => {});
    },
    'EdgeMinutes.add+drain': () => {
      const edgesByTick: EdgeObservation[][] = [];
      pairAll(
        freshTicks().map((tick) => tick.flat().map(toHalf)),
        (edges, tick) => {
          while (edgesByTick.length <= tick) edgesByTick.push([]);
          edgesByTick[tick]!.push(...edges);
        },
      );
      const firstRound = edgeCount === 0;
      edgeCount = edgesByTick.reduce((sum, edges) => sum + edges.length, 0);
      if (firstRound) log(`${spans.toLocaleString()} spans in ${tickCount} ticks → ${edgeCount.toLocaleString()} edges`);
      return () => {
        const minutes = new EdgeMinutes();
        edgesByTick.forEach((edges, tick) => {
          minutes.add(edges, 'spans');
          if (tick % FLUSH_EVERY_TICKS === FLUSH_EVERY_TICKS - 1) minutes.drain();
        });
        minutes.drain();
      };
    },
    // What GraphProcessor.tick() and its flushes do, end to end.
    together: () => {
      const ticks = freshTicks();
      return () => {
        const minutes = new EdgeMinutes();
        const pairer = new HalfPairer({ waitMs: WAIT_MS, maxHalves: 1_000_000 });
        let tick = 0;
        const take = (edges: EdgeObservation[]) => {
          if (edges.length > 0) minutes.add(edges, 'spans');
          if (tick % FLUSH_EVERY_TICKS === FLUSH_EVERY_TICKS - 1) minutes.drain();
        };
        for (const requests of ticks) {
          const now = tick * TICK_MS;
          take(pairer.add(requests.flat().map(toHalf), now).edges);
          take(pairer.expire(now).edges);
          tick++;
        }
        while (pairer.size > 0) {
          take(pairer.expire(tick * TICK_MS).edges);
          tick++;
        }
        minutes.drain();
      };
    },
  };

  const results: Record<string, { cpuMicrosPerSpan: number; wallMicrosPerSpan: number; allocatedBytesPerSpan: number; gcMsPerRound: number }> = {};
  for (const [name, prepare] of Object.entries(stages)) {
    prepare()(); // warm-up: JIT and lazily built caches
    const rounds: Measure[] = [];
    for (let round = 0; round < ROUNDS; round++) rounds.push(await measure(prepare()));
    const figures = {
      cpuMicrosPerSpan: Math.round((median(rounds.map((r) => r.cpuMs)) * 1000 / spans) * 100) / 100,
      wallMicrosPerSpan: Math.round((median(rounds.map((r) => r.wallMs)) * 1000 / spans) * 100) / 100,
      allocatedBytesPerSpan: Math.round(median(rounds.map((r) => r.allocatedBytes)) / spans),
      gcMsPerRound: Math.round(median(rounds.map((r) => r.gcMs))),
    };
    results[name] = figures;
    log(`${name.padEnd(24)} ${figures.cpuMicrosPerSpan.toFixed(2).padStart(7)} CPU µs/span  ${figures.wallMicrosPerSpan.toFixed(2).padStart(7)} wall µs/span  ${String(figures.allocatedBytesPerSpan).padStart(6)} B/span allocated  GC ${figures.gcMsPerRound} ms/round`);
  }
  console.log(JSON.stringify({ spans, ticks: tickCount, edges: edgeCount, tickSpans: TICK_SPANS, waitMs: WAIT_MS, rounds: ROUNDS, stages: results }, null, 2));
}

await main();
