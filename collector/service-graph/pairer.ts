// The in-memory stage of pairing: halves wait here, grouped by trace, until the trace has been quiet
// for `waitMs`; then the whole trace is paired once (Tempo's model: a trace is paired when it is
// likely complete, not again on every arrival — measured, re-pairing on each arrival cost more than
// decoding the spans). Memory is bounded: past `maxHalves` the oldest traces are closed early (and
// counted), never dropped silently.
//
// This stage sees one process's halves within one wait. A closing trace hands back, besides its edges,
// the halves that may still pair with a half arriving later or at another collector (its leftovers):
// the storage pass (reconcile.ts) takes it from there.
import type { SpanHalf } from './halves.ts';
import { type EdgeObservation, pairHalves } from './pairing.ts';
import { type EmittedRule, leftoversOf } from './reconcile.ts';

export interface PairerOptions {
  /** How long a trace may be quiet before what is still unpaired is decided (window closed). */
  waitMs: number;
  /** Halves held at most; the oldest traces are closed early past it. */
  maxHalves: number;
}

interface WaitingTrace {
  halves: SpanHalf[];
  lastSeenMs: number;
}

export interface Closed {
  edges: EdgeObservation[];
  /** Halves of the closed traces that a half arriving later or elsewhere may still pair with. */
  leftovers: Array<{ half: SpanHalf; emitted: EmittedRule }>;
}

export interface PairerOutput extends Closed {
  /** Traces closed before their wait because memory was full. */
  closedEarly: number;
}

export class HalfPairer {
  // A Map iterates in insertion order; a touched trace is re-inserted, so the first entries are
  // always the longest quiet ones.
  private readonly traces = new Map<string, WaitingTrace>();
  private held = 0;

  constructor(private readonly options: PairerOptions) {}

  /** Halves currently waiting. */
  get size(): number {
    return this.held;
  }

  /** Takes new halves; closes (and pairs) the oldest traces while over the memory bound. */
  add(halves: readonly SpanHalf[], nowMs: number): PairerOutput {
    for (const half of halves) {
      const waiting = this.traces.get(half.traceId);
      if (waiting && waiting.lastSeenMs === nowMs) {
        // Already moved to the end for this batch.
        waiting.halves.push(half);
      } else if (waiting) {
        // Re-inserted so that the Map's first entries stay the longest quiet traces.
        this.traces.delete(half.traceId);
        waiting.halves.push(half);
        waiting.lastSeenMs = nowMs;
        this.traces.set(half.traceId, waiting);
      } else {
        this.traces.set(half.traceId, { halves: [half], lastSeenMs: nowMs });
      }
    }
    this.held += halves.length;
    const closed: PairerOutput = { edges: [], leftovers: [], closedEarly: 0 };
    while (this.held > this.options.maxHalves) {
      const oldest = this.traces.keys().next();
      if (oldest.done) break;
      this.closeTrace(oldest.value, closed);
      closed.closedEarly++;
    }
    return closed;
  }

  /** Closes every trace quiet for at least waitMs: its unpaired halves go to their guessed peers. */
  expire(nowMs: number): Closed {
    const closed: Closed = { edges: [], leftovers: [] };
    for (const [traceId, trace] of this.traces) {
      if (nowMs - trace.lastSeenMs < this.options.waitMs) break;
      this.closeTrace(traceId, closed);
    }
    return closed;
  }

  /** Closes everything (shutdown). */
  closeAll(): Closed {
    const closed: Closed = { edges: [], leftovers: [] };
    for (const traceId of [...this.traces.keys()]) this.closeTrace(traceId, closed);
    return closed;
  }

  private closeTrace(traceId: string, into: Closed): void {
    const trace = this.traces.get(traceId);
    if (!trace) return;
    this.traces.delete(traceId);
    this.held -= trace.halves.length;
    const { edges } = pairHalves(trace.halves, { final: true });
    for (const edge of edges) into.edges.push(edge);
    for (const leftover of leftoversOf(trace.halves, edges)) into.leftovers.push(leftover);
  }
}
