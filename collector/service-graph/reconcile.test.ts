// The storage pass: halves of one trace closed in different places (another collector, or after
// graph.wait) end up counted exactly as if they had been paired together.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type SpanRecord, SpanKind } from '../model.ts';
import { nodeId, toHalf } from './halves.ts';
import { type EdgeObservation, pairHalves } from './pairing.ts';
import { type Leftover, decodeHalf, encodeHalf, leftoversOf, reconcileTrace } from './reconcile.ts';
import { span } from './spans-for-tests.ts';
import { seededRandom as random } from '../../test/helpers/random.ts';

const { Client, Server } = SpanKind;
const ns = 'bookinfo';

// OTel style, bookinfo-like: the ingress gateway calls productpage, which calls reviews, which calls
// ratings, which queries MySQL.
const otelTrace = [
  span({ id: 'g1', kind: Client, service: 'istio-ingressgateway', namespace: 'istio-system', durationMs: 60, attributes: { upstream_cluster: 'outbound|9080||productpage.bookinfo.svc.cluster.local' } }),
  span({ id: 'p1', parent: 'g1', kind: Server, service: 'productpage', namespace: ns, startMs: 1, durationMs: 58 }),
  span({ id: 'p2', parent: 'p1', kind: Client, service: 'productpage', namespace: ns, startMs: 2, durationMs: 40, attributes: { 'server.address': 'reviews' } }),
  span({ id: 'r1', parent: 'p2', kind: Server, service: 'reviews', namespace: ns, startMs: 3, durationMs: 38, attributes: { 'http.response.status_code': 503 } }),
  span({ id: 'r2', parent: 'r1', kind: Client, service: 'reviews', namespace: ns, startMs: 4, durationMs: 20, attributes: { 'server.address': 'ratings' } }),
  span({ id: 't1', parent: 'r2', kind: Server, service: 'ratings', namespace: ns, startMs: 5, durationMs: 18 }),
  span({ id: 't2', parent: 't1', kind: Client, service: 'ratings', namespace: ns, startMs: 6, durationMs: 7, attributes: { 'db.system': 'mysql', 'db.namespace': 'ratings' } }),
];

// Zipkin/Envoy style: productpage's sidecar reports its SERVER half and the CLIENT half of the call to
// details; details' sidecar reports the SERVER half under the same span id.
const zipkinTrace = [
  span({ id: 'z1', kind: Server, service: 'productpage', namespace: ns, durationMs: 30 }),
  span({ id: 'z2', parent: 'z1', kind: Client, service: 'productpage', namespace: ns, startMs: 1, durationMs: 12, attributes: { upstream_cluster: 'outbound|9080||details.bookinfo.svc.cluster.local' } }),
  span({ id: 'z2', parent: 'z1', kind: Server, service: 'details', namespace: ns, startMs: 2, durationMs: 10 }),
];

/** Order-free summary of what an edge contributes to the rows. */
const summary = (edge: EdgeObservation) => `${nodeId(edge.source)} -> ${nodeId(edge.target)} ${edge.latencyNanos / 1e6}ms${edge.error ? ' error' : ''} @${edge.timeUnixNano}`;

function tally(entries: Array<{ edge: EdgeObservation; sign: 1 | -1 }>): string[] {
  const counts = new Map<string, number>();
  for (const { edge, sign } of entries) counts.set(summary(edge), (counts.get(summary(edge)) ?? 0) + sign);
  const out: string[] = [];
  for (const [key, n] of counts) {
    assert.ok(n >= 0, `${key} taken back more often than written`);
    for (let i = 0; i < n; i++) out.push(key);
  }
  return out.sort();
}

interface Close {
  spans: SpanRecord[];
  atMs: number;
  by: string;
}

/**
 * Runs the in-memory stage once per close (what it writes, and its leftovers), then reconciliation
 * windows of `windowMs`, and returns the net rows written.
 */
function simulate(closes: readonly Close[], windowMs: number): string[] {
  const written: Array<{ edge: EdgeObservation; sign: 1 | -1 }> = [];
  const stored: Leftover[] = [];
  for (const close of closes) {
    const halves = close.spans.map(toHalf);
    const { edges } = pairHalves(halves, { final: true });
    written.push(...edges.map((edge) => ({ edge, sign: 1 as const })));
    for (const leftover of leftoversOf(halves, edges)) stored.push({ ...leftover, closedBy: close.by, storedAtMs: close.atMs });
  }
  const last = Math.max(...closes.map((c) => c.atMs));
  for (let end = windowMs; end < last + 2 * windowMs; end += windowMs) {
    const visible = stored.filter((l) => l.storedAtMs <= end);
    const { add, retract } = reconcileTrace(visible, end - windowMs);
    written.push(...add.map((edge) => ({ edge, sign: 1 as const })), ...retract.map((edge) => ({ edge, sign: -1 as const })));
  }
  return tally(written);
}

const truth = (spans: readonly SpanRecord[]) => tally(pairHalves(spans.map(toHalf), { final: true }).edges.map((edge) => ({ edge, sign: 1 as const })));


describe('reconcileTrace', () => {
  it('a CLIENT and its SERVER closed at two collectors: one paired edge replaces both guesses', () => {
    const [, , p2, r1] = otelTrace;
    const closes = [
      { spans: [p2!], atMs: 100, by: 'collector-a:1' },
      { spans: [r1!], atMs: 130, by: 'collector-b:1' },
    ];
    // What each collector alone wrote: productpage -> reviews (virtual, from server.address) and unknown -> reviews.
    const alone = closes.flatMap((c) => pairHalves(c.spans.map(toHalf), { final: true }).edges.map(summary)).sort();
    assert.deepEqual(alone, [
      `bookinfo/productpage -> reviews 40ms @${p2!.startTimeUnixNano}`,
      `unknown -> bookinfo/reviews 38ms error @${r1!.startTimeUnixNano}`,
    ]);
    assert.deepEqual(simulate(closes, 60), [`bookinfo/productpage -> bookinfo/reviews 38ms error @${r1!.startTimeUnixNano}`]);
  });

  it('the SERVER first, its CLIENT minutes later at the same collector', () => {
    const [, , p2, r1] = otelTrace;
    const closes = [
      { spans: [r1!], atMs: 10_000, by: 'a:1' },
      { spans: [p2!], atMs: 190_000, by: 'a:2' },
    ];
    assert.deepEqual(simulate(closes, 30_000), truth([p2!, r1!]));
  });

  it('both halves new in the same window, and a re-run of a later window changes nothing', () => {
    const [, , p2, r1] = otelTrace;
    const stored: Leftover[] = [];
    for (const [s, by] of [[p2!, 'a:1'], [r1!, 'b:1']] as const) {
      const halves = [toHalf(s)];
      for (const l of leftoversOf(halves, pairHalves(halves, { final: true }).edges)) stored.push({ ...l, closedBy: by, storedAtMs: 5 });
    }
    const first = reconcileTrace(stored, 0);
    assert.equal(first.add.length, 1);
    assert.equal(first.retract.length, 2);
    assert.deepEqual(reconcileTrace(stored, 10), { add: [], retract: [] }, 'nothing new after the window: nothing to write');
  });

  it('a trace whose leftovers all come from one close needs nothing', () => {
    const halves = otelTrace.map(toHalf);
    const leftovers = leftoversOf(halves, pairHalves(halves, { final: true }).edges).map((l) => ({ ...l, closedBy: 'a:1', storedAtMs: 5 }));
    assert.deepEqual(leftovers.map((l) => `${l.half.spanId.replace(/^0+/, '')} ${l.emitted}`), ['t2 unpaired-caller'], 'only the database call: nothing else lacks its partner');
    assert.deepEqual(reconcileTrace(leftovers, 0), { add: [], retract: [] });
  });

  it('a half stored by two collectors (sent twice) is counted once', () => {
    const [, , , r1] = otelTrace;
    const closes = [
      { spans: [r1!], atMs: 10, by: 'a:1' },
      { spans: [r1!], atMs: 20, by: 'b:1' },
    ];
    assert.deepEqual(simulate(closes, 30), truth([r1!]));
  });

  it('Zipkin shared span ids split between the two sidecars’ collectors', () => {
    const closes = [
      { spans: [zipkinTrace[0]!, zipkinTrace[1]!], atMs: 10, by: 'a:1' },
      { spans: [zipkinTrace[2]!], atMs: 70, by: 'b:1' },
    ];
    assert.deepEqual(simulate(closes, 30), truth(zipkinTrace));
    assert.deepEqual(simulate(closes, 30), [
      `bookinfo/productpage -> bookinfo/details 10ms @${zipkinTrace[2]!.startTimeUnixNano}`,
      `unknown -> bookinfo/productpage 30ms @${zipkinTrace[0]!.startTimeUnixNano}`,
    ]);
  });

  it('any split of a trace over collectors and times gives the same rows as pairing it whole', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const next = random(seed);
      const closeCount = 1 + Math.floor(next() * 4);
      const times = Array.from({ length: closeCount }, () => Math.floor(next() * 400_000));
      // OTel spans may be split one by one; a Zipkin sidecar's spans travel together.
      const groups = [...otelTrace.map((s) => [s]), [zipkinTrace[0]!, zipkinTrace[1]!], [zipkinTrace[2]!]];
      const spansOf: SpanRecord[][] = times.map(() => []);
      for (const group of groups) spansOf[Math.floor(next() * closeCount)]!.push(...group);
      const closes = spansOf
        .map((spans, i) => ({ spans, atMs: times[i]!, by: `collector-${i % 2}:${i}` }))
        .filter((c) => c.spans.length > 0)
        .sort((a, b) => a.atMs - b.atMs);
      const windowMs = [1_000, 30_000, 120_000][seed % 3]!;
      assert.deepEqual(simulate(closes, windowMs), truth([...otelTrace, ...zipkinTrace]), `seed ${seed}`);
    }
  });

  it('a stored half reads back exactly', () => {
    const half = toHalf(otelTrace[1]!);
    assert.deepEqual(decodeHalf(encodeHalf(half)), half);
  });
});
