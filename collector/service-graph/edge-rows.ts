// Folds edge observations into per-minute rows for `edges_1m` (one row per minute, caller, callee,
// protocol and signal), ready to insert as JSONCompactEachRow in EDGE_COLUMNS order.
import { NODE_KIND_RANK, type NodeRef, type Protocol, nodeId } from './halves.ts';
import { LatencyHistogram } from './histogram.ts';
import { MinuteClock } from './minute-clock.ts';
import type { EdgeObservation } from './pairing.ts';

/** What an edge row was derived from: the `signal` column, so the graph can be asked per signal. */
export type Signal = 'spans' | 'envoy-als' | 'envoy-metrics' | 'otlp-metrics' | 'otlp-logs' | 'statsd' | 'prometheus';

/** One call as any signal saw it: a paired span edge, an access-log entry, … */
export type EdgeSample = Pick<EdgeObservation, 'source' | 'target' | 'protocol' | 'error' | 'latencyNanos' | 'weight' | 'mtls' | 'traceId' | 'timeUnixNano' | 'requestBytes' | 'responseBytes'>;

/**
 * Calls counted rather than seen one by one (a counter's increase over an interval, a histogram's
 * bucket increases): metrics-derived signals add these.
 */
export interface EdgeIncrement {
  /** Any time inside the minute the increase belongs to. */
  timeUnixNano: bigint;
  source: NodeRef;
  target: NodeRef;
  protocol: Protocol;
  requests: number;
  errors: number;
  /** Requests known to have been mTLS / plaintext. */
  mtlsYes: number;
  mtlsNo: number;
  /** The increase's latencies, when the signal has them. */
  latency: LatencyHistogram | null;
  /** Bytes over the interval, when the signal counts them. */
  requestBytes?: number;
  responseBytes?: number;
}


const EXEMPLARS_PER_ROW = 5;

interface MinuteRow {
  minute: number;
  source: NodeRef;
  target: NodeRef;
  protocol: Protocol;
  signal: Signal;
  requests: number;
  errors: number;
  mtlsYes: number;
  mtlsNo: number;
  requestBytes: number;
  responseBytes: number;
  latency: LatencyHistogram;
  /** Latencies taken back by the storage pass (histograms hold no negative counts): subtracted in drain(). */
  retracted?: LatencyHistogram;
  exemplars: string[];
}


export class EdgeMinutes {
  /** In the order they were first seen. */
  private rows: MinuteRow[] = [];
  /**
   * The same rows by minute, source id and target id, then a scan of the few protocol/signal pairs:
   * finding an observation's row builds no key string (that cost more than folding the observation).
   */
  private byMinute = new Map<number, Map<string, Map<string, MinuteRow[]>>>();
  private readonly clock = new MinuteClock();

  get size(): number {
    return this.rows.length;
  }

  add(observations: readonly EdgeSample[], signal: Signal): void {
    for (const o of observations) {
      const row = this.rowFor(o, signal);
      if (NODE_KIND_RANK[o.source.kind] < NODE_KIND_RANK[row.source.kind]) row.source = o.source;
      if (NODE_KIND_RANK[o.target.kind] < NODE_KIND_RANK[row.target.kind]) row.target = o.target;
      row.requests += o.weight;
      if (o.error) row.errors += o.weight;
      if (o.mtls === true) row.mtlsYes += o.weight;
      else if (o.mtls === false) row.mtlsNo += o.weight;
      row.latency.addNs(o.latencyNanos, o.weight);
      if (o.requestBytes !== undefined) row.requestBytes += o.requestBytes * o.weight;
      if (o.responseBytes !== undefined) row.responseBytes += o.responseBytes * o.weight;
      if (o.traceId !== '' && row.exemplars.length < EXEMPLARS_PER_ROW && !row.exemplars.includes(o.traceId)) row.exemplars.push(o.traceId);
    }
  }

  addIncrements(increments: readonly EdgeIncrement[], signal: Signal): void {
    for (const inc of increments) {
      const row = this.rowFor(inc, signal);
      if (NODE_KIND_RANK[inc.source.kind] < NODE_KIND_RANK[row.source.kind]) row.source = inc.source;
      if (NODE_KIND_RANK[inc.target.kind] < NODE_KIND_RANK[row.target.kind]) row.target = inc.target;
      row.requests += inc.requests;
      row.errors += inc.errors;
      row.mtlsYes += inc.mtlsYes;
      row.mtlsNo += inc.mtlsNo;
      row.requestBytes += inc.requestBytes ?? 0;
      row.responseBytes += inc.responseBytes ?? 0;
      if (inc.latency !== null) row.latency.merge(inc.latency);
    }
  }

  /**
   * Takes observations back: the storage pass found that a guess written earlier (caller → virtual peer,
   * unknown → callee) was one side of a call it has now paired. The rows carry negative counts, which
   * edges_1m's sums fold into the earlier rows.
   */
  retract(observations: readonly EdgeSample[], signal: Signal): void {
    for (const o of observations) {
      const row = this.rowFor(o, signal);
      row.requests -= o.weight;
      if (o.error) row.errors -= o.weight;
      if (o.mtls === true) row.mtlsYes -= o.weight;
      else if (o.mtls === false) row.mtlsNo -= o.weight;
      if (o.requestBytes !== undefined) row.requestBytes -= o.requestBytes * o.weight;
      if (o.responseBytes !== undefined) row.responseBytes -= o.responseBytes * o.weight;
      (row.retracted ??= new LatencyHistogram()).addNs(o.latencyNanos, o.weight);
    }
  }

  private rowFor(o: Pick<EdgeSample, 'timeUnixNano' | 'source' | 'target' | 'protocol'>, signal: Signal): MinuteRow {
    const minute = this.clock.minuteOf(o.timeUnixNano);
    const sourceId = nodeId(o.source);
    const targetId = nodeId(o.target);
    let bySource = this.byMinute.get(minute);
    if (bySource === undefined) this.byMinute.set(minute, (bySource = new Map()));
    let byTarget = bySource.get(sourceId);
    if (byTarget === undefined) bySource.set(sourceId, (byTarget = new Map()));
    let candidates = byTarget.get(targetId);
    if (candidates === undefined) byTarget.set(targetId, (candidates = []));
    for (const row of candidates) {
      if (row.protocol === o.protocol && row.signal === signal) return row;
    }
    const row: MinuteRow = { minute, source: o.source, target: o.target, protocol: o.protocol, signal, requests: 0, errors: 0, mtlsYes: 0, mtlsNo: 0, requestBytes: 0, responseBytes: 0, latency: new LatencyHistogram(), exemplars: [] };
    candidates.push(row);
    this.rows.push(row);
    return row;
  }


  /** Takes every row accumulated so far, encoded; undefined when there is none. */
  drain(): { body: Buffer; rows: number } | undefined {
    if (this.rows.length === 0) return undefined;
    const rows = this.rows;
    this.rows = [];
    this.byMinute = new Map();
    const lines = rows.map((r) => {
      const { indexes, counts } = r.retracted ? netSparse(r.latency, r.retracted) : r.latency.toSparse();
      return JSON.stringify([
        r.minute,
        nodeId(r.source), r.source.name, r.source.namespace, r.source.version ?? '', NODE_KIND_RANK[r.source.kind],
        nodeId(r.target), r.target.name, r.target.namespace, r.target.version ?? '', NODE_KIND_RANK[r.target.kind],
        r.protocol, r.signal, r.requests, r.errors, r.mtlsYes, r.mtlsNo, [indexes, counts], r.exemplars,
        r.requestBytes, r.responseBytes,
      ]);
    });
    return { body: Buffer.from(lines.join('\n') + '\n'), rows: rows.length };
  }
}

/** added − retracted per bucket index, zeros left out. */
function netSparse(added: LatencyHistogram, retracted: LatencyHistogram): { indexes: number[]; counts: number[] } {
  const net = new Map<number, number>();
  const fold = (h: LatencyHistogram, sign: 1 | -1) => {
    const { indexes, counts } = h.toSparse();
    indexes.forEach((index, i) => net.set(index, (net.get(index) ?? 0) + sign * counts[i]!));
  };
  fold(added, 1);
  fold(retracted, -1);
  const indexes = [...net.keys()].filter((index) => net.get(index) !== 0).sort((a, b) => a - b);
  return { indexes, counts: indexes.map((index) => net.get(index)!) };
}
