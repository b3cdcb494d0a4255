// Load for Envoy's access-log service (bench:mesh): what Istio sidecars stream to StreamAccessLogs,
// pre-encoded with Envoy's own protos (test/helpers/envoy-client.ts), and the grpc-js client streams
// that push it as fast as the server takes it (writes wait for 'drain', as a real stream's do).
//
// Each stream is one sidecar: its first message names the proxy (identifier.node), every message holds
// as many entries as fit Envoy's default buffer (buffer_size_bytes 16 KiB) and the entries alternate over
// the calls that sidecar logs — outbound to its callees (counted, with Istio's upstream_peer), inbound from
// meshed callers (counted by the caller's entry: the receiver only takes their mTLS), and for the ingress
// gateway inbound from outside the mesh (counted). A stream cycles through a pool of distinct messages:
// meshlens keeps nothing per message, so repeating bytes costs it what new bytes would, and the client
// holds a few MB instead of the whole run.
import { once } from 'node:events';
import type * as grpc from '@grpc/grpc-js';
import { convertAccessLogs, reportingProxy } from '../../collector/envoy/access-log.ts';
import { decodeStreamAccessLogsMessage } from '../../collector/envoy/access-log-proto.ts';
import { EdgeMinutes } from '../../collector/service-graph/edge-rows.ts';
import { nodeId } from '../../collector/service-graph/halves.ts';
import {
  type Workload, httpEntry, identifier, inboundCluster, mysqldb, outboundCluster, productpage, ratings, reviews, spiffe, tcpEntry,
} from '../helpers/envoy-als.ts';
import { type EnvoyStreamClient, envoyStreamClient } from '../helpers/envoy-client.ts';

const details: Workload = { pod: 'details-v1-79f774bdb9-qwert', namespace: 'bookinfo', workload: 'details-v1', app: 'details', version: 'v1', serviceAccount: 'bookinfo-details', ip: '10.1.0.6' };
const ingress: Workload = { pod: 'istio-ingressgateway-5d8f7b6c9d-ingrs', namespace: 'istio-system', workload: 'istio-ingressgateway', app: 'istio-ingressgateway', serviceAccount: 'istio-ingressgateway-service-account', ip: '10.1.0.2' };

/** One sidecar's stream: what it logs, in turn. */
interface Proxy {
  self: Workload;
  kind: 'http' | 'tcp';
  callees: Array<{ workload: Workload; service: string; port: number }>;
  /** Meshed callers (inbound entries counted by the caller); `null`: a caller outside the mesh. */
  callers: Array<Workload | null>;
}

const PROXIES: Proxy[] = [
  { self: productpage, kind: 'http', callees: [{ workload: details, service: 'details', port: 9080 }, ...(['v1', 'v2', 'v3'] as const).map((v) => ({ workload: reviews(v), service: 'reviews', port: 9080 }))], callers: [ingress] },
  { self: reviews('v2'), kind: 'http', callees: [{ workload: ratings, service: 'ratings', port: 9080 }], callers: [productpage] },
  { self: reviews('v3'), kind: 'http', callees: [{ workload: ratings, service: 'ratings', port: 9080 }], callers: [productpage] },
  { self: ingress, kind: 'http', callees: [{ workload: productpage, service: 'productpage', port: 9080 }], callers: [null] },
  { self: reviews('v1'), kind: 'http', callees: [], callers: [productpage] },
  { self: details, kind: 'http', callees: [], callers: [productpage] },
  { self: ratings, kind: 'http', callees: [], callers: [reviews('v2'), reviews('v3')] },
  { self: ratings, kind: 'tcp', callees: [{ workload: mysqldb, service: 'mysqldb', port: 3306 }], callers: [] },
];

/** Envoy's default buffer_size_bytes for the gRPC access loggers: a message is sent once it is this full. */
const ENVOY_BUFFER_BYTES = 16 * 1024;
/** Distinct messages per proxy. */
const POOL_MESSAGES = 64;

export interface PooledMessage {
  /** Without identifier, as every message after the first. */
  bytes: Buffer;
  /** The same entries with the identifier, for a stream's first message. */
  first: Buffer;
  entries: number;
  /** Entries that count a request on an edge (the graph's request sum grows by this). */
  counted: number;
}

export interface StreamPool {
  proxy: Proxy;
  messages: PooledMessage[];
}

function entryFor(proxy: Proxy, n: number, startMs: number): { entry: object; counted: boolean } {
  const sides = proxy.callees.length + proxy.callers.length;
  const side = n % sides;
  const durationMs = 1 + ((n * 7919) % 40_000) / 1000;
  const code = n % 97 === 0 ? 503 : n % 31 === 0 ? 404 : 200;
  const requestId = `${(Math.imul(n, 2654435761) >>> 0).toString(16).padStart(8, '0')}-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
  const flags = code === 503 ? { upstream_connection_failure: true } : undefined;
  if (side < proxy.callees.length) {
    const callee = proxy.callees[side]!;
    const cluster = outboundCluster(callee.service, callee.port);
    const entry =
      proxy.kind === 'tcp'
        ? tcpEntry({ cluster, startMs, durationMs: durationMs * 20, upstreamPeer: callee.workload, received: 100 + (n % 400), sent: 2000 + (n % 9000) })
        : httpEntry({ cluster, startMs, durationMs, code, upstreamPeer: callee.workload, requestId, responseBytes: 1000 + (n % 4000), ...(flags ? { flags } : {}) });
    return { entry, counted: true };
  }
  const caller = proxy.callers[side - proxy.callees.length]!;
  const entry = httpEntry({ cluster: inboundCluster(9080), startMs, durationMs: durationMs * 0.9, code, requestId, responseBytes: 1000 + (n % 4000), ...(caller ? { downstreamPeer: caller, peerSan: spiffe(caller) } : {}) });
  return { entry, counted: caller === null };
}

/** POOL_MESSAGES messages per proxy, each ~16 KiB of entries starting around `startMs` (one per 10 µs). */
export function buildPools(encode: (message: object) => Buffer, startMs: number): StreamPool[] {
  return PROXIES.map((proxy, p) => {
    const logs = (entries: object[]) => (proxy.kind === 'tcp' ? { tcp_logs: { log_entry: entries } } : { http_logs: { log_entry: entries } });
    const id = identifier(proxy.self, proxy.kind === 'tcp' ? 'tcp_envoy_accesslog' : 'http_envoy_accesslog');
    // Entries per message: as many as fit the buffer, judged from a sample of them.
    const sample = Array.from({ length: 20 }, (_, i) => entryFor(proxy, i, startMs).entry);
    const perMessage = Math.max(1, Math.round(ENVOY_BUFFER_BYTES / (encode(logs(sample)).length / sample.length)));
    const messages: PooledMessage[] = [];
    let n = p * 1_000_003;
    for (let m = 0; m < POOL_MESSAGES; m++) {
      const entries: object[] = [];
      let counted = 0;
      for (let i = 0; i < perMessage; i++, n++) {
        const made = entryFor(proxy, n, startMs + Math.floor((m * perMessage + i) / 100));
        entries.push(made.entry);
        if (made.counted) counted++;
      }
      messages.push({ bytes: encode(logs(entries)), first: encode({ identifier: id, ...logs(entries) }), entries: entries.length, counted });
    }
    return { proxy, messages };
  });
}

/** What one stream sends: its pool, and how many of the pool's messages in turn (the first with the identifier). */
export interface StreamPlan {
  pool: StreamPool;
  messages: number;
}

/** Streams of `streams` sidecars (the first: productpage's) carrying `entries` entries in all, rounded up to whole messages. */
export function planStreams(pools: StreamPool[], streams: number, entries: number): StreamPlan[] {
  const plans: StreamPlan[] = [];
  for (let s = 0; s < streams; s++) {
    const pool = pools[s % pools.length]!;
    const share = Math.ceil(entries / streams);
    plans.push({ pool, messages: Math.max(1, Math.ceil(share / pool.messages[0]!.entries)) });
  }
  return plans;
}

const messageAt = (plan: StreamPlan, i: number): PooledMessage => plan.pool.messages[i % plan.pool.messages.length]!;

export function planTotals(plans: StreamPlan[]): { entries: number; counted: number; messages: number; bytes: number } {
  let entries = 0;
  let counted = 0;
  let messages = 0;
  let bytes = 0;
  for (const plan of plans) {
    for (let i = 0; i < plan.messages; i++) {
      const message = messageAt(plan, i);
      entries += message.entries;
      counted += message.counted;
      bytes += i === 0 ? message.first.length : message.bytes.length;
    }
    messages += plan.messages;
  }
  return { entries, counted, messages, bytes };
}

export function alsClient(address: string): EnvoyStreamClient {
  // A connection of its own per client, as each proxy has (grpc-js would otherwise share one).
  return envoyStreamClient(address, 'envoy/service/accesslog/v3/als.proto', 'envoy.service.accesslog.v3.AccessLogService', 'StreamAccessLogs', [], { 'grpc.use_local_subchannel_pool': 1 });
}

/** Pushes one stream's messages (waiting for 'drain' when grpc-js' buffer is full); resolves with its entries once the server answered OK. */
export async function pushStream(client: EnvoyStreamClient, plan: StreamPlan): Promise<number> {
  let answer!: (error: grpc.ServiceError | null) => void;
  const answered = new Promise<grpc.ServiceError | null>((resolve) => (answer = resolve));
  const call = client.openRawStream((error) => answer(error));
  let entries = 0;
  for (let i = 0; i < plan.messages; i++) {
    const message = messageAt(plan, i);
    entries += message.entries;
    if (!call.write(i === 0 ? message.first : message.bytes)) await Promise.race([once(call, 'drain'), answered]);
  }
  call.end();
  const error = await answered;
  if (error) throw new Error(`StreamAccessLogs ended with ${error.code}: ${error.details}`);
  return entries;
}

// ---- The rows meshlens writes for these streams, and one row per entry, for the raw-insert baselines. ----

/**
 * The per-minute edge rows meshlens derives from `plans` (JSONCompactEachRow for edges_1m, computed by
 * the receiver's conversion and EdgeMinutes), and one row per entry (als_entries' columns) written
 * through `writeEntryRows` in pieces.
 */
export function baselineRows(plans: StreamPlan[], writeEntryRows: (rows: string) => void): { edgeRows: Buffer; edgeRowCount: number; entryRows: number } {
  const decode = decodeStreamAccessLogsMessage;
  const minutes = new EdgeMinutes();
  const converted = new Map<Buffer, { convert: ReturnType<typeof convertAccessLogs>; rows: string; count: number }>();
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  let entryRows = 0;
  for (const plan of plans) {
    const node = decode(plan.pool.messages[0]!.first).node!;
    const proxy = reportingProxy(node);
    for (let i = 0; i < plan.messages; i++) {
      const bytes = messageAt(plan, i).bytes;
      let c = converted.get(bytes);
      if (c === undefined) {
        const convert = convertAccessLogs(decode(bytes), proxy, nowNs);
        let rows = '';
        for (const s of convert.samples) {
          rows += `[${s.timeUnixNano},${JSON.stringify([nodeId(s.source), nodeId(s.target), s.protocol, s.error ? 1 : 0, s.latencyNanos, s.weight, s.mtls === null ? null : s.mtls ? 1 : 0, s.traceId, s.requestBytes ?? 0, s.responseBytes ?? 0]).slice(1)}\n`;
        }
        for (const s of convert.increments) {
          rows += `[${s.timeUnixNano},${JSON.stringify([nodeId(s.source), nodeId(s.target), s.protocol, s.errors > 0 ? 1 : 0, 0, s.requests, s.mtlsYes > 0 ? 1 : s.mtlsNo > 0 ? 0 : null, '', s.requestBytes ?? 0, s.responseBytes ?? 0]).slice(1)}\n`;
        }
        c = { convert, rows, count: convert.samples.length + convert.increments.length };
        converted.set(bytes, c);
      }
      minutes.add(c.convert.samples, 'envoy-als');
      minutes.addIncrements(c.convert.increments, 'envoy-als');
      writeEntryRows(c.rows);
      entryRows += c.count;
    }
  }
  const drained = minutes.drain();
  return { edgeRows: drained?.body ?? Buffer.alloc(0), edgeRowCount: drained?.rows ?? 0, entryRows };
}
