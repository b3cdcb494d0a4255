// StatsD over UDP read by several processes (statsd.udp_readers > 1): one JavaScript thread reads ~400k
// lines/s at most (Node's receive path alone is ~6 µs a datagram), and Node 20's dgram has no SO_REUSEPORT,
// so the readers are cluster workers sharing one socket — the kernel hands each datagram to whichever of
// them is waiting. Each reader parses and aggregates its lines (receivers/statsd-reader.ts); at every flush
// the receiver asks all of them for their series and turns the lot into edges at once, because which of a
// proxy's stats are read (per-code or per-class counters, App Mesh's extension or the cluster stats) is
// decided over all its lines of the interval, and one proxy's datagrams land on every reader.
//
// Readers send their line tallies every REPORT_MS and their series when asked; at stop they close the
// socket, take what it still holds and send their last series before they exit. A reader that dies is
// replaced (its interval's lines are lost: it had acknowledged nothing).
import cluster, { type Worker } from 'node:cluster';
import type { Socket as UdpSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import type { FastifyBaseLogger } from 'fastify';
import { type SparseHistogram, LatencyHistogram } from '../service-graph/histogram.ts';
import type { AggregatedSeries } from '../statsd/aggregator.ts';
import type { LineCounts } from '../statsd/lines.ts';

/** How often a reader hands its line tallies to the receiver (its metrics lag by this much at most). */
export const REPORT_MS = 250;
/** A reader that has not answered a flush by then is left for the next one (its series come then). */
const FLUSH_REPLY_TIMEOUT_MS = 5_000;
/** A reader that died is replaced after this long. */
const RESTART_DELAY_MS = 1_000;

/** What a reader process is started with (in the MESHLENS_STATSD_READER environment variable, as JSON). */
export interface ReaderSettings {
  host: string;
  port: number;
  maxSeries: number;
  receiveBufferBytes: number;
}

/** A series as it crosses between processes: the latency histogram in its sparse form. */
export type WireSeries = Exclude<AggregatedSeries, { histogram: LatencyHistogram }> | (Omit<Extract<AggregatedSeries, { histogram: LatencyHistogram }>, 'histogram'> & { latency: SparseHistogram });

export type ToReader = { kind: 'flush'; id: number } | { kind: 'stop' };
export type FromReader =
  | { kind: 'bound'; port: number }
  | { kind: 'failed'; message: string }
  | { kind: 'counts'; counts: LineCounts; openSeries: number }
  | { kind: 'series'; id: number; series: WireSeries[]; counts: LineCounts; openSeries: number }
  | { kind: 'warn'; message: string };

/**
 * Asks the kernel for a `bytes` receive buffer on a StatsD UDP socket. Returns what to tell the operator when
 * it granted less (Linux caps the request at net.core.rmem_max, then doubles it), else undefined.
 */
export function askReceiveBuffer(socket: UdpSocket, bytes: number): string | undefined {
  try {
    socket.setRecvBufferSize(bytes);
  } catch (error) {
    return `the StatsD UDP receive buffer could not be set to ${bytes} bytes (${(error as Error).message}); bursts past the system default are dropped`;
  }
  const granted = socket.getRecvBufferSize();
  if (granted >= bytes) return undefined;
  return `the StatsD UDP receive buffer is ${granted} bytes, ${bytes} asked (statsd.udp_receive_buffer): raise net.core.rmem_max (sysctl -w net.core.rmem_max=${bytes}) to get it`;
}

export function toWire(series: readonly AggregatedSeries[]): WireSeries[] {
  return series.map((one) => {
    if (!('histogram' in one)) return one;
    const { histogram, ...rest } = one;
    return { ...rest, latency: histogram.toSparse() };
  });
}

export function fromWire(series: readonly WireSeries[]): AggregatedSeries[] {
  return series.map((one) => {
    if (!('latency' in one)) return one;
    const { latency, ...rest } = one;
    return { ...rest, histogram: LatencyHistogram.fromSparse(latency) };
  });
}

export interface StatsdReadersOptions extends ReaderSettings {
  readers: number;
  log: FastifyBaseLogger;
  /** Lines the readers counted since they last said (add them to the metrics). */
  onCounts: (counts: LineCounts) => void;
}

interface Reader {
  worker: Worker;
  /** It reads from the socket and listens to us (a message sent before would be lost while it loads). */
  bound: boolean;
  /** Settles once it is bound or gone. */
  settled: Promise<void>;
  openSeries: number;
  /** The reply awaited from it, by flush id. */
  awaiting?: { id: number; resolve: () => void };
}

export class StatsdUdpReaders {
  port = 0;
  private readonly readers = new Set<Reader>();
  /** Series that arrived outside a flush (a late reply, a last word at exit): taken by the next collect(). */
  private pending: AggregatedSeries[] = [];
  private nextFlushId = 1;
  private stopping = false;

  constructor(private readonly options: StatsdReadersOptions) {}

  /** Series open in the readers now (for meshlens_statsd_series). */
  get openSeries(): number {
    let open = 0;
    for (const reader of this.readers) open += reader.openSeries;
    return open;
  }

  /** Starts every reader; resolves with the bound port once all of them read from the socket. */
  async start(): Promise<number> {
    cluster.setupPrimary({
      exec: fileURLToPath(new URL('./statsd-reader.ts', import.meta.url)),
      // The readers are TypeScript run as meshlens is: through tsx, found from here whatever the cwd.
      execArgv: ['--import', import.meta.resolve('tsx')],
    });
    const ports = await Promise.all(Array.from({ length: this.options.readers }, () => this.fork()));
    this.port = ports[0]!;
    return this.port;
  }

  private fork(): Promise<number> {
    const { host, port, maxSeries, receiveBufferBytes } = this.options;
    const settings: ReaderSettings = { host, port, maxSeries, receiveBufferBytes };
    const worker = cluster.fork({ MESHLENS_STATSD_READER: JSON.stringify(settings) });
    let settle = () => {};
    const reader: Reader = { worker, bound: false, settled: new Promise((resolve) => (settle = resolve)), openSeries: 0 };
    this.readers.add(reader);
    return new Promise((resolve, reject) => {
      worker.on('message', (message: FromReader) => {
        switch (message.kind) {
          case 'bound':
            reader.bound = true;
            settle();
            resolve(message.port);
            break;
          case 'failed':
            reject(new Error(message.message));
            break;
          case 'counts':
            reader.openSeries = message.openSeries;
            this.options.onCounts(message.counts);
            break;
          case 'series':
            reader.openSeries = message.openSeries;
            this.options.onCounts(message.counts);
            this.pending.push(...fromWire(message.series));
            if (reader.awaiting?.id === message.id) reader.awaiting.resolve();
            break;
          case 'warn':
            this.options.log.warn(`StatsD reader ${worker.process.pid}: ${message.message}`);
            break;
        }
      });
      // A message to a reader that just died (its exit not yet seen): the exit handler below deals with it.
      worker.on('error', (error) => this.options.log.debug({ err: error }, 'StatsD reader channel error'));
      worker.on('exit', (code, signal) => {
        this.readers.delete(reader);
        settle();
        reader.awaiting?.resolve();
        if (!reader.bound) reject(new Error(`StatsD reader exited before it read anything (code ${code}, signal ${signal})`));
        else if (!this.stopping) {
          this.options.log.error({ code, signal }, 'StatsD reader exited; starting another (lines it held this interval are lost)');
          setTimeout(() => {
            if (!this.stopping) this.fork().catch((error: unknown) => this.options.log.error({ err: error }, 'StatsD reader could not be restarted'));
          }, RESTART_DELAY_MS).unref();
        }
      });
    });
  }

  /** Ends the readers' interval: every reader's series (and any that came late since the last flush). */
  async collect(): Promise<AggregatedSeries[]> {
    const id = this.nextFlushId++;
    await Promise.all(
      [...this.readers].filter((reader) => reader.bound).map(
        (reader) =>
          new Promise<void>((resolve) => {
            const timeout = setTimeout(() => {
              this.options.log.warn(`StatsD reader ${reader.worker.process.pid} did not answer a flush in ${FLUSH_REPLY_TIMEOUT_MS} ms; its series come with the next one`);
              resolve();
            }, FLUSH_REPLY_TIMEOUT_MS);
            reader.awaiting = {
              id,
              resolve: () => {
                clearTimeout(timeout);
                reader.awaiting = undefined;
                resolve();
              },
            };
            this.send(reader, { kind: 'flush', id });
          }),
      ),
    );
    const series = this.pending;
    this.pending = [];
    return series;
  }

  /** Stops every reader: each closes the socket, sends what it still holds and exits. Resolves with that. */
  async stop(): Promise<AggregatedSeries[]> {
    this.stopping = true;
    await Promise.all(
      [...this.readers].map(async (reader) => {
        const exited = new Promise<void>((resolve) => reader.worker.once('exit', () => resolve()));
        // One still loading could not hear us yet: it is told once it reads.
        await reader.settled;
        if (!reader.worker.isDead() && !this.send(reader, { kind: 'stop' })) reader.worker.kill();
        await exited;
      }),
    );
    const series = this.pending;
    this.pending = [];
    return series;
  }

  private send(reader: Reader, message: ToReader): boolean {
    if (!reader.worker.isConnected()) {
      reader.awaiting?.resolve();
      return false;
    }
    reader.worker.send(message);
    return true;
  }
}
