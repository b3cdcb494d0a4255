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
type Decision = { edge: EdgeObservation } | 'none' | 'undecided';

export function pairHalves(halves: readonly SpanHalf[], options: PairingOptions): PairingResult {
  const index = new HalfIndex(dedupe(halves), options.maxSkewNanos);
  const edges: EdgeObservation[] = [];
  const waiting: SpanHalf[] = [];
  for (const half of index.all) {
    const settled = { inbound: half.settled?.inbound ?? false, outbound: half.settled?.outbound ?? false };
    for (const role of ['inbound', 'outbound'] as const) {
      if (settled[role]) continue;
      const decision = role === 'inbound' ? decideInbound(half, index, options.final) : decideOutbound(half, index, options.final);
      if (decision === 'undecided') continue;
      settled[role] = true;
      if (decision !== 'none') edges.push(decision.edge);
    }
    if (!options.final) waiting.push({ ...half, settled });
  }
  edges.sort(compareEdges);
  return { edges, waiting };
}

function dedupe(halves: readonly SpanHalf[]): SpanHalf[] {
  const byKey = new Map<string, SpanHalf>();
  for (const half of halves) {
    const key = halfKey(half);
    const seen = byKey.get(key);
    if (seen === undefined) {
      byKey.set(key, half);
    } else if (half.settled !== undefined) {
      // An edge emitted for either copy is emitted for the half.
      byKey.set(key, {
        ...seen,
        settled: {
          inbound: (seen.settled?.inbound ?? false) || half.settled.inbound,
          outbound: (seen.settled?.outbound ?? false) || half.settled.outbound,
        },
      });
    }
  }
  // Sorted so that ties (several candidate parents) resolve the same way whatever the input order.
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, half]) => half);
}

const PARENT_PREFERENCE: Record<SpanHalf['kind'], number> = { server: 0, consumer: 1, client: 2, producer: 3, internal: 4 };

class HalfIndex {
  readonly all: SpanHalf[];
  private readonly bySpan = new Map<string, SpanHalf[]>();
  private readonly byParent = new Map<string, SpanHalf[]>();

  constructor(halves: SpanHalf[], private readonly maxSkewNanos: bigint | undefined) {
    this.all = halves;
    for (const half of halves) {
      push(this.bySpan, `${half.traceId}/${half.spanId}`, half);
      if (half.parentSpanId !== '') push(this.byParent, `${half.traceId}/${half.parentSpanId}`, half);
    }
  }

  private near(a: SpanHalf, b: SpanHalf): boolean {
    if (this.maxSkewNanos === undefined) return true;
    const gap = a.startTimeUnixNano - b.startTimeUnixNano;
    return (gap < 0n ? -gap : gap) <= this.maxSkewNanos;
  }

  /**
   * The parent half. When a span id is shared (Zipkin/Envoy: CLIENT and SERVER halves), children belong
   * to the SERVER side: it is the one running in the process that made them.
   */
  parentOf(child: SpanHalf): SpanHalf | null {
    if (child.parentSpanId === '') return null;
    const candidates = (this.bySpan.get(`${child.traceId}/${child.parentSpanId}`) ?? []).filter(
      (candidate) => candidate !== child && this.near(candidate, child),
    );
    candidates.sort((a, b) => PARENT_PREFERENCE[a.kind] - PARENT_PREFERENCE[b.kind]);
    return candidates[0] ?? null;
  }

  childrenOf(parent: SpanHalf): SpanHalf[] {
    return (this.byParent.get(`${parent.traceId}/${parent.spanId}`) ?? []).filter((child) => this.parentOf(child) === parent);
  }

  /** The other half of a shared span id: same trace and span id, the opposite side, another service. */
  twinOf(half: SpanHalf, twinKind: 'client' | 'server'): SpanHalf | null {
    const twins = (this.bySpan.get(`${half.traceId}/${half.spanId}`) ?? []).filter(
      (other) => other.kind === twinKind && !sameService(other, half) && this.near(other, half),
    );
    return twins[0] ?? null;
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

function sameService(a: SpanHalf, b: SpanHalf): boolean {
  return nodeId(a.self) === nodeId(b.self);
}

/** The edge into a half (who called it), for the kinds that can be called. */
function decideInbound(half: SpanHalf, index: HalfIndex, final: boolean): Decision {
  switch (half.kind) {
    case 'server': {
      const twin = index.twinOf(half, 'client');
      if (twin !== null) return { edge: pairedEdge(twin, half, 'shared-span') };
      const parent = index.parentOf(half);
      if (parent !== null) {
        if (sameService(parent, half)) return 'none';
        // Any kind of parent in another service called us: CLIENT as usual, SERVER from a proxy
        // (ingress-nginx), INTERNAL from a mislabelled caller. Only a CLIENT parent is certain before the
        // window closes: for any other parent, a Zipkin CLIENT twin may still arrive and take priority.
        if (parent.kind === 'client' || final) return { edge: pairedEdge(parent, half, 'parent-child') };
        return 'undecided';
      }
      return final ? { edge: unpairedCallee(half) } : 'undecided';
    }
    case 'consumer': {
      const parent = index.parentOf(half);
      const broker = messagingNodeOf(half) ?? (parent?.kind === 'producer' ? messagingNodeOf(parent) : null);
      if (broker !== null) {
        const used = parent?.kind === 'producer' && messagingNodeOf(half) === null ? [parent, half] : [half];
        return { edge: { ...halfEdge(half, broker, half.self, 'messaging'), halves: used.map(halfKey), weight: maxWeight(used) } };
      }
      if (parent !== null) return sameService(parent, half) ? 'none' : { edge: pairedEdge(parent, half, 'parent-child') };
      return final ? { edge: unpairedCallee(half) } : 'undecided';
    }
    case 'client':
    case 'internal': {
      // A CLIENT under another service's CLIENT is a gateway hop (Istio ingress gateway); an INTERNAL
      // under another service's CLIENT is a callee that labelled its span wrongly.
      const parent = index.parentOf(half);
      if (parent !== null) {
        return parent.kind === 'client' && !sameService(parent, half) ? { edge: pairedEdge(parent, half, 'parent-child') } : 'none';
      }
      // A root, or a parent gone for good, leaves no caller to draw: the edge is the parent's business.
      return half.parentSpanId === '' || final ? 'none' : 'undecided';
    }
    case 'producer':
      return 'none';
  }
}

/** The edge out of a caller when nobody answered it, or the producer → broker edge. */
function decideOutbound(half: SpanHalf, index: HalfIndex, final: boolean): Decision {
  if (half.kind === 'producer') {
    const children = index.childrenOf(half).filter((child) => child.kind === 'consumer');
    const ownBroker = messagingNodeOf(half);
    if (ownBroker !== null) return { edge: halfEdge(half, half.self, ownBroker, 'messaging') };
    const child = children[0];
    if (child !== undefined) {
      const broker = messagingNodeOf(child);
      // Without a broker on either side the consumer's inbound edge is the direct producer → consumer one.
      if (broker === null) return 'none';
      return { edge: { ...halfEdge(half, half.self, broker, 'messaging'), halves: [halfKey(half), halfKey(child)], weight: maxWeight([half, child]) } };
    }
    return final ? { edge: unpairedCaller(half) } : 'undecided';
  }
  if (half.kind !== 'client') return 'none';
  if (index.twinOf(half, 'server') !== null) return 'none';
  // Any callee-side child means someone answered (its own inbound edge counts the call, or it is a
  // same-service hop that is no edge at all); only an INTERNAL child in our own service is no answer.
  const answered = index.childrenOf(half).some((child) => child.kind !== 'internal' || !sameService(child, half));
  if (answered) return 'none';
  return final ? { edge: unpairedCaller(half) } : 'undecided';
}

function pairedEdge(caller: SpanHalf, callee: SpanHalf, rule: PairingRule): EdgeObservation {
  return {
    source: caller.self,
    target: callee.self,
    protocol: callee.protocol !== 'unknown' ? callee.protocol : caller.protocol,
    // Either side may see the failure: the caller a timeout or proxy 503, the callee its own 500.
    error: caller.error || callee.error,
    latencyNanos: callee.durationNanos,
    weight: maxWeight([caller, callee]),
    // The server side is the one that sees the peer's certificate.
    mtls: callee.mtls ?? caller.mtls,
    traceId: callee.traceId,
    timeUnixNano: callee.startTimeUnixNano,
    halves: [halfKey(caller), halfKey(callee)],
    rule,
  };
}

function unpairedCaller(caller: SpanHalf): EdgeObservation {
  return halfEdge(caller, caller.self, caller.peer ?? UNKNOWN_NODE, 'unpaired-caller');
}

function unpairedCallee(callee: SpanHalf): EdgeObservation {
  return halfEdge(callee, callee.peer ?? UNKNOWN_NODE, callee.self, 'unpaired-callee');
}

/** An edge seen from one half only. */
function halfEdge(half: SpanHalf, source: NodeRef, target: NodeRef, rule: PairingRule): EdgeObservation {
  return {
    source,
    target,
    protocol: rule === 'messaging' ? 'messaging' : half.protocol,
    error: half.error,
    latencyNanos: half.durationNanos,
    weight: half.weight,
    mtls: half.mtls,
    traceId: half.traceId,
    timeUnixNano: half.startTimeUnixNano,
    halves: [halfKey(half)],
    rule,
  };
}

/**
 * Halves of one trace normally share one sampling decision; a half without sampling data reads as
 * weight 1 (Envoy's Zipkin spans carry no tracestate), so the side that does state a rate wins.
 */
function maxWeight(halves: readonly SpanHalf[]): number {
  return Math.max(...halves.map((half) => half.weight));
}

function compareEdges(a: EdgeObservation, b: EdgeObservation): number {
  if (a.timeUnixNano !== b.timeUnixNano) return a.timeUnixNano < b.timeUnixNano ? -1 : 1;
  const keyA = `${a.halves.join(',')}|${a.rule}`;
  const keyB = `${b.halves.join(',')}|${b.rule}`;
  return keyA < keyB ? -1 : keyA > keyB ? 1 : 0;
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
