// One StatsD UDP reader process (statsd.udp_readers > 1; started and spoken to by statsd-readers.ts): reads
// datagrams from the socket it shares with the other readers, aggregates their lines as the receiver does,
// and hands the receiver its line tallies every REPORT_MS and its series at each flush. It opens no storage
// and no other port.
import cluster from 'node:cluster';
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { StatsdAggregator } from '../statsd/aggregator.ts';
import { anyLines, noLines, takeLines } from '../statsd/lines.ts';
import { type FromReader, REPORT_MS, askReceiveBuffer, type ReaderSettings, type ToReader, toWire } from './statsd-readers.ts';

if (!cluster.isWorker || process.env.MESHLENS_STATSD_READER === undefined) {
  throw new Error('statsd-reader.ts is started by the StatsD receiver (statsd.udp_readers), not run by itself');
}
const settings = JSON.parse(process.env.MESHLENS_STATSD_READER) as ReaderSettings;
const say = (message: FromReader) => {
  if (process.connected) process.send!(message);
};

const aggregator = new StatsdAggregator({ maxSeries: settings.maxSeries });
let counts = noLines();
let stopping = false;

const socket = createSocket({ type: isIPv6(settings.host) ? 'udp6' : 'udp4' });
socket.once('error', (error) => {
  say({ kind: 'failed', message: `cannot listen for StatsD on ${settings.host}:${settings.port}/udp: ${error.message}` });
  process.exit(1);
});
socket.on('message', (message, remote) => {
  counts.packets++;
  // UDP cannot wait: what does not fit is dropped (counted).
  takeLines(aggregator, message.toString('utf8'), remote.address, counts, false);
});
// Shared with the other readers: the cluster primary holds the socket, each reader waits on it.
socket.bind(settings.port, settings.host, () => {
  socket.removeAllListeners('error');
  socket.on('error', (error) => say({ kind: 'warn', message: `UDP socket error: ${error.message}` }));
  const short = askReceiveBuffer(socket, settings.receiveBufferBytes);
  // Every reader shares the one socket: one of them says it.
  if (short !== undefined && cluster.worker?.id === 1) say({ kind: 'warn', message: short });
  say({ kind: 'bound', port: socket.address().port });
});

const report = setInterval(() => {
  if (!anyLines(counts)) return;
  say({ kind: 'counts', counts, openSeries: aggregator.size });
  counts = noLines();
}, REPORT_MS);

function sendSeries(id: number): void {
  say({ kind: 'series', id, series: toWire(aggregator.drain()), counts, openSeries: 0 });
  counts = noLines();
}

process.on('message', (message: ToReader) => {
  if (message.kind === 'flush') sendSeries(message.id);
  else if (message.kind === 'stop' && !stopping) {
    stopping = true;
    clearInterval(report);
    // Datagrams already read by libuv are delivered before close's callback; nothing is read after it.
    socket.close(() => {
      sendSeries(0);
      process.disconnect();
    });
  }
});
// The receiver went away without a word (it was killed): nothing to hand over to.
process.on('disconnect', () => process.exit(0));
