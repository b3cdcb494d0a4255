// Collects encoded rows from many requests into large inserts (ClickHouse wants thousands of rows
// per insert, about once a second at most per table), and tells each request when its rows are
// stored: a sender is acknowledged only after the insert that carried its rows succeeded.
//
// Memory is bounded: rows waiting or in flight never exceed `maxQueuedBytes`; past that, `submit`
// refuses at once with an OverloadError, which receivers turn into RESOURCE_EXHAUSTED / 429 +
// Retry-After. `close()` stops taking rows, writes everything already taken, and returns.

export class OverloadError extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super('meshlens is over its ingest queue bound (limits.queue_bytes); retry later');
  }
}

export class ShuttingDownError extends Error {
  constructor() {
    super('meshlens is shutting down; retry against another instance or after restart');
  }
}

export interface BatcherOptions {
  /** Seal a batch once it holds this many rows. */
  maxBatchRows: number;
  /** Seal a batch at the latest this long after its first row arrived. */
  maxDelayMs: number;
  /** Bound on encoded bytes waiting or being written. */
  maxQueuedBytes: number;
  /** Inserts that may run at once. */
  concurrency: number;
  /** Writes one batch; rejects if storage refused it. */
  write: (body: Buffer, rows: number) => Promise<void>;
  /** Called whenever the queue changes, for the queue gauges. */
  onQueueChange?: (rows: number, bytes: number) => void;
}

interface Entry {
  body: Buffer;
  rows: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

interface Batch {
  entries: Entry[];
  rows: number;
  bytes: number;
}

export class Batcher {
  private open: Batch = emptyBatch();
  private sealed: Batch[] = [];
  private inFlight = 0;
  private queuedRows = 0;
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private closing = false;
  /** The open batch's deadline passed: seal it as soon as a writer is free. */
  private due = false;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly options: BatcherOptions) {}

  /** Queues rows (JSONCompactEachRow lines, newline-terminated); resolves once they are stored. */
  submit(body: Buffer, rows: number): Promise<void> {
    if (rows === 0) return Promise.resolve();
    if (this.closing) return Promise.reject(new ShuttingDownError());
    const bytes = body.length;
    // A single request larger than the whole bound still gets in when the queue is empty, so a
    // legal request (under limits.max_body_bytes) can never be refused forever.
    if (this.queuedBytes > 0 && this.queuedBytes + bytes > this.options.maxQueuedBytes) {
      return Promise.reject(new OverloadError(this.retryAfterSeconds()));
    }
    return new Promise<void>((resolve, reject) => {
      this.open.entries.push({ body, rows, resolve, reject });
      this.open.rows += rows;
      this.open.bytes += bytes;
      this.queuedRows += rows;
      this.queuedBytes += bytes;
      this.reportQueue();
      if (this.open.rows >= this.options.maxBatchRows) this.sealOpen();
      else this.timer ??= setTimeout(() => this.onDeadline(), this.options.maxDelayMs);
      this.pump();
    });
  }

  /** Stops taking rows and resolves once every row already taken is written (or failed). */
  async close(): Promise<void> {
    this.closing = true;
    this.sealOpen();
    this.pump();
    await new Promise<void>((resolve) => {
      if (this.isIdle()) resolve();
      else this.idleWaiters.push(resolve);
    });
  }

  get pendingRows(): number {
    return this.queuedRows;
  }

  private onDeadline(): void {
    this.timer = undefined;
    this.due = true;
    this.pump();
  }

  private sealOpen(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.due = false;
    if (this.open.rows > 0) {
      this.sealed.push(this.open);
      this.open = emptyBatch();
    }
  }

  /**
   * Starts inserts while a writer is free. A batch past its deadline is only sealed when a writer
   * can take it; while all are busy it keeps growing (up to maxBatchRows), so slow storage gets
   * fewer, larger inserts instead of a pile of small ones.
   */
  private pump(): void {
    while (this.inFlight < this.options.concurrency) {
      if (this.sealed.length === 0 && this.due) this.sealOpen();
      const batch = this.sealed.shift();
      if (!batch) return;
      this.inFlight++;
      void this.writeBatch(batch);
    }
  }

  private async writeBatch(batch: Batch): Promise<void> {
    const failures = await this.writeEntries(batch);
    this.inFlight--;
    this.queuedRows -= batch.rows;
    this.queuedBytes -= batch.bytes;
    this.reportQueue();
    batch.entries.forEach((entry, i) => {
      const failure = failures[i];
      if (failure) entry.reject(failure);
      else entry.resolve();
    });
    if (this.closing) this.sealOpen();
    this.pump();
    if (this.isIdle()) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  /**
   * Writes a batch; returns each entry's failure (undefined = stored). When a batch of several
   * requests fails, each request is written alone: one request that storage cannot take then fails
   * by itself instead of failing (and, retried, failing again) every request batched with it.
   */
  private async writeEntries(batch: Batch): Promise<Array<Error | undefined>> {
    const { entries } = batch;
    // Requests arrive already encoded as bytes: joining buffers is a copy, where joining one large
    // string and encoding it was the slowest step of the whole ingest path.
    const body = entries.length === 1 ? entries[0]!.body : Buffer.concat(entries.map((e) => e.body), batch.bytes);
    try {
      await this.options.write(body, batch.rows);
      return entries.map(() => undefined);
    } catch (error) {
      if (entries.length === 1) return [asError(error)];
    }
    const failures: Array<Error | undefined> = [];
    for (const entry of entries) {
      try {
        await this.options.write(entry.body, entry.rows);
        failures.push(undefined);
      } catch (error) {
        failures.push(asError(error));
      }
    }
    return failures;
  }

  private isIdle(): boolean {
    return this.inFlight === 0 && this.sealed.length === 0 && this.open.rows === 0;
  }

  /** How long until the queue has likely drained: about one batch delay per batch ahead of us. */
  private retryAfterSeconds(): number {
    const batchesAhead = Math.ceil(this.queuedRows / this.options.maxBatchRows);
    return Math.max(1, Math.min(30, Math.ceil((batchesAhead * this.options.maxDelayMs) / 1000)));
  }

  private reportQueue(): void {
    this.options.onQueueChange?.(this.queuedRows, this.queuedBytes);
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function emptyBatch(): Batch {
  return { entries: [], rows: 0, bytes: 0 };
}
