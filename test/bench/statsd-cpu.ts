// npm run bench:statsd-cpu — the StatsD receiver's CPU and allocation per line, without sockets or
// storage: what a datagram costs once it is in (decode, line grammar, aggregation, the receiver's own
// counters) and what a flush costs (series → edge increments into the edge sink's per-minute rows). The
// datagrams are bench:mesh's (test/bench/statsd-load.ts: App Mesh's Envoy through its dog_statsd sink,
// 6 tagged lines of ~196 B each, bookinfo in 100 namespaces, 4,200 series), taken in turn from their
// Buffers by the receiver's own datagram handler, so every line is decoded anew as off the wire. The
// handler's counts reach prom-client at each flush here (in a running receiver once per event-loop turn,
// i.e. per up to 32 datagrams: a few µs per turn more).
//
//   --lines N            lines per measured round (default 600,000)
//   --lines-per-flush N  lines between flushes (default 100,000: bench:mesh's 1 s flush at 100k lines/s)
//   --namespaces N       bookinfo copies (default 100)
//   --rounds N           measured rounds per stage after one warm-up round (default 3; the median is shown)
//
// CPU is this process's user + system time (GC helper threads included; each round starts after a full
// GC). Allocation is the V8 heap growth plus what every GC in the stage freed (v8.GCProfiler).
import { parseArgs } from 'node:util';
import { createLogger } from '../../bin/run.ts';
import { EdgeSink } from '../../collector/edge-sink.ts';
import { CollectorMetrics } from '../../collector/metrics.ts';
import { StatsdReceiver } from '../../collector/receivers/statsd.ts';
import { parseLine } from '../../collector/statsd/line.ts';
import type { ClickHouseStore } from '../../collector/storage/store.ts';
import { statsdLoad } from './statsd-load.ts';
import { measureCpu as measure, median, requireExposedGc } from './cpu-measure.ts';

const { values: opts } = parseArgs({
  options: {
    lines: { type: 'string', default: '600000' },
    'lines-per-flush': { type: 'string', default: '100000' },
    namespaces: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '3' },
  },
});
const LINES = Number(opts.lines);
const LINES_PER_FLUSH = Number(opts['lines-per-flush']);
const ROUNDS = Number(opts.rounds);
const log = (message: string) => process.stderr.write(`[bench:statsd-cpu] ${message}\n`);
requireExposedGc('bench:statsd-cpu');


const load = statsdLoad(Number(opts.namespaces));
const datagramsPerRound = Math.ceil(LINES / load.linesPerDatagram);
const datagramsPerFlush = Math.max(1, Math.round(LINES_PER_FLUSH / load.linesPerDatagram));
const SENDER = '10.1.2.3';

/** The edge sink's store: the bench never flushes the sink (its per-minute rows stay in memory). */
const unwrittenStore: ClickHouseStore = {
  mode: 'embedded',
  insertConcurrency: 1,
  exec: () => Promise.reject(new Error('bench:statsd-cpu writes nothing')),
  query: () => Promise.reject(new Error('bench:statsd-cpu reads nothing')),
  queryEach: () => Promise.reject(new Error('bench:statsd-cpu reads nothing')),
  insert: () => Promise.reject(new Error('bench:statsd-cpu writes nothing')),
  close: () => Promise.resolve(),
};

/** A receiver as collector.ts makes it, not started (no sockets): datagrams are handed to its handler. */
function receiver(): { takeDatagram: (message: Buffer, address: string) => void; flush: () => void; metrics: CollectorMetrics } {
  const metrics = new CollectorMetrics({ processMetrics: false });
  const logger = createLogger('warn');
  const edges = new EdgeSink(unwrittenStore, metrics, logger, 60_000);
  const statsd = new StatsdReceiver(edges, metrics, logger, { host: '127.0.0.1', port: 0, flushIntervalMs: 1000, maxSeries: 100_000, senders: {} });
  // The socket's 'message' handler, called as the socket would call it.
  const takeDatagram = statsd['takeDatagram'].bind(statsd) as (message: Buffer, address: string) => void;
  return { takeDatagram, flush: () => statsd.flush(), metrics };
}

interface Stage {
  name: string;
  /** Lines the stage's round goes through (µs/line divides by these). */
  lines: number;
  prepare: () => () => void;
}

const stages: Stage[] = [
  {
    name: 'parseLine alone (toString, split on \\n, parseLine)',
    lines: datagramsPerRound * load.linesPerDatagram,
    prepare: () => () => {
      let metrics = 0;
      for (let d = 0; d < datagramsPerRound; d++) {
        for (const line of load.datagrams[d % load.datagrams.length]!.toString('utf8').split('\n')) if (parseLine(line).kind === 'metric') metrics++;
      }
      if (metrics !== datagramsPerRound * load.linesPerDatagram) throw new Error(`${metrics} metric lines`);
    },
  },
  {
    name: `receiver: datagrams + a flush every ${LINES_PER_FLUSH.toLocaleString()} lines`,
    lines: datagramsPerRound * load.linesPerDatagram,
    prepare: () => {
      const { takeDatagram, flush } = receiver();
      return () => {
        for (let d = 0; d < datagramsPerRound; d++) {
          takeDatagram(load.datagrams[d % load.datagrams.length]!, SENDER);
          if ((d + 1) % datagramsPerFlush === 0) flush();
        }
        flush();
      };
    },
  },
  {
    name: `receiver: datagrams only (no flush; ${LINES_PER_FLUSH.toLocaleString()} lines per round)`,
    lines: datagramsPerFlush * load.linesPerDatagram,
    prepare: () => {
      const { takeDatagram } = receiver();
      // The series are open already (as after the first lines of an interval).
      for (let d = 0; d < load.datagrams.length; d++) takeDatagram(load.datagrams[d]!, SENDER);
      return () => {
        for (let d = 0; d < datagramsPerFlush; d++) takeDatagram(load.datagrams[d % load.datagrams.length]!, SENDER);
      };
    },
  },
  {
    name: `receiver: one flush after ${LINES_PER_FLUSH.toLocaleString()} lines (per line of the interval)`,
    lines: datagramsPerFlush * load.linesPerDatagram,
    prepare: () => {
      const { takeDatagram, flush } = receiver();
      for (let d = 0; d < datagramsPerFlush; d++) takeDatagram(load.datagrams[d % load.datagrams.length]!, SENDER);
      return flush;
    },
  },
];

log(`${load.datagrams.length} datagrams of ${load.linesPerDatagram} lines (${Math.round(load.bytes / load.datagrams.length / load.linesPerDatagram)} B per line), ${load.series.toLocaleString()} series, ${load.edges} edges; ${(datagramsPerRound * load.linesPerDatagram).toLocaleString()} lines per round, ${ROUNDS} rounds + 1 warm-up`);
for (const stage of stages) {
  const cpu: number[] = [];
  const bytes: number[] = [];
  for (let round = 0; round <= ROUNDS; round++) {
    const run = stage.prepare();
    const measured = await measure(run);
    if (round === 0) continue;
    cpu.push((measured.cpuMs * 1000) / stage.lines);
    bytes.push(measured.allocatedBytes / stage.lines);
  }
  log(`${stage.name}: ${median(cpu).toFixed(2)} µs/line (${Math.min(...cpu).toFixed(2)}–${Math.max(...cpu).toFixed(2)}), ${median(bytes).toFixed(0)} B/line allocated`);
}
