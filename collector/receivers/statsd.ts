// StatsD / DogStatsD on one port (server.statsd_port, 8125), UDP and TCP: what Envoy's statsd and
// dog_statsd sinks (App Mesh, Consul, Istio's statsdUdpAddress), Traefik and any StatsD client send.
// Lines (collector/statsd/line.ts) are aggregated per statsd.flush_interval (statsd/aggregator.ts); each
// flush turns Envoy's upstream cluster stats into service-graph edges (statsd/edges.ts, signal `statsd`).
// Lines no edge is ever read from (gauges, sets, every stat but the upstream request ones: most of what a
// proxy sends) are counted `ignored` once their name and type are read (edges.ts mayDescribeEdge) and
// go no further: they cost no tags, no series and no room under statsd.max_series.
//
//   UDP  one datagram = one or more '\n'-separated lines. A sender cannot be slowed down: a line that
//        would open a series past statsd.max_series is dropped and counted.
//   TCP  a stream of '\n'-terminated lines (hot-shots `protocol: 'tcp'`, Envoy's tcp_cluster_name). Past
//        statsd.max_series the connection is paused — its lines wait, the kernel's buffers fill and the
//        sender blocks — until the next flush has made room (backpressure instead of loss).
//
//   UDP with statsd.udp_readers > 1: datagrams are read by that many processes sharing the socket
//        (statsd-readers.ts); their series are turned into edges here, with this process's TCP lines.
//
// Bad lines are counted by reason and skipped; the good lines of the same packet still count. StatsD has
// no replies, so nothing is refused to the sender. Stop: no new data is read, what connections already
// delivered (held or half a line) is taken, and a final flush hands everything to the edge sink.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { type Server, type Socket, createServer, isIPv6 } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import type { FastifyBaseLogger } from 'fastify';
import type { EdgeSink } from '../edge-sink.ts';
import type { CollectorMetrics } from '../metrics.ts';
import { type AggregatedSeries, StatsdAggregator } from '../statsd/aggregator.ts';
import { type IdentifySender, statsdIncrements } from '../statsd/edges.ts';
import { type StatsdSender, rememberingIdentify } from '../statsd/identity.ts';
import { type LineCounts, MAX_LINE_LENGTH, addLines, malformedLine, noLines, takeLines } from '../statsd/lines.ts';
import { StatsdUdpReaders, askReceiveBuffer } from './statsd-readers.ts';

export interface StatsdReceiverOptions {
  host: string;
  port: number;
  flushIntervalMs: number;
  maxSeries: number;
  senders: Readonly<Record<string, StatsdSender>>;
  /** Processes reading the UDP socket; 1: this process reads it. */
  udpReaders?: number;
  /** SO_RCVBUF asked for the UDP socket. */
  udpReceiveBufferBytes?: number;
}

type StatsdReceiverName = 'statsd-udp' | 'statsd-tcp';

/** Asked of the kernel for the UDP socket unless configured (capped by net.core.rmem_max): bursts wait there. */
const UDP_RECEIVE_BUFFER_BYTES = 8 * 1024 * 1024;
/** Tries at finding a port free for both UDP and TCP when server.statsd_port is 0. */
const FREE_PORT_TRIES = 20;

/** One TCP connection's unread state. */
interface TcpSender {
  socket: Socket;
  address: string;
  decoder: StringDecoder;
  /** Text after the last '\n' so far: the start of a line. */
  partial: string;
  /** Inside a line already longer than MAX_LINE_LENGTH: drop text up to its end. */
  discarding: boolean;
  /** Whole lines not yet taken because the series bound was reached (the socket is paused meanwhile). */
  held: string | null;
}

/** Adds the counts to the metrics (a prom-client increment hashes its labels: once per turn, not per line). */
function reportLines(counts: LineCounts, metrics: CollectorMetrics, receiver: StatsdReceiverName): void {
  if (counts.packets > 0) metrics.statsdPackets.inc({ receiver }, counts.packets);
  if (counts.metrics > 0) metrics.statsdLines.inc({ receiver, result: 'metric' }, counts.metrics);
  if (counts.ignored > 0) metrics.statsdLines.inc({ receiver, result: 'ignored' }, counts.ignored);
  if (counts.events > 0) metrics.statsdLines.inc({ receiver, result: 'event' }, counts.events);
  if (counts.serviceChecks > 0) metrics.statsdLines.inc({ receiver, result: 'service_check' }, counts.serviceChecks);
  if (counts.dropped > 0) metrics.statsdLines.inc({ receiver, result: 'dropped' }, counts.dropped);
  let malformed = 0;
  for (const [reason, count] of Object.entries(counts.malformed) as Array<[keyof LineCounts['malformed'], number]>) {
    metrics.statsdMalformedLines.inc({ receiver, reason }, count);
    malformed += count;
  }
  if (malformed > 0) metrics.statsdLines.inc({ receiver, result: 'malformed' }, malformed);
}

/** Where UDP is read: the port, and how to stop reading (with the series reader processes still held). */
interface UdpReading {
  port: number;
  close: () => Promise<AggregatedSeries[]>;
}

export class StatsdReceiver {
  /** The bound port (UDP and TCP alike). */
  port = 0;
  private udp: UdpReading | undefined;
  private tcp: Server | undefined;
  private readonly aggregator: StatsdAggregator;
  private readonly identify: IdentifySender;
  private readonly connections = new Set<TcpSender>();
  private readonly paused = new Set<TcpSender>();
  /** What the lines read since the last report came to: handed to the metrics once per event-loop turn. */
  private udpTally = noLines();
  private tcpTally = noLines();
  /** The UDP reader processes, when statsd.udp_readers > 1. */
  private readers: StatsdUdpReaders | undefined;
  private reportScheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  /** The flush in progress (flushes run one after another). */
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly edges: EdgeSink,
    private readonly metrics: CollectorMetrics,
    private readonly log: FastifyBaseLogger,
    private readonly options: StatsdReceiverOptions,
  ) {
    this.aggregator = new StatsdAggregator({ maxSeries: options.maxSeries });
    this.identify = rememberingIdentify(options.senders);
  }

  async start(): Promise<void> {
    const { host, port } = this.options;
    for (let attempt = 1; ; attempt++) {
      const udp = await this.openUdp(host, port);
      try {
        this.tcp = await this.listenTcp(host, udp.port);
        this.udp = udp;
        this.port = udp.port;
        break;
      } catch (error) {
        await udp.close();
        // With port 0 the UDP port the system chose may be taken for TCP: choose again.
        if (port !== 0 || attempt >= FREE_PORT_TRIES || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE') {
          throw new Error(`cannot listen for StatsD on ${host}:${udp.port}/tcp: ${(error as Error).message}`);
        }
      }
    }
    this.timer = setInterval(() => {
      this.flush().catch((error: unknown) => this.log.error({ err: error }, 'StatsD flush failed; its series are lost'));
    }, this.options.flushIntervalMs);
    this.timer.unref();
  }

  /** This process's UDP socket, or statsd.udp_readers processes sharing one; the port they read. */
  private async openUdp(host: string, port: number): Promise<UdpReading> {
    const readerCount = this.options.udpReaders ?? 1;
    if (readerCount <= 1) {
      const udp = await this.bindUdp(host, port);
      return { port: udp.address().port, close: () => new Promise((resolve) => udp.close(() => resolve([]))) };
    }
    const readers = new StatsdUdpReaders({
      host,
      port,
      maxSeries: this.options.maxSeries,
      receiveBufferBytes: this.options.udpReceiveBufferBytes ?? UDP_RECEIVE_BUFFER_BYTES,
      readers: readerCount,
      log: this.log,
      onCounts: (counts) => {
        addLines(this.udpTally, counts);
        this.scheduleReport();
      },
    });
    try {
      await readers.start();
    } catch (error) {
      await readers.stop();
      throw error;
    }
    this.readers = readers;
    return { port: readers.port, close: () => readers.stop() };
  }

  private bindUdp(host: string, port: number): Promise<UdpSocket> {
    return new Promise((resolve, reject) => {
      const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
      socket.once('error', (error) => reject(new Error(`cannot listen for StatsD on ${host}:${port}/udp: ${error.message}`)));
      socket.bind(port, host, () => {
        socket.removeAllListeners('error');
        socket.on('error', (error) => this.log.warn({ err: error }, 'StatsD UDP socket error'));
        const short = askReceiveBuffer(socket, this.options.udpReceiveBufferBytes ?? UDP_RECEIVE_BUFFER_BYTES);
        if (short !== undefined) this.log.warn(short);
        socket.on('message', (message, remote) => this.takeDatagram(message, remote.address));
        resolve(socket);
      });
    });
  }

  private listenTcp(host: string, port: number): Promise<Server> {
    return new Promise((resolve, reject) => {
      const server = createServer((socket) => this.accept(socket));
      server.once('error', reject);
      server.listen(port, host, () => {
        server.removeListener('error', reject);
        server.on('error', (error) => this.log.warn({ err: error }, 'StatsD TCP server error'));
        resolve(server);
      });
    });
  }

  private takeDatagram(message: Buffer, address: string): void {
    if (this.stopping !== undefined) return;
    this.udpTally.packets++;
    // UDP cannot wait: what does not fit is dropped (counted).
    takeLines(this.aggregator, message.toString('utf8'), address, this.udpTally, false);
    this.scheduleReport();
  }

  /** The tallies reach the metrics after this turn of the event loop (libuv reads up to 32 datagrams in one). */
  private scheduleReport(): void {
    if (this.reportScheduled) return;
    this.reportScheduled = true;
    setImmediate(() => this.report());
  }

  private report(): void {
    this.reportScheduled = false;
    reportLines(this.udpTally, this.metrics, 'statsd-udp');
    reportLines(this.tcpTally, this.metrics, 'statsd-tcp');
    this.udpTally = noLines();
    this.tcpTally = noLines();
    this.metrics.statsdSeries.set(this.aggregator.size + (this.readers?.openSeries ?? 0));
  }

  private accept(socket: Socket): void {
    if (this.stopping !== undefined) {
      socket.destroy();
      return;
    }
    const sender: TcpSender = { socket, address: socket.remoteAddress ?? '', decoder: new StringDecoder('utf8'), partial: '', discarding: false, held: null };
    this.connections.add(sender);
    this.metrics.statsdTcpConnections.inc();
    socket.on('data', (chunk: Buffer) => this.takeChunk(sender, chunk));
    socket.on('end', () => this.takeRest(sender));
    socket.on('error', (error) => this.log.debug({ err: error, sender: sender.address }, 'StatsD TCP connection error'));
    socket.on('close', () => {
      if (this.connections.delete(sender)) this.metrics.statsdTcpConnections.dec();
      // Lines it delivered and that still wait for room are taken at the next flush all the same.
      if (sender.held === null) this.paused.delete(sender);
    });
  }

  private takeChunk(sender: TcpSender, chunk: Buffer): void {
    const tally = this.tcpTally;
    tally.packets++;
    const text = sender.decoder.write(chunk);
    const lastNewline = text.lastIndexOf('\n');
    if (lastNewline < 0) {
      this.keepPartial(sender, sender.partial + text, tally);
    } else {
      let complete = sender.partial + text.slice(0, lastNewline);
      if (sender.discarding) {
        // The end of an overlong line (already counted): skip to the next line.
        const firstNewline = complete.indexOf('\n');
        complete = firstNewline < 0 ? '' : complete.slice(firstNewline + 1);
        sender.discarding = false;
      }
      this.keepPartial(sender, text.slice(lastNewline + 1), tally);
      const rest = takeLines(this.aggregator, complete, sender.address, tally, true);
      if (rest !== null) this.pause(sender, rest);
    }
    this.scheduleReport();
  }

  private keepPartial(sender: TcpSender, partial: string, tally: LineCounts): void {
    if (partial.length <= MAX_LINE_LENGTH) {
      sender.partial = sender.discarding ? '' : partial;
      return;
    }
    if (!sender.discarding) malformedLine(tally, 'too_long');
    sender.partial = '';
    sender.discarding = true;
  }

  private pause(sender: TcpSender, held: string): void {
    sender.held = held;
    sender.socket.pause();
    this.paused.add(sender);
    this.metrics.statsdTcpPauses.inc();
  }

  /** The sender closed its side: a last line without '\n' is still a line. */
  private takeRest(sender: TcpSender): void {
    const last = sender.discarding ? '' : sender.partial + sender.decoder.end();
    sender.partial = '';
    if (last === '') return;
    if (sender.held !== null) {
      // Lines before it still wait for room: it waits behind them.
      sender.held = `${sender.held}\n${last}`;
      return;
    }
    const rest = takeLines(this.aggregator, last, sender.address, this.tcpTally, true);
    if (rest !== null) {
      sender.held = sender.held === null ? rest : `${sender.held}\n${rest}`;
      this.paused.add(sender);
    }
    this.scheduleReport();
  }

  /** Paused connections take their held lines now that a flush made room; resumed once all are taken. */
  private resumePaused(): void {
    for (const sender of this.paused) {
      const rest = sender.held === null ? null : takeLines(this.aggregator, sender.held, sender.address, this.tcpTally, true);
      sender.held = rest;
      if (rest !== null) break; // Full again: the rest wait for the next flush.
      this.paused.delete(sender);
      if (this.stopping === undefined) sender.socket.resume();
    }
  }

  /**
   * Ends the interval: its series — this process's and the UDP readers' — become edge increments in the edge
   * sink. Without reader processes it all happens before flush() returns.
   */
  flush(): Promise<void> {
    this.flushing = this.readers === undefined ? this.flushInterval() : this.flushing.then(() => this.flushInterval());
    return this.flushing;
  }

  /** One flush; `readerSeries`: the UDP readers' series when already in hand (at stop), else asked for. */
  private async flushInterval(readerSeries?: readonly AggregatedSeries[]): Promise<void> {
    // The readers' series, asked for first: the lines counted up to their answers belong to this interval.
    const fromReaders = readerSeries ?? (this.readers !== undefined ? await this.readers.collect() : []);
    this.report();
    const series = this.aggregator.drain();
    series.push(...fromReaders);
    this.metrics.statsdFlushes.inc();
    if (series.length > 0) {
      const increments = statsdIncrements(series, this.identify, BigInt(Date.now()) * 1_000_000n);
      if (increments.length > 0) {
        this.edges.addIncrements(increments, 'statsd');
        this.metrics.statsdEdgeIncrements.inc(increments.length);
      }
    }
    this.resumePaused();
    this.report();
  }

  /** Stops reading; takes what connections already delivered; flushes it all to the edge sink. */
  stop(): Promise<void> {
    this.stopping ??= this.close();
    return this.stopping;
  }

  private async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flushing;
    const udpClosed = this.udp ? this.udp.close() : Promise.resolve([]);
    const tcpClosed = new Promise<void>((resolve) => (this.tcp ? this.tcp.close(() => resolve()) : resolve()));
    for (const sender of this.connections) {
      sender.socket.pause();
      this.takeRest(sender);
      sender.socket.destroy();
    }
    // What the UDP readers still held comes with their last word; held TCP lines need room: flush until
    // every connection's lines are taken.
    await this.flushInterval(await udpClosed);
    while ([...this.paused].some((sender) => sender.held !== null)) await this.flushInterval([]);
    await tcpClosed;
  }
}
