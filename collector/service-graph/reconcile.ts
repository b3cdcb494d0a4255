// The storage pass of pairing. The in-memory stage (pairer.ts) pairs what reaches one process within
// graph.wait; when a trace closes, the halves it could not pair are stored as *leftovers*. The other
// half of such a call may come later, or to another collector: this file decides, from every
// leftover of a trace, what the edge rows already written got wrong, as rows to add and rows to
// take back. Pure: reading leftovers, electing the process that runs a window and writing rows is
// collector/graph-reconciler.ts. docs/service-graph.md explains the design.
//
// The invariant: once every leftover of a trace has been reconciled, the rows written for its
// leftovers equal what pairing all of them together gives, D(all). Each close wrote its halves'
// unpaired edges (E). So a run that sees the trace's leftovers `all`, of which those stored before
// its window are `old`, writes D(all) − D(old) − E(new). A trace whose leftovers all come from one
// close needs nothing: that close already paired them together.
import { type SpanHalf, halfKey, nodeId } from './halves.ts';
import { type EdgeObservation, pairHalves } from './pairing.ts';

/** The unpaired edge the in-memory stage wrote for a half: to its guessed peer, or from its guessed caller. */
export type EmittedRule = 'unpaired-caller' | 'unpaired-callee' | '';

export interface Leftover {
  half: SpanHalf;
  emitted: EmittedRule;
  /** Which close (process and sequence) stored it: halves of one close were already paired together. */
  closedBy: string;
  /** When storage took it, by the storage server's clock (ms). */
  storedAtMs: number;
}

/**
 * The halves of a closed trace worth storing: those that drew an edge to a guessed peer or from a
 * guessed caller (their partner may still come), and orphans whose parent was not there (a late
 * parent may be their caller). A producer's inbound side is never an edge, so a producer is kept only
 * for its unpaired edge.
 */
export function leftoversOf(halves: readonly SpanHalf[], edges: readonly EdgeObservation[]): Array<{ half: SpanHalf; emitted: EmittedRule }> {
  // Runs for every closing trace: keys are built only for halves that may be kept.
  let emitted: Map<string, EmittedRule> | undefined;
  for (const edge of edges) {
    if (edge.rule === 'unpaired-caller' || edge.rule === 'unpaired-callee') (emitted ??= new Map()).set(edge.halves[0]!, edge.rule);
  }
  const spanIds = halves.length > 32 ? new Set(halves.map((half) => half.spanId)) : null;
  const present = (spanId: string) => (spanIds !== null ? spanIds.has(spanId) : halves.some((half) => half.spanId === spanId));
  let kept: Map<string, { half: SpanHalf; emitted: EmittedRule }> | undefined;
  for (const half of halves) {
    const orphan = half.kind !== 'producer' && half.parentSpanId !== '' && !present(half.parentSpanId);
    if (!orphan && emitted === undefined) continue;
    const key = halfKey(half);
    if (kept?.has(key)) continue;
    const rule = emitted?.get(key) ?? '';
    if (rule !== '' || orphan) (kept ??= new Map()).set(key, { half, emitted: rule });
  }
  return kept === undefined ? [] : [...kept.values()];
}

export interface Correction {
  add: EdgeObservation[];
  retract: EdgeObservation[];
}

/**
 * What a run must write for one trace, given all its leftovers it can see (stored up to the end of its
 * window) and where its window starts (`newAfterMs`: leftovers stored after it are new to this run).
 */
export function reconcileTrace(leftovers: readonly Leftover[], newAfterMs: number): Correction {
  const fresh = leftovers.filter((l) => l.storedAtMs > newAfterMs);
  if (fresh.length === 0 || new Set(leftovers.map((l) => l.closedBy)).size < 2) return { add: [], retract: [] };
  const old = leftovers.filter((l) => l.storedAtMs <= newAfterMs);

  const balance = new Map<string, { edge: EdgeObservation; count: number }>();
  const count = (edges: Iterable<EdgeObservation>, sign: 1 | -1) => {
    for (const edge of edges) {
      const key = edgeKey(edge);
      const entry = balance.get(key);
      if (entry === undefined) balance.set(key, { edge, count: sign });
      else entry.count += sign;
    }
  };
  count(decided(leftovers), 1);
  count(decided(old), -1);
  count(fresh.flatMap(emittedEdge), -1);

  const correction: Correction = { add: [], retract: [] };
  for (const { edge, count: n } of balance.values()) {
    for (let i = 0; i < Math.abs(n); i++) (n > 0 ? correction.add : correction.retract).push(edge);
  }
  return correction;
}

/**
 * D(set): the edges pairing these leftovers together gives that are the leftovers' business — an edge
 * between halves of different closes, or the unpaired edge of a half that wrote one.
 */
function decided(leftovers: readonly Leftover[]): EdgeObservation[] {
  if (leftovers.length === 0) return [];
  // A half stored twice (sent twice, or to two collectors) counts once, as its earliest copy.
  const first = new Map<string, Leftover>();
  for (const leftover of [...leftovers].sort((a, b) => a.storedAtMs - b.storedAtMs)) {
    const key = halfKey(leftover.half);
    if (!first.has(key)) first.set(key, leftover);
  }
  const { edges } = pairHalves([...first.values()].map((l) => l.half), { final: true });
  return edges.filter((edge) => {
    const used = edge.halves.map((key) => first.get(key)!);
    if (edge.rule === 'unpaired-caller' || edge.rule === 'unpaired-callee') return used[0]!.emitted === edge.rule;
    return new Set(used.map((l) => l.closedBy)).size > 1;
  });
}

/** E: the unpaired edge a close wrote for this half, if any. */
function emittedEdge(leftover: Leftover): EdgeObservation[] {
  if (leftover.emitted === '') return [];
  return pairHalves([leftover.half], { final: true }).edges.filter((edge) => edge.rule === leftover.emitted);
}

function edgeKey(edge: EdgeObservation): string {
  return `${edge.rule}|${edge.halves.join(',')}|${nodeId(edge.source)}|${nodeId(edge.target)}`;
}

/** A half as stored: JSON with the bigint start time as a decimal string. */
export function encodeHalf(half: SpanHalf): string {
  const { settled: _settled, ...plain } = half;
  return JSON.stringify({ ...plain, startTimeUnixNano: String(half.startTimeUnixNano) });
}

export function decodeHalf(json: string): SpanHalf {
  const parsed = JSON.parse(json) as Omit<SpanHalf, 'startTimeUnixNano'> & { startTimeUnixNano: string };
  return { ...parsed, startTimeUnixNano: BigInt(parsed.startTimeUnixNano) };
}
