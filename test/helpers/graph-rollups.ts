// The service graph read from the rollups (whole hours from edges_1h; whole ten-minute blocks and the partial
// blocks at a window's ends from edges_10m_parts, or where that table is not complete, whole blocks from
// edges_10m and the other minutes from edges_1m) must equal the graph counted from the minute rows alone, as
// it was before the rollups were read: for windows spanning parts of hours, whole hours, ten-minute blocks, a
// few minutes, in whatever time zone the engine runs. Registered by one test file per time zone (the engine
// takes its zone from TZ once per process) and per way of talking to ClickHouse.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { NODE_KIND_BY_RANK } from '../../collector/service-graph/halves.ts';
import { LatencyHistogram } from '../../collector/service-graph/histogram.ts';
import { ChdbStore } from '../../collector/storage/chdb.ts';
import { EDGE_COLUMNS, migrate } from '../../collector/storage/schema.ts';
import type { ClickHouseStore } from '../../collector/storage/store.ts';
import { type GraphEdge, type GraphNode, type GraphQuery, preference, readServiceGraph } from '../../query/service-graph.ts';
import { tempDataDir } from './meshlens.ts';

const MINUTE = 60_000;
const HOUR = 3_600_000;

interface Node {
  id: string;
  name: string;
  namespace: string;
  version: string;
}

/** One stored edge row, as read back for the reference count. */
interface StoredRow {
  time: number;
  source_id: string;
  target_id: string;
  source_name: string;
  source_namespace: string;
  source_version: string;
  source_kind: number;
  target_name: string;
  target_namespace: string;
  target_version: string;
  target_kind: number;
  protocol: string;
  signal: string;
  requests: number;
  errors: number;
  mtls_yes: number;
  mtls_no: number;
  latency: [number[], number[]];
  request_bytes: number;
  response_bytes: number;
}

const node = (namespace: string, name: string, version = ''): Node => ({ id: namespace ? `${namespace}/${name}${version ? `@${version}` : ''}` : name, name, namespace, version });
const NODES = {
  gateway: node('shop', 'gateway'),
  cart: node('shop', 'cart'),
  checkout: node('shop', 'checkout', 'canary'),
  payments: node('pay', 'payments'),
  ledger: node('pay', 'ledger'),
  orders: node('', 'orders-db'),
  queue: node('', 'events'),
  partner: node('', 'api.partner.example'),
  unknown: node('', 'unknown'),
};

/**
 * Edges: protocols (one row set per protocol), the kinds the rows give each side, signals, how often it is busy,
 * and a protocol whose calls the storage pass always takes back (guesses it paired later: no edge).
 */
const EDGES: Array<{ source: Node; target: Node; kinds: [number, number]; protocols: string[]; signals: string[]; busy: number; takenBack?: string; noLatency?: true }> = [
  { source: NODES.unknown, target: NODES.gateway, kinds: [4, 0], protocols: ['http'], signals: ['spans'], busy: 1 },
  { source: NODES.gateway, target: NODES.cart, kinds: [0, 0], protocols: ['http'], signals: ['spans', 'envoy-als'], busy: 0.9 },
  { source: NODES.gateway, target: NODES.checkout, kinds: [0, 0], protocols: ['grpc', 'unknown'], signals: ['spans'], busy: 0.6 },
  { source: NODES.checkout, target: NODES.payments, kinds: [0, 0], protocols: ['unknown', 'http'], signals: ['spans', 'envoy-als'], busy: 0.5 },
  { source: NODES.checkout, target: NODES.orders, kinds: [0, 1], protocols: ['mysql'], signals: ['spans'], busy: 0.7 },
  { source: NODES.payments, target: NODES.ledger, kinds: [0, 0], protocols: ['grpc'], signals: ['envoy-als'], busy: 0.3 },
  { source: NODES.payments, target: NODES.partner, kinds: [0, 3], protocols: ['http'], signals: ['spans'], busy: 0.2 },
  { source: NODES.cart, target: NODES.queue, kinds: [0, 2], protocols: ['kafka'], signals: ['spans'], busy: 0.4 },
  // ledger is a virtual guess as a callee of checkout, a service as a caller: a node takes the kind of the
  // first edge it appears in.
  { source: NODES.checkout, target: NODES.ledger, kinds: [0, 3], protocols: ['http'], signals: ['spans'], busy: 0.1 },
  { source: NODES.ledger, target: NODES.orders, kinds: [0, 1], protocols: ['mysql'], signals: ['spans'], busy: 0.25 },
  // A signal that counts calls without timing them: an edge without latency.
  { source: NODES.gateway, target: NODES.queue, kinds: [0, 2], protocols: ['kafka'], signals: ['envoy-metrics'], busy: 0.6, noLatency: true },
  // Taken back whole: the grpc rows net to nothing, so this edge is http (not grpc, the first protocol by name).
  { source: NODES.cart, target: NODES.payments, kinds: [0, 0], protocols: ['grpc', 'http'], signals: ['spans'], busy: 0.5, takenBack: 'grpc' },
  // Only guesses, all taken back: no edge and no node.
  { source: NODES.checkout, target: node('', 'payments'), kinds: [0, 3], protocols: ['http'], signals: ['spans'], busy: 0.3, takenBack: 'http' },
];

/** Deterministic pseudo-random numbers, so a failure can be reproduced. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** Five hours of minute rows starting 23 minutes past an hour (UTC), with gaps; some calls taken back. */
function edgeRows(firstMinuteMs: number): string {
  const next = random(7);
  const lines: string[] = [];
  for (let m = 0; m < 5 * 60; m++) {
    const minute = (firstMinuteMs + m * MINUTE) / 1000;
    for (const [e, edge] of EDGES.entries()) {
      for (const protocol of edge.protocols) {
        for (const signal of edge.signals) {
          if (next() > edge.busy) continue;
          const latency = new LatencyHistogram();
          const calls = 1 + Math.floor(next() * 12);
          for (let c = 0; c < calls; c++) latency.add((e + 1) * (1 + next() * 40) * (next() < 0.05 ? 30 : 1));
          const { indexes, counts } = latency.toSparse();
          const errors = next() < 0.2 ? Math.floor(next() * calls) : 0;
          const mtls = next() < 0.5 ? [calls, 0] : next() < 0.5 ? [0, calls] : [0, 0];
          // Spans state body sizes on some edges only; access logs always do.
          const bytesPerCall = signal === 'envoy-als' ? [300, 2000] : signal === 'spans' && e % 2 === 0 ? [100, 900] : [0, 0];
          const row = (requests: number, errorCount: number, buckets: [number[], number[]], mtlsCounts: number[]) =>
            JSON.stringify([
              minute,
              edge.source.id, edge.source.name, edge.source.namespace, edge.source.version, edge.kinds[0],
              edge.target.id, edge.target.name, edge.target.namespace, edge.target.version, edge.kinds[1],
              protocol, signal, requests, errorCount, mtlsCounts[0], mtlsCounts[1], buckets, [],
              requests * bytesPerCall[0]!, requests * bytesPerCall[1]!,
            ]);
          // Some signals carry no latency at all (counters only).
          const buckets: [number[], number[]] = edge.noLatency || (signal === 'envoy-als' && next() < 0.2) ? [[], []] : [indexes, counts];
          lines.push(row(calls, errors, buckets, mtls));
          // The storage pass takes calls back in rows of their own (negative counts), in the same minute: one,
          // or all of them where the edge was a guess.
          if (protocol === edge.takenBack) lines.push(row(-calls, -errors, [buckets[0], buckets[1].map((c) => -c)], [-mtls[0]!, -mtls[1]!]));
          else if (calls > 1 && buckets[0].length > 0 && next() < 0.1) lines.push(row(-1, 0, [[buckets[0][0]!], [-1]], [-Math.sign(mtls[0]!), -Math.sign(mtls[1]!)]));
        }
      }
    }
  }
  return `${lines.join('\n')}\n`;
}

const round = (n: number, digits = 4) => Math.round(n * 10 ** digits) / 10 ** digits;
const quantile = (h: LatencyHistogram, q: number) => {
  const v = h.quantile(q);
  return v === null ? null : round(v, 3);
};

/**
 * The graph counted from stored rows the way /api/v1/service-graph did before it read the ten-minute and hourly
 * rollups: rows folded per (caller, callee, protocol) in id order, protocols of a pair merged into one edge,
 * histograms merged in JavaScript, a node named after the first edge it appears in; where several signals
 * describe a pair, only the preferred one's counts and latencies count.
 */
function referenceGraph(rows: StoredRow[], q: GraphQuery): { nodes: GraphNode[]; edges: GraphEdge[] } {
  const groups = new Map<string, { row: StoredRow; signals: Set<string>; requests: number; errors: number; mtlsYes: number; mtlsNo: number; requestBytes: number; responseBytes: number; sourceKind: number; targetKind: number; latency: Map<number, number> }>();
  for (const r of rows) {
    if (q.signal !== 'all' && r.signal !== q.signal) continue;
    const key = JSON.stringify([r.source_id, r.target_id, r.protocol, r.signal]);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { row: r, signals: new Set(), requests: 0, errors: 0, mtlsYes: 0, mtlsNo: 0, requestBytes: 0, responseBytes: 0, sourceKind: 9, targetKind: 9, latency: new Map() }));
    g.requestBytes += r.request_bytes;
    g.responseBytes += r.response_bytes;
    g.signals.add(r.signal);
    g.requests += r.requests;
    g.errors += r.errors;
    g.mtlsYes += r.mtls_yes;
    g.mtlsNo += r.mtls_no;
    g.sourceKind = Math.min(g.sourceKind, r.source_kind);
    g.targetKind = Math.min(g.targetKind, r.target_kind);
    r.latency[0].forEach((index, i) => g.latency.set(index, (g.latency.get(index) ?? 0) + r.latency[1][i]!));
  }
  // The storage pass takes back guesses it has paired (negative rows): what nets to nothing is no edge.
  const sorted = [...groups.values()].filter((g) => g.requests > 1e-6).sort((a, b) => {
    const ka = [a.row.source_id, a.row.target_id, a.row.protocol];
    const kb = [b.row.source_id, b.row.target_id, b.row.protocol];
    for (let i = 0; i < 3; i++) if (ka[i] !== kb[i]) return Buffer.compare(Buffer.from(ka[i]!), Buffer.from(kb[i]!));
    return 0;
  });
  // Several signals on one pair: counts and latencies from the most complete one alone (each request once).
  const counted = new Map<string, string>();
  for (const g of sorted) {
    const pair = `${g.row.source_id}->${g.row.target_id}`;
    const best = counted.get(pair);
    if (best === undefined || preference(g.row.signal) < preference(best)) counted.set(pair, g.row.signal);
  }
  const seconds = Math.max(1, (q.endMs - q.startMs) / 1000);
  const nodes = new Map<string, { node: GraphNode; latency: LatencyHistogram }>();
  const addNode = (id: string, name: string, namespace: string, version: string, rank: number) => {
    let entry = nodes.get(id);
    if (!entry) {
      entry = { node: { id, name, namespace, ...(version ? { version } : {}), kind: NODE_KIND_BY_RANK[rank] ?? 'unknown', requests: 0, errors: 0, p50Ms: null, p95Ms: null, p99Ms: null }, latency: new LatencyHistogram() };
      nodes.set(id, entry);
    }
    return entry;
  };
  const edges = new Map<string, { edge: GraphEdge; latency: LatencyHistogram; mtlsYes: number; mtlsNo: number }>();
  for (const g of sorted) {
    const r = g.row;
    const nonZero = [...g.latency].filter(([, count]) => count !== 0).sort(([a], [b]) => a - b);
    const latency = LatencyHistogram.fromSparse({ indexes: nonZero.map(([index]) => index), counts: nonZero.map(([, count]) => count) });
    addNode(r.source_id, r.source_name, r.source_namespace, r.source_version, g.sourceKind);
    const target = addNode(r.target_id, r.target_name, r.target_namespace, r.target_version, g.targetKind);
    const countsHere = counted.get(`${r.source_id}->${r.target_id}`) === r.signal;
    if (countsHere) target.node.requests += g.requests;
    if (countsHere) target.node.errors += g.errors;
    if (countsHere) target.latency.merge(latency);
    const id = `${r.source_id}->${r.target_id}`;
    let entry = edges.get(id);
    if (!entry) {
      entry = { edge: { id, source: r.source_id, target: r.target_id, protocol: r.protocol, requests: 0, errors: 0, rps: 0, errorRate: 0, p50Ms: null, p95Ms: null, p99Ms: null, mtls: null, signals: [], requestBytes: 0, responseBytes: 0 }, latency: new LatencyHistogram(), mtlsYes: 0, mtlsNo: 0 };
      edges.set(id, entry);
    } else if (entry.edge.protocol === 'unknown') entry.edge.protocol = r.protocol;
    entry.mtlsYes += g.mtlsYes;
    entry.mtlsNo += g.mtlsNo;
    if (countsHere) {
      entry.edge.requests += g.requests;
      entry.edge.errors += g.errors;
      entry.latency.merge(latency);
    }
    entry.edge.signals = [...new Set([...entry.edge.signals, ...g.signals])].sort();
  }
  // Bytes: the counted signal's, or where it states none, the most complete signal's that does.
  for (const [id, { edge }] of edges) {
    const stating = sorted.filter((g) => `${g.row.source_id}->${g.row.target_id}` === id && (g.requestBytes !== 0 || g.responseBytes !== 0));
    const signals = new Set(stating.map((g) => g.row.signal));
    const from = signals.has(counted.get(id)!) ? counted.get(id)! : [...signals].sort((a, b) => preference(a) - preference(b))[0];
    for (const g of stating) {
      if (g.row.signal !== from) continue;
      edge.requestBytes += g.requestBytes;
      edge.responseBytes += g.responseBytes;
    }
    edge.requestBytes = Math.round(edge.requestBytes);
    edge.responseBytes = Math.round(edge.responseBytes);
  }
  let edgeList = [...edges.values()].map(({ edge, latency, mtlsYes, mtlsNo }) => ({
    ...edge,
    requests: round(edge.requests),
    errors: round(edge.errors),
    rps: round(edge.requests / seconds),
    errorRate: edge.requests > 0 ? round(edge.errors / edge.requests) : 0,
    p50Ms: quantile(latency, 0.5),
    p95Ms: quantile(latency, 0.95),
    p99Ms: quantile(latency, 0.99),
    mtls: mtlsNo > 0 ? false : mtlsYes > 0 ? true : null,
  }));
  let nodeList = [...nodes.values()].map(({ node: n, latency }) => ({ ...n, requests: round(n.requests), errors: round(n.errors), p50Ms: quantile(latency, 0.5), p95Ms: quantile(latency, 0.95), p99Ms: quantile(latency, 0.99) }));
  if (q.namespace) {
    const inNamespace = new Set(nodeList.filter((n) => n.namespace === q.namespace).map((n) => n.id));
    edgeList = edgeList.filter((e) => inNamespace.has(e.source) || inNamespace.has(e.target));
  }
  if (q.service) {
    const focus = new Set(nodeList.filter((n) => n.id === q.service || n.name === q.service).map((n) => n.id));
    edgeList = edgeList.filter((e) => focus.has(e.source) || focus.has(e.target));
  }
  if (q.namespace || q.service) {
    const kept = new Set(edgeList.flatMap((e) => [e.source, e.target]));
    nodeList = nodeList.filter((n) => kept.has(n.id));
  }
  nodeList.sort((a, b) => (a.id < b.id ? -1 : 1));
  return { nodes: nodeList, edges: edgeList };
}

const ROW_COLUMNS = `source_id, target_id, source_name, source_namespace, source_version, source_kind, target_name, target_namespace,
  target_version, target_kind, protocol, signal, requests, errors, mtls_yes, mtls_no, latency, request_bytes, response_bytes`;

/** The rows the graph used to read for a window: its minutes; over 6 hours, the hours it touches. */
async function storedRows(store: ClickHouseStore, q: GraphQuery): Promise<StoredRow[]> {
  const start = Math.floor(q.startMs / 1000);
  const end = Math.floor(q.endMs / 1000);
  const sql =
    q.endMs - q.startMs > 6 * HOUR
      ? `SELECT toUnixTimestamp(hour) AS time, ${ROW_COLUMNS} FROM edges_1h WHERE hour >= toStartOfHour(toDateTime(${start})) AND hour <= toDateTime(${end})`
      : `SELECT toUnixTimestamp(minute) AS time, ${ROW_COLUMNS} FROM edges_1m WHERE minute >= toStartOfMinute(toDateTime(${start})) AND minute <= toDateTime(${end})`;
  return (await store.query<StoredRow>(sql)).map((r) => ({
    ...r, source_kind: Number(r.source_kind), target_kind: Number(r.target_kind), request_bytes: Number(r.request_bytes), response_bytes: Number(r.response_bytes),
  }));
}

export function serviceGraphRollupSuite(label: string, open: (dir: string) => ClickHouseStore = (dir) => new ChdbStore(dir)): void {
  describe(`service graph from the rollups equals the minute count (${label})`, () => {
    let dir: string;
    let store: ClickHouseStore;
    // Rows start 23 minutes past a UTC hour a day ago, for five hours.
    const firstMinuteMs = Math.floor((Date.now() - 24 * HOUR) / HOUR) * HOUR + 23 * MINUTE;
    const hourAfter = (n: number) => firstMinuteMs - 23 * MINUTE + n * HOUR;

    before(async () => {
      dir = tempDataDir();
      store = open(dir);
      await migrate(store, { retentionDays: 7 });
      await store.insert('edges_1m', EDGE_COLUMNS, Buffer.from(edgeRows(firstMinuteMs)));
    });
    after(async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    });

    const check = async (q: GraphQuery, on: ClickHouseStore = store) => {
      const expected = referenceGraph(await storedRows(on, q), q);
      const actual = await readServiceGraph(on, q);
      assert.deepEqual({ nodes: actual.nodes, edges: actual.edges }, expected, `window ${new Date(q.startMs).toISOString()} .. ${new Date(q.endMs).toISOString()} ${q.signal}`);
      return actual;
    };

    it('an empty store counts every rollup as complete', async () => {
      for (const rollup of ['edges_10m', 'edges_10m_parts']) {
        const [coverage] = await store.query<{ from: string }>(`SELECT toUnixTimestamp(max(complete_from)) AS from FROM rollup_coverage WHERE rollup = '${rollup}'`);
        assert.equal(Number(coverage!.from), 0, rollup);
      }
    });

    it('1 h windows across two hours, ending at every minute of a quarter hour', async () => {
      for (let k = 0; k < 16; k++) {
        const endMs = hourAfter(3) + 7 * MINUTE + k * (MINUTE + 3_100);
        const graph = await check({ startMs: endMs - HOUR, endMs, signal: 'all' });
        assert.equal(graph.edges.length, EDGES.length - 1, 'every edge is busy within an hour; the guesses taken back are none');
        assert.equal(graph.edges.find((e) => e.id === 'shop/cart->pay/payments')?.protocol, 'http');
      }
    });

    it('windows on whole hours, half and quarter hours (time zones off the hour), and on ten-minute blocks', async () => {
      for (const offset of [0, 15 * MINUTE, 30 * MINUTE, 45 * MINUTE]) {
        const startMs = hourAfter(1) + offset;
        await check({ startMs, endMs: startMs + HOUR - 1, signal: 'all' });
        await check({ startMs, endMs: startMs + 2 * HOUR, signal: 'all' });
        await check({ startMs: startMs - 1, endMs: startMs + HOUR + 1, signal: 'all' });
      }
      await check({ startMs: hourAfter(2) + 20 * MINUTE, endMs: hourAfter(2) + 50 * MINUTE - 1, signal: 'all' });
    });

    it('short and long windows, the edges of the data, one signal, a namespace and a focus service', async () => {
      const windows: Array<[number, number]> = [
        [hourAfter(2) + 3 * MINUTE + 500, hourAfter(2) + 8 * MINUTE],
        [hourAfter(2) + 9 * MINUTE, hourAfter(2) + 21 * MINUTE + 59_999],
        [hourAfter(1) + 47 * MINUTE + 13_000, hourAfter(4) + 31 * MINUTE + 2_000],
        [hourAfter(0) + 5 * MINUTE, hourAfter(6) + 5 * MINUTE],
        [hourAfter(0), hourAfter(6)],
        [hourAfter(4) + 50 * MINUTE, hourAfter(6)],
        [hourAfter(0) + 10 * MINUTE, hourAfter(0) + 40 * MINUTE],
      ];
      for (const [startMs, endMs] of windows) await check({ startMs, endMs, signal: 'all' });
      // Over 6 hours the hourly rollup alone answers, as before.
      await check({ startMs: hourAfter(0) + 5 * MINUTE, endMs: hourAfter(6) + 5 * MINUTE + 1, signal: 'all' });
      const startMs = hourAfter(1) + 37 * MINUTE;
      await check({ startMs, endMs: startMs + HOUR, signal: 'envoy-als' });
      await check({ startMs, endMs: startMs + HOUR, signal: 'spans' });
      await check({ startMs, endMs: startMs + HOUR, signal: 'statsd' });
      await check({ startMs, endMs: startMs + HOUR, signal: 'all', namespace: 'pay' });
      await check({ startMs, endMs: startMs + HOUR, signal: 'all', service: 'checkout' });
    });

    it('reads whole blocks and hours from the rollups, and no block before the rollup is complete', async () => {
      // A row written to a rollup alone (which the materialized views never do) shows what the read uses.
      const probe = (table: 'edges_10m' | 'edges_1h', time: number) =>
        store.exec(`INSERT INTO ${table} (${table === 'edges_10m' ? 'ten_minute' : 'hour'}, source_id, target_id, source_name, source_namespace, target_name, target_namespace, protocol, signal, requests, latency)
          VALUES (toDateTime(${time / 1000}), 'probe/a', 'probe/b', 'a', 'probe', 'b', 'probe', 'http', 'spans', 1000, ([500], [1000]))`);
      const probed = async (q: GraphQuery, on: ClickHouseStore = store) => (await readServiceGraph(on, q)).edges.find((e) => e.id === 'probe/a->probe/b')?.requests;
      // Period starts as the engine's time zone has them.
      const [starts] = await store.query<{ block: string; hour: string }>(
        `SELECT toUnixTimestamp(toStartOfTenMinutes(toDateTime(${(hourAfter(2) + 25 * MINUTE) / 1000}))) AS block, toUnixTimestamp(toStartOfHour(toDateTime(${(hourAfter(3) + 50 * MINUTE) / 1000}))) AS hour`,
      );
      const block = Number(starts!.block) * 1000;
      const hour = Number(starts!.hour) * 1000;

      const blockWindow = { startMs: block - 25 * MINUTE, endMs: block + 35 * MINUTE, signal: 'all' } as const;
      // Where edges_10m_parts is complete, a window's whole blocks and the partial ones at its ends (its first 5
      // minutes, and its last 6: it counts the minute its end falls in) come from it, one row each; edges_10m is
      // not read.
      const probePart = (part: 'minute_to_end' | 'start_to_minute' | 'block', time: number, requests: number) =>
        store.exec(`INSERT INTO edges_10m_parts (part, minute, source_id, target_id, protocol, signal, requests, latency)
          VALUES ('${part}', toDateTime(${time / 1000}), 'probe/a', 'probe/b', 'http', 'spans', ${requests}, ([500], [${requests}]))`);
      await probe('edges_10m', block);
      await probePart('block', block, 10_000);
      await probePart('minute_to_end', blockWindow.startMs, 100);
      await probePart('start_to_minute', blockWindow.endMs, 10);
      assert.equal(await probed(blockWindow), 10_110, 'blocks and partial blocks came from edges_10m_parts, one row each');
      await probe('edges_1h', hour);
      // Where hours do not start on a ten-minute boundary (Asia/Kathmandu), hour rows are not used.
      assert.equal(await probed({ startMs: hour, endMs: hour + HOUR - 1, signal: 'all' }), hour % (10 * MINUTE) === 0 ? 1000 : undefined, 'the hour came from edges_1h');

      // Blocks before a rollup was complete (a store that had minute rows when migration 6 or 9 ran) are counted
      // from their minutes. That point is read once per store, hence other stores on the same directory.
      await store.exec(`INSERT INTO rollup_coverage (rollup, complete_from) VALUES ('edges_10m_parts', toDateTime(${(block + HOUR) / 1000}))`);
      assert.equal(await probed(blockWindow), 10_110, 'read once per store');
      const partsLater = open(dir);
      try {
        assert.equal(await probed(blockWindow, partsLater), 1000, 'whole blocks from edges_10m, the partial ones from their minutes');
        await check({ startMs: block - 2 * HOUR - 7 * MINUTE, endMs: block - HOUR - 7 * MINUTE, signal: 'all' }, partsLater);
        await check({ startMs: block + HOUR + 3 * MINUTE, endMs: block + 2 * HOUR + 3 * MINUTE, signal: 'all' }, partsLater);
      } finally {
        await partsLater.close();
      }
      await store.exec(`INSERT INTO rollup_coverage (rollup, complete_from) VALUES ('edges_10m', toDateTime(${(block + HOUR) / 1000}))`);
      const later = open(dir);
      try {
        assert.equal(await probed(blockWindow, later), undefined);
        await check(blockWindow, later);
        await check({ startMs: block - 2 * HOUR - 7 * MINUTE, endMs: block - HOUR - 7 * MINUTE, signal: 'all' }, later);
        await check({ startMs: block + HOUR + 3 * MINUTE, endMs: block + 2 * HOUR + 3 * MINUTE, signal: 'all' }, later);
      } finally {
        await later.close();
      }
    });
  });
}
