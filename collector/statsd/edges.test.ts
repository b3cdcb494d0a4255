// StatsD series → edges, with what each mesh's Envoy sinks really send (mesh-telemetry.md §2, §3): plain
// StatsD dotted names for Istio, Consul and App Mesh clusters, DogStatsD tag forms, the App Mesh metrics
// extension, who the sender is, and what is no edge.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nodeId } from '../service-graph/halves.ts';
import { StatsdAggregator } from './aggregator.ts';
import { mayDescribeEdge, statsdIncrements } from './edges.ts';
import { type StatsdSender, identifySender, rememberingIdentify, senderAddress } from './identity.ts';
import { parsePacket } from './line.ts';

const T = 1_764_140_000_000_000_000n;

const SENDERS: Record<string, StatsdSender> = {
  '10.1.2.3': { workload: 'productpage-v1', namespace: 'bookinfo', mesh: 'istio' },
  '10.1.2.4': { workload: 'reviews', namespace: 'default', version: 'v2' },
};

interface Edge {
  from: string;
  to: string;
  fromKind: string;
  toKind: string;
  requests: number;
  errors: number;
  latencyCount: number | null;
  p50: number | null;
}

/**
 * Packets (sender → text) through the aggregator and into edges, sorted by source then target: every line
 * parsed and added, and — as the receiver reads them — through takeLine() skipping what mayDescribeEdge()
 * refuses; both must give the same edges, so no fixture here has an edge line the early skip would lose.
 */
function edgesOf(packets: Array<[sender: string, text: string]>): Edge[] {
  const everyLine = new StatsdAggregator({ maxSeries: 1000 });
  for (const [sender, text] of packets) for (const metric of parsePacket(text).metrics) everyLine.add(metric, sender);
  const edges = edgesFrom(everyLine);
  const asReceived = new StatsdAggregator({ maxSeries: 1000 });
  for (const [sender, text] of packets) {
    for (let start = 0; start <= text.length; ) {
      const end = text.indexOf('\n', start) < 0 ? text.length : text.indexOf('\n', start);
      asReceived.takeLine(text, start, end, sender, mayDescribeEdge);
      start = end + 1;
    }
  }
  assert.deepEqual(edgesFrom(asReceived), edges, 'the receiver\'s early skip loses no edge');
  return edges;
}

function edgesFrom(aggregator: StatsdAggregator): Edge[] {
  const increments = statsdIncrements(aggregator.drain(), (sender, tags) => identifySender(sender, tags, SENDERS), T);
  return increments
    .map((e) => ({
      from: nodeId(e.source), to: nodeId(e.target), fromKind: e.source.kind, toKind: e.target.kind,
      requests: Math.round(e.requests * 1e9) / 1e9, errors: Math.round(e.errors * 1e9) / 1e9,
      latencyCount: e.latency?.count ?? null, p50: e.latency?.quantile(0.5) ?? null,
    }))
    .sort((a, b) => `${a.from} ${a.to}`.localeCompare(`${b.from} ${b.to}`));
}

const lines = (...all: string[]) => all.join('\n');
const pick = (edges: Edge[], keys: Array<keyof Edge>) => edges.map((e) => Object.fromEntries(keys.map((k) => [k, e[k]])));

describe('statsdIncrements: plain StatsD (Envoy statsd sink, dotted names)', () => {
  it('Istio: outbound|port|subset|fqdn clusters, per-code counts, 5xx errors, upstream_rq_time samples; not inbound, passthrough, listeners', () => {
    const R2 = 'envoy.cluster.outbound|9080|v2|reviews.bookinfo.svc.cluster.local';
    const R3 = 'envoy.cluster.outbound|9080|v3|reviews.bookinfo.svc.cluster.local';
    const edges = edgesOf([
      ['10.1.2.3', lines(
        `${R2}.upstream_rq_200:17|c`, `${R2}.upstream_rq_2xx:17|c`, `${R2}.upstream_rq_total:17|c`, `${R2}.upstream_rq_completed:17|c`,
        `${R2}.upstream_rq_time:10|ms`, `${R2}.upstream_rq_time:12|ms`, `${R2}.upstream_rq_time:30|ms`,
        `${R3}.upstream_rq_200:5|c`, `${R3}.upstream_rq_503:2|c`, `${R3}.upstream_rq_2xx:5|c`, `${R3}.upstream_rq_5xx:2|c`, `${R3}.upstream_rq_total:7|c`,
        `${R3}.internal.upstream_rq_200:5|c`,
        'envoy.cluster.inbound|9080||.upstream_rq_200:40|c', 'envoy.cluster.PassthroughCluster.upstream_rq_200:3|c', 'envoy.cluster.xds-grpc.upstream_rq_200:1|c',
        'envoy.http.inbound_0.0.0.0_9080.downstream_rq_2xx:40|c', 'envoy.listener.0.0.0.0_9080.downstream_cx_total:4|c',
        'envoy.cluster.outbound|9080|v2|reviews.bookinfo.svc.cluster.local.membership_healthy:3|g',
      )],
      // The same sender a second time in the interval: the counts add up.
      ['10.1.2.3', `${R2}.upstream_rq_200:3|c\n${R2}.upstream_rq_time:11|ms`],
    ]);
    assert.deepEqual(pick(edges, ['from', 'to', 'toKind', 'requests', 'errors', 'latencyCount']), [
      { from: 'bookinfo/productpage-v1', to: 'bookinfo/reviews@v2', toKind: 'service', requests: 20, errors: 0, latencyCount: 4 },
      { from: 'bookinfo/productpage-v1', to: 'bookinfo/reviews@v3', toKind: 'service', requests: 7, errors: 2, latencyCount: null },
    ]);
    assert.ok(Math.abs(edges[0]!.p50! - 11) <= 0.11, `p50 of 10, 11, 12, 30 is 11: ${edges[0]!.p50}`);
  });

  it('Consul: …consul cluster names with dots (subset, trust domain), local_app is the own-app hop', () => {
    const TD = '11111111-2222-3333-4444-555555555555.consul';
    const edges = edgesOf([
      ['10.1.2.4', lines(
        `envoy.cluster.ratings.default.dc1.internal.${TD}.upstream_rq_200:9|c`,
        `envoy.cluster.ratings.default.dc1.internal.${TD}.upstream_rq_504:1|c`,
        `envoy.cluster.ratings.default.dc1.internal.${TD}.upstream_rq_time:4:6|ms`,
        `envoy.cluster.v1.details.default.dc1.internal.${TD}.upstream_rq_2xx:2|c`,
        'envoy.cluster.local_app.upstream_rq_200:12|c', 'envoy.cluster.local_agent.upstream_rq_200:1|c',
        'envoy.http.public_listener.downstream_rq_2xx:12|c',
      )],
    ]);
    assert.deepEqual(pick(edges, ['from', 'to', 'requests', 'errors', 'latencyCount']), [
      { from: 'default/reviews@v2', to: 'default/details@v1', requests: 2, errors: 0, latencyCount: null },
      { from: 'default/reviews@v2', to: 'default/ratings', requests: 10, errors: 1, latencyCount: 2 },
    ]);
  });

  it('App Mesh: cds_egress_<mesh>_<node>_<protocol>_<port>, not cds_ingress_ nor amazonaws; an unknown sender is its address', () => {
    const edges = edgesOf([
      ['::ffff:10.9.9.9', lines(
        'envoy.cluster.cds_egress_bookinfo_details_bookinfo_http_9080.upstream_rq_2xx:4|c',
        'envoy.cluster.cds_egress_bookinfo_details_bookinfo_http_9080.upstream_rq_5xx:1|c',
        'envoy.cluster.cds_egress_bookinfo_details_bookinfo_http_9080.upstream_rq_time:8|ms',
        'envoy.cluster.cds_ingress_bookinfo_productpage_bookinfo_http_9080.upstream_rq_2xx:5|c',
        'envoy.cluster.cds_egress_bookinfo_amazonaws.upstream_rq_2xx:2|c',
      )],
    ]);
    assert.deepEqual(pick(edges, ['from', 'fromKind', 'to', 'requests', 'errors', 'latencyCount']), [
      { from: '10.9.9.9', fromKind: 'unknown', to: 'bookinfo/details', requests: 5, errors: 1, latencyCount: 1 },
    ]);
  });

  it('weights sampled counters and timers by 1/rate', () => {
    const C = 'envoy.cluster.outbound|80||web.shop.svc.cluster.local';
    const [edge] = edgesOf([['10.1.2.3', lines(`${C}.upstream_rq_200:1|c|@0.1`, `${C}.upstream_rq_200:1|c|@0.1`, `${C}.upstream_rq_503:1|c|@0.5`, `${C}.upstream_rq_time:5|ms|@0.1`)]]);
    assert.deepEqual(pick([edge!], ['to', 'requests', 'errors', 'latencyCount']), [{ to: 'shop/web', requests: 22, errors: 2, latencyCount: 10 }]);
  });
});

describe('statsdIncrements: DogStatsD (Envoy dog_statsd sink, tag-extracted names)', () => {
  it('App Mesh: appmesh.virtual_node → envoy.cluster_name, errors from envoy.response_code_class:5', () => {
    const tags = (cluster: string, extra: string) => `|#appmesh.mesh:bookinfo,appmesh.virtual_node:productpage_bookinfo,envoy.cluster_name:${cluster},${extra}`;
    const reviews = 'cds_egress_bookinfo_reviews-v1_bookinfo_http_9080';
    const edges = edgesOf([
      ['10.0.0.50', lines(
        `envoy.cluster.upstream_rq_xx:10|c${tags(reviews, 'envoy.response_code_class:2')}`,
        `envoy.cluster.upstream_rq_xx:3|c${tags(reviews, 'envoy.response_code_class:5')}`,
        `envoy.cluster.upstream_rq_total:13|c${tags(reviews, 'x:y')}`,
        `envoy.cluster.upstream_rq_time:20|ms${tags(reviews, 'x:y')}`,
        `envoy.cluster.upstream_rq_xx:4|c${tags('cds_ingress_bookinfo_productpage_bookinfo_http_9080', 'envoy.response_code_class:2')}`,
      )],
    ]);
    assert.deepEqual(pick(edges, ['from', 'fromKind', 'to', 'requests', 'errors', 'latencyCount']), [
      { from: 'bookinfo/productpage', fromKind: 'service', to: 'bookinfo/reviews-v1', requests: 13, errors: 3, latencyCount: 1 },
    ]);
  });

  it('App Mesh outside Kubernetes: the mesh name is the namespace of both ends', () => {
    const edges = edgesOf([
      ['10.0.0.51', 'envoy.cluster.upstream_rq:6|c|#appmesh.mesh:shop_mesh,appmesh.virtual_node:web,envoy.cluster_name:cds_egress_shop_mesh_cart_http_8080,envoy.response_code:200'],
    ]);
    assert.deepEqual(pick(edges, ['from', 'to', 'requests']), [{ from: 'shop_mesh/web', to: 'shop_mesh/cart', requests: 6 }]);
  });

  it('puts back the rest of a dotted cluster name the default tag extraction left in the stat name (Consul)', () => {
    const edges = edgesOf([
      ['10.0.0.52', lines(
        'envoy.cluster.default.dc1.internal.td.consul.upstream_rq:8|c|#envoy.cluster_name:ratings,envoy.response_code:200,consul.source.service:reviews,consul.source.namespace:default',
        'envoy.cluster.default.dc1.internal.td.consul.upstream_rq:2|c|#envoy.cluster_name:ratings,envoy.response_code:500,consul.source.service:reviews,consul.source.namespace:default',
      )],
    ]);
    assert.deepEqual(pick(edges, ['from', 'to', 'requests', 'errors']), [{ from: 'default/reviews', to: 'default/ratings', requests: 10, errors: 2 }]);
  });

  it("Consul's stats tags: consul.destination.* name the destination", () => {
    const t = 'consul.source.service:web,consul.source.namespace:shop,consul.destination.service:api,consul.destination.namespace:shop,consul.destination.service_subset:v2,consul.destination.datacenter:dc1';
    const edges = edgesOf([
      ['10.0.0.53', lines(`envoy.cluster.upstream_rq:5|c|#${t},envoy.response_code:200`, `envoy.cluster.upstream_rq:1|c|#${t},envoy.response_code:503`, `envoy.cluster.upstream_rq_time:7|ms|#${t}`)],
    ]);
    assert.deepEqual(pick(edges, ['from', 'to', 'requests', 'errors', 'latencyCount']), [{ from: 'shop/web', to: 'shop/api@v2', requests: 6, errors: 1, latencyCount: 1 }]);
  });

  it('Istio clusters in envoy.cluster_name (with "|" inside), the sender from statsd.senders', () => {
    const edges = edgesOf([
      ['10.1.2.3', 'envoy.cluster.upstream_rq:4|c|#envoy.cluster_name:outbound|9080||details.bookinfo.svc.cluster.local,envoy.response_code:200'],
    ]);
    assert.deepEqual(pick(edges, ['from', 'to', 'requests']), [{ from: 'bookinfo/productpage-v1', to: 'bookinfo/details', requests: 4 }]);
  });

  it('the App Mesh metrics extension: VirtualNode → TargetVirtualNode, read instead of the cluster stats it repeats', () => {
    const dims = (target: string) => `|#Mesh:bookinfo,VirtualNode:productpage_bookinfo,TargetVirtualNode:${target},TargetVirtualService:${target.split('_')[0]}.bookinfo.svc.cluster.local`;
    const edges = edgesOf([
      ['10.0.0.54', lines(
        `envoy.appmesh.RequestCountPerTarget:12|c${dims('reviews-v2_bookinfo')}`,
        `envoy.appmesh.HTTPCode_Target_2XX_Count:10|c${dims('reviews-v2_bookinfo')}`,
        `envoy.appmesh.HTTPCode_Target_5XX_Count:2|c${dims('reviews-v2_bookinfo')}`,
        `envoy.appmesh.TargetResponseTime:15:25|ms${dims('reviews-v2_bookinfo')}`,
        `envoy.appmesh.HTTPCode_Target_2XX_Count:3|c${dims('details_bookinfo')}`,
        // The cluster stats of the same proxy count the same requests: not read.
        'envoy.cluster.upstream_rq_xx:12|c|#appmesh.mesh:bookinfo,appmesh.virtual_node:productpage_bookinfo,envoy.cluster_name:cds_egress_bookinfo_reviews-v2_bookinfo_http_9080,envoy.response_code_class:2',
      )],
    ]);
    assert.deepEqual(pick(edges, ['from', 'to', 'requests', 'errors', 'latencyCount']), [
      { from: 'bookinfo/productpage', to: 'bookinfo/details', requests: 3, errors: 0, latencyCount: null },
      { from: 'bookinfo/productpage', to: 'bookinfo/reviews-v2', requests: 12, errors: 2, latencyCount: 2 },
    ]);
  });
});

describe('identifySender', () => {
  it('prefers the tags, then statsd.senders, then the address', () => {
    assert.deepEqual(identifySender('10.1.2.3', { 'appmesh.virtual_node': 'web', 'appmesh.mesh': 'm' }, SENDERS).node, { kind: 'service', name: 'web', namespace: 'm' });
    assert.deepEqual(identifySender('10.1.2.3', { local_cluster: 'web' }, SENDERS).node, { kind: 'service', name: 'web', namespace: '' });
    assert.deepEqual(identifySender('::ffff:10.1.2.4', {}, SENDERS).node, { kind: 'service', name: 'reviews', namespace: 'default', version: 'v2' });
    assert.deepEqual(identifySender('10.7.7.7', {}, SENDERS).node, { kind: 'unknown', name: '10.7.7.7', namespace: '' });
  });

  it('rememberingIdentify answers as identifySender does, once per proxy', () => {
    const identify = rememberingIdentify(SENDERS);
    const asks: Array<[string, Record<string, string>]> = [
      ['10.1.2.3', { 'appmesh.virtual_node': 'web', 'appmesh.mesh': 'm', 'envoy.cluster_name': 'a' }], ['10.1.2.3', { 'appmesh.virtual_node': 'web', Mesh: 'm2' }],
      ['10.1.2.3', { VirtualNode: 'web' }], ['10.1.2.3', { VirtualGateway: 'gw', Mesh: 'm' }], ['10.1.2.3', { 'consul.source.service': 'api', 'consul.source.namespace': 'ns' }],
      ['10.1.2.3', { local_cluster: 'api' }], ['10.1.2.3', {}], ['10.1.2.4', {}], ['::ffff:10.1.2.4', {}], ['10.7.7.7', { other: 'x' }],
    ];
    for (const [address, tags] of asks) assert.deepEqual(identify(address, tags), identifySender(address, tags, SENDERS), JSON.stringify([address, tags]));
    assert.equal(identify('10.1.2.3', { 'appmesh.virtual_node': 'web', 'appmesh.mesh': 'm', 'envoy.cluster_name': 'b' }), identify('10.1.2.3', { 'appmesh.virtual_node': 'web', 'appmesh.mesh': 'm' }));
  });

  it('reads IPv4-mapped IPv6 sender addresses as IPv4', () => {
    assert.equal(senderAddress('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(senderAddress('::1'), '::1');
  });
});

describe('statsdIncrements: time', () => {
  it('puts lines with a |T timestamp at their own time, the rest at the flush', () => {
    const aggregator = new StatsdAggregator({ maxSeries: 10 });
    const C = 'envoy.cluster.outbound|80||web.shop.svc.cluster.local.upstream_rq_200';
    for (const metric of parsePacket(`${C}:1|c|T1764000000\n${C}:2|c`).metrics) aggregator.add(metric, '10.1.2.3');
    const increments = statsdIncrements(aggregator.drain(), (s, tags) => identifySender(s, tags, SENDERS), T);
    assert.deepEqual(increments.map((e) => [e.timeUnixNano, e.requests]).sort((a, b) => Number(a[1]) - Number(b[1])), [[1_764_000_000_000_000_000n, 1], [T, 2]]);
  });
});

describe('mayDescribeEdge: the receiver\'s early skip', () => {
  const decide = (type: 'c' | 'g' | 'ms' | 's', line: string) => mayDescribeEdge(type, line, 0, line.indexOf(':'));
  it('keeps upstream request stats and App Mesh extension metrics, in every spelling statsdIncrements reads', () => {
    for (const name of [
      'envoy.cluster.upstream_rq', 'envoy.cluster.upstream_rq_xx', 'envoy.cluster.upstream_rq_total', 'cluster.upstream_rq_time',
      'envoy.cluster.outbound|9080|v2|reviews.bookinfo.svc.cluster.local.upstream_rq_200', 'envoy.cluster.x.upstream_rq_5xx',
      'envoy_cluster_upstream_rq', 'envoy.appmesh.RequestCountPerTarget', 'appmesh.TargetResponseTime',
      'envoy.cluster.x.upstream_rq_retry', // not read, but kept: the check is by the name's end only
      'requests,cluster=x', ' envoy.cluster.x.upstream_rq_200 ', // Telegraf tags or blanks: kept, statsdIncrements decides
    ]) assert.equal(decide('c', `${name}:1|c`), true, name);
    assert.equal(decide('ms', 'envoy.cluster.upstream_rq_time:1|ms'), true);
  });

  it('skips gauges, sets and every other stat', () => {
    assert.equal(decide('g', 'envoy.cluster.upstream_rq_total:1|g'), false);
    assert.equal(decide('s', 'envoy.cluster.upstream_rq:a|s'), false);
    for (const name of ['envoy.http.downstream_rq_xx', 'envoy.cluster.upstream_rq_pending_total', 'envoy.cluster.upstream_cx_total', 'envoy.listener.downstream_cx_total', 'page.views', 'u']) {
      assert.equal(decide('c', `${name}:1|c|#envoy.cluster_name:x`), false, name);
    }
  });
});
