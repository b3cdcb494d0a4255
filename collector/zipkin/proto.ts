// Zipkin proto3 (POST /api/v2/spans, application/x-protobuf): `zipkin.proto3.ListOfSpans`, what
// Envoy's Zipkin tracer sends with `collector_endpoint_version: HTTP_PROTO`. Read straight from the
// wire (protobuf-reader.ts), as the OTLP reader does: a generic decoder would first build a message
// tree — Long objects for every timestamp, a Buffer per id and address — that we would only copy.
// Field numbers from zipkin.proto (kept beside this file, and used by the tests to encode bodies).
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { BadRequestError, type ConvertedTraces, type TraceLimits } from '../otlp/traces.ts';
import { FIXED64, LEN, Reader, VARINT, WireFormatError } from '../protobuf-reader.ts';
import { NO_TAGS, type ZipkinAnnotation, ZipkinConverter, type ZipkinEndpoint, type ZipkinKind, type ZipkinSpan, type ZipkinTags, ipv6Text, newTags, setTag } from './convert.ts';

export const ZIPKIN_PROTO = fileURLToPath(new URL('./zipkin.proto', import.meta.url));

/** The schema, for encoding (tests, tools); decoding is done by hand below. */
const root = protobuf.loadSync(ZIPKIN_PROTO);
export const ListOfSpans = root.lookupType('zipkin.proto3.ListOfSpans');

// Proto3: an enum value this reader does not know is kept as its number; like an absent kind, it is a local span.
const KINDS: Record<number, ZipkinKind> = { 1: 'CLIENT', 2: 'SERVER', 3: 'PRODUCER', 4: 'CONSUMER' };

/** Throws BadRequestError when the body is not a ListOfSpans; bad spans are counted as rejected. */
export function convertZipkinProto(body: Uint8Array, limits: TraceLimits): ConvertedTraces {
  const converter = new ZipkinConverter(limits);
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  try {
    const r = new Reader(bytes, 0, bytes.length);
    // The whole body is checked before any span is converted: undecodable bytes refuse the request.
    const spans: Array<[number, number]> = [];
    while (r.more) {
      const tag = r.varint();
      if (tag === ((1 << 3) | LEN)) spans.push(r.range());
      else r.skip(tag & 7);
    }
    const read: ZipkinSpan[] = new Array(spans.length);
    for (let i = 0; i < spans.length; i++) {
      r.seek(spans[i]!);
      read[i] = span(r);
    }
    for (const s of read) {
      converter.countSpan();
      converter.add(s);
    }
  } catch (error) {
    if (error instanceof WireFormatError || error instanceof RangeError) {
      throw new BadRequestError(`invalid Zipkin proto3 ListOfSpans: ${error.message.split('\n')[0]}`, 'decode');
    }
    throw error;
  }
  return converter.result;
}

function span(r: Reader): ZipkinSpan {
  const s: ZipkinSpan = {
    traceId: '', id: '', parentId: '', name: '', kind: '', timestamp: 0n, duration: 0n,
    localEndpoint: null, remoteEndpoint: null, annotations: NO_ANNOTATIONS, tags: NO_TAGS, shared: false, debug: false, problem: '',
  };
  let tags: ZipkinTags | undefined;
  while (r.more) {
    const tag = r.varint();
    switch (tag) {
      case (1 << 3) | LEN: s.traceId = r.hex(); break;
      case (2 << 3) | LEN: s.parentId = r.hex(); break;
      case (3 << 3) | LEN: s.id = r.hex(); break;
      case (4 << 3) | VARINT: s.kind = KINDS[r.uint32() | 0] ?? ''; break;
      case (5 << 3) | LEN: s.name = r.string(); break;
      case (6 << 3) | FIXED64: s.timestamp = r.fixed64(); break;
      case (7 << 3) | VARINT: s.duration = BigInt(r.varint()); break;
      case (8 << 3) | LEN: { const outer = r.enter(); s.localEndpoint = endpoint(r); r.leave(outer); break; }
      case (9 << 3) | LEN: { const outer = r.enter(); s.remoteEndpoint = endpoint(r); r.leave(outer); break; }
      case (12 << 3) | VARINT: s.debug = r.varint() !== 0; break;
      case (13 << 3) | VARINT: s.shared = r.varint() !== 0; break;
      case (10 << 3) | LEN: {
        const outer = r.enter();
        if (s.annotations === NO_ANNOTATIONS) s.annotations = [];
        s.annotations.push(annotation(r));
        r.leave(outer);
        break;
      }
      case (11 << 3) | LEN: {
        const outer = r.enter();
        tagEntry(r, (tags ??= newTags()));
        r.leave(outer);
        break;
      }
      default: r.skip(tag & 7);
    }
  }
  if (tags !== undefined) s.tags = tags;
  return s;
}

const NO_ANNOTATIONS: ZipkinAnnotation[] = [];

function endpoint(r: Reader): ZipkinEndpoint {
  const e: ZipkinEndpoint = { serviceName: '', ipv4: '', ipv6: '', port: 0 };
  while (r.more) {
    const tag = r.varint();
    switch (tag) {
      case (1 << 3) | LEN: e.serviceName = r.key(); break;
      case (2 << 3) | LEN: { const outer = r.enter(); e.ipv4 = ipv4At(r); r.leave(outer); break; }
      case (3 << 3) | LEN: { const outer = r.enter(); e.ipv6 = r.end - r.pos === 16 ? ipv6Text(r.buf.subarray(r.pos, r.end)) : ''; r.leave(outer); break; }
      case (4 << 3) | VARINT: { const port = r.uint32() | 0; e.port = port > 0 && port <= 65535 ? port : 0; break; }
      default: r.skip(tag & 7);
    }
  }
  return e;
}

/** The entered field's 4 bytes as a dotted IPv4 address; '' for any other length. */
function ipv4At(r: Reader): string {
  const b = r.buf;
  const p = r.pos;
  return r.end - p === 4 ? `${b[p]}.${b[p + 1]}.${b[p + 2]}.${b[p + 3]}` : '';
}

function annotation(r: Reader): ZipkinAnnotation {
  const a: ZipkinAnnotation = { timestamp: 0n, value: '' };
  while (r.more) {
    const tag = r.varint();
    if (tag === ((1 << 3) | FIXED64)) a.timestamp = r.fixed64();
    else if (tag === ((2 << 3) | LEN)) a.value = r.string();
    else r.skip(tag & 7);
  }
  return a;
}

/** One `map<string, string> tags` entry (key = 1, value = 2); a key given again replaces the value. */
function tagEntry(r: Reader, tags: ZipkinTags): void {
  let key = '';
  let value = '';
  while (r.more) {
    const tag = r.varint();
    if (tag === ((1 << 3) | LEN)) key = r.key();
    else if (tag === ((2 << 3) | LEN)) value = r.string();
    else r.skip(tag & 7);
  }
  setTag(tags, key, value);
}
