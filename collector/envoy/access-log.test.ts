// Istio (bookinfo) access-log entries, encoded with Envoy's own protos, read by the receiver's decoder,
// converted to edges.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nodeId } from '../service-graph/halves.ts';
import {
  alsProtoLoader, httpEntry, identifier, inboundCluster, mysqldb, outboundCluster, productpage, ratings, reviews, spiffe, tcpEntry,
} from '../../test/helpers/envoy-als.ts';
import { convertAccessLogs, reportingProxy } from './access-log.ts';
import { decodeStreamAccessLogsMessage } from './access-log-proto.ts';

/** Through the wire and back: what the receiver converts. */
const roundTrip = (message: object) => decodeStreamAccessLogsMessage(alsProtoLoader().encode(message));

const T0 = Date.UTC(2026, 10, 26, 9, 0, 0);
const NOW = BigInt(T0 + 3_600_000) * 1_000_000n;

function convert(message: object) {
  const decoded = roundTrip(message);
  return convertAccessLogs(decoded, reportingProxy(decoded.node!), NOW);
}

const edgeOf = (s: { source: Parameters<typeof nodeId>[0]; target: Parameters<typeof nodeId>[0] }) => `${nodeId(s.source)}->${nodeId(s.target)}`;

describe('the reporting proxy', () => {
  it('is the canonical service and revision from Istio node metadata (one node with its spans and metrics)', () => {
    const decoded = roundTrip({ identifier: identifier(productpage) });
    assert.deepEqual(reportingProxy(decoded.node!).node, { kind: 'service', name: 'productpage', namespace: 'bookinfo', version: 'v1' });
  });

  it('comes from the node id when there is no metadata (a Deployment pod name gives its workload)', () => {
    const decoded = roundTrip({ identifier: identifier(ratings, 'x', false) });
    assert.deepEqual(reportingProxy(decoded.node!).node, { kind: 'service', name: 'ratings-v1', namespace: 'bookinfo' });
  });
});

describe('HTTP entries', () => {
  it('productpage → reviews v1/v2/v3 (canary): outbound entries name the callee from upstream_peer', () => {
    const converted = convert({
      identifier: identifier(productpage),
      http_logs: {
        log_entry: [
          httpEntry({ cluster: outboundCluster('reviews', 9080), startMs: T0, durationMs: 12.5, code: 200, upstreamPeer: reviews('v1'), traceparent: `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01` }),
          httpEntry({ cluster: outboundCluster('reviews', 9080), startMs: T0 + 10, durationMs: 30, code: 200, upstreamPeer: reviews('v2') }),
          httpEntry({ cluster: outboundCluster('reviews', 9080, 'bookinfo', 'v3'), startMs: T0 + 20, durationMs: 41, code: 200, upstreamPeer: reviews('v3') }),
        ],
      },
    });
    assert.deepEqual(converted.samples.map(edgeOf), ['bookinfo/productpage@v1->bookinfo/reviews@v1', 'bookinfo/productpage@v1->bookinfo/reviews@v2', 'bookinfo/productpage@v1->bookinfo/reviews@v3']);
    assert.deepEqual(converted.samples.map((s) => [s.protocol, s.error, s.latencyNanos, s.weight, s.mtls]), [
      ['http', false, 12_500_000, 1, null],
      ['http', false, 30_000_000, 1, null],
      ['http', false, 41_000_000, 1, null],
    ]);
    assert.deepEqual(converted.samples[1]!.target, { kind: 'service', name: 'reviews', namespace: 'bookinfo', version: 'v2' });
    assert.deepEqual(converted.samples.map((s) => [s.requestBytes, s.responseBytes]), [[0, 295], [0, 295], [0, 295]]);
    assert.equal(converted.samples[0]!.timeUnixNano, BigInt(T0) * 1_000_000n);
    assert.equal(converted.samples[0]!.traceId, 'ab'.repeat(16));
    assert.equal(converted.samples[1]!.traceId, '');
    assert.deepEqual(converted.received, { http: 3, tcp: 0 });
    assert.deepEqual(converted.used, { http: 3, tcp: 0 });
    assert.deepEqual(converted.increments, []);
  });

  it('without upstream_peer the destination comes from the cluster name (subset = version)', () => {
    const converted = convert({
      identifier: identifier(productpage),
      http_logs: { log_entry: [httpEntry({ cluster: outboundCluster('reviews', 9080, 'bookinfo', 'v3'), startMs: T0, durationMs: 5, code: 200 })] },
    });
    assert.deepEqual(converted.samples[0]!.target, { kind: 'service', name: 'reviews', namespace: 'bookinfo', version: 'v3' });
  });

  it('reviews → ratings: a 503 (UF) is an error; gRPC status 14 under HTTP 200 is an error; flags are counted', () => {
    const converted = convert({
      identifier: identifier(reviews('v2')),
      http_logs: {
        log_entry: [
          httpEntry({ cluster: outboundCluster('ratings', 9080), startMs: T0, durationMs: 3, code: 200, upstreamPeer: ratings }),
          httpEntry({ cluster: outboundCluster('ratings', 9080), startMs: T0 + 1, durationMs: 1, code: 503, upstreamPeer: ratings, flags: { upstream_connection_failure: true } }),
          httpEntry({ cluster: outboundCluster('ratings', 9090), startMs: T0 + 2, durationMs: 2, code: 200, grpcStatus: 14, upstreamPeer: ratings }),
          httpEntry({ cluster: outboundCluster('ratings', 9090), startMs: T0 + 3, durationMs: 2, code: 200, grpcStatus: 5, upstreamPeer: ratings }),
        ],
      },
    });
    assert.deepEqual(converted.samples.map((s) => [edgeOf(s), s.protocol, s.error]), [
      ['bookinfo/reviews@v2->bookinfo/ratings@v1', 'http', false],
      ['bookinfo/reviews@v2->bookinfo/ratings@v1', 'http', true],
      ['bookinfo/reviews@v2->bookinfo/ratings@v1', 'grpc', true],
      ['bookinfo/reviews@v2->bookinfo/ratings@v1', 'grpc', false],
    ]);
    assert.deepEqual([...converted.responseFlags], [['UF', 1]]);
  });

  it('a reset with no response code is an error only when an upstream failure flag says so', () => {
    const converted = convert({
      identifier: identifier(reviews('v2')),
      http_logs: {
        log_entry: [
          httpEntry({ cluster: outboundCluster('ratings', 9080), startMs: T0, durationMs: 3, code: 0, upstreamPeer: ratings, flags: { upstream_remote_reset: true } }),
          httpEntry({ cluster: outboundCluster('ratings', 9080), startMs: T0, durationMs: 3, code: 0, upstreamPeer: ratings, flags: { downstream_connection_termination: true } }),
          httpEntry({ cluster: outboundCluster('ratings', 9080), startMs: T0, durationMs: 3, code: 429, upstreamPeer: ratings, flags: { rate_limited: true } }),
        ],
      },
    });
    assert.deepEqual(converted.samples.map((s) => s.error), [true, false, false]);
    assert.deepEqual(new Map(converted.responseFlags), new Map([['UR', 1], ['DC', 1], ['RL', 1]]));
  });

  it('inbound from a meshed caller is not counted again, but gives the pair its mTLS', () => {
    const converted = convert({
      identifier: identifier(reviews('v2')),
      http_logs: {
        log_entry: [
          httpEntry({ cluster: inboundCluster(9080), startMs: T0, durationMs: 29, code: 200, downstreamPeer: productpage, peerSan: spiffe(productpage) }),
          // Permissive mode: a meshed caller in plaintext.
          httpEntry({ cluster: inboundCluster(9080), startMs: T0, durationMs: 29, code: 200, downstreamPeer: productpage }),
        ],
      },
    });
    assert.deepEqual(converted.samples, []);
    assert.deepEqual(converted.used, { http: 0, tcp: 0 });
    assert.deepEqual(converted.skipped, [{ type: 'http', reason: 'counted_by_caller' }, { type: 'http', reason: 'counted_by_caller' }]);
    assert.deepEqual(converted.increments.map((i) => [edgeOf(i), i.protocol, i.requests, i.mtlsYes, i.mtlsNo]), [
      ['bookinfo/productpage@v1->bookinfo/reviews@v2', 'http', 0, 1, 0],
      ['bookinfo/productpage@v1->bookinfo/reviews@v2', 'http', 0, 0, 1],
    ]);
  });

  it('inbound from an unmeshed caller counts, from unknown, plaintext; a peer SAN alone names a meshed caller', () => {
    const converted = convert({
      identifier: identifier(productpage),
      http_logs: {
        log_entry: [
          httpEntry({ cluster: inboundCluster(9080), startMs: T0, durationMs: 80, code: 200 }),
          httpEntry({ cluster: inboundCluster(9080), startMs: T0, durationMs: 80, code: 500 }),
          httpEntry({ cluster: inboundCluster(9080), startMs: T0, durationMs: 80, code: 200, peerSan: 'spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account' }),
        ],
      },
    });
    assert.deepEqual(converted.samples.map((s) => [edgeOf(s), s.error, s.mtls, s.latencyNanos]), [
      ['unknown->bookinfo/productpage@v1', false, false, 80_000_000],
      ['unknown->bookinfo/productpage@v1', true, false, 80_000_000],
    ]);
    assert.deepEqual(converted.increments.map((i) => [edgeOf(i), i.requests, i.mtlsYes]), [['istio-system/istio-ingressgateway-service-account->bookinfo/productpage@v1', 0, 1]]);
  });

  it('skips entries with no destination and intermediate ones; tolerates enum values it does not know; weighs sampled entries', () => {
    const converted = convert({
      identifier: identifier(productpage),
      http_logs: {
        log_entry: [
          httpEntry({ cluster: 'PassthroughCluster', startMs: T0, durationMs: 1, code: 200 }),
          httpEntry({ cluster: '', startMs: T0, durationMs: 1, code: 404, flags: { no_route_found: true } }),
          httpEntry({ cluster: outboundCluster('reviews', 9080), startMs: T0, durationMs: 1, code: 0, upstreamPeer: reviews('v1'), intermediate: true, flags: { upstream_request_timeout: true } }),
          httpEntry({ cluster: outboundCluster('reviews', 9080), startMs: T0, durationMs: 1, code: 200, upstreamPeer: reviews('v1'), accessLogType: 'DownstreamPeriodic' }),
          httpEntry({ cluster: outboundCluster('reviews', 9080), startMs: T0, durationMs: 7, code: 200, upstreamPeer: reviews('v1'), protocolVersion: 9, accessLogType: 99, sampleRate: 0.25 }),
        ],
      },
    });
    assert.deepEqual(converted.skipped.map((s) => s.reason), ['no_destination', 'no_destination', 'not_final', 'not_final']);
    assert.deepEqual(converted.samples.map((s) => [edgeOf(s), s.protocol, s.weight]), [['bookinfo/productpage@v1->bookinfo/reviews@v1', 'http', 4]]);
    assert.deepEqual([...converted.responseFlags], [['NR', 1]], 'flags of final entries only');
  });

  it('an entry without any duration still counts, without latency', () => {
    const converted = convert({
      identifier: identifier(productpage),
      http_logs: { log_entry: [httpEntry({ cluster: outboundCluster('details', 9080), startMs: T0, code: 200 })] },
    });
    assert.deepEqual(converted.samples, []);
    assert.deepEqual(converted.increments.map((i) => [edgeOf(i), i.requests, i.errors, i.latency]), [['bookinfo/productpage@v1->bookinfo/details', 1, 0, null]]);
  });
});

describe('TCP entries', () => {
  it('ratings → mysqldb and an external database: protocol tcp, a connection failure is an error', () => {
    const converted = convert({
      identifier: identifier(ratings, 'tcp_envoy_accesslog'),
      tcp_logs: {
        log_entry: [
          tcpEntry({ cluster: outboundCluster('mysqldb', 3306), startMs: T0, durationMs: 1500, upstreamPeer: mysqldb }),
          tcpEntry({ cluster: 'outbound|5432||orders.c9akciq32.eu-west-1.rds.amazonaws.com', startMs: T0, durationMs: 250 }),
          tcpEntry({ cluster: outboundCluster('mysqldb', 3306), startMs: T0, durationMs: 3, upstreamPeer: mysqldb, flags: { upstream_connection_failure: true } }),
        ],
      },
    });
    assert.deepEqual(converted.samples.map((s) => [edgeOf(s), s.protocol, s.error, s.latencyNanos]), [
      ['bookinfo/ratings@v1->bookinfo/mysqldb@v1', 'tcp', false, 1_500_000_000],
      ['bookinfo/ratings@v1->orders.c9akciq32.eu-west-1.rds.amazonaws.com', 'tcp', false, 250_000_000],
      ['bookinfo/ratings@v1->bookinfo/mysqldb@v1', 'tcp', true, 3_000_000],
    ]);
    assert.equal(converted.samples[1]!.target.kind, 'virtual');
    assert.deepEqual([converted.samples[0]!.requestBytes, converted.samples[0]!.responseBytes], [120, 4096], 'received from the caller, sent back to it');
    assert.deepEqual(converted.received, { http: 0, tcp: 3 });
    assert.deepEqual(converted.used, { http: 0, tcp: 3 });
  });
});
