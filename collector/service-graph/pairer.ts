// The in-memory stage of pairing: halves wait here, grouped by trace, until their other side arrives
// or the trace has been quiet for `waitMs`. Every call pairs only the traces it touched, so the cost
// per span stays constant however many traces wait. Memory is bounded: past `maxHalves` the oldest
// traces are closed early (and counted), never dropped silently.
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

  /** Takes new halves; returns the edges that are now certain, and closes traces over the memory bound. */
  add(halves: readonly SpanHalf[], nowMs: number): PairerOutput {
    const byTrace = new Map<string, SpanHalf[]>();
    for (const half of halves) {
      const list = byTrace.get(half.traceId);
      if (list) list.push(half);
      else byTrace.set(half.traceId, [half]);
    }
    const edges: EdgeObservation[] = [];
    for (const [traceId, arrived] of byTrace) {
      const waiting = this.traces.get(traceId);
      this.traces.delete(traceId);
      const known = waiting ? waiting.halves.concat(arrived) : arrived;
      const result = pairHalves(known, { final: false });
      edges.push(...result.edges);
      this.held += result.waiting.length - (waiting?.halves.length ?? 0);
      this.traces.set(traceId, { halves: result.waiting, lastSeenMs: nowMs });
    }
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
