// StatsD / DogStatsD end to end with the real hot-shots client: a bookinfo-like mesh (productpage →
// details, productpage → reviews v1/v2/v3 canary, reviews → ratings, with 5xx errors and known latencies)
// reported as Envoy's sinks report it —
//   AWS App Mesh   DogStatsD over UDP, tag-extracted names, `appmesh.*` tags naming the sender;
//   Consul         plain StatsD (dotted names, `….consul` clusters with dots), senders named by
//                  `statsd.senders` from their addresses (UDP from 127.0.0.2 / .3, TCP from 127.0.0.1);
// then exact edges, counts, errors and percentiles through GET /api/v1/service-graph?signal=statsd and
// /api/v1/latency; garbage among good lines; TCP backpressure and UDP drops past statsd.max_series; and a
// clean stop that flushes what was received.
import assert from 'node:assert/strict';
import cluster from 'node:cluster';
import { type Socket as UdpSocket, createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import StatsDClient, { type StatsD } from 'hot-shots';
import { CollectorMetrics } from '../../collector/metrics.ts';
import { createLogger } from '../../bin/run.ts';
import { StatsdReceiver } from '../../collector/receivers/statsd.ts';
import type { GraphEdge } from '../../query/service-graph.ts';
import { getJson, graphEdgesUntil, ownMetric, startTestMeshlens, type TestMeshlens } from '../helpers/meshlens.ts';

const SENDERS = {
  '127.0.0.2': { workload: 'productpage', namespace: 'default', team: 'web' },
  '127.0.0.3': { workload: 'reviews', namespace: 'default', version: 'v2' },
  '127.0.0.1': { workload: 'reviews', namespace: 'default', version: 'v3' },
  '127.0.0.4': { workload: 'junk-client', namespace: 'junk' },
};

let meshlens: TestMeshlens;
before(async () => {
  meshlens = await startTestMeshlens({
    overrides: { 'graph.flush_interval': '200ms', 'statsd.flush_interval': '200ms', 'statsd.senders': JSON.stringify(SENDERS) },
  });
});
after(() => meshlens.destroy());

// ---- The mesh: calls per edge, their status codes and latencies (ms). ----

interface Calls {
  ok: number;
  /** 5xx responses, by code. */
  failed: Record<number, number>;
  latenciesMs: number[];
}

/** Distinct latencies, spaced wider than the histogram's 1% buckets, so each percentile is one known value. */
const spread = (from: number, count: number, step: number) => Array.from({ length: count }, (_, i) => Math.round((from + i * step) * 100) / 100);

const BOOKINFO: Record<string, Record<string, Calls>> = {
  productpage: {
    details: { ok: 20, failed: {}, latenciesMs: spread(1, 20, 1) },
    'reviews-v1': { ok: 30, failed: {}, latenciesMs: spread(10, 30, 0.5) },
    'reviews-v2': { ok: 18, failed: { 503: 2 }, latenciesMs: spread(20, 20, 2) },
    'reviews-v3': { ok: 8, failed: { 500: 2 }, latenciesMs: spread(50, 10, 5) },
  },
  'reviews-v2': { ratings: { ok: 20, failed: {}, latenciesMs: spread(2, 20, 0.25) } },
  'reviews-v3': { ratings: { ok: 9, failed: { 503: 1 }, latenciesMs: spread(3, 10, 0.5) } },
};

const requestsOf = (c: Calls) => c.ok + Object.values(c.failed).reduce((a, b) => a + b, 0);
const errorsOf = (c: Calls) => Object.values(c.failed).reduce((a, b) => a + b, 0);

/** The nearest-rank q-quantile, as the histogram answers it (within its 1% buckets). */
function exactQuantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

function assertNear(actual: number | null, expected: number, what: string): void {
  assert.ok(actual !== null && Math.abs(actual - expected) <= expected * 0.02, `${what}: ${actual} is not within 2% of ${expected}`);
}

function assertEdge(edges: GraphEdge[], source: string, target: string, calls: Calls): void {
  const edge = edges.find((e) => e.source === source && e.target === target);
  assert.ok(edge, `edge ${source} -> ${target} among ${edges.map((e) => e.id).join(', ')}`);
  assert.equal(edge.requests, requestsOf(calls), `${edge.id} requests`);
  assert.equal(edge.errors, errorsOf(calls), `${edge.id} errors`);
  assert.deepEqual(edge.signals, ['statsd']);
  assertNear(edge.p50Ms, exactQuantile(calls.latenciesMs, 0.5), `${edge.id} p50`);
  assertNear(edge.p95Ms, exactQuantile(calls.latenciesMs, 0.95), `${edge.id} p95`);
  assertNear(edge.p99Ms, exactQuantile(calls.latenciesMs, 0.99), `${edge.id} p99`);
}

const edgeCount = () => Object.values(BOOKINFO).reduce((n, targets) => n + Object.keys(targets).length, 0);
const settled = (expectedEdges: number, totalRequests: number) => (edges: GraphEdge[]) =>
  edges.length >= expectedEdges && edges.reduce((sum, e) => sum + e.requests, 0) >= totalRequests;
const totalRequests = () => Object.values(BOOKINFO).flatMap((t) => Object.values(t)).reduce((n, c) => n + requestsOf(c), 0);

const closeClient = (client: StatsD) => new Promise<void>((resolve) => client.close(() => resolve()));

/** A UDP socket bound to a loopback address of our choosing: that address is who the sender is. */
function udpFrom(address: string): Promise<UdpSocket> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.bind(0, address, () => resolve(socket));
  });
}

function sendDatagram(socket: UdpSocket, text: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => socket.send(Buffer.from(text), port, '127.0.0.1', (error) => (error ? reject(error) : resolve())));
}

/**
 * hot-shots over UDP from a chosen source address: hot-shots' `stream` transport writes each (buffered,
 * newline-joined) packet to this stream, which sends it as one datagram from a socket bound there.
 */
function datagramStream(socket: UdpSocket, port: number): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      socket.send(chunk, port, '127.0.0.1', (error) => done(error ?? null));
    },
  });
}

// ---- How each mesh's Envoy reports a flush of these calls. ----

const APP_MESH = 'bookinfo-mesh';

/** App Mesh (ECS-style virtual node names): dog_statsd sink, Envoy's default tag extraction + appmesh tags. */
async function sendAppMesh(port: number): Promise<void> {
  const client = new StatsDClient({ host: '127.0.0.1', port, prefix: 'envoy.', errorHandler: (error) => assert.fail(error) });
  for (const [source, targets] of Object.entries(BOOKINFO)) {
    const proxy = [`appmesh.mesh:${APP_MESH}`, `appmesh.virtual_node:${source}`];
    for (const [target, calls] of Object.entries(targets)) {
      const cluster = `envoy.cluster_name:cds_egress_${APP_MESH}_${target}_http_9080`;
      // reviews-v1's proxy stats come by class (upstream_rq_xx), the others by code (upstream_rq).
      if (target === 'reviews-v1') {
        client.increment('cluster.upstream_rq_xx', calls.ok, [...proxy, cluster, 'envoy.response_code_class:2']);
      } else {
        client.increment('cluster.upstream_rq', calls.ok, [...proxy, cluster, 'envoy.response_code:200']);
        for (const [code, count] of Object.entries(calls.failed)) client.increment('cluster.upstream_rq', count, [...proxy, cluster, `envoy.response_code:${code}`]);
      }
      client.increment('cluster.upstream_rq_total', requestsOf(calls), [...proxy, cluster]);
      for (const latency of calls.latenciesMs) client.timing('cluster.upstream_rq_time', latency, [...proxy, cluster]);
    }
    // The sidecar-to-own-app hop and listener aggregates: no edges.
    const ingress = `envoy.cluster_name:cds_ingress_${APP_MESH}_${source}_http_9080`;
    client.increment('cluster.upstream_rq_xx', 99, [...proxy, ingress, 'envoy.response_code_class:2']);
    client.increment('http.downstream_rq_xx', 99, [...proxy, 'envoy.http_conn_manager_prefix:ingress', 'envoy.response_code_class:2']);
    client.gauge('server.live', 1, proxy);
    client.event('deploy', `${source} rolled out`, {}, proxy);
    client.check('envoy.healthy', client.CHECKS.OK, {}, proxy);
  }
  await closeClient(client);
}

const TRUST_DOMAIN = '7a5c3d1e-1111-2222-3333-444455556666.consul';
/** Consul's upstream cluster for a bookinfo node: reviews-vN are subsets vN of reviews. */
function consulCluster(target: string): string {
  const [service, subset] = target.split('-') as [string, string | undefined];
  return `${subset ? `${subset}.` : ''}${service}.default.dc1.internal.${TRUST_DOMAIN}`;
}

/** Consul plain statsd sink: full dotted names, no tags; `local_app` is the proxy's own app. */
function reportConsul(client: StatsD, targets: Record<string, Calls>): void {
  for (const [target, calls] of Object.entries(targets)) {
    const stat = `cluster.${consulCluster(target)}`;
    client.increment(`${stat}.upstream_rq_200`, calls.ok);
    client.increment(`${stat}.upstream_rq_2xx`, calls.ok);
    for (const [code, count] of Object.entries(calls.failed)) client.increment(`${stat}.upstream_rq_${code}`, count);
    if (errorsOf(calls) > 0) client.increment(`${stat}.upstream_rq_5xx`, errorsOf(calls));
    client.increment(`${stat}.upstream_rq_total`, requestsOf(calls));
    client.increment(`${stat}.internal.upstream_rq_200`, calls.ok);
    for (const latency of calls.latenciesMs) client.timing(`${stat}.upstream_rq_time`, latency);
  }
  client.increment('cluster.local_app.upstream_rq_200', 77);
  client.increment('http.public_listener.downstream_rq_2xx', 77);
  client.increment('listener.0.0.0.0_20000.downstream_cx_total', 3);
  client.gauge('cluster.local_app.membership_healthy', 1);
}

async function sendConsul(port: number): Promise<void> {
  // productpage and reviews-v2 over UDP from their own addresses, packets of several lines each.
  for (const [address, source] of [['127.0.0.2', 'productpage'], ['127.0.0.3', 'reviews-v2']] as const) {
    const socket = await udpFrom(address);
    const client = new StatsDClient({ protocol: 'stream', stream: datagramStream(socket, port), prefix: 'envoy.', maxBufferSize: 1200, bufferFlushInterval: 20 });
    reportConsul(client, BOOKINFO[source]!);
    await closeClient(client);
    socket.close();
  }
  // reviews-v3 over TCP (from 127.0.0.1).
  const tcp = new StatsDClient({ host: '127.0.0.1', port, protocol: 'tcp', prefix: 'envoy.', errorHandler: (error) => assert.fail(error) });
  reportConsul(tcp, BOOKINFO['reviews-v3']!);
  await new Promise((resolve) => setTimeout(resolve, 100));
  await closeClient(tcp);
}

describe('StatsD / DogStatsD receiver', () => {
  it('binds UDP and TCP on one port', () => {
    assert.ok(meshlens.statsdPort > 0);
    assert.equal(meshlens.running.ports.statsd, meshlens.statsdPort);
  });

  it('App Mesh over DogStatsD (hot-shots, UDP): sources from appmesh tags, exact counts, errors and percentiles', async () => {
    await sendAppMesh(meshlens.statsdPort);
    const edges = await graphEdgesUntil(meshlens.queryUrl, 'statsd', APP_MESH, settled(edgeCount(), totalRequests()));
    const id = (node: string) => `${APP_MESH}/${node}`;
    for (const [source, targets] of Object.entries(BOOKINFO)) {
      for (const [target, calls] of Object.entries(targets)) assertEdge(edges, id(source), id(target), calls);
    }
    assert.equal(edges.length, edgeCount(), `no edge to the own app (cds_ingress_) or from listeners: ${edges.map((e) => e.id).join(', ')}`);

    // The canary's latency histogram through /api/v1/latency.
    const calls = BOOKINFO.productpage!['reviews-v3']!;
    const latency = await getJson<{ count: number; p50Ms: number; p90Ms: number; p99Ms: number; buckets: Array<{ count: number }> }>(
      `${meshlens.queryUrl}/api/v1/latency?signal=statsd&source=${encodeURIComponent(id('productpage'))}&target=${encodeURIComponent(id('reviews-v3'))}&start=${Date.now() - 600_000}`,
    );
    assert.equal(latency.status, 200);
    assert.equal(latency.body.count, calls.latenciesMs.length);
    assert.equal(latency.body.buckets.reduce((n, b) => n + b.count, 0), calls.latenciesMs.length);
    assertNear(latency.body.p50Ms, exactQuantile(calls.latenciesMs, 0.5), 'p50');
    assertNear(latency.body.p90Ms, exactQuantile(calls.latenciesMs, 0.9), 'p90');
    assertNear(latency.body.p99Ms, exactQuantile(calls.latenciesMs, 0.99), 'p99');

    const lines = await ownMetric(meshlens.queryUrl, 'meshlens_statsd_lines_total');
    assert.ok((lines.get('{receiver="statsd-udp",result="event"}') ?? 0) >= 3, 'events are recognised and skipped');
    assert.ok((lines.get('{receiver="statsd-udp",result="service_check"}') ?? 0) >= 3, 'service checks are recognised and skipped');
  });

  it('Consul over plain StatsD (UDP and TCP): sources from statsd.senders, dotted cluster names, exact counts and percentiles', async () => {
    await sendConsul(meshlens.statsdPort);
    const edges = await graphEdgesUntil(meshlens.queryUrl, 'statsd', 'default', settled(edgeCount(), totalRequests()));
    const id = (node: string) => {
      const [service, version] = node.split('-');
      return `default/${service}${version ? `@${version}` : ''}`;
    };
    for (const [source, targets] of Object.entries(BOOKINFO)) {
      for (const [target, calls] of Object.entries(targets)) assertEdge(edges, id(source), id(target), calls);
    }
    assert.equal(edges.length, edgeCount(), `no edge for local_app or listeners: ${edges.map((e) => e.id).join(', ')}`);
    const tcpLines = await ownMetric(meshlens.queryUrl, 'meshlens_statsd_lines_total');
    assert.ok((tcpLines.get('{receiver="statsd-tcp",result="metric"}') ?? 0) > 0, 'reviews-v3 came over TCP');
  });

  it('a packet with garbage among good lines: the good ones count, each bad one is counted by reason', async () => {
    const before = await ownMetric(meshlens.queryUrl, 'meshlens_statsd_malformed_lines_total');
    const socket = await udpFrom('127.0.0.4');
    const cluster = 'envoy.cluster.outbound|8080||api.junk.svc.cluster.local';
    await sendDatagram(socket, [
      `${cluster}.upstream_rq_200:4|c`,
      'this is not statsd',
      `${cluster}.upstream_rq_200:oops|c`,
      `${cluster}.upstream_rq_200:1|x`,
      `${cluster}.upstream_rq_503:1|c|@0.5`,
      `${cluster}.upstream_rq_200:1|c|@7`,
      '_e{3,4}:oops|text',
      `${cluster}.upstream_rq_time:12|ms`,
      `${cluster}.upstream_rq_200:1|c`,
    ].join('\n'), meshlens.statsdPort);
    socket.close();
    const edges = await graphEdgesUntil(meshlens.queryUrl, 'statsd', 'junk', (e) => e.some((edge) => edge.requests >= 7));
    assert.deepEqual(edges.map((e) => [e.source, e.target, e.requests, e.errors]), [['junk/junk-client', 'junk/api', 7, 2]]);
    const after = await ownMetric(meshlens.queryUrl, 'meshlens_statsd_malformed_lines_total');
    const rise = (reason: string) => (after.get(`{receiver="statsd-udp",reason="${reason}"}`) ?? 0) - (before.get(`{receiver="statsd-udp",reason="${reason}"}`) ?? 0);
    assert.deepEqual({ no_value: rise('no_value'), bad_value: rise('bad_value'), unknown_type: rise('unknown_type'), bad_sample_rate: rise('bad_sample_rate') }, {
      no_value: 1, bad_value: 1, unknown_type: 1, bad_sample_rate: 1,
    });
  });

  it('an unnamed sender is its address (kind unknown)', async () => {
    const socket = await udpFrom('127.0.0.9');
    await sendDatagram(socket, `envoy.cluster.ratings.lonely.dc1.internal.${TRUST_DOMAIN}.upstream_rq_200:3|c`, meshlens.statsdPort);
    socket.close();
    const graph = async () => (await getJson<{ nodes: Array<{ id: string; kind: string }>; edges: GraphEdge[] }>(`${meshlens.queryUrl}/api/v1/service-graph?signal=statsd&namespace=lonely&start=${Date.now() - 600_000}`)).body;
    let body = await graph();
    for (let i = 0; i < 60 && body.edges.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 200));
      body = await graph();
    }
    assert.deepEqual(body.edges.map((e) => [e.source, e.target, e.requests]), [['127.0.0.9', 'lonely/ratings', 3]]);
    assert.equal(body.nodes.find((n) => n.id === '127.0.0.9')?.kind, 'unknown');
  });
});

describe('series bound, backpressure and stop (a second receiver on the same edge sink)', () => {
  /** Lines for `count` distinct destinations (one series each) in namespace `ns`. */
  const lines = (ns: string, count: number) => Array.from({ length: count }, (_, i) => `envoy.cluster.outbound|80||svc${i}.${ns}.svc.cluster.local.upstream_rq_200:1|c`);

  async function receiver(options: { maxSeries: number; flushIntervalMs: number; udpReaders?: number }) {
    const metrics = new CollectorMetrics({ processMetrics: false });
    const statsd = new StatsdReceiver(meshlens.running.collector!.edges, metrics, createLogger('warn'), {
      host: '127.0.0.1', port: 0, senders: { '127.0.0.1': { workload: 'client', namespace: 'bound' } }, ...options,
    });
    await statsd.start();
    const value = async (name: 'statsdLines' | 'statsdTcpPauses' | 'statsdPackets', labels: Record<string, string> = {}) =>
      (await metrics[name].get()).values.filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k as never] === l)).reduce((n, v) => n + v.value, 0);
    return { statsd, value };
  }

  it('TCP: past max_series the sender is paused until a flush makes room; nothing is lost', async () => {
    const { statsd, value } = await receiver({ maxSeries: 3, flushIntervalMs: 150 });
    try {
      const socket = connect(statsd.port, '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.end(`${lines('tcpbound', 10).join('\n')}\n`);
      const edges = await graphEdgesUntil(meshlens.queryUrl, 'statsd', 'tcpbound', (e) => e.length >= 10);
      assert.equal(edges.length, 10, 'every series arrived, three per flush');
      assert.ok(edges.every((e) => e.source === 'bound/client' && e.requests === 1));
      assert.ok((await value('statsdTcpPauses')) >= 1, 'the connection was paused while the bound was reached');
      assert.equal(await value('statsdLines', { result: 'dropped' }), 0);
    } finally {
      await statsd.stop();
    }
  });

  it('UDP: past max_series the lines of new series are dropped and counted; the others count', async () => {
    const { statsd, value } = await receiver({ maxSeries: 3, flushIntervalMs: 60_000 });
    const socket = await udpFrom('127.0.0.1');
    await sendDatagram(socket, lines('udpbound', 5).join('\n'), statsd.port);
    for (let i = 0; i < 50 && (await value('statsdLines')) < 5; i++) await new Promise((r) => setTimeout(r, 20));
    socket.close();
    assert.equal(await value('statsdLines', { receiver: 'statsd-udp', result: 'metric' }), 3);
    assert.equal(await value('statsdLines', { receiver: 'statsd-udp', result: 'dropped' }), 2);
    // Stop flushes the interval (a minute long here) at once.
    await statsd.stop();
    const edges = await graphEdgesUntil(meshlens.queryUrl, 'statsd', 'udpbound', (e) => e.length >= 3);
    assert.deepEqual(edges.map((e) => e.target).sort(), ['udpbound/svc0', 'udpbound/svc1', 'udpbound/svc2']);
  });

  it('TCP: a line longer than 64 KiB is malformed (too_long), in pieces or whole; the lines around it count', async () => {
    const { statsd, value } = await receiver({ maxSeries: 100, flushIntervalMs: 100 });
    try {
      const socket = connect(statsd.port, '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      const [before, between, after] = lines('toolong', 3);
      const huge = `envoy.cluster.x.upstream_rq_200:${'9'.repeat(70_000)}|c`;
      socket.write(`${before}\n${huge.slice(0, 30_000)}`);
      await new Promise((r) => setTimeout(r, 50));
      socket.write(`${huge.slice(30_000)}\n${between}\n${huge}\n`);
      socket.end(`${after}\n`);
      const edges = await graphEdgesUntil(meshlens.queryUrl, 'statsd', 'toolong', (e) => e.length >= 3);
      assert.deepEqual(edges.map((e) => [e.target, e.requests]).sort(), [['toolong/svc0', 1], ['toolong/svc1', 1], ['toolong/svc2', 1]]);
      assert.equal(await value('statsdLines', { receiver: 'statsd-tcp', result: 'malformed' }), 2);
    } finally {
      await statsd.stop();
    }
  });

  it('stop takes what TCP senders delivered, a last line without its newline included, and flushes it', async () => {
    const { statsd, value } = await receiver({ maxSeries: 100, flushIntervalMs: 60_000 });
    const socket = connect(statsd.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const [first, second] = lines('stopping', 2);
    socket.write(`${first}\n${second}`);
    for (let i = 0; i < 50 && (await value('statsdLines')) < 1; i++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 50));
    await statsd.stop();
    socket.destroy();
    const edges = await graphEdgesUntil(meshlens.queryUrl, 'statsd', 'stopping', (e) => e.length >= 2);
    assert.deepEqual(edges.map((e) => [e.target, e.requests]).sort(), [['stopping/svc0', 1], ['stopping/svc1', 1]]);
  });
});

describe('UDP read by several processes (statsd.udp_readers)', () => {
  const readerPids = () =>
    Object.values(cluster.workers ?? {})
      .filter((worker) => worker !== undefined && !worker.isDead())
      .map((worker) => worker!.process.pid);

  async function readers(options: { flushIntervalMs: number; maxSeries?: number }) {
    const metrics = new CollectorMetrics({ processMetrics: false });
    const statsd = new StatsdReceiver(meshlens.running.collector!.edges, metrics, createLogger('warn'), {
      host: '127.0.0.1', port: 0, senders: { '127.0.0.1': { workload: 'client', namespace: 'readers' } }, maxSeries: options.maxSeries ?? 10_000, flushIntervalMs: options.flushIntervalMs, udpReaders: 3,
    });
    await statsd.start();
    const value = async (name: 'statsdLines' | 'statsdPackets', labels: Record<string, string> = {}) =>
      (await metrics[name].get()).values.filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k as never] === l)).reduce((n, v) => n + v.value, 0);
    return { statsd, value };
  }

  /** Datagrams of one proxy's flush: per-code counters in one, the total and a garbage line in another. */
  const byCode = (ns: string, target: number, ok: number, failed: number) =>
    `envoy.cluster.outbound|80||svc${target}.${ns}.svc.cluster.local.upstream_rq_200:${ok}|c\nenvoy.cluster.outbound|80||svc${target}.${ns}.svc.cluster.local.upstream_rq_503:${failed}|c`;
  const total = (ns: string, target: number, requests: number) => `envoy.cluster.outbound|80||svc${target}.${ns}.svc.cluster.local.upstream_rq_total:${requests}|c\nnot a statsd line`;

  it("every datagram is read once by one of three processes; one proxy's stats, spread over them, are counted once", async () => {
    const { statsd, value } = await readers({ flushIntervalMs: 150 });
    try {
      assert.equal(readerPids().length, 3, 'three reader processes run');
      // What each reader says it read, heard beside the receiver.
      const packetsByReader = new Map<number, number>();
      for (const worker of Object.values(cluster.workers ?? {})) {
        worker!.on('message', (message: { counts?: { packets: number } }) => {
          if (message.counts) packetsByReader.set(worker!.process.pid!, (packetsByReader.get(worker!.process.pid!) ?? 0) + message.counts.packets);
        });
      }
      const socket = await udpFrom('127.0.0.1');
      const rounds = 400;
      for (let i = 0; i < rounds; i++) {
        // The counters by code and the total describe the same calls: read together they are 3 requests, not 6.
        await sendDatagram(socket, byCode('spread', i % 4, 2, 1), statsd.port);
        await sendDatagram(socket, total('spread', i % 4, 3), statsd.port);
        if (i % 50 === 0) await new Promise((r) => setTimeout(r, 5));
      }
      socket.close();
      const edges = await graphEdgesUntil(meshlens.queryUrl, 'statsd', 'spread', (e) => e.reduce((n, edge) => n + edge.requests, 0) >= rounds * 3 && e.length === 4);
      await new Promise((r) => setTimeout(r, 400));
      const settled = await graphEdgesUntil(meshlens.queryUrl, 'statsd', 'spread', (e) => e.length === 4);
      assert.deepEqual(
        settled.map((e) => [e.target, e.requests, e.errors]).sort(),
        [0, 1, 2, 3].map((t) => [`spread/svc${t}`, (rounds / 4) * 3, rounds / 4]),
        `each call once (seen first: ${edges.map((e) => e.requests).join(', ')})`,
      );
      for (let i = 0; i < 50 && (await value('statsdPackets')) < rounds * 2; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(await value('statsdPackets', { receiver: 'statsd-udp' }), rounds * 2, "the readers' packet counts reach the receiver's metrics");
      assert.ok([...packetsByReader.values()].filter((n) => n > 0).length >= 2, `the datagrams were read by several processes: ${[...packetsByReader.values()].join(', ')}`);
      assert.equal(await value('statsdLines', { receiver: 'statsd-udp', result: 'metric' }), rounds * 3);
      assert.equal(await value('statsdLines', { receiver: 'statsd-udp', result: 'malformed' }), rounds, 'bad lines are counted, the good ones beside them still count');
    } finally {
      await statsd.stop();
    }
    assert.equal(readerPids().length, 0, 'stop ends every reader process');
  });

  it('stop hands over what the readers hold (a minute-long interval), and a reader that dies is replaced', async () => {
    const { statsd, value } = await readers({ flushIntervalMs: 60_000 });
    const socket = await udpFrom('127.0.0.1');
    const [first] = readerPids();
    process.kill(first!, 'SIGKILL');
    for (let i = 0; i < 100 && (readerPids().length < 3 || readerPids().includes(first!)); i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(readerPids().length, 3, 'the killed reader was replaced');
    for (let i = 0; i < 60; i++) await sendDatagram(socket, byCode('held', i % 3, 1, 0), statsd.port);
    socket.close();
    for (let i = 0; i < 100 && (await value('statsdLines', { result: 'metric' })) < 120; i++) await new Promise((r) => setTimeout(r, 20));
    await statsd.stop();
    const edges = await graphEdgesUntil(meshlens.queryUrl, 'statsd', 'held', (e) => e.length >= 3);
    assert.deepEqual(edges.map((e) => [e.target, e.requests]).sort(), [['held/svc0', 20], ['held/svc1', 20], ['held/svc2', 20]]);
  });
});

