// The storage pass of the service graph (docs/service-graph.md): every graph.reconcile_interval one
// collector — elected through ClickHouse, so several collectors on one server never run a window twice
// — reads the leftover halves stored in the window that has just settled, then every leftover of
// those traces within graph.late_window, and writes what pairing them together changes
// (collector/service-graph/reconcile.ts) to edges_1m: paired edges added, the guesses they replace
// taken back. Only I/O and timekeeping here.
import type { FastifyBaseLogger } from 'fastify';
import type { CollectorMetrics } from './metrics.ts';
import { EdgeMinutes } from './service-graph/edge-rows.ts';
import { type EmittedRule, type Leftover, decodeHalf, reconcileTrace } from './service-graph/reconcile.ts';
import { EDGE_COLUMNS } from './storage/schema.ts';
import { type ClickHouseStore, sqlInt, sqlString } from './storage/store.ts';

export interface ReconcilerOptions {
  intervalMs: number;
  lateWindowMs: number;
  /** This collector's name in claims; unique per process. */
  runnerId: string;
  /** How long claims for a window are collected before the earliest wins. */
  claimWaitMs?: number;
}

export interface ReconcileRun {
  windowEndMs: number;
  result: 'ran' | 'skipped' | 'failed';
  traces: number;
  added: number;
  retracted: number;
}

interface LeftoverRow {
  trace_id: string;
  half: string;
  emitted: string;
  closed_by: string;
  stored_ms: string;
}

const at = (ms: number) => `fromUnixTimestamp64Milli(toInt64(${sqlInt(ms)}))`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class GraphReconciler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  /** Rows of a won window whose insert failed: written before anything else at the next run. */
  private unwritten: { windowEndMs: number; body: Buffer; added: number; retracted: number } | undefined;

  constructor(
    private readonly store: ClickHouseStore,
    private readonly metrics: CollectorMetrics,
    private readonly log: FastifyBaseLogger,
    private readonly options: ReconcilerOptions,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running = this.running.then(() => this.runDue()).catch((error: unknown) => this.log.error({ err: error }, 'service-graph storage pass failed'));
    }, this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /**
   * Runs the latest settled window if no collector has claimed it yet and this one wins it. A window
   * ends on the interval grid one interval before now: leftovers inserted just before its end have had
   * an interval to become visible.
   */
  async runDue(nowMs = Date.now()): Promise<ReconcileRun | undefined> {
    const { intervalMs, lateWindowMs, runnerId } = this.options;
    if (this.unwritten) await this.writeUnwritten();
    const windowEndMs = Math.floor(nowMs / intervalMs) * intervalMs - intervalMs;
    const [claimed] = await this.store.query<{ n: string }>(`SELECT count() AS n FROM graph_reconcile_runs WHERE window_end = ${at(windowEndMs)}`);
    if (Number(claimed?.n ?? 0) > 0) return undefined;

    await this.store.exec(`INSERT INTO graph_reconcile_runs (window_end, runner) VALUES (${at(windowEndMs)}, ${sqlString(runnerId)})`);
    await sleep(this.options.claimWaitMs ?? Math.min(1000, intervalMs / 4));
    const [winner] = await this.store.query<{ runner: string }>(
      `SELECT runner FROM graph_reconcile_runs WHERE window_end = ${at(windowEndMs)} ORDER BY claimed_at, runner LIMIT 1`,
    );
    if (winner?.runner !== runnerId) {
      this.metrics.graphReconcileRuns.inc({ result: 'skipped' });
      return { windowEndMs, result: 'skipped', traces: 0, added: 0, retracted: 0 };
    }

    // The window starts where the previous claimed one ended (no window is run twice), at most
    // late_window back (after a long stop, older leftovers are past pairing anyway).
    const [previous] = await this.store.query<{ end_ms: string }>(
      `SELECT toUnixTimestamp64Milli(max(window_end)) AS end_ms FROM graph_reconcile_runs WHERE window_end < ${at(windowEndMs)}`,
    );
    const windowStartMs = Math.max(Number(previous?.end_ms ?? 0), windowEndMs - lateWindowMs);
    const byTrace = await this.readLeftovers(windowStartMs, windowEndMs);

    const rows = new EdgeMinutes();
    let added = 0;
    let retracted = 0;
    for (const leftovers of byTrace.values()) {
      const correction = reconcileTrace(leftovers, windowStartMs);
      rows.add(correction.add, 'spans');
      rows.retract(correction.retract, 'spans');
      added += correction.add.length;
      retracted += correction.retract.length;
    }
    const drained = rows.drain();
    if (drained) {
      this.unwritten = { windowEndMs, body: drained.body, added, retracted };
      if (!(await this.writeUnwritten())) return { windowEndMs, result: 'failed', traces: byTrace.size, added, retracted };
    } else {
      await this.markDone(windowEndMs, 0, 0);
    }
    this.metrics.graphReconcileRuns.inc({ result: 'ran' });
    return { windowEndMs, result: 'ran', traces: byTrace.size, added, retracted };
  }

  /**
   * Every leftover, within the late window, of the traces that got a leftover in (startMs, endMs] and
   * whose leftovers come from more than one close (one close alone was already paired together).
   */
  private async readLeftovers(startMs: number, endMs: number): Promise<Map<string, Leftover[]>> {
    const late = `stored_at > ${at(endMs - this.options.lateWindowMs)} AND stored_at <= ${at(endMs)}`;
    const rows = await this.store.query<LeftoverRow>(
      `SELECT trace_id, half, emitted, closed_by, toString(toUnixTimestamp64Milli(stored_at)) AS stored_ms
       FROM graph_halves
       WHERE ${late} AND trace_id IN (
         SELECT trace_id FROM graph_halves
         WHERE ${late} AND trace_id IN (SELECT trace_id FROM graph_halves WHERE stored_at > ${at(startMs)} AND stored_at <= ${at(endMs)})
         GROUP BY trace_id HAVING uniqExact(closed_by) > 1)`,
    );
    const byTrace = new Map<string, Leftover[]>();
    for (const row of rows) {
      const leftover: Leftover = { half: decodeHalf(row.half), emitted: row.emitted as EmittedRule, closedBy: row.closed_by, storedAtMs: Number(row.stored_ms) };
      const list = byTrace.get(row.trace_id);
      if (list) list.push(leftover);
      else byTrace.set(row.trace_id, [leftover]);
    }
    return byTrace;
  }

  /** Writes a won window's rows and marks it done; false (kept for the next run) when the insert failed. */
  private async writeUnwritten(): Promise<boolean> {
    const pending = this.unwritten!;
    try {
      await this.store.insert('edges_1m', EDGE_COLUMNS, pending.body);
    } catch (error) {
      this.metrics.graphReconcileRuns.inc({ result: 'failed' });
      this.log.warn({ err: error }, 'storage-pass edge rows not written; retrying at the next interval');
      return false;
    }
    // Written: never again, even if marking the window done fails below.
    this.unwritten = undefined;
    this.metrics.graphReconciledEdges.inc({ change: 'added' }, pending.added);
    this.metrics.graphReconciledEdges.inc({ change: 'retracted' }, pending.retracted);
    await this.markDone(pending.windowEndMs, pending.added, pending.retracted);
    return true;
  }

  private async markDone(windowEndMs: number, added: number, retracted: number): Promise<void> {
    await this.store.exec(
      `INSERT INTO graph_reconcile_runs (window_end, runner, done, added, retracted)
       VALUES (${at(windowEndMs)}, ${sqlString(this.options.runnerId)}, 1, ${sqlInt(added)}, ${sqlInt(retracted)})`,
    );
  }
}
