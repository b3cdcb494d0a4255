// `meshlens demo` end to end: the demo (meshlens all-in-one + the simulated bookinfo mesh, bin/demo.ts) runs
// in-process on port 0 with a temp data dir and short intervals; its telemetry goes through the real OTLP/HTTP,
// Zipkin and StatsD receivers and the real scraper, and the service graph API shows each signal's part of the
// mesh: the canary split of reviews, the database, mTLS and plaintext edges. Then it stops cleanly.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { type RunningDemo, startDemo } from '../../bin/demo.ts';
import type { GraphEdge, GraphNode } from '../../query/service-graph.ts';
import { getJson, ownMetric, tempDataDir, testConfig } from '../helpers/meshlens.ts';

interface Graph {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/** An edge as `caller → callee` with versions (`reviews@v2`), read through the graph's nodes. */
interface NamedEdge extends GraphEdge {
  from: string;
  to: string;
  toKind: GraphNode['kind'];
}

const dataDir = tempDataDir();
let demo: RunningDemo;
let queryUrl: string;

before(async () => {
  const config = testConfig(dataDir, {
    'graph.wait': '1s',
    'graph.flush_interval': '200ms',
    'statsd.flush_interval': '200ms',
    'scrape.interval': '500ms',
    'scrape.timeout': '400ms',
  });
  demo = await startDemo({ config, tickMs: 200, requestsPerTick: 10, seed: 42 });
  queryUrl = `http://127.0.0.1:${demo.meshlens.ports.query}`;
});
after(async () => {
  await demo?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const label = (node: GraphNode | undefined) => (node ? (node.version ? `${node.name}@${node.version}` : node.name) : '?');

async function graph(signal: string): Promise<NamedEdge[]> {
  const { body } = await getJson<Graph>(`${queryUrl}/api/v1/service-graph?signal=${signal}&start=${Date.now() - 600_000}`);
  const nodes = new Map(body.nodes.map((n) => [n.id, n]));
  return body.edges.map((e) => ({ ...e, from: label(nodes.get(e.source)), to: label(nodes.get(e.target)), toKind: nodes.get(e.target)?.kind ?? 'unknown' }));
}

/** Polls one signal's graph until every `expected` edge (`from → to`) is there, for at most ~20 s. */
async function edgesUntil(signal: string, expected: readonly string[], minRequests = 1): Promise<Map<string, NamedEdge>> {
  let byName = new Map<string, NamedEdge>();
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    byName = new Map((await graph(signal)).map((e) => [`${e.from} → ${e.to}`, e]));
    if (expected.every((name) => (byName.get(name)?.requests ?? 0) >= minRequests)) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  for (const name of expected) {
    assert.ok(byName.has(name), `${signal}: no edge ${name}; have ${[...byName.keys()].join(', ')}`);
    assert.ok(byName.get(name)!.requests >= minRequests, `${signal}: ${name} has ${byName.get(name)!.requests} requests, expected ${minRequests}+`);
  }
  return byName;
}

describe('meshlens demo', () => {
  it('sends spans (OTLP and Zipkin) for the whole bookinfo mesh: canary split, errors, database, mTLS and plaintext', async () => {
    const spans = await edgesUntil(
      'spans',
      ['istio-ingressgateway → productpage', 'productpage → details', 'productpage → reviews@v1', 'productpage → reviews@v2', 'productpage → reviews@v3', 'reviews@v2 → ratings', 'reviews@v3 → ratings', 'ratings → mysql'],
      20,
    );
    const reviews = ['v1', 'v2', 'v3'].map((v) => spans.get(`productpage → reviews@${v}`)!.requests);
    const total = reviews.reduce((a, b) => a + b, 0);
    const share = reviews.map((r) => r / total);
    // 50/30/20 split, within sampling noise of a few hundred page views.
    assert.ok(Math.abs(share[0]! - 0.5) < 0.15 && Math.abs(share[1]! - 0.3) < 0.15 && Math.abs(share[2]! - 0.2) < 0.12, `split ${share.map((s) => s.toFixed(2)).join('/')}`);
    assert.equal(spans.get('ratings → mysql')!.toKind, 'database');
    assert.equal(spans.get('productpage → reviews@v2')!.mtls, true);
    assert.equal(spans.get('productpage → details')!.mtls, false, 'productpage → details is the plaintext edge');
    assert.equal(spans.get('productpage → details')!.errors, 0);
    // Zipkin spans of reviews → ratings join the OTLP traces: the edge is paired, with its latency.
    assert.ok(spans.get('reviews@v3 → ratings')!.p50Ms! > 0);
  });

  it('reviews v3 answers about 8 % 503s', async () => {
    const spans = await edgesUntil('spans', ['productpage → reviews@v3'], 100);
    const v3 = spans.get('productpage → reviews@v3')!;
    assert.ok(v3.errors > 0 && v3.errorRate < 0.25, `reviews v3: ${v3.errors} errors of ${v3.requests}`);
    assert.equal(spans.get('productpage → reviews@v1')?.errors ?? 0, 0);
  });

  it('sends App Mesh DogStatsD lines over UDP: productpage → details', async () => {
    const statsd = await edgesUntil('statsd', ['productpage → details']);
    const edge = statsd.get('productpage → details')!;
    assert.deepEqual(edge.signals, ['statsd']);
    assert.ok(edge.p50Ms! > 0, 'timers carry latency');
  });

  it('serves Istio sidecar metrics that meshlens scrapes: reviews v2/v3 → ratings with mTLS', async () => {
    const prometheus = await edgesUntil('prometheus', ['reviews@v2 → ratings', 'reviews@v3 → ratings']);
    for (const edge of prometheus.values()) {
      assert.equal(edge.mtls, true, `${edge.from} → ${edge.to}`);
      assert.deepEqual(edge.signals, ['prometheus']);
    }
    const up = await ownMetric(queryUrl, 'meshlens_scrape_target_up');
    assert.equal([...up.values()].filter((v) => v === 1).length, 3, 'three sidecar pages scraped');
  });

  it('names every workload alike in every signal, so calls several signals describe are one edge each', async () => {
    const all = await edgesUntil('all', ['productpage → details', 'reviews@v2 → ratings', 'reviews@v3 → ratings']);
    assert.deepEqual(all.get('productpage → details')!.signals, ['spans', 'statsd']);
    assert.deepEqual(all.get('reviews@v2 → ratings')!.signals, ['prometheus', 'spans']);
    assert.deepEqual(all.get('reviews@v3 → ratings')!.signals, ['prometheus', 'spans']);
    assert.equal(all.size, 8, `one edge per call: ${[...all.keys()].join(', ')}`);
  });

  it('stops cleanly: the simulator and meshlens', async () => {
    const before = demo.requests();
    assert.ok(before > 0);
    await demo.stop();
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(demo.requests(), before, 'no traffic after stop');
    await assert.rejects(fetch(`${queryUrl}/healthz`), 'query port closed');
    await assert.rejects(fetch(`${demo.prometheusUrl}/ratings-v1/stats/prometheus`), 'prometheus endpoint closed');
  });
});
