// The receiver's own StreamAccessLogsMessage reader against the generic decoder it replaced: messages
// encoded with Envoy's own protos (proto-loader), decoded by both — proto-loader's tree read the way the
// conversion used to read it is the oracle — must give the same AccessLogsMessage, for Istio sidecar HTTP
// and TCP entries (peer metadata, TLS SANs, response flags, headers, sampling, intermediate entries), the
// edge cases (wasm.-prefixed peers, another Any type, peer bytes that are no Struct, entries without
// common properties or request/response) and the bench's whole load (als-load.ts). Bytes that are not
// a message throw; a cut message is refused or read up to the cut, as the generic decoder does.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildPools } from '../../test/bench/als-load.ts';
import {
  StructType, type Workload, alsProtoLoader, common, httpEntry, identifier, inboundCluster, mysqldb, outboundCluster, peerObject, productpage, ratings,
  reviews, spiffe, tcpEntry,
} from '../../test/helpers/envoy-als.ts';
import type { NodeRef } from '../service-graph/halves.ts';
import { type AccessLogCommon, type AccessLogsMessage, type EnvoyNode, type HttpAccessLogEntry, type ProtoStruct, type ProtoValue, type TcpAccessLogEntry, convertAccessLogs, peerNode, reportingProxy } from './access-log.ts';
import { decodeStreamAccessLogsMessage } from './access-log-proto.ts';

// ---- The oracle: proto-loader's tree (keepCase, longs String, enums String, defaults, oneofs), read as the conversion read it before. ----

/** proto-loader's untyped tree: the oracle walks it as the old conversion did (test code only). */
type Tree = any;

const protos = alsProtoLoader();
const descriptor = (name: string) => (protos.definition[name] as unknown as { type: { field?: Array<{ name: string; number: number }>; value?: Array<{ name: string; number: number }> } }).type;
/** ResponseFlags' field numbers and AccessLogType's values, from Envoy's protos (not from the reader's tables). */
const FLAG_FIELD = new Map(descriptor('envoy.data.accesslog.v3.ResponseFlags').field!.map((f) => [f.name, f.number]));
const LOG_TYPE = new Map(descriptor('envoy.data.accesslog.v3.AccessLogType').value!.map((v) => [v.name, v.number]));

function structOf(tree: Tree): ProtoStruct {
  const fields: Record<string, ProtoValue> = Object.create(null);
  for (const [key, value] of Object.entries(tree.fields ?? {})) fields[key] = valueOf(value);
  return { fields };
}

function valueOf(tree: Tree): ProtoValue {
  switch (tree.kind) {
    case 'nullValue': return { nullValue: 'NULL_VALUE' };
    case 'numberValue': return { numberValue: tree.numberValue };
    case 'stringValue': return { stringValue: tree.stringValue };
    case 'boolValue': return { boolValue: tree.boolValue };
    case 'structValue': return { structValue: structOf(tree.structValue) };
    case 'listValue': return { listValue: { values: (tree.listValue.values ?? []).map(valueOf) } };
    default: return {};
  }
}

/** What the conversion's peerFromFilterState did: the plain key else the wasm. one; a Struct, decoded by protobufjs. */
function peerOf(objects: Record<string, Tree>, key: string): NodeRef | null {
  const object = objects[key] ?? objects[`wasm.${key}`];
  if (object === undefined || object.type_url !== 'type.googleapis.com/google.protobuf.Struct') return null;
  let struct: Tree;
  try {
    struct = StructType.toObject(StructType.decode(object.value), { oneofs: true });
  } catch {
    return null;
  }
  return peerNode(structOf(struct));
}

const seconds = (d: Tree) => Number(d.seconds) * 1e9 + d.nanos;

function commonOf(c: Tree): AccessLogCommon | null {
  if (c === null) return null;
  let flags = 0;
  for (const [field, value] of Object.entries(c.response_flags ?? {})) {
    if (value === true || (typeof value === 'object' && value !== null)) flags |= 1 << (FLAG_FIELD.get(field)! - 1);
  }
  const sans: Array<{ uri?: string }> = c.tls_properties?.peer_certificate_properties?.subject_alt_name ?? [];
  return {
    sampleRate: c.sample_rate,
    peerUriSan: sans.find((san) => san.uri)?.uri ?? '',
    startTimeUnixNano: c.start_time ? BigInt(c.start_time.seconds) * 1_000_000_000n + BigInt(c.start_time.nanos) : null,
    durationNanos: c.duration ? seconds(c.duration) : null,
    lastDownstreamTxByteNanos: c.time_to_last_downstream_tx_byte ? seconds(c.time_to_last_downstream_tx_byte) : null,
    upstreamCluster: c.upstream_cluster,
    responseFlags: flags,
    upstreamPeer: peerOf(c.filter_state_objects, 'upstream_peer'),
    downstreamPeer: peerOf(c.filter_state_objects, 'downstream_peer'),
    connectionSecurityPolicy: c.custom_tags['connection_security_policy'] ?? '',
    intermediateLogEntry: c.intermediate_log_entry,
    accessLogType: typeof c.access_log_type === 'number' ? c.access_log_type : LOG_TYPE.get(c.access_log_type)!,
  };
}

function httpOf(e: Tree): HttpAccessLogEntry {
  const request = e.request;
  const response = e.response;
  return {
    common: commonOf(e.common_properties),
    responseCode: response?.response_code?.value ?? 0,
    requestBodyBytes: request ? Number(request.request_body_bytes) : undefined,
    responseBodyBytes: response ? Number(response.response_body_bytes) : undefined,
    requestContentType: request?.request_headers['content-type'],
    responseContentType: response?.response_headers['content-type'],
    grpcStatusTrailer: response?.response_trailers['grpc-status'],
    grpcStatusHeader: response?.response_headers['grpc-status'],
    traceparent: request?.request_headers['traceparent'],
    b3TraceId: request?.request_headers['x-b3-traceid'],
  };
}

function tcpOf(e: Tree): TcpAccessLogEntry {
  const connection = e.connection_properties;
  return {
    common: commonOf(e.common_properties),
    receivedBytes: connection ? Number(connection.received_bytes) : undefined,
    sentBytes: connection ? Number(connection.sent_bytes) : undefined,
  };
}

function oracle(bytes: Buffer): AccessLogsMessage {
  const tree: Tree = protos.decode(bytes);
  const node: Tree = tree.identifier?.node ?? null;
  return {
    node: node === null ? null : ({ id: node.id, cluster: node.cluster, metadata: node.metadata === null ? null : structOf(node.metadata) } satisfies EnvoyNode),
    http: (tree.http_logs?.log_entry ?? []).map(httpOf),
    tcp: (tree.tcp_logs?.log_entry ?? []).map(tcpOf),
  };
}

// ---- Messages. ----

const T0 = Date.UTC(2026, 10, 26, 9, 0, 0);
const encode = (message: object) => protos.encode(message);
const sameAsOracle = (bytes: Buffer) => assert.deepStrictEqual(decodeStreamAccessLogsMessage(bytes), oracle(bytes));

const details: Workload = { pod: 'details-v1-79f774bdb9-qwert', namespace: 'bookinfo', workload: 'details-v1', app: 'details', version: 'v1', serviceAccount: 'bookinfo-details', ip: '10.1.0.6' };
const noVersion: Workload = { pod: 'legacy-0', namespace: 'legacy', workload: 'legacy', app: 'legacy', serviceAccount: 'default', ip: '10.2.0.1' };
const withCommon = (entry: { common_properties: object }, extra: object) => ({ ...entry, common_properties: { ...entry.common_properties, ...extra } });

const FIXTURES: Record<string, object> = {
  'an Istio sidecar: outbound HTTP to a canary, grpc, traceparent, b3, flags': {
    identifier: identifier(productpage),
    http_logs: {
      log_entry: [
        httpEntry({ cluster: outboundCluster('reviews', 9080), startMs: T0, durationMs: 12.5, code: 200, upstreamPeer: reviews('v1'), traceparent: `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01` }),
        httpEntry({ cluster: outboundCluster('reviews', 9080, 'bookinfo', 'v3'), startMs: T0 + 20, durationMs: 41, code: 200, upstreamPeer: reviews('v3'), requestBytes: 12_345, responseBytes: 2 ** 40 }),
        httpEntry({ cluster: outboundCluster('ratings', 9090), startMs: T0 + 2, durationMs: 2, code: 200, grpcStatus: 14, upstreamPeer: ratings }),
        httpEntry({ cluster: outboundCluster('ratings', 9080), startMs: T0 + 1, durationMs: 1, code: 503, upstreamPeer: ratings, flags: { upstream_connection_failure: true, upstream_retry_limit_exceeded: true, downstream_remote_reset: true, failed_local_healthcheck: true } }),
        httpEntry({ cluster: outboundCluster('ratings', 9080), startMs: T0, durationMs: 3, code: 0, upstreamPeer: ratings, flags: { upstream_remote_reset: true } }),
        httpEntry({ cluster: '', startMs: T0, durationMs: 1, code: 404, flags: { no_route_found: true } }),
        httpEntry({ cluster: outboundCluster('reviews', 9080), startMs: T0, durationMs: 1, code: 0, upstreamPeer: reviews('v1'), intermediate: true }),
        httpEntry({ cluster: outboundCluster('reviews', 9080), startMs: T0, durationMs: 1, code: 200, upstreamPeer: reviews('v1'), accessLogType: 'DownstreamPeriodic' }),
        httpEntry({ cluster: outboundCluster('reviews', 9080), startMs: T0, durationMs: 7, code: 200, upstreamPeer: noVersion, protocolVersion: 9, accessLogType: 99, sampleRate: 0.25 }),
        httpEntry({ cluster: outboundCluster('details', 9080), startMs: T0, code: 200 }),
        withCommon(httpEntry({ cluster: outboundCluster('details', 9080), startMs: T0, durationMs: 3, code: 403 }), { response_flags: { unauthorized_details: { reason: 'EXTERNAL_SERVICE' } } }),
        withCommon(httpEntry({ cluster: outboundCluster('details', 9080), startMs: T0, durationMs: 3, code: 403 }), { response_flags: { unauthorized_details: {} }, access_log_type: 'DownstreamEnd' }),
        { ...httpEntry({ cluster: outboundCluster('details', 9080), startMs: T0, durationMs: 3, code: 200 }), request: { request_headers: { 'x-b3-traceid': 'a'.repeat(16), 'content-type': 'application/grpc+proto' } } },
        // A trailers-only gRPC reply: grpc-status in the headers; no request properties at all.
        { common_properties: common({ cluster: outboundCluster('ratings', 9090), startMs: T0, durationMs: 1 }), response: { response_code: { value: 200 }, response_headers: { 'grpc-status': '13', 'content-type': 'application/grpc' } } },
        // A response without response_code (a reset), no common properties.
        { response: { response_body_bytes: 7 } },
        {},
      ],
    },
  },
  'an Istio sidecar: inbound from meshed callers (peer, SPIFFE SAN, custom tag), from outside, from a SAN alone': {
    identifier: identifier(reviews('v2')),
    http_logs: {
      log_entry: [
        httpEntry({ cluster: inboundCluster(9080), startMs: T0, durationMs: 29, code: 200, downstreamPeer: productpage, peerSan: spiffe(productpage) }),
        httpEntry({ cluster: inboundCluster(9080), startMs: T0, durationMs: 29, code: 200, downstreamPeer: productpage }),
        httpEntry({ cluster: inboundCluster(9080), startMs: T0, durationMs: 80, code: 500 }),
        httpEntry({ cluster: inboundCluster(9080), startMs: T0, durationMs: 80, code: 200, peerSan: 'spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account' }),
        withCommon(httpEntry({ cluster: inboundCluster(9080), startMs: T0, durationMs: 5, code: 200 }), {
          custom_tags: { connection_security_policy: 'mutual_tls', other: 'x' },
          tls_properties: { tls_version: 'TLSv1_3', local_certificate_properties: { subject_alt_name: [{ uri: 'spiffe://cluster.local/ns/bookinfo/sa/self' }] }, peer_certificate_properties: { subject_alt_name: [{ dns: 'caller.example' }, { uri: '' }, { uri: spiffe(details) }, { uri: spiffe(ratings) }] } },
        }),
        withCommon(httpEntry({ cluster: 'InboundPassthroughCluster', startMs: T0, durationMs: 5, code: 200 }), { custom_tags: { connection_security_policy: 'none' } }),
      ],
    },
  },
  'filter state: wasm.-prefixed peers, another Any type, bytes that are no Struct, a Struct naming no workload': {
    identifier: identifier(productpage),
    http_logs: {
      log_entry: [
        withCommon(httpEntry({ cluster: outboundCluster('reviews', 9080), startMs: T0, durationMs: 1, code: 200 }), { filter_state_objects: { 'wasm.upstream_peer': peerObject(reviews('v2')) } }),
        withCommon(httpEntry({ cluster: inboundCluster(9080), startMs: T0, durationMs: 1, code: 200 }), { filter_state_objects: { 'wasm.downstream_peer': peerObject(details), upstream_peer: peerObject(ratings) } }),
        withCommon(httpEntry({ cluster: outboundCluster('reviews', 9080), startMs: T0, durationMs: 1, code: 200 }), { filter_state_objects: { upstream_peer: { type_url: 'type.googleapis.com/google.protobuf.StringValue', value: Buffer.from([0x0a, 0x01, 0x78]) }, 'wasm.upstream_peer': peerObject(ratings) } }),
        withCommon(httpEntry({ cluster: outboundCluster('reviews', 9080), startMs: T0, durationMs: 1, code: 200 }), { filter_state_objects: { upstream_peer: { type_url: 'type.googleapis.com/google.protobuf.Struct', value: Buffer.from([0x0f, 0xff, 0xff]) } } }),
        withCommon(httpEntry({ cluster: outboundCluster('reviews', 9080), startMs: T0, durationMs: 1, code: 200 }), { filter_state_objects: { upstream_peer: { type_url: 'type.googleapis.com/google.protobuf.Struct', value: Buffer.from(StructType.encode(StructType.fromObject({ fields: { namespace: { stringValue: 'x' }, workload: { numberValue: 3 }, app: { listValue: { values: [{ stringValue: 'a' }, { nullValue: 0 }] } }, service: { structValue: { fields: { b: { boolValue: true } } } } } })).finish()) } } }),
        // A key and a type URL as long as the ones read, but not them.
        withCommon(httpEntry({ cluster: outboundCluster('reviews', 9080), startMs: T0, durationMs: 1, code: 200 }), { filter_state_objects: { upstream_pear: peerObject(ratings), 'wasm.upstream_peer': peerObject(details) } }),
        withCommon(httpEntry({ cluster: outboundCluster('reviews', 9080), startMs: T0, durationMs: 1, code: 200 }), { filter_state_objects: { upstream_peer: { ...peerObject(ratings), type_url: 'type.googleapis.com/google.protobuf.Strukt' } } }),
        withCommon(httpEntry({ cluster: outboundCluster('reviews', 9080), startMs: T0, durationMs: 1, code: 200 }), { filter_state_objects: { 'envoy.tcp_proxy.cluster': { type_url: 'type.googleapis.com/google.protobuf.StringValue', value: Buffer.from([0x0a, 0x01, 0x78]) }, upstream_peer: peerObject(reviews('v3')) } }),
      ],
    },
  },
  'TCP entries: to a meshed database, an external one, a connection failure, no connection properties': {
    identifier: identifier(ratings, 'tcp_envoy_accesslog'),
    tcp_logs: {
      log_entry: [
        tcpEntry({ cluster: outboundCluster('mysqldb', 3306), startMs: T0, durationMs: 1500, upstreamPeer: mysqldb }),
        tcpEntry({ cluster: 'outbound|5432||orders.c9akciq32.eu-west-1.rds.amazonaws.com', startMs: T0, durationMs: 250, received: 2 ** 33, sent: 0 }),
        tcpEntry({ cluster: outboundCluster('mysqldb', 3306), startMs: T0, durationMs: 3, upstreamPeer: mysqldb, flags: { upstream_connection_failure: true } }),
        { common_properties: common({ cluster: outboundCluster('mysqldb', 3306), startMs: T0, accessLogType: 'TcpPeriodic' }) },
      ],
    },
  },
  'a node without Istio metadata, times before 1970 and negative durations': {
    identifier: identifier(ratings, 'x', false),
    http_logs: {
      log_entry: [
        withCommon(httpEntry({ cluster: outboundCluster('reviews', 9080), startMs: T0, code: 200 }), { start_time: { seconds: -5, nanos: 7 }, duration: { seconds: -1, nanos: -500 }, time_to_last_downstream_tx_byte: { seconds: 0, nanos: 999_999_999 } }),
      ],
    },
  },
  'an identifier without a node, a message without entries': { identifier: { log_name: 'x' } },
  'a node with every kind of metadata value': {
    identifier: { node: { id: 'router~10.0.0.1~gw.ns~ns.svc.cluster.local', cluster: 'gw', metadata: { fields: { LABELS: { structValue: { fields: { version: { stringValue: 'v9' } } } }, N: { numberValue: 1.5 }, B: { boolValue: false }, Z: { nullValue: 'NULL_VALUE' }, L: { listValue: { values: [{ stringValue: 's' }, { structValue: { fields: {} } }] } } } } } },
    tcp_logs: { log_entry: [tcpEntry({ cluster: outboundCluster('x', 1), startMs: T0, durationMs: 1 })] },
  },
};

describe('decodeStreamAccessLogsMessage', () => {
  for (const [name, message] of Object.entries(FIXTURES)) {
    it(`reads what the generic decoder reads: ${name}`, () => sameAsOracle(encode(message)));
  }

  it('reads the bench load (als-load.ts: every sidecar stream of bookinfo) as the generic decoder does, and converts it alike', () => {
    const pools = buildPools(encode, T0);
    let entries = 0;
    for (const { messages } of pools) {
      for (const message of messages.slice(0, 4)) {
        const decoded = decodeStreamAccessLogsMessage(message.first);
        const expected = oracle(message.first);
        assert.deepStrictEqual(decoded, expected);
        const proxy = reportingProxy(decoded.node!);
        assert.deepStrictEqual(convertAccessLogs(decoded, proxy, 0n), convertAccessLogs(expected, proxy, 0n));
        entries += decoded.http.length + decoded.tcp.length;
        sameAsOracle(message.bytes);
      }
    }
    assert.ok(entries > 500, `${entries} entries`);
  });

  it('gives every entry of one peer the same node object (its metadata is decoded once)', () => {
    const decoded = decodeStreamAccessLogsMessage(encode(FIXTURES['an Istio sidecar: outbound HTTP to a canary, grpc, traceparent, b3, flags']!));
    const peers = decoded.http.map((e) => e.common?.upstreamPeer ?? null);
    assert.equal(peers[3], peers[4], 'ratings, twice');
    assert.notEqual(peers[0], peers[1]);
    assert.deepEqual(peers[0], { kind: 'service', name: 'reviews', namespace: 'bookinfo', version: 'v1' });
    assert.deepEqual(peers[8], { kind: 'service', name: 'legacy', namespace: 'legacy' });
  });

  it('throws on bytes that are not a message (an unknown wire type, a length past the end)', () => {
    assert.throws(() => decodeStreamAccessLogsMessage(Buffer.from([0x0f, 0xff, 0xff, 0xff])), /unsupported wire type 7/);
    assert.throws(() => decodeStreamAccessLogsMessage(Buffer.from([0x12, 0x05, 0x0a])), /longer than the message/);
    assert.throws(() => decodeStreamAccessLogsMessage(Buffer.from([0x12, 0xff])), /varint runs past the end/);
  });

  it('refuses a cut message exactly when the generic decoder does, and otherwise reads what it reads', () => {
    const bytes = encode(FIXTURES['TCP entries: to a meshed database, an external one, a connection failure, no connection properties']!);
    let refused = 0;
    for (let length = 0; length < bytes.length; length++) {
      const cut = bytes.subarray(0, length);
      let expected: AccessLogsMessage | Error;
      try {
        expected = oracle(cut);
      } catch (error) {
        expected = error as Error;
      }
      if (expected instanceof Error) {
        assert.throws(() => decodeStreamAccessLogsMessage(cut), `cut at ${length}: the generic decoder refused it (${expected.message})`);
        refused++;
      } else assert.deepStrictEqual(decodeStreamAccessLogsMessage(cut), expected, `cut at ${length}`);
    }
    assert.ok(refused > bytes.length * 0.9, `${refused} of ${bytes.length} cuts refused`);
  });
});
