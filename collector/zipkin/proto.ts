// Zipkin proto3 (POST /api/v2/spans, application/x-protobuf): `zipkin.proto3.ListOfSpans`, what
// Envoy's Zipkin tracer sends with `collector_endpoint_version: HTTP_PROTO`.
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { BadRequestError, type ConvertedTraces, type TraceLimits } from '../otlp/traces.ts';
import { ZipkinConverter, type ZipkinEndpoint, type ZipkinKind, hex, ipv4Text, ipv6Text } from './convert.ts';

export const ZIPKIN_PROTO = fileURLToPath(new URL('./zipkin.proto', import.meta.url));

const root = protobuf.loadSync(ZIPKIN_PROTO);
export const ListOfSpans = root.lookupType('zipkin.proto3.ListOfSpans');

/** A 64-bit field as protobufjs gives it: a Long (unsigned for fixed64/uint64) or a plain number. */
type U64 = number | { toString(): string };

interface ProtoEndpoint {
  serviceName?: string;
  ipv4?: Uint8Array;
  ipv6?: Uint8Array;
  port?: number;
}

interface ProtoSpan {
  traceId?: Uint8Array;
  parentId?: Uint8Array;
  id?: Uint8Array;
  kind?: number;
  name?: string;
  timestamp?: U64;
  duration?: U64;
  localEndpoint?: ProtoEndpoint | null;
  remoteEndpoint?: ProtoEndpoint | null;
  annotations?: Array<{ timestamp?: U64; value?: string }>;
  tags?: Record<string, string>;
}

// Proto3: an enum value this reader does not know is kept as its number; like an absent kind, it is a local span.
const KINDS: Record<number, ZipkinKind> = { 1: 'CLIENT', 2: 'SERVER', 3: 'PRODUCER', 4: 'CONSUMER' };

/** Throws BadRequestError when the body is not a ListOfSpans; bad spans are counted as rejected. */
export function convertZipkinProto(body: Uint8Array, limits: TraceLimits): ConvertedTraces {
  let decoded: { spans?: ProtoSpan[] };
  try {
    decoded = ListOfSpans.decode(body) as unknown as { spans?: ProtoSpan[] };
  } catch (error) {
    throw new BadRequestError(`invalid Zipkin proto3 ListOfSpans: ${(error as Error).message.split('\n')[0]}`, 'decode');
  }
  const converter = new ZipkinConverter(limits);
  for (const s of decoded.spans ?? []) {
    converter.countSpan();
    converter.add({
      traceId: hex(s.traceId),
      id: hex(s.id),
      parentId: hex(s.parentId),
      name: s.name ?? '',
      kind: KINDS[s.kind ?? 0] ?? '',
      timestamp: u64(s.timestamp),
      duration: u64(s.duration),
      localEndpoint: endpoint(s.localEndpoint),
      remoteEndpoint: endpoint(s.remoteEndpoint),
      annotations: (s.annotations ?? []).map((a) => ({ timestamp: u64(a.timestamp), value: a.value ?? '' })),
      tags: Object.entries(s.tags ?? {}),
      problem: '',
    });
  }
  return converter.result;
}

function u64(value: U64 | undefined): bigint {
  return value === undefined ? 0n : BigInt(value.toString());
}

function endpoint(e: ProtoEndpoint | null | undefined): ZipkinEndpoint | null {
  if (!e) return null;
  return { serviceName: e.serviceName ?? '', ipv4: ipv4Text(e.ipv4), ipv6: ipv6Text(e.ipv6), port: e.port !== undefined && e.port > 0 && e.port <= 65535 ? e.port : 0 };
}
