// The in-memory stage of pairing: halves wait here, grouped by trace, until the trace has been quiet
// for `waitMs`; then the whole trace is paired once (Tempo's model: a trace is paired when it is
// likely complete, not again on every arrival — measured, re-pairing on each arrival cost more than
// decoding the spans). Memory is bounded: past `maxHalves` the oldest traces are closed early (and
// counted), never dropped silently.
//
// This stage sees one process's halves within one wait. Halves that arrive later or at another
// collector need the storage pass described in docs/service-graph.md; closeTrace() is where the
// leftovers of a trace become known.
import type { SpanHalf } from './halves.ts';
import { type EdgeObservation, pairHalves } from './pairing.ts';

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

export interface PairerOutput {
  edges: EdgeObservation[];
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
      if (waiting) {
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
    const edges: EdgeObservation[] = [];
    let closedEarly = 0;
    while (this.held > this.options.maxHalves) {
      const oldest = this.traces.keys().next();
      if (oldest.done) break;
      edges.push(...this.closeTrace(oldest.value));
      closedEarly++;
    }
    return { edges, closedEarly };
  }

  /** Closes every trace quiet for at least waitMs: its unpaired halves go to their guessed peers. */
  expire(nowMs: number): EdgeObservation[] {
    const edges: EdgeObservation[] = [];
    for (const [traceId, trace] of this.traces) {
      if (nowMs - trace.lastSeenMs < this.options.waitMs) break;
      edges.push(...this.closeTrace(traceId));
    }
    return edges;
  }

  /** Closes everything (shutdown). */
  closeAll(): EdgeObservation[] {
    const edges: EdgeObservation[] = [];
    for (const traceId of [...this.traces.keys()]) edges.push(...this.closeTrace(traceId));
    return edges;
  }

  private closeTrace(traceId: string): EdgeObservation[] {
    const trace = this.traces.get(traceId);
    if (!trace) return [];
    this.traces.delete(traceId);
    this.held -= trace.halves.length;
    return pairHalves(trace.halves, { final: true }).edges;
  }
}
