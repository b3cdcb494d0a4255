// Envoy's access-log service end to end: real grpc-js client streams built from Envoy's own protos
// (@grpc/grpc-js-xds deps/, loaded here independently of the receiver) send what Istio sidecars send —
// the identifier first, then HTTP/TCP entries over several messages — and the service graph and latency
// APIs answer from them with signal=envoy-als. Then broken streams: garbage mid-stream, no identifier.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { GraphEdge } from '../../query/service-graph.ts';
import {
  type Workload, httpEntry, identifier, inboundCluster, mysqldb, outboundCluster, productpage, ratings, reviews, spiffe, tcpEntry,
} from '../helpers/envoy-als.ts';
import { type EnvoyStreamClient, envoyStreamClient } from '../helpers/envoy-client.ts';
import { getJson, graphEdgesUntil, ownMetric, startTestMeshlens, totalRequests, type TestMeshlens } from '../helpers/meshlens.ts';

let meshlens: TestMeshlens;
let client: EnvoyStreamClient;
before(async () => {
  meshlens = await startTestMeshlens({ overrides: { 'graph.flush_interval': '300ms' } });
  client = envoyStreamClient(meshlens.otlpGrpcAddress, 'envoy/service/accesslog/v3/als.proto', 'envoy.service.accesslog.v3.AccessLogService', 'StreamAccessLogs');
});
after(async () => {
  client.close();
  await meshlens.destroy();
});

const stream = (messages: object[]) => client.stream(messages);
const rawStream = (messages: Buffer[]) => client.rawStream(messages);
const encode = (message: object) => client.encode(message);

const graph = (namespace: string, until: (edges: GraphEdge[]) => boolean) => graphEdgesUntil(meshlens.queryUrl, 'envoy-als', namespace, until);
const metric = (name: string) => ownMetric(meshlens.queryUrl, name);

const T0 = Date.now() - 120_000;
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('Envoy access-log service (StreamAccessLogs on 4317)', () => {
  it('turns Istio sidecar streams into exact edges, counts, errors, mTLS and bytes', async () => {
    // productpage's sidecar: 100 calls to reviews-v1 taking 1..100 ms, 10 to v2 (20 ms), 10 to v3 (30 ms),
    // over three messages; and 5 calls from a caller outside the mesh, one failing.
    const toV1 = range(100).map((i) => httpEntry({ cluster: outboundCluster('reviews', 9080), startMs: T0 + i, durationMs: i + 1, code: 200, upstreamPeer: reviews('v1') }));
    const canary = (w: Workload, ms: number) => range(10).map((i) => httpEntry({ cluster: outboundCluster('reviews', 9080), startMs: T0 + i, durationMs: ms, code: 200, upstreamPeer: w }));
    const fromOutside = range(5).map((i) => httpEntry({ cluster: inboundCluster(9080), startMs: T0 + i, durationMs: 50, code: i === 0 ? 500 : 200 }));
    await stream([
      { identifier: identifier(productpage), http_logs: { log_entry: toV1.slice(0, 30) } },
      { http_logs: { log_entry: toV1.slice(30, 60) } },
      { http_logs: { log_entry: [...toV1.slice(60), ...canary(reviews('v2'), 20), ...canary(reviews('v3'), 30), ...fromOutside] } },
    ]);
    // reviews-v2's sidecar: 4 calls to ratings (one 503, connection failure), and the 10 calls from
    // productpage seen inbound over mTLS (not counted again: they give the pair its mTLS).
    await stream([
      {
        identifier: identifier(reviews('v2')),
        http_logs: {
          log_entry: range(4).map((i) => httpEntry({ cluster: outboundCluster('ratings', 9080), startMs: T0 + i, durationMs: 4, code: i === 3 ? 503 : 200, upstreamPeer: ratings, ...(i === 3 ? { flags: { upstream_connection_failure: true } } : {}) })),
        },
      },
      { http_logs: { log_entry: range(10).map((i) => httpEntry({ cluster: inboundCluster(9080), startMs: T0 + i, durationMs: 19, code: 200, downstreamPeer: productpage, peerSan: spiffe(productpage) })) } },
    ]);
    // ratings' sidecar, TCP: two connections to the database.
    await stream([{ identifier: identifier(ratings, 'tcp_envoy_accesslog'), tcp_logs: { log_entry: range(2).map((i) => tcpEntry({ cluster: outboundCluster('mysqldb', 3306), startMs: T0 + i, durationMs: 800, upstreamPeer: mysqldb })) } }]);

    const edges = await graph('bookinfo', (e) => e.length === 6 && totalRequests(e) === 131 && e.some((x) => x.mtls === true));
    assert.deepEqual(
      edges.map((e) => ({ id: e.id, protocol: e.protocol, requests: e.requests, errors: e.errors, mtls: e.mtls, signals: e.signals, bytes: [e.requestBytes, e.responseBytes] })),
      [
        { id: 'bookinfo/productpage@v1->bookinfo/reviews@v1', protocol: 'http', requests: 100, errors: 0, mtls: null, signals: ['envoy-als'], bytes: [0, 29_500] },
        { id: 'bookinfo/productpage@v1->bookinfo/reviews@v2', protocol: 'http', requests: 10, errors: 0, mtls: true, signals: ['envoy-als'], bytes: [0, 2_950] },
        { id: 'bookinfo/productpage@v1->bookinfo/reviews@v3', protocol: 'http', requests: 10, errors: 0, mtls: null, signals: ['envoy-als'], bytes: [0, 2_950] },
        { id: 'bookinfo/ratings@v1->bookinfo/mysqldb@v1', protocol: 'tcp', requests: 2, errors: 0, mtls: null, signals: ['envoy-als'], bytes: [240, 8_192] },
        { id: 'bookinfo/reviews@v2->bookinfo/ratings@v1', protocol: 'http', requests: 4, errors: 1, mtls: null, signals: ['envoy-als'], bytes: [0, 1_180] },
        { id: 'unknown->bookinfo/productpage@v1', protocol: 'http', requests: 5, errors: 1, mtls: false, signals: ['envoy-als'], bytes: [0, 1_475] },
      ],
    );
    const spans = (await getJson<{ edges: GraphEdge[] }>(`${meshlens.queryUrl}/api/v1/service-graph?signal=spans&start=${Date.now() - 600_000}`)).body.edges;
    assert.deepEqual(spans, [], 'access-log edges are kept apart from span edges');
  });

  it('serves the edge latency from the entries\' durations (percentiles within 1%)', async () => {
    const latency = (
      await getJson<{ count: number; p50Ms: number; p95Ms: number; p99Ms: number }>(
        `${meshlens.queryUrl}/api/v1/latency?source=bookinfo/productpage@v1&target=bookinfo/reviews@v1&signal=envoy-als&start=${Date.now() - 600_000}`,
      )
    ).body;
    assert.equal(latency.count, 100);
    for (const [actual, exact] of [[latency.p50Ms, 50], [latency.p95Ms, 95], [latency.p99Ms, 99]] as const) {
      assert.ok(Math.abs(actual - exact) <= exact * 0.01, `${actual} ms is not within 1% of ${exact} ms`);
    }
    const tcp = (await getJson<{ count: number; p50Ms: number }>(`${meshlens.queryUrl}/api/v1/latency?source=bookinfo/ratings@v1&target=bookinfo/mysqldb@v1&signal=envoy-als&start=${Date.now() - 600_000}`)).body;
    assert.equal(tcp.count, 2);
    assert.ok(Math.abs(tcp.p50Ms - 800) <= 8, `${tcp.p50Ms}`);
  });

  it('counts entries and response flags in /metrics', async () => {
    const entries = await metric('meshlens_envoy_als_entries_total');
    assert.equal(entries.get('{type="http",result="received",reason=""}'), 139);
    assert.equal(entries.get('{type="http",result="used",reason=""}'), 129);
    assert.equal(entries.get('{type="http",result="skipped",reason="counted_by_caller"}'), 10);
    assert.equal(entries.get('{type="tcp",result="used",reason=""}'), 2);
    assert.equal((await metric('meshlens_envoy_als_response_flags_total')).get('{flag="UF"}'), 1);
  });

  it('ends a stream with garbage mid-stream with INVALID_ARGUMENT, keeping the entries before it', async () => {
    const caller: Workload = { ...productpage, namespace: 'edge-cases', pod: 'caller-5d8f7b6c9d-abcde', workload: 'caller', app: 'caller' };
    const callee: Workload = { ...ratings, namespace: 'edge-cases', workload: 'callee', app: 'callee' };
    const before = await metric('meshlens_bad_requests_total');
    const error = await rawStream([
      encode({ identifier: identifier(caller), http_logs: { log_entry: range(3).map((i) => httpEntry({ cluster: outboundCluster('callee', 8080, 'edge-cases'), startMs: T0 + i, durationMs: 5, code: 200, upstreamPeer: callee })) } }),
      // Field 1 with wire type 7: no protobuf decoder can read this.
      Buffer.from([0x0f, 0xff, 0xff, 0xff]),
      encode({ http_logs: { log_entry: [httpEntry({ cluster: outboundCluster('callee', 8080, 'edge-cases'), startMs: T0, durationMs: 5, code: 200, upstreamPeer: callee })] } }),
    ]);
    assert.equal(error?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(error!.details, /^message 2 of the stream is not a valid envoy\.service\.accesslog\.v3\.StreamAccessLogsMessage: .*what the 1 message\(s\) before it carried was kept$/);
    const edges = await graph('edge-cases', (e) => e.length > 0);
    assert.deepEqual(edges.map((e) => [e.id, e.requests]), [['edge-cases/caller@v1->edge-cases/callee@v1', 3]]);
    const afterward = await metric('meshlens_bad_requests_total');
    const key = '{receiver="envoy-als",reason="decode"}';
    assert.equal((afterward.get(key) ?? 0) - (before.get(key) ?? 0), 1);
  });

  it('refuses a stream whose first message does not name the proxy', async () => {
    const error = await rawStream([encode({ http_logs: { log_entry: [httpEntry({ cluster: outboundCluster('x', 80), startMs: T0, durationMs: 1, code: 200 })] } })]);
    assert.equal(error?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(error!.details, /first message of a StreamAccessLogs stream must carry identifier\.node/);
  });

  it('answers an empty stream OK (Envoy may open one and close it)', async () => {
    assert.equal(await rawStream([]), null);
  });

  // Last: stops meshlens. Envoy never ends its stream; stopping must not wait for it, nor lose what it sent.
  it('answers streams still open at stop, and writes their entries', async () => {
    const sender: Workload = { ...productpage, namespace: 'at-stop', workload: 'sender', app: 'sender' };
    const callee: Workload = { ...ratings, namespace: 'at-stop', workload: 'receiver', app: 'receiver' };
    let status: grpc.StatusObject | undefined;
    const call = client.openStream();
    call.on('status', (s: grpc.StatusObject) => (status = s));
    call.write({ identifier: identifier(sender), http_logs: { log_entry: range(7).map((i) => httpEntry({ cluster: outboundCluster('receiver', 8080, 'at-stop'), startMs: T0 + i, durationMs: 3, code: 200, upstreamPeer: callee })) } });
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    await meshlens.stop();
    assert.ok(Date.now() - started < 5_000, `stop took ${Date.now() - started} ms`);
    for (let i = 0; i < 20 && status === undefined; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(status?.code, grpc.status.OK);
    // The same data directory, opened again: the entries were written at stop.
    meshlens = await startTestMeshlens({ dataDir: meshlens.dataDir });
    const edges = await graph('at-stop', (e) => e.length > 0);
    assert.deepEqual(edges.map((e) => [e.id, e.requests]), [['at-stop/sender@v1->at-stop/receiver@v1', 7]]);
  });
});
