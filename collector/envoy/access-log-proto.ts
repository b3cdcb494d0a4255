// Reads an Envoy StreamAccessLogsMessage straight from protobuf bytes into what the conversion
// (access-log.ts) reads — the fields it uses, nothing else. A generic decoder (proto-loader over Envoy's
// protos) first built a tree of every field of every entry (addresses, timings, headers, Long objects for
// uint64s) and decoded Istio's peer-metadata Struct again for every entry; that was half the receiver's
// CPU. Here unknown and unused fields are skipped, and each distinct peer-metadata entry is decoded once.
//
// Field numbers: envoy/service/accesslog/v3/als.proto, envoy/data/accesslog/v3/accesslog.proto,
// envoy/config/core/v3/base.proto (Node), google/protobuf/{struct,any,duration,timestamp,wrappers}.proto.
// uint64 byte counts become numbers: exact up to 2^53 bytes (8 PiB), far beyond any one request or
// connection. Bytes that are not protobuf throw (WireFormatError, RangeError): the stream refuses the
// message (envoy-stream.ts).
import { FIXED64, LEN, Reader, VARINT, WireFormatError } from '../protobuf-reader.ts';
import type { NodeRef } from '../service-graph/halves.ts';
import {
  type AccessLogCommon, type AccessLogsMessage, type EnvoyNode, type HttpAccessLogEntry, type ProtoStruct, type ProtoValue,
  type TcpAccessLogEntry, peerNode,
} from './access-log.ts';

/** Decodes one StreamAccessLogsMessage; throws on bytes that are not one. */
export function decodeStreamAccessLogsMessage(bytes: Buffer): AccessLogsMessage {
  const r = new Reader(bytes, 0, bytes.length);
  const message: AccessLogsMessage = { node: null, http: [], tcp: [] };
  while (r.more) {
    const tag = r.varint();
    if (tag === ((1 << 3) | LEN)) {
      const outer = r.enter();
      message.node = identifierNode(r);
      r.leave(outer);
    } else if (tag === ((2 << 3) | LEN)) {
      // HTTPAccessLogEntries { repeated HTTPAccessLogEntry log_entry = 1 }
      const outer = r.enter();
      while (r.more) {
        const t = r.varint();
        if (t === ((1 << 3) | LEN)) {
          const inner = r.enter();
          message.http.push(httpEntry(r));
          r.leave(inner);
        } else r.skip(t & 7);
      }
      r.leave(outer);
    } else if (tag === ((3 << 3) | LEN)) {
      // TCPAccessLogEntries { repeated TCPAccessLogEntry log_entry = 1 }
      const outer = r.enter();
      while (r.more) {
        const t = r.varint();
        if (t === ((1 << 3) | LEN)) {
          const inner = r.enter();
          message.tcp.push(tcpEntry(r));
          r.leave(inner);
        } else r.skip(t & 7);
      }
      r.leave(outer);
    } else r.skip(tag & 7);
  }
  return message;
}

// Each reader below reads the message the cursor was entered into, up to r.end.

/** Identifier { config.core.v3.Node node = 1; string log_name = 2 }: the node, null when absent. */
function identifierNode(r: Reader): EnvoyNode | null {
  let node: EnvoyNode | null = null;
  while (r.more) {
    const tag = r.varint();
    if (tag === ((1 << 3) | LEN)) {
      const outer = r.enter();
      node = envoyNode(r);
      r.leave(outer);
    } else r.skip(tag & 7);
  }
  return node;
}

/** Node { string id = 1; string cluster = 2; google.protobuf.Struct metadata = 3; … }. */
function envoyNode(r: Reader): EnvoyNode {
  const node: EnvoyNode = { id: '', cluster: '', metadata: null };
  while (r.more) {
    const tag = r.varint();
    if (tag === ((1 << 3) | LEN)) node.id = r.string();
    else if (tag === ((2 << 3) | LEN)) node.cluster = r.string();
    else if (tag === ((3 << 3) | LEN)) {
      const outer = r.enter();
      node.metadata = struct(r, 0);
      r.leave(outer);
    } else r.skip(tag & 7);
  }
  return node;
}

// ---- google.protobuf.Struct, whole (node metadata, peer metadata: once per stream or per distinct blob). ----

/** Deeper than any metadata: a limit so that hostile nesting is refused rather than overflowing the stack. */
const MAX_STRUCT_DEPTH = 64;

/** Struct { map<string, Value> fields = 1 }. */
function struct(r: Reader, depth: number): ProtoStruct {
  if (depth > MAX_STRUCT_DEPTH) throw new WireFormatError(`a Struct nested more than ${MAX_STRUCT_DEPTH} deep`);
  // No prototype, so that a key named __proto__ stays a key.
  const fields: Record<string, ProtoValue> = Object.create(null);
  while (r.more) {
    const tag = r.varint();
    if (tag !== ((1 << 3) | LEN)) {
      r.skip(tag & 7);
      continue;
    }
    const outer = r.enter();
    let key = '';
    let value: ProtoValue = {};
    while (r.more) {
      const t = r.varint();
      if (t === ((1 << 3) | LEN)) key = r.key();
      else if (t === ((2 << 3) | LEN)) {
        const inner = r.enter();
        value = protoValue(r, depth);
        r.leave(inner);
      } else r.skip(t & 7);
    }
    r.leave(outer);
    fields[key] = value;
  }
  return { fields };
}

/** Value { oneof kind { NullValue null_value = 1; double number_value = 2; string string_value = 3; bool bool_value = 4; Struct struct_value = 5; ListValue list_value = 6 } }. */
function protoValue(r: Reader, depth: number): ProtoValue {
  let value: ProtoValue = {};
  while (r.more) {
    const tag = r.varint();
    switch (tag) {
      case (1 << 3) | VARINT: r.varint(); value = { nullValue: 'NULL_VALUE' }; break;
      case (2 << 3) | FIXED64: value = { numberValue: r.double() }; break;
      case (3 << 3) | LEN: value = { stringValue: r.string() }; break;
      case (4 << 3) | VARINT: value = { boolValue: r.varint() !== 0 }; break;
      case (5 << 3) | LEN: { const outer = r.enter(); value = { structValue: struct(r, depth + 1) }; r.leave(outer); break; }
      case (6 << 3) | LEN: {
        // ListValue { repeated Value values = 1 }
        const outer = r.enter();
        const values: ProtoValue[] = [];
        while (r.more) {
          const t = r.varint();
          if (t === ((1 << 3) | LEN)) {
            const inner = r.enter();
            values.push(protoValue(r, depth + 1));
            r.leave(inner);
          } else r.skip(t & 7);
        }
        r.leave(outer);
        value = { listValue: { values } };
        break;
      }
      default: r.skip(tag & 7);
    }
  }
  return value;
}

// ---- Entries. ----

/** HTTPAccessLogEntry { AccessLogCommon common_properties = 1; HTTPVersion protocol_version = 2; HTTPRequestProperties request = 3; HTTPResponseProperties response = 4 }. */
function httpEntry(r: Reader): HttpAccessLogEntry {
  const entry: HttpAccessLogEntry = {
    common: null, responseCode: 0, requestBodyBytes: undefined, responseBodyBytes: undefined, requestContentType: undefined,
    responseContentType: undefined, grpcStatusTrailer: undefined, grpcStatusHeader: undefined, traceparent: undefined, b3TraceId: undefined,
  };
  while (r.more) {
    const tag = r.varint();
    if (tag === ((1 << 3) | LEN)) {
      const outer = r.enter();
      entry.common = common(r);
      r.leave(outer);
    } else if (tag === ((3 << 3) | LEN)) {
      const outer = r.enter();
      request(r, entry);
      r.leave(outer);
    } else if (tag === ((4 << 3) | LEN)) {
      const outer = r.enter();
      response(r, entry);
      r.leave(outer);
    } else r.skip(tag & 7);
  }
  return entry;
}

/** HTTPRequestProperties { … uint64 request_body_bytes = 12; map<string, string> request_headers = 13; … }. */
function request(r: Reader, entry: HttpAccessLogEntry): void {
  entry.requestBodyBytes = 0;
  while (r.more) {
    const tag = r.varint();
    if (tag === ((12 << 3) | VARINT)) entry.requestBodyBytes = r.varint();
    else if (tag === ((13 << 3) | LEN)) {
      const outer = r.enter();
      stringPair(r);
      r.leave(outer);
      if (pairKey === 'content-type') entry.requestContentType = pairValue;
      else if (pairKey === 'traceparent') entry.traceparent = pairValue;
      else if (pairKey === 'x-b3-traceid') entry.b3TraceId = pairValue;
    } else r.skip(tag & 7);
  }
}

/** HTTPResponseProperties { UInt32Value response_code = 1; uint64 response_body_bytes = 3; map<string, string> response_headers = 4; map<string, string> response_trailers = 5; … }. */
function response(r: Reader, entry: HttpAccessLogEntry): void {
  entry.responseBodyBytes = 0;
  while (r.more) {
    const tag = r.varint();
    switch (tag) {
      case (1 << 3) | LEN: {
        // google.protobuf.UInt32Value { uint32 value = 1 }
        const outer = r.enter();
        entry.responseCode = 0;
        while (r.more) {
          const t = r.varint();
          if (t === ((1 << 3) | VARINT)) entry.responseCode = r.uint32();
          else r.skip(t & 7);
        }
        r.leave(outer);
        break;
      }
      case (3 << 3) | VARINT: entry.responseBodyBytes = r.varint(); break;
      case (4 << 3) | LEN: {
        const outer = r.enter();
        stringPair(r);
        r.leave(outer);
        if (pairKey === 'content-type') entry.responseContentType = pairValue;
        else if (pairKey === 'grpc-status') entry.grpcStatusHeader = pairValue;
        break;
      }
      case (5 << 3) | LEN: {
        const outer = r.enter();
        stringPair(r);
        r.leave(outer);
        if (pairKey === 'grpc-status') entry.grpcStatusTrailer = pairValue;
        break;
      }
      default: r.skip(tag & 7);
    }
  }
}

/** TCPAccessLogEntry { AccessLogCommon common_properties = 1; ConnectionProperties connection_properties = 2 }. */
function tcpEntry(r: Reader): TcpAccessLogEntry {
  const entry: TcpAccessLogEntry = { common: null, receivedBytes: undefined, sentBytes: undefined };
  while (r.more) {
    const tag = r.varint();
    if (tag === ((1 << 3) | LEN)) {
      const outer = r.enter();
      entry.common = common(r);
      r.leave(outer);
    } else if (tag === ((2 << 3) | LEN)) {
      // ConnectionProperties { uint64 received_bytes = 1; uint64 sent_bytes = 2 }
      const outer = r.enter();
      entry.receivedBytes = 0;
      entry.sentBytes = 0;
      while (r.more) {
        const t = r.varint();
        if (t === ((1 << 3) | VARINT)) entry.receivedBytes = r.varint();
        else if (t === ((2 << 3) | VARINT)) entry.sentBytes = r.varint();
        else r.skip(t & 7);
      }
      r.leave(outer);
    } else r.skip(tag & 7);
  }
  return entry;
}

/** The filter-state keys of Istio's peer metadata (`wasm.`-prefixed in older Istio), by their bytes; their lengths differ. */
const PeerKey = { None: 0, Upstream: 1, Downstream: 2, WasmUpstream: 3, WasmDownstream: 4 } as const;
type PeerKey = (typeof PeerKey)[keyof typeof PeerKey];
const PEER_KEYS = new Map<number, { bytes: Buffer; key: PeerKey }>(
  ([['upstream_peer', PeerKey.Upstream], ['downstream_peer', PeerKey.Downstream], ['wasm.upstream_peer', PeerKey.WasmUpstream], ['wasm.downstream_peer', PeerKey.WasmDownstream]] as const).map(
    ([name, key]) => [name.length, { bytes: Buffer.from(name), key }],
  ),
);
const STRUCT_TYPE_URL = Buffer.from('type.googleapis.com/google.protobuf.Struct');

/**
 * AccessLogCommon { double sample_rate = 1; TLSProperties tls_properties = 4; Timestamp start_time = 5;
 * Duration time_to_last_downstream_tx_byte = 12; string upstream_cluster = 15; ResponseFlags
 * response_flags = 16; map<string, Any> filter_state_objects = 21; map<string, string> custom_tags = 22;
 * Duration duration = 23; bool intermediate_log_entry = 27; AccessLogType access_log_type = 33; … }.
 */
function common(r: Reader): AccessLogCommon {
  const c: AccessLogCommon = {
    sampleRate: 0, peerUriSan: '', startTimeUnixNano: null, durationNanos: null, lastDownstreamTxByteNanos: null, upstreamCluster: '',
    responseFlags: 0, upstreamPeer: null, downstreamPeer: null, connectionSecurityPolicy: '', intermediateLogEntry: false, accessLogType: 0,
  };
  // A peer key present but not holding a peer (another type, bytes that are not a Struct) is null: the
  // `wasm.` spelling is only asked when the plain one is absent.
  let upstream: NodeRef | null | undefined;
  let downstream: NodeRef | null | undefined;
  let wasmUpstream: NodeRef | null | undefined;
  let wasmDownstream: NodeRef | null | undefined;
  while (r.more) {
    const tag = r.varint();
    switch (tag) {
      case (1 << 3) | FIXED64: c.sampleRate = r.double(); break;
      case (4 << 3) | LEN: { const outer = r.enter(); tlsPeerUriSan(r, c); r.leave(outer); break; }
      case (5 << 3) | LEN: { const outer = r.enter(); c.startTimeUnixNano = timestampNanos(r); r.leave(outer); break; }
      case (12 << 3) | LEN: { const outer = r.enter(); c.lastDownstreamTxByteNanos = durationNanos(r); r.leave(outer); break; }
      // Interned: a proxy logs the same few clusters, and the conversion looks each up.
      case (15 << 3) | LEN: c.upstreamCluster = r.key(); break;
      case (16 << 3) | LEN: { const outer = r.enter(); c.responseFlags = responseFlags(r); r.leave(outer); break; }
      case (21 << 3) | LEN: {
        const outer = r.enter();
        filterStateEntry(r);
        r.leave(outer);
        if (stateKey === PeerKey.Upstream) upstream = statePeer;
        else if (stateKey === PeerKey.Downstream) downstream = statePeer;
        else if (stateKey === PeerKey.WasmUpstream) wasmUpstream = statePeer;
        else if (stateKey === PeerKey.WasmDownstream) wasmDownstream = statePeer;
        break;
      }
      case (22 << 3) | LEN: {
        const outer = r.enter();
        stringPair(r);
        r.leave(outer);
        if (pairKey === 'connection_security_policy') c.connectionSecurityPolicy = pairValue;
        break;
      }
      case (23 << 3) | LEN: { const outer = r.enter(); c.durationNanos = durationNanos(r); r.leave(outer); break; }
      case (27 << 3) | VARINT: c.intermediateLogEntry = r.varint() !== 0; break;
      // An enum is an int32: the low 32 bits, signed.
      case (33 << 3) | VARINT: c.accessLogType = r.uint32() | 0; break;
      default: r.skip(tag & 7);
    }
  }
  c.upstreamPeer = upstream !== undefined ? upstream : (wasmUpstream ?? null);
  c.downstreamPeer = downstream !== undefined ? downstream : (wasmDownstream ?? null);
  return c;
}

// A map entry's key and value, as the last stringPair() / filterStateEntry() read them (one entry at a time).
let pairKey = '';
let pairValue = '';
let stateKey: PeerKey = PeerKey.None;
let statePeer: NodeRef | null = null;

/** A map<string, string> entry { string key = 1; string value = 2 }. Keys are interned (header names repeat). */
function stringPair(r: Reader): void {
  pairKey = '';
  pairValue = '';
  while (r.more) {
    const tag = r.varint();
    if (tag === ((1 << 3) | LEN)) pairKey = r.key();
    else if (tag === ((2 << 3) | LEN)) pairValue = r.string();
    else r.skip(tag & 7);
  }
}

/**
 * A map<string, Any> entry of filter_state_objects (the cursor entered into it): which peer key it is,
 * and the peer. Istio's peer entries repeat byte for byte in every entry of a peer: looked up by their
 * bytes first (PeerEntries), read only when new.
 */
function filterStateEntry(r: Reader): void {
  const known = PEER_ENTRIES.find(r.buf, r.pos, r.end);
  if (known !== undefined) {
    stateKey = known.key;
    statePeer = known.peer;
    r.pos = r.end;
    return;
  }
  const start = r.pos;
  readFilterStateEntry(r);
  if (stateKey !== PeerKey.None) PEER_ENTRIES.add(r.buf, start, r.end, stateKey, statePeer);
}

/** Map entry { string key = 1; Any value = 2 }; Any { string type_url = 1; bytes value = 2 }. The Struct is decoded only under a peer key. */
function readFilterStateEntry(r: Reader): void {
  stateKey = PeerKey.None;
  statePeer = null;
  let isStruct = false;
  let valueStart = 0;
  let valueEnd = 0;
  while (r.more) {
    const tag = r.varint();
    if (tag === ((1 << 3) | LEN)) {
      const outer = r.enter();
      const known = PEER_KEYS.get(r.end - r.pos);
      stateKey = known !== undefined && bodyIs(r, known.bytes) ? known.key : PeerKey.None;
      r.leave(outer);
    } else if (tag === ((2 << 3) | LEN)) {
      const outer = r.enter();
      isStruct = false;
      valueStart = valueEnd = 0;
      while (r.more) {
        const t = r.varint();
        if (t === ((1 << 3) | LEN)) {
          const inner = r.enter();
          isStruct = bodyIs(r, STRUCT_TYPE_URL);
          r.leave(inner);
        } else if (t === ((2 << 3) | LEN)) {
          const inner = r.enter();
          valueStart = r.pos;
          valueEnd = r.end;
          r.leave(inner);
        } else r.skip(t & 7);
      }
      r.leave(outer);
    } else r.skip(tag & 7);
  }
  if (stateKey !== PeerKey.None && isStruct) statePeer = decodePeer(r.buf, valueStart, valueEnd);
}

/**
 * Whether the entered field's body is exactly `expected`. Compared here, from the end (where type URLs
 * differ): for a few dozen bytes a loop costs less than a call to Buffer#compare.
 */
function bodyIs(r: Reader, expected: Buffer): boolean {
  if (r.end - r.pos !== expected.length) return false;
  for (let i = expected.length - 1; i >= 0; i--) {
    if (r.buf[r.pos + i] !== expected[i]) return false;
  }
  return true;
}

/**
 * Istio's peer-metadata filter-state entries, by their bytes. A sidecar talks to a few peers, and each
 * peer's entry is the same bytes in every access-log entry: its Struct is decoded once per distinct
 * entry instead of once per access-log entry, and every entry of a peer gets the same NodeRef object (the
 * graph then works its id out once). Found without making a string of the bytes: a hash of the length
 * and a sample of the bytes picks a slot, a byte-for-byte comparison (native: for hundreds of bytes it
 * beats a loop) decides; entries that differ only where the sample does not look (reviews v1 and v2)
 * share a slot. Bounded: a full slot drops its oldest entry.
 */
class PeerEntries {
  private static readonly SLOTS = 256;
  private static readonly PER_SLOT = 4;
  private static readonly SAMPLED_BYTES = 32;
  private readonly slots: Array<Array<{ bytes: Buffer; key: PeerKey; peer: NodeRef | null }>> = Array.from({ length: PeerEntries.SLOTS }, () => []);

  find(buf: Buffer, start: number, end: number): { key: PeerKey; peer: NodeRef | null } | undefined {
    const length = end - start;
    for (const known of this.slotOf(buf, start, end)) {
      if (known.bytes.length === length && buf.compare(known.bytes, 0, length, start, end) === 0) return known;
    }
    return undefined;
  }

  add(buf: Buffer, start: number, end: number, key: PeerKey, peer: NodeRef | null): void {
    const slot = this.slotOf(buf, start, end);
    if (slot.length >= PeerEntries.PER_SLOT) slot.shift();
    // A copy: the message's buffer is not kept.
    slot.push({ bytes: Buffer.from(buf.subarray(start, end)), key, peer });
  }

  private slotOf(buf: Buffer, start: number, end: number): Array<{ bytes: Buffer; key: PeerKey; peer: NodeRef | null }> {
    const length = end - start;
    const step = Math.floor(length / PeerEntries.SAMPLED_BYTES) + 1;
    let hash = Math.imul(length, 0x01000193);
    for (let i = start; i < end; i += step) hash = Math.imul(hash ^ buf[i]!, 0x01000193);
    return this.slots[(hash >>> 0) & (PeerEntries.SLOTS - 1)]!;
  }
}

const PEER_ENTRIES = new PeerEntries();

/** The peer a Struct's bytes name; null when they are not a Struct (no peer, not a refusal) or name none. */
function decodePeer(buf: Buffer, start: number, end: number): NodeRef | null {
  let metadata: ProtoStruct;
  try {
    metadata = struct(new Reader(buf, start, end), 0);
  } catch (error) {
    if (error instanceof WireFormatError || error instanceof RangeError) return null;
    throw error;
  }
  return peerNode(metadata);
}

/** TLSProperties { CertificateProperties peer_certificate_properties = 5; … }: the first non-empty URI SAN of the peer's certificate. */
function tlsPeerUriSan(r: Reader, c: AccessLogCommon): void {
  while (r.more) {
    const tag = r.varint();
    if (tag !== ((5 << 3) | LEN)) {
      r.skip(tag & 7);
      continue;
    }
    // CertificateProperties { repeated SubjectAltName subject_alt_name = 1; … }
    const outer = r.enter();
    while (r.more) {
      const t = r.varint();
      if (t !== ((1 << 3) | LEN)) {
        r.skip(t & 7);
        continue;
      }
      // SubjectAltName { oneof san { string uri = 1; string dns = 2 } }
      const inner = r.enter();
      while (r.more) {
        const u = r.varint();
        if (u === ((1 << 3) | LEN) && c.peerUriSan === '') c.peerUriSan = r.string();
        else r.skip(u & 7);
      }
      r.leave(inner);
    }
    r.leave(outer);
  }
}

/** ResponseFlags { bool failed_local_healthcheck = 1; … Unauthorized unauthorized_details = 13; … bool downstream_remote_reset = 28 } as a bit set: bit n − 1 for field n. */
function responseFlags(r: Reader): number {
  let flags = 0;
  while (r.more) {
    const tag = r.varint();
    const field = tag >>> 3;
    // Tags of fields 1–28 are below 256; a larger tag (a newer Envoy's flag) is skipped.
    if (tag < 256 && field >= 1 && field <= 28) {
      const bit = 1 << (field - 1);
      if (field === 13 && (tag & 7) === LEN) {
        // unauthorized_details: a message, set (whatever its reason) = the flag.
        r.skip(LEN);
        flags |= bit;
        continue;
      }
      if (field !== 13 && (tag & 7) === VARINT) {
        if (r.varint() !== 0) flags |= bit;
        else flags &= ~bit;
        continue;
      }
    }
    r.skip(tag & 7);
  }
  return flags;
}

const NS_PER_SECOND = 1_000_000_000n;
// Consecutive entries mostly start in the same second: its nanoseconds as a bigint are kept.
let lastSeconds = 0;
let lastSecondsNanos = 0n;

/** Timestamp { int64 seconds = 1; int32 nanos = 2 } in ns since the epoch. */
function timestampNanos(r: Reader): bigint {
  let secondsNanos = 0n;
  let nanos = 0;
  while (r.more) {
    const tag = r.varint();
    if (tag === ((1 << 3) | VARINT)) {
      const at = r.pos;
      const seconds = r.varint();
      if (seconds <= Number.MAX_SAFE_INTEGER) {
        if (seconds !== lastSeconds) {
          lastSeconds = seconds;
          lastSecondsNanos = BigInt(seconds) * NS_PER_SECOND;
        }
        secondsNanos = lastSecondsNanos;
      } else {
        // Negative (a 10-byte varint) or beyond 2^53: read again, exactly.
        r.pos = at;
        secondsNanos = r.int64() * NS_PER_SECOND;
      }
    } else if (tag === ((2 << 3) | VARINT)) nanos = r.uint32() | 0;
    else r.skip(tag & 7);
  }
  return secondsNanos + BigInt(nanos);
}

/** Duration { int64 seconds = 1; int32 nanos = 2 } in ns (as a double: exact up to 104 days). */
function durationNanos(r: Reader): number {
  let seconds = 0;
  let nanos = 0;
  while (r.more) {
    const tag = r.varint();
    if (tag === ((1 << 3) | VARINT)) {
      const at = r.pos;
      seconds = r.varint();
      if (seconds > Number.MAX_SAFE_INTEGER) {
        r.pos = at;
        seconds = Number(r.int64());
      }
    } else if (tag === ((2 << 3) | VARINT)) nanos = r.uint32() | 0;
    else r.skip(tag & 7);
  }
  return seconds * 1e9 + nanos;
}
