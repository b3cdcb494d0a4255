// HalfPairer: halves of one call arriving in different batches pair once; unpaired halves wait for
// the window to close; memory stays under its bound.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SpanKind } from '../model.ts';
import { nodeId, toHalf } from './halves.ts';
import { HalfPairer } from './pairer.ts';
import type { EdgeObservation } from './pairing.ts';
import { span } from './spans-for-tests.ts';

const { Client, Server } = SpanKind;
const edgeIds = (edges: readonly EdgeObservation[]) => edges.map((e) => `${nodeId(e.source)} -> ${nodeId(e.target)}`);

const productpageCallsReviews = (trace: string) => ({
  client: toHalf(span({ trace, id: 'a1', kind: Client, service: 'productpage', namespace: 'bookinfo', durationMs: 30 })),
  server: toHalf(span({ trace, id: 'b1', parent: 'a1', kind: Server, service: 'reviews', namespace: 'bookinfo', startMs: 1, durationMs: 25 })),
});

describe('HalfPairer', () => {
  it('pairs the two halves of a call that arrive in different batches, once, when the trace goes quiet', () => {
    const pairer = new HalfPairer({ waitMs: 10_000, maxHalves: 1000 });
    const { client, server } = productpageCallsReviews('1');
    assert.deepEqual(pairer.add([server], 0).edges, [], 'the server alone waits for its caller');
    assert.deepEqual(pairer.add([client], 2_000).edges, []);
    assert.deepEqual(pairer.expire(11_999).edges, [], 'the trace was touched at 2 s: still open');
    const closed = pairer.expire(12_000).edges;
    assert.deepEqual(edgeIds(closed), ['bookinfo/productpage -> bookinfo/reviews'], 'one call, one edge; not also unknown -> reviews');
    assert.equal(closed[0]!.latencyNanos, 25_000_000, "the callee's duration");
    assert.deepEqual(pairer.expire(60_000).edges, []);
    assert.equal(pairer.size, 0);
  });

  it('decides an unpaired caller only when its trace has been quiet for waitMs', () => {
    const pairer = new HalfPairer({ waitMs: 10_000, maxHalves: 1000 });
    const query = toHalf(span({ trace: '2', id: 'c1', kind: Client, service: 'ratings', namespace: 'bookinfo', durationMs: 4, attributes: { 'db.system': 'mysql', 'db.namespace': 'ratings' } }));
    assert.deepEqual(pairer.add([query], 0).edges, []);
    assert.deepEqual(pairer.expire(9_999).edges, [], 'still within the wait: a server half may come');
    const closed = pairer.expire(10_000);
    assert.deepEqual(edgeIds(closed.edges), ['bookinfo/ratings -> ratings']);
    assert.deepEqual(closed.leftovers, [{ half: query, emitted: 'unpaired-caller' }], 'kept for the storage pass: a late server half may still answer it');
    assert.equal(pairer.size, 0);
  });

  it('a trace that keeps receiving halves stays open; others close in order of quiet', () => {
    const pairer = new HalfPairer({ waitMs: 10_000, maxHalves: 1000 });
    const a = productpageCallsReviews('3');
    const b = productpageCallsReviews('4');
    pairer.add([a.server], 0);
    pairer.add([b.server], 1_000);
    pairer.add([toHalf(span({ trace: '3', id: 'z9', parent: 'b1', kind: Client, service: 'reviews', namespace: 'bookinfo', durationMs: 1 }))], 9_000);
    const closed = pairer.expire(11_000).edges;
    assert.deepEqual(edgeIds(closed), ['unknown -> bookinfo/reviews'], 'only trace 4 was quiet long enough: its server had no caller');
    assert.equal(pairer.size, 2, 'trace 3 keeps its two halves');
    assert.ok(pairer.size > 0, 'trace 3 still waits');
  });

  it('closes the oldest traces early past maxHalves, and says how many', () => {
    const pairer = new HalfPairer({ waitMs: 60_000, maxHalves: 3 });
    const out = [1, 2, 3, 4].map((n) => pairer.add([productpageCallsReviews(String(n)).server], n));
    assert.ok(pairer.size <= 3);
    assert.equal(out.reduce((sum, o) => sum + o.closedEarly, 0), 1);
    assert.deepEqual(edgeIds(out[3]!.edges), ['unknown -> bookinfo/reviews'], 'the first trace was closed to make room');
  });

  it('closeAll decides everything still waiting', () => {
    const pairer = new HalfPairer({ waitMs: 60_000, maxHalves: 1000 });
    pairer.add([productpageCallsReviews('5').server, productpageCallsReviews('6').client], 0);
    assert.equal(pairer.closeAll().edges.length, 2);
    assert.equal(pairer.size, 0);
  });
});
