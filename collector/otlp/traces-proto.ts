// Reads an OTLP ExportTraceServiceRequest straight from protobuf bytes into SpanRecords. This is the
// collector's hottest path: a generic decoder first builds a message tree (KeyValue, AnyValue and
// Long objects for every attribute) that we would only copy again, so we walk the wire format
// ourselves (protobuf-reader.ts) — field numbers from opentelemetry-proto (see proto/), unknown fields skipped.
import type { Attribute, InstrumentationScope, SpanEvent, SpanLink } from '../model.ts';
import { FIXED32, FIXED64, LEN, Reader, VARINT, WireFormatError } from '../protobuf-reader.ts';
import { BadRequestError, type ConvertedTraces, type SpanFields, TraceBuilder, type TraceLimits, spanKind, statusCode } from './traces.ts';

/** Decodes and converts a protobuf ExportTraceServiceRequest. Throws BadRequestError when it must be refused whole. */
export function convertTraceProto(body: Buffer, limits: TraceLimits): ConvertedTraces {
  const builder = new TraceBuilder(limits);
  try {
    const r = new Reader(body, 0, body.length);
    while (r.more) {
      const tag = r.varint();
      if (tag === ((1 << 3) | LEN)) {
        const outer = r.enter();
        resourceSpans(r, builder);
        r.leave(outer);
      } else r.skip(tag & 7);
    }
  } catch (error) {
    if (error instanceof WireFormatError || error instanceof RangeError) {
      throw new BadRequestError(`undecodable OTLP protobuf ExportTraceServiceRequest: ${error.message}`, 'decode');
    }
    throw error;
  }
  return builder.result;
}

// Each reader below reads the message the cursor was entered into, up to r.end.

function resourceSpans(r: Reader, builder: TraceBuilder): void {
  // The resource may follow its spans on the wire: note where the scopes are, read them last.
  let resourceAttributes: Attribute[] = [];
  const scopes: Array<[number, number]> = [];
  while (r.more) {
    const tag = r.varint();
    if (tag === ((1 << 3) | LEN)) {
      const outer = r.enter();
      resourceAttributes = resource(r, builder);
      r.leave(outer);
    } else if (tag === ((2 << 3) | LEN)) scopes.push(r.range());
    else r.skip(tag & 7);
  }
  const res = builder.resource(resourceAttributes);
  for (const range of scopes) {
    const saved = r.seek(range);
    scopeSpans(r, builder, res);
    r.restore(saved);
  }
}

function resource(r: Reader, builder: TraceBuilder): Attribute[] {
  const attributes: Attribute[] = [];
  while (r.more) {
    const tag = r.varint();
    // Resource attributes are not subject to the per-span attribute limit.
    if (tag === ((1 << 3) | LEN)) keyValue(r, builder, attributes, false);
    else r.skip(tag & 7);
  }
  return attributes;
}

const NO_SCOPE: InstrumentationScope = { name: '', version: '' };

function scopeSpans(r: Reader, builder: TraceBuilder, res: ReturnType<TraceBuilder['resource']>): void {
  // Spans may come before their scope on the wire, as the resource may: read them last.
  let scope = NO_SCOPE;
  const spans: Array<[number, number]> = [];
  while (r.more) {
    const tag = r.varint();
    if (tag === ((1 << 3) | LEN)) {
      const outer = r.enter();
      scope = instrumentationScope(r);
      r.leave(outer);
    } else if (tag === ((2 << 3) | LEN)) {
      builder.countSpan();
      spans.push(r.range());
    } else r.skip(tag & 7);
  }
  for (const range of spans) {
    const saved = r.seek(range);
    builder.addSpan(span(r, builder), res, scope);
    r.restore(saved);
  }
}

function instrumentationScope(r: Reader): InstrumentationScope {
  const scope = { name: '', version: '' };
  while (r.more) {
    const tag = r.varint();
    if (tag === ((1 << 3) | LEN)) scope.name = r.string();
    else if (tag === ((2 << 3) | LEN)) scope.version = r.string();
    else r.skip(tag & 7);
  }
  return scope;
}

function span(r: Reader, builder: TraceBuilder): SpanFields {
  const f: SpanFields = {
    traceId: '', spanId: '', parentSpanId: '', traceState: '', name: '', kind: 0,
    startTimeUnixNano: 0n, endTimeUnixNano: 0n, attributes: [], droppedAttributesCount: 0,
    events: [], droppedEventsCount: 0, links: [], droppedLinksCount: 0, statusCode: 0, statusMessage: '', flags: 0,
  };
  while (r.more) {
    const tag = r.varint();
    switch (tag) {
      case (1 << 3) | LEN: f.traceId = r.hex(); break;
      case (2 << 3) | LEN: f.spanId = r.hex(); break;
      case (3 << 3) | LEN: f.traceState = r.string(); break;
      case (4 << 3) | LEN: f.parentSpanId = r.hex(); break;
      case (5 << 3) | LEN: f.name = r.string(); break;
      case (6 << 3) | VARINT: f.kind = spanKind(r.varint()); break;
      case (7 << 3) | FIXED64: f.startTimeUnixNano = r.fixed64(); break;
      case (8 << 3) | FIXED64: f.endTimeUnixNano = r.fixed64(); break;
      case (9 << 3) | LEN: if (!keyValue(r, builder, f.attributes, true)) f.droppedAttributesCount++; break;
      case (10 << 3) | VARINT: f.droppedAttributesCount += r.uint32(); break;
      case (11 << 3) | LEN: { const outer = r.enter(); f.events.push(event(r, builder)); r.leave(outer); break; }
      case (12 << 3) | VARINT: f.droppedEventsCount = r.uint32(); break;
      case (13 << 3) | LEN: { const outer = r.enter(); const l = link(r, builder); r.leave(outer); if (l) f.links.push(l); break; }
      case (14 << 3) | VARINT: f.droppedLinksCount = r.uint32(); break;
      case (15 << 3) | LEN: { const outer = r.enter(); status(r, f); r.leave(outer); break; }
      case (16 << 3) | FIXED32: f.flags = r.fixed32(); break;
      default: r.skip(tag & 7);
    }
  }
  return f;
}

function event(r: Reader, builder: TraceBuilder): SpanEvent {
  const e: SpanEvent = { timeUnixNano: 0n, name: '', attributes: [], droppedAttributesCount: 0 };
  while (r.more) {
    const tag = r.varint();
    if (tag === ((1 << 3) | FIXED64)) e.timeUnixNano = r.fixed64();
    else if (tag === ((2 << 3) | LEN)) e.name = builder.text(r.string());
    else if (tag === ((3 << 3) | LEN)) { if (!keyValue(r, builder, e.attributes, true)) e.droppedAttributesCount++; }
    else if (tag === ((4 << 3) | VARINT)) e.droppedAttributesCount += r.uint32();
    else r.skip(tag & 7);
  }
  return e;
}

/** A link, or undefined when its ids are not valid (the span itself is still kept). */
function link(r: Reader, builder: TraceBuilder): SpanLink | undefined {
  const l: SpanLink = { traceId: '', spanId: '', traceState: '', attributes: [], droppedAttributesCount: 0 };
  while (r.more) {
    const tag = r.varint();
    if (tag === ((1 << 3) | LEN)) l.traceId = r.hex();
    else if (tag === ((2 << 3) | LEN)) l.spanId = r.hex();
    else if (tag === ((3 << 3) | LEN)) l.traceState = r.string();
    else if (tag === ((4 << 3) | LEN)) { if (!keyValue(r, builder, l.attributes, true)) l.droppedAttributesCount++; }
    else if (tag === ((5 << 3) | VARINT)) l.droppedAttributesCount += r.uint32();
    else r.skip(tag & 7);
  }
  return l.traceId.length === 32 && l.spanId.length === 16 ? l : undefined;
}

function status(r: Reader, f: SpanFields): void {
  while (r.more) {
    const tag = r.varint();
    if (tag === ((2 << 3) | LEN)) f.statusMessage = r.string();
    else if (tag === ((3 << 3) | VARINT)) f.statusCode = statusCode(r.varint());
    else r.skip(tag & 7);
  }
}

type Typed = readonly [Attribute['type'], string];
const EMPTY: Typed = ['string', ''];

/**
 * Reads the KeyValue field at the cursor (its length prefix included) into `list`; returns false
 * when the list was full and it was dropped.
 */
function keyValue(r: Reader, builder: TraceBuilder, list: Attribute[], limited: boolean): boolean {
  const outer = r.enter();
  let key = '';
  let typed = EMPTY;
  while (r.more) {
    const tag = r.varint();
    if (tag === ((1 << 3) | LEN)) key = r.key();
    else if (tag === ((2 << 3) | LEN)) {
      const inner = r.enter();
      typed = anyValue(r, builder);
      r.leave(inner);
    } else r.skip(tag & 7);
  }
  r.leave(outer);
  if (!key) return true;
  if (!limited) {
    list.push({ key, type: typed[0], value: builder.value(typed[0], typed[1]) });
    return true;
  }
  return builder.addAttribute(list, key, typed[0], typed[1]);
}

function anyValue(r: Reader, builder: TraceBuilder): Typed {
  let typed = EMPTY;
  while (r.more) {
    const tag = r.varint();
    switch (tag) {
      case (1 << 3) | LEN: typed = ['string', r.string()]; break;
      case (2 << 3) | VARINT: typed = ['bool', r.varint() !== 0 ? 'true' : 'false']; break;
      case (3 << 3) | VARINT: typed = ['int', r.int64().toString()]; break;
      case (4 << 3) | FIXED64: typed = ['double', String(r.double())]; break;
      case (5 << 3) | LEN: { const outer = r.enter(); typed = ['array', JSON.stringify(plainArray(r, builder))]; r.leave(outer); break; }
      case (6 << 3) | LEN: { const outer = r.enter(); typed = ['kvlist', JSON.stringify(plainKvlist(r, builder))]; r.leave(outer); break; }
      case (7 << 3) | LEN: typed = ['bytes', r.base64()]; break;
      default: r.skip(tag & 7);
    }
  }
  return typed;
}

type Plain = string | number | boolean | null | Plain[] | { [key: string]: Plain };

/** Values nested in arrays and kvlists, as plain JSON (never searched); strings cut to the limit. */
function plainValue(r: Reader, builder: TraceBuilder): Plain {
  let value: Plain = null;
  while (r.more) {
    const tag = r.varint();
    switch (tag) {
      case (1 << 3) | LEN: value = builder.text(r.string()); break;
      case (2 << 3) | VARINT: value = r.varint() !== 0; break;
      case (3 << 3) | VARINT: { const n = r.int64(); value = n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString(); break; }
      case (4 << 3) | FIXED64: value = r.double(); break;
      case (5 << 3) | LEN: { const outer = r.enter(); value = plainArray(r, builder); r.leave(outer); break; }
      case (6 << 3) | LEN: { const outer = r.enter(); value = plainKvlist(r, builder); r.leave(outer); break; }
      case (7 << 3) | LEN: value = r.base64(); break;
      default: r.skip(tag & 7);
    }
  }
  return value;
}

function plainArray(r: Reader, builder: TraceBuilder): Plain[] {
  const values: Plain[] = [];
  while (r.more) {
    const tag = r.varint();
    if (tag === ((1 << 3) | LEN)) {
      const outer = r.enter();
      values.push(plainValue(r, builder));
      r.leave(outer);
    } else r.skip(tag & 7);
  }
  return values;
}

function plainKvlist(r: Reader, builder: TraceBuilder): { [key: string]: Plain } {
  // No prototype, so that a key named __proto__ stays a key.
  const out: { [key: string]: Plain } = Object.create(null);
  while (r.more) {
    const tag = r.varint();
    if (tag !== ((1 << 3) | LEN)) {
      r.skip(tag & 7);
      continue;
    }
    const outer = r.enter();
    let key = '';
    let value: Plain = null;
    while (r.more) {
      const t = r.varint();
      if (t === ((1 << 3) | LEN)) key = r.string();
      else if (t === ((2 << 3) | LEN)) {
        const inner = r.enter();
        value = plainValue(r, builder);
        r.leave(inner);
      } else r.skip(t & 7);
    }
    r.leave(outer);
    if (key) out[key] = value;
  }
  return out;
}
