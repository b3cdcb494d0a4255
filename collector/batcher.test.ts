// The Batcher on its own: how it groups rows into writes, when it acknowledges, how it fails, bounds
// memory and shuts down. Storage here is a test write function whose every call the test settles by
// hand, so each ordering (write still running, failed, finished) can be held still and looked at.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { Batcher, type BatcherOptions, OverloadError, ShuttingDownError } from './batcher.ts';

interface WriteCall {
  /** performance.now() when the batcher called write. */
  at: number;
  text: string;
  rows: number;
  finish: () => void;
  fail: (error: Error) => void;
}

/** A write function whose calls stay pending until the test finishes or fails them. */
class HeldWrites {
  readonly calls: WriteCall[] = [];
  inFlight = 0;
  maxInFlight = 0;

  readonly write = (body: Buffer, rows: number): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      const settle = (action: () => void) => () => {
        this.inFlight--;
        action();
      };
      this.calls.push({
        at: performance.now(),
        text: body.toString(),
        rows,
        finish: settle(resolve),
        fail: (error) => settle(() => reject(error))(),
      });
    });

  /** The call that was made `index`-th, waiting (up to 2 s) for it to be made. */
  async call(index: number): Promise<WriteCall> {
    const deadline = Date.now() + 2000;
    while (this.calls.length <= index) {
      if (Date.now() > deadline) throw new Error(`write #${index} was never made (${this.calls.length} made)`);
      await sleep(2);
    }
    return this.calls[index]!;
  }
}

type Settled = 'pending' | 'resolved' | 'rejected';

/** Tracks a promise's state without awaiting it; `await flush()` lets queued callbacks run first. */
function track(promise: Promise<unknown>): { state: () => Settled; error: () => unknown } {
  let state: Settled = 'pending';
  let error: unknown;
  promise.then(
    () => (state = 'resolved'),
    (e: unknown) => {
      state = 'rejected';
      error = e;
    },
  );
  return { state: () => state, error: () => error };
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

const line = (name: string) => `["${name}"]\n`;
/** What a receiver submits: encoded rows, one line each. */
const body = (...names: string[]) => Buffer.from(names.map(line).join(''));

function batcher(writes: HeldWrites, options: Partial<BatcherOptions> = {}): Batcher {
  return new Batcher({ maxBatchRows: 1000, maxDelayMs: 10_000, maxQueuedBytes: 1 << 20, concurrency: 1, write: writes.write, ...options });
}

describe('Batcher', () => {
  it('seals a batch when it reaches maxBatchRows, without waiting for the delay', async () => {
    const writes = new HeldWrites();
    const b = batcher(writes, { maxBatchRows: 3, concurrency: 2 });
    const first = [b.submit(body('a'), 1), b.submit(body('b'), 1)];
    await flush();
    assert.equal(writes.calls.length, 0, 'two rows of three: no write yet');
    first.push(b.submit(body('c', 'd'), 2));
    await flush();
    assert.equal(writes.calls.length, 1);
    assert.equal(writes.calls[0]!.text, line('a') + line('b') + line('c') + line('d'), 'the batch is the rows in submit order');
    assert.equal(writes.calls[0]!.rows, 4);
    const later = b.submit(body('e'), 1);
    await flush();
    assert.equal(writes.calls.length, 1, 'the next row opens a new batch, which waits');
    writes.calls[0]!.finish();
    await Promise.all(first);
    const closed = b.close();
    (await writes.call(1)).finish();
    await Promise.all([later, closed]);
    assert.equal(writes.calls[1]!.text, line('e'));
  });

  it('seals a batch maxDelayMs after its first row when it stays small', async () => {
    const writes = new HeldWrites();
    const b = batcher(writes, { maxDelayMs: 150 });
    const started = performance.now();
    const submitted = [b.submit(body('a'), 1)];
    await sleep(10);
    submitted.push(b.submit(body('b'), 1));
    await sleep(10);
    // Checked only while the delay has surely not passed, so a slow machine cannot fail it falsely.
    if (performance.now() - started < 140) assert.equal(writes.calls.length, 0, 'before the delay nothing is written');
    const call = await writes.call(0);
    const waited = call.at - started;
    assert.ok(waited >= 145 && waited < 1500, `written ${waited.toFixed(0)} ms after the first row, expected about 150`);
    assert.equal(call.text, line('a') + line('b'), 'a row arriving later joins the waiting batch');
    call.finish();
    await Promise.all(submitted);
    await b.close();
  });

  it('resolves a submit only after the write carrying its rows resolved', async () => {
    const writes = new HeldWrites();
    const b = batcher(writes, { maxBatchRows: 1 });
    const submitted = track(b.submit(body('a'), 1));
    const call = await writes.call(0);
    await flush();
    await sleep(20);
    assert.equal(submitted.state(), 'pending', 'the write is running: not acknowledged yet');
    call.finish();
    await flush();
    assert.equal(submitted.state(), 'resolved');
    await b.close();
  });

  it('a failed write is retried request by request: only the request storage refuses fails', async () => {
    const writes = new HeldWrites();
    const b = batcher(writes, { maxBatchRows: 2, concurrency: 2 });
    const [a, bb] = [track(b.submit(body('a'), 1)), track(b.submit(body('b'), 1))];
    const inGood = [track(b.submit(body('c'), 1)), track(b.submit(body('d'), 1))];
    const failing = await writes.call(0);
    const good = await writes.call(1);
    assert.equal(failing.text, line('a') + line('b'));
    assert.equal(good.text, line('c') + line('d'));
    const refusal = new Error('storage refused: cannot parse row');
    failing.fail(refusal);
    await flush();
    assert.equal(a.state(), 'pending', 'not failed yet: each request of the failed batch is tried alone');
    const aAlone = await writes.call(2);
    assert.equal(aAlone.text, line('a'));
    aAlone.fail(refusal);
    const bAlone = await writes.call(3);
    assert.equal(bAlone.text, line('b'));
    bAlone.finish();
    await flush();
    assert.equal(a.state(), 'rejected');
    assert.equal(a.error(), refusal, 'the storage error reaches the sender');
    assert.equal(bb.state(), 'resolved', 'a request batched with a bad one is still stored');
    for (const entry of inGood) assert.equal(entry.state(), 'pending', 'the other batch is untouched by the failure');
    good.finish();
    await flush();
    for (const entry of inGood) assert.equal(entry.state(), 'resolved');
    // The failure is not sticky: the next batch is written normally.
    const next = track(b.submit(body('e'), 1));
    b.submit(body('f'), 1).catch(() => undefined);
    (await writes.call(4)).finish();
    await flush();
    assert.equal(next.state(), 'resolved');
    await b.close();
  });

  it('a single-request batch that fails is rejected without a retry', async () => {
    const writes = new HeldWrites();
    const b = batcher(writes, { maxBatchRows: 1 });
    const only = track(b.submit(body('a'), 1));
    (await writes.call(0)).fail(new Error('storage down'));
    await flush();
    assert.equal(only.state(), 'rejected');
    assert.equal(writes.calls.length, 1);
    await b.close();
  });

  it('refuses with OverloadError past maxQueuedBytes, and takes rows again once writes drained', async () => {
    const writes = new HeldWrites();
    const queue: Array<[number, number]> = [];
    const b = batcher(writes, { maxQueuedBytes: 100, maxBatchRows: 1, maxDelayMs: 200, onQueueChange: (rows, bytes) => queue.push([rows, bytes]) });
    const row60 = body('x'.repeat(55));
    assert.equal(row60.length, 60);
    const first = b.submit(row60, 1);
    await assert.rejects(b.submit(row60, 1), (error: unknown) => {
      assert.ok(error instanceof OverloadError, `expected OverloadError, got ${String(error)}`);
      assert.ok(Number.isInteger(error.retryAfterSeconds) && error.retryAfterSeconds >= 1, `retryAfterSeconds = ${error.retryAfterSeconds}`);
      return true;
    });
    assert.deepEqual(queue.at(-1), [1, 60], 'the refused rows never entered the queue');
    const fits = b.submit(body('y'.repeat(35)), 1);
    assert.deepEqual(queue.at(-1), [2, 100], 'rows up to the bound are taken');
    (await writes.call(0)).finish();
    (await writes.call(1)).finish();
    await Promise.all([first, fits]);
    assert.deepEqual(queue.at(-1), [0, 0], 'written rows leave the queue');
    const again = b.submit(row60, 1);
    (await writes.call(2)).finish();
    await again;
    await b.close();
  });

  it('takes one request larger than the whole bound when the queue is empty', async () => {
    const writes = new HeldWrites();
    const b = batcher(writes, { maxQueuedBytes: 10, maxBatchRows: 1 });
    const big = b.submit(body('z'.repeat(100)), 1);
    await assert.rejects(b.submit(body('a'), 1), OverloadError, 'but nothing beside it');
    (await writes.call(0)).finish();
    await big;
    await b.close();
  });

  it('never has more than `concurrency` writes in flight', async () => {
    const writes = new HeldWrites();
    const b = batcher(writes, { maxBatchRows: 1, concurrency: 2 });
    const submitted = Array.from({ length: 9 }, (_, i) => b.submit(body(`r${i}`), 1));
    await flush();
    assert.equal(writes.calls.length, 2, 'two writers busy, the other batches wait');
    // Finish writes one at a time, each time checking the bound.
    for (let i = 0; i < 9; i++) {
      (await writes.call(i)).finish();
      await flush();
      assert.ok(writes.inFlight <= 2, `in flight: ${writes.inFlight}`);
    }
    await Promise.all(submitted);
    assert.equal(writes.maxInFlight, 2);
    assert.equal(writes.calls.length, 9);
    assert.deepEqual(
      writes.calls.map((c) => c.text),
      Array.from({ length: 9 }, (_, i) => line(`r${i}`)),
      'batches are written in the order they were sealed',
    );
    await b.close();
  });

  it('while writers are busy the open batch keeps growing instead of becoming many tiny batches', async () => {
    const writes = new HeldWrites();
    const b = batcher(writes, { maxDelayMs: 10, concurrency: 1 });
    const firstRow = b.submit(body('first'), 1);
    const slow = await writes.call(0);
    // Rows keep arriving over many batch delays while the only writer is busy.
    const later: Array<Promise<void>> = [];
    for (let i = 0; i < 6; i++) {
      later.push(b.submit(body(`late${i}`), 1));
      await sleep(15);
    }
    assert.equal(writes.calls.length, 1, 'no write is started while the writer is busy');
    slow.finish();
    await firstRow;
    const grown = await writes.call(1);
    assert.equal(grown.rows, 6, 'everything that arrived meanwhile goes in one insert');
    assert.equal(grown.text, Array.from({ length: 6 }, (_, i) => line(`late${i}`)).join(''));
    grown.finish();
    await Promise.all(later);
    await sleep(30);
    assert.equal(writes.calls.length, 2, 'no empty or extra writes afterwards');
    await b.close();
  });

  it('close() writes everything already taken, then refuses new submits with ShuttingDownError', async () => {
    const writes = new HeldWrites();
    const b = batcher(writes, { maxBatchRows: 2, concurrency: 1 });
    const taken = [track(b.submit(body('a'), 1)), track(b.submit(body('b'), 1)), track(b.submit(body('c'), 1))];
    const running = await writes.call(0);
    assert.equal(running.text, line('a') + line('b'));
    const closed = track(b.close());
    await assert.rejects(b.submit(body('d'), 1), ShuttingDownError);
    await flush();
    assert.equal(closed.state(), 'pending', 'close waits for the write in flight');
    running.finish();
    const last = await writes.call(1);
    assert.equal(last.text, line('c'), 'the open batch is written at close without waiting for its delay');
    await flush();
    assert.equal(closed.state(), 'pending', 'close waits for the last write too');
    last.finish();
    await flush();
    assert.equal(closed.state(), 'resolved');
    for (const entry of taken) assert.equal(entry.state(), 'resolved');
    assert.equal(writes.calls.length, 2, 'the refused row was never written');
    assert.equal(b.pendingRows, 0);
    await assert.rejects(b.submit(body('e'), 1), ShuttingDownError);
  });

  it('close() on an idle batcher returns at once, and an empty submit writes nothing', async () => {
    const writes = new HeldWrites();
    const b = batcher(writes);
    await b.submit(Buffer.alloc(0), 0);
    await b.close();
    assert.equal(writes.calls.length, 0);
  });
});
