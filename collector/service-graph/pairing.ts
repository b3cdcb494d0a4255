// Pairs halves into edge observations: one per call. Pure and deterministic: the same set of halves
// gives the same edges whatever the input order, so any process can (re)run it over halves read back
// from storage. See docs/service-graph.md for how the storage job windows it.
import { NODE_KIND_RANK, type NodeRef, type Protocol, type SpanHalf, UNKNOWN_NODE, halfKey, messagingNodeOf, nodeId } from './halves.ts';

/** How an observation was found; lets tests and debugging say which rule produced an edge. */
export type PairingRule = 'shared-span' | 'parent-child' | 'messaging' | 'unpaired-caller' | 'unpaired-callee';

export interface EdgeObservation {
  source: NodeRef;
  target: NodeRef;
  protocol: Protocol;
  error: boolean;
  /** What the callee spent when both sides are known; the one known side's duration otherwise. */
  latencyNanos: number;
  weight: number;
  mtls: boolean | null;
  traceId: string;
  /** Callee start when paired, else the half's own start: the minute the observation belongs to. */
  timeUnixNano: bigint;
  /** Bytes the caller sent and got back, where a half states them (the callee's word first). */
  requestBytes?: number | undefined;
  responseBytes?: number | undefined;
  /** halfKey() of every half used, caller first. */
  halves: string[];
  rule: PairingRule;
}

export interface PairingOptions {
  /**
   * false: the window is still open; an edge is only emitted once nothing that may still arrive could
   * change it. true: the window is closed; whatever is still unpaired goes to its guessed peer.
   */
  final: boolean;
  /**
   * Halves further apart in start time than this never pair (nor count as parent and child). A windowed
   * job needs it no larger than its context margin so that every window it runs decides alike.
   */
  maxSkewNanos?: bigint;
}

export interface PairingResult {
  edges: EdgeObservation[];
  /**
   * final: [] . Not final: every distinct half, marked with which of its edges were emitted. All are
   * handed back, not only the undecided ones, because a settled half is still the parent a late child
   * needs to be paired (or to be known as a same-service child); `settled` keeps edges from repeating.
   */
  waiting: SpanHalf[];
}

/** What a half's role decided: an edge, certainly none, or not yet knowable. */
type Decision = EdgeObservation | 'none' | 'undecided';

export function pairHalves(halves: readonly SpanHalf[], options: PairingOptions): PairingResult {
  const index = new HalfIndex(halves, options.maxSkewNanos);
  const edges: EdgeObservation[] = [];
  const settled: Array<{ inbound: boolean; outbound: boolean }> = [];
  for (let i = 0; i < index.all.length; i++) {
    const half = index.all[i]!;
    let inbound = half.settled?.inbound ?? false;
    let outbound = half.settled?.outbound ?? false;
    if (!inbound) {
      const decision = decideInbound(i, index, options.final);
      if (decision !== 'undecided') {
        inbound = true;
        if (decision !== 'none') edges.push(decision);
      }
    }
    if (!outbound) {
      const decision = decideOutbound(i, index, options.final);
      if (decision !== 'undecided') {
        outbound = true;
        if (decision !== 'none') edges.push(decision);
      }
    }
    if (!options.final) settled.push({ inbound, outbound });
  }
  // No two edges compare equal (each comes from its own halves and rule), so the order they were found
  // in does not show. It mostly is their order already (halves arrive in start order): no sort then.
  if (!inOrder(edges)) edges.sort(compareEdges);
  if (options.final) return { edges, waiting: [] };
  // In halfKey order whatever the input order, as every other output.
  const order = settled.map((_, position) => position).sort((a, b) => compareKeys(index.key(a), index.key(b)));
  return { edges, waiting: order.map((position) => ({ ...index.all[position]!, settled: settled[position]! })) };
}

function inOrder(edges: readonly EdgeObservation[]): boolean {
  for (let i = 1; i < edges.length; i++) if (compareEdges(edges[i - 1]!, edges[i]!) > 0) return false;
  return true;
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const PARENT_PREFERENCE: Record<SpanHalf['kind'], number> = { server: 0, consumer: 1, client: 2, producer: 3, internal: 4 };

/**
 * Up to this many halves (a whole trace, as the in-memory stage pairs them), lookups scan the array:
 * cheaper than building maps for every trace. Larger sets are indexed by span id.
 */
const SCAN_LIMIT = 32;

/**
 * The distinct halves of one pairing run, by position, and the lookups pairing needs. A half given
 * twice (same halfKey) is kept once, as its first copy. Where several halves qualify (candidate
 * parents, twins, consumers), the one with the lowest halfKey wins, so the result does not depend on
 * input order; keys are only built for such ties and for the edges.
 */
class HalfIndex {
  readonly all: SpanHalf[] = [];
  private readonly keys: Array<string | undefined>;
  /** parentOf by position: a position, -1 for none, UNASKED until asked. */
  private readonly parents: number[];
  /** Positions by span id and by parent span id; null while the halves are few enough to scan. */
  private readonly bySpan: Map<string, number[]> | null;
  private readonly byParent: Map<string, number[]> | null;

  constructor(halves: readonly SpanHalf[], private readonly maxSkewNanos: bigint | undefined) {
    const indexed = halves.length > SCAN_LIMIT;
    this.bySpan = indexed ? new Map() : null;
    this.byParent = indexed ? new Map() : null;
    for (const half of halves) {
      const copy = this.copyOf(half);
      if (copy === -1) {
        const position = this.all.push(half) - 1;
        if (this.bySpan !== null) push(this.bySpan, half.spanId, position);
        if (this.byParent !== null && half.parentSpanId !== '') push(this.byParent, half.parentSpanId, position);
      } else if (half.settled !== undefined) {
        // An edge emitted for either copy is emitted for the half.
        const seen = this.all[copy]!;
        this.all[copy] = {
          ...seen,
          settled: {
            inbound: (seen.settled?.inbound ?? false) || half.settled.inbound,
            outbound: (seen.settled?.outbound ?? false) || half.settled.outbound,
          },
        };
      }
    }
    this.keys = new Array<string | undefined>(this.all.length).fill(undefined);
    this.parents = new Array<number>(this.all.length).fill(UNASKED);
  }

  /** The position of a half already taken with the same halfKey, else -1. */
  private copyOf(half: SpanHalf): number {
    const positions = this.withSpanId(half.spanId);
    const count = positions === null ? this.all.length : positions.length;
    for (let k = 0; k < count; k++) {
      const j = positions === null ? k : positions[k]!;
      const other = this.all[j]!;
      if (other.spanId === half.spanId && other.traceId === half.traceId && other.kind === half.kind && sameService(other, half)) return j;
    }
    return -1;
  }

  /** Candidate positions for a span id (to be checked), or null: scan them all. */
  private withSpanId(spanId: string): readonly number[] | null {
    return this.bySpan === null ? null : (this.bySpan.get(spanId) ?? NONE);
  }

  private withParentId(spanId: string): readonly number[] | null {
    return this.byParent === null ? null : (this.byParent.get(spanId) ?? NONE);
  }

  key(position: number): string {
    return (this.keys[position] ??= halfKey(this.all[position]!));
  }

  private near(a: SpanHalf, b: SpanHalf): boolean {
    if (this.maxSkewNanos === undefined) return true;
    const gap = a.startTimeUnixNano - b.startTimeUnixNano;
    return (gap < 0n ? -gap : gap) <= this.maxSkewNanos;
  }

  /**
   * The parent half's position, or -1. When a span id is shared (Zipkin/Envoy: CLIENT and SERVER
   * halves), children belong to the SERVER side: it is the one running in the process that made them.
   */
  parentOf(child: number): number {
    const known = this.parents[child]!;
    if (known !== UNASKED) return known;
    const half = this.all[child]!;
    let best = -1;
    if (half.parentSpanId !== '') {
      const positions = this.withSpanId(half.parentSpanId);
      const count = positions === null ? this.all.length : positions.length;
      for (let k = 0; k < count; k++) {
        const j = positions === null ? k : positions[k]!;
        const candidate = this.all[j]!;
        if (j === child || candidate.spanId !== half.parentSpanId || candidate.traceId !== half.traceId || !this.near(candidate, half)) continue;
        if (best === -1) {
          best = j;
          continue;
        }
        const preference = PARENT_PREFERENCE[candidate.kind] - PARENT_PREFERENCE[this.all[best]!.kind];
        if (preference < 0 || (preference === 0 && this.key(j) < this.key(best))) best = j;
      }
    }
    this.parents[child] = best;
    return best;
  }

  /** The consumer children of a producer: the one with the lowest key, or -1. */
  firstConsumerChild(parent: number): number {
    const half = this.all[parent]!;
    const positions = this.withParentId(half.spanId);
    const count = positions === null ? this.all.length : positions.length;
    let first = -1;
    for (let k = 0; k < count; k++) {
      const j = positions === null ? k : positions[k]!;
      const child = this.all[j]!;
      if (child.kind !== 'consumer' || !this.isChild(j, parent)) continue;
      if (first === -1 || this.key(j) < this.key(first)) first = j;
    }
    return first;
  }

  /**
   * Whether someone answered a caller: any callee-side child (its own inbound edge counts the call, or
   * it is a same-service hop that is no edge at all); only an INTERNAL child in our own service is no answer.
   */
  answered(parent: number): boolean {
    const half = this.all[parent]!;
    const positions = this.withParentId(half.spanId);
    const count = positions === null ? this.all.length : positions.length;
    for (let k = 0; k < count; k++) {
      const j = positions === null ? k : positions[k]!;
      const child = this.all[j]!;
      if ((child.kind !== 'internal' || !sameService(child, half)) && this.isChild(j, parent)) return true;
    }
    return false;
  }

  private isChild(child: number, parent: number): boolean {
    const half = this.all[child]!;
    const parentHalf = this.all[parent]!;
    return half.parentSpanId === parentHalf.spanId && half.traceId === parentHalf.traceId && this.parentOf(child) === parent;
  }

  /** The other half of a shared span id: same trace and span id, the opposite side, another service; or -1. */
  twinOf(position: number, twinKind: 'client' | 'server'): number {
    const half = this.all[position]!;
    const positions = this.withSpanId(half.spanId);
    const count = positions === null ? this.all.length : positions.length;
    let twin = -1;
    for (let k = 0; k < count; k++) {
      const j = positions === null ? k : positions[k]!;
      const other = this.all[j]!;
      if (other.kind !== twinKind || other.spanId !== half.spanId || other.traceId !== half.traceId) continue;
      if (sameService(other, half) || !this.near(other, half)) continue;
      if (twin === -1 || this.key(j) < this.key(twin)) twin = j;
    }
    return twin;
  }
}

const NONE: readonly number[] = [];
const UNASKED = -2;

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

function sameService(a: SpanHalf, b: SpanHalf): boolean {
  return a.self === b.self || nodeId(a.self) === nodeId(b.self);
}

/** The edge into a half (who called it), for the kinds that can be called. */
function decideInbound(position: number, index: HalfIndex, final: boolean): Decision {
  const half = index.all[position]!;
  switch (half.kind) {
    case 'server': {
      const twin = index.twinOf(position, 'client');
      if (twin !== -1) return pairedEdge(index, twin, position, 'shared-span');
      const parent = index.parentOf(position);
      if (parent !== -1) {
        const parentHalf = index.all[parent]!;
        if (sameService(parentHalf, half)) return 'none';
        // Any kind of parent in another service called us: CLIENT as usual, SERVER from a proxy
        // (ingress-nginx), INTERNAL from a mislabelled caller. Only a CLIENT parent is certain before the
        // window closes: for any other parent, a Zipkin CLIENT twin may still arrive and take priority.
        if (parentHalf.kind === 'client' || final) return pairedEdge(index, parent, position, 'parent-child');
        return 'undecided';
      }
      return final ? unpairedCallee(index, position) : 'undecided';
    }
    case 'consumer': {
      const parent = index.parentOf(position);
      const parentHalf = parent === -1 ? null : index.all[parent]!;
      const ownBroker = messagingNodeOf(half);
      const broker = ownBroker ?? (parentHalf?.kind === 'producer' ? messagingNodeOf(parentHalf) : null);
      if (broker !== null) {
        const edge = halfEdge(index, position, broker, half.self, 'messaging');
        if (parentHalf?.kind === 'producer' && ownBroker === null) {
          edge.halves = [index.key(parent), index.key(position)];
          edge.weight = Math.max(parentHalf.weight, half.weight);
        }
        return edge;
      }
      if (parentHalf !== null) return sameService(parentHalf, half) ? 'none' : pairedEdge(index, parent, position, 'parent-child');
      return final ? unpairedCallee(index, position) : 'undecided';
    }
    case 'client':
    case 'internal': {
      // A CLIENT under another service's CLIENT is a gateway hop (Istio ingress gateway); an INTERNAL
      // under another service's CLIENT is a callee that labelled its span wrongly.
      const parent = index.parentOf(position);
      if (parent !== -1) {
        const parentHalf = index.all[parent]!;
        return parentHalf.kind === 'client' && !sameService(parentHalf, half) ? pairedEdge(index, parent, position, 'parent-child') : 'none';
      }
      // A root, or a parent gone for good, leaves no caller to draw: the edge is the parent's business.
      return half.parentSpanId === '' || final ? 'none' : 'undecided';
    }
    case 'producer':
      return 'none';
  }
}

/** The edge out of a caller when nobody answered it, or the producer → broker edge. */
function decideOutbound(position: number, index: HalfIndex, final: boolean): Decision {
  const half = index.all[position]!;
  if (half.kind === 'producer') {
    const ownBroker = messagingNodeOf(half);
    if (ownBroker !== null) return halfEdge(index, position, half.self, ownBroker, 'messaging');
    const child = index.firstConsumerChild(position);
    if (child !== -1) {
      const childHalf = index.all[child]!;
      const broker = messagingNodeOf(childHalf);
      // Without a broker on either side the consumer's inbound edge is the direct producer → consumer one.
      if (broker === null) return 'none';
      const edge = halfEdge(index, position, half.self, broker, 'messaging');
      edge.halves = [index.key(position), index.key(child)];
      edge.weight = Math.max(half.weight, childHalf.weight);
      return edge;
    }
    return final ? unpairedCaller(index, position) : 'undecided';
  }
  if (half.kind !== 'client') return 'none';
  if (index.twinOf(position, 'server') !== -1) return 'none';
  if (index.answered(position)) return 'none';
  return final ? unpairedCaller(index, position) : 'undecided';
}

function pairedEdge(index: HalfIndex, callerPosition: number, calleePosition: number, rule: PairingRule): EdgeObservation {
  const caller = index.all[callerPosition]!;
  const callee = index.all[calleePosition]!;
  return withBytes({
    source: caller.self,
    target: callee.self,
    protocol: callee.protocol !== 'unknown' ? callee.protocol : caller.protocol,
    // Either side may see the failure: the caller a timeout or proxy 503, the callee its own 500.
    error: caller.error || callee.error,
    latencyNanos: callee.durationNanos,
    // Halves of one trace normally share one sampling decision; a half without sampling data reads as
    // weight 1 (Envoy's Zipkin spans carry no tracestate), so the side that does state a rate wins.
    weight: Math.max(caller.weight, callee.weight),
    // The server side is the one that sees the peer's certificate.
    mtls: callee.mtls ?? caller.mtls,
    traceId: callee.traceId,
    timeUnixNano: callee.startTimeUnixNano,
    halves: [index.key(callerPosition), index.key(calleePosition)],
    rule,
  }, callee.requestBytes ?? caller.requestBytes, callee.responseBytes ?? caller.responseBytes);
}

/** Sets the byte fields that are known (most calls state none: then the edge stays as it is). */
function withBytes(edge: EdgeObservation, requestBytes: number | undefined, responseBytes: number | undefined): EdgeObservation {
  if (requestBytes !== undefined) edge.requestBytes = requestBytes;
  if (responseBytes !== undefined) edge.responseBytes = responseBytes;
  return edge;
}

function unpairedCaller(index: HalfIndex, position: number): EdgeObservation {
  const caller = index.all[position]!;
  return halfEdge(index, position, caller.self, caller.peer ?? UNKNOWN_NODE, 'unpaired-caller');
}

function unpairedCallee(index: HalfIndex, position: number): EdgeObservation {
  const callee = index.all[position]!;
  return halfEdge(index, position, callee.peer ?? UNKNOWN_NODE, callee.self, 'unpaired-callee');
}

/** An edge seen from one half only. */
function halfEdge(index: HalfIndex, position: number, source: NodeRef, target: NodeRef, rule: PairingRule): EdgeObservation {
  const half = index.all[position]!;
  return withBytes({
    source,
    target,
    protocol: rule === 'messaging' ? 'messaging' : half.protocol,
    error: half.error,
    latencyNanos: half.durationNanos,
    weight: half.weight,
    mtls: half.mtls,
    traceId: half.traceId,
    timeUnixNano: half.startTimeUnixNano,
    halves: [index.key(position)],
    rule,
  }, half.requestBytes, half.responseBytes);
}

function compareEdges(a: EdgeObservation, b: EdgeObservation): number {
  if (a.timeUnixNano !== b.timeUnixNano) return a.timeUnixNano < b.timeUnixNano ? -1 : 1;
  return compareKeys(`${a.halves.join(',')}|${a.rule}`, `${b.halves.join(',')}|${b.rule}`);
}

export interface EdgeAggregate {
  id: string;
  source: NodeRef;
  target: NodeRef;
  sourceId: string;
  targetId: string;
  protocol: Protocol;
  /** Weighted: estimated real calls. */
  requests: number;
  /** Weighted, like requests. */
  errors: number;
  /** Unweighted number of observations behind the figures. */
  observations: number;
  /** One entry per observation (unweighted), in input order. */
  latenciesNanos: number[];
  /** Weighted sum, so latencySumNanos / requests estimates the mean. */
  latencySumNanos: number;
  /** Any false → false (a mix is not mTLS); else any true → true; null when no observation knew. */
  mtls: boolean | null;
}


/** Groups observations by (source id, target id, protocol). */
export function aggregateEdges(observations: readonly EdgeObservation[]): EdgeAggregate[] {
  const byKey = new Map<string, EdgeAggregate>();
  for (const observation of observations) {
    const sourceId = nodeId(observation.source);
    const targetId = nodeId(observation.target);
    const key = `${sourceId}\u0000${targetId}\u0000${observation.protocol}`;
    let aggregate = byKey.get(key);
    if (aggregate === undefined) {
      aggregate = {
        id: `${sourceId}->${targetId}`,
        source: observation.source,
        target: observation.target,
        sourceId,
        targetId,
        protocol: observation.protocol,
        requests: 0,
        errors: 0,
        observations: 0,
        latenciesNanos: [],
        latencySumNanos: 0,
        mtls: observation.mtls,
      };
      byKey.set(key, aggregate);
    } else {
      aggregate.mtls = mergeMtls(aggregate.mtls, observation.mtls);
    }
    // A node seen as a real service somewhere is a service, not the virtual guess of a peer.
    if (NODE_KIND_RANK[observation.source.kind] < NODE_KIND_RANK[aggregate.source.kind]) aggregate.source = observation.source;
    if (NODE_KIND_RANK[observation.target.kind] < NODE_KIND_RANK[aggregate.target.kind]) aggregate.target = observation.target;
    aggregate.requests += observation.weight;
    if (observation.error) aggregate.errors += observation.weight;
    aggregate.observations += 1;
    aggregate.latenciesNanos.push(observation.latencyNanos);
    aggregate.latencySumNanos += observation.latencyNanos * observation.weight;
  }
  return [...byKey.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : a.protocol < b.protocol ? -1 : 1));
}

function mergeMtls(a: boolean | null, b: boolean | null): boolean | null {
  if (a === false || b === false) return false;
  if (a === true || b === true) return true;
  return null;
}
