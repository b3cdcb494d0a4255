// Reads an OTLP ExportTraceServiceRequest straight from protobuf bytes into SpanRecords. This is the
// collector's hottest path: a generic decoder first builds a message tree (KeyValue, AnyValue and
// Long objects for every attribute) that we would only copy again, so we walk the wire format
// ourselves — field numbers from opentelemetry-proto (see proto/), unknown fields skipped.
import type { Attribute, InstrumentationScope, SpanEvent, SpanLink } from '../model.ts';
import { BadRequestError, type ConvertedTraces, type SpanFields, TraceBuilder, type TraceLimits, spanKind, statusCode } from './traces.ts';

const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const FIXED32 = 5;

class Truncated extends Error {}

/** Buffer's own slice methods: `toString(encoding, …)` adds a lookup per call on this hot path. */
interface Slices {
  utf8Slice(start: number, end: number): string;
  hexSlice(start: number, end: number): string;
  base64Slice(start: number, end: number): string;
}

/**
 * Attribute keys are a small set repeated in every span, but the wire gives each as fresh bytes. Read
 * into a new string each time, every key is allocated anew and hashed again by every Map lookup that
 * follows (the graph's attribute slots, the row encoder). Interned by their bytes, a key is one string
 * for the life of the process, with its hash computed once. A direct-mapped table: a collision replaces
 * the slot, so a process sending endless distinct keys costs a copy per key and never grows the table.
 */
class KeyTable {
  private static readonly SLOTS = 4096;
  private static readonly MAX_KEY_BYTES = 64;
  private readonly bytes: Array<Buffer | undefined> = new Array(KeyTable.SLOTS);
  private readonly strings: string[] = new Array<string>(KeyTable.SLOTS).fill('');

  intern(buf: Buffer, start: number, end: number, slices: Slices): string {
    const length = end - start;
    if (length > KeyTable.MAX_KEY_BYTES) return slices.utf8Slice(start, end);
    // FNV-1a over the bytes.
    let hash = 0x811c9dc5;
    for (let i = start; i < end; i++) hash = Math.imul(hash ^ buf[i]!, 0x01000193);
    const slot = (hash >>> 0) & (KeyTable.SLOTS - 1);
    const known = this.bytes[slot];
    if (known !== undefined && known.length === length) {
      let same = true;
      for (let i = 0; i < length; i++) {
        if (known[i] !== buf[start + i]) {
          same = false;
          break;
        }
      }
      if (same) return this.strings[slot]!;
    }
    const key = slices.utf8Slice(start, end);
    this.bytes[slot] = Buffer.from(buf.subarray(start, end));
    this.strings[slot] = key;
    return key;
  }
}

const KEYS = new KeyTable();

/**
 * A cursor over the request. Nested messages are read in place: `enter()` narrows `end` to the
 * field's body and `leave()` restores it, so no object is allocated per message.
 */
class Reader {
  private readonly slices: Slices;
  constructor(
    readonly buf: Buffer,
    public pos: number,
    public end: number,
  ) {
    this.slices = buf as unknown as Slices;
  }

  /** Enters a length-delimited field; returns the outer end to pass to leave(). */
  enter(): number {
    const length = this.varint();
    if (this.pos + length > this.end) throw new Truncated('a field is longer than the message that holds it');
    const outer = this.end;
    this.end = this.pos + length;
    return outer;
  }

  /** Skips what is left of the entered field and restores the outer end. */
  leave(outer: number): void {
    this.pos = this.end;
    this.end = outer;
  }

  /** The body of a length-delimited field as [start, end], skipped for now. */
  range(): [number, number] {
    const outer = this.enter();
    const range: [number, number] = [this.pos, this.end];
    this.leave(outer);
    return range;
  }

  /** Moves to a range taken earlier; returns the state to pass to `restore`. */
  seek([start, end]: [number, number]): [number, number] {
    const saved: [number, number] = [this.pos, this.end];
    this.pos = start;
    this.end = end;
    return saved;
  }

  restore([pos, end]: [number, number]): void {
    this.pos = pos;
    this.end = end;
  }

  get more(): boolean {
    return this.pos < this.end;
  }

  /** A varint as a JS number: exact up to 2^53, which covers tags, lengths, enums and counts. */
  varint(): number {
    if (this.pos >= this.end) throw new Truncated('varint runs past the end of its message');
    const first = this.buf[this.pos++]!;
    if (first < 0x80) return first;
    let result = first & 0x7f;
    let multiplier = 128;
    for (;;) {
      if (this.pos >= this.end) throw new Truncated('varint runs past the end of its message');
      const byte = this.buf[this.pos++]!;
      result += (byte & 0x7f) * multiplier;
      if (byte < 0x80) return result;
      multiplier *= 128;
      if (multiplier > 2 ** 63) throw new Truncated('varint longer than 10 bytes');
    }
  }

  /** A uint32 field: the low 32 bits of the varint, as protobuf reads a longer one. */
  uint32(): number {
    let result = 0;
    for (let shift = 0; ; shift += 7) {
      if (this.pos >= this.end) throw new Truncated('varint runs past the end of its message');
      const byte = this.buf[this.pos++]!;
      if (shift < 32) result |= (byte & 0x7f) << shift;
      if (byte < 0x80) return result >>> 0;
      if (shift >= 63) throw new Truncated('varint longer than 10 bytes');
    }
  }

  /** A varint as a signed 64-bit integer (AnyValue.int_value). */
  int64(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.end) throw new Truncated('varint runs past the end of its message');
      const byte = this.buf[this.pos++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return BigInt.asIntN(64, result);
      shift += 7n;
      if (shift > 63n) throw new Truncated('varint longer than 10 bytes');
    }
  }

  fixed64(): bigint {
    if (this.pos + 8 > this.end) throw new Truncated('fixed64 runs past the end of its message');
    const value = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return value;
  }

  fixed32(): number {
    if (this.pos + 4 > this.end) throw new Truncated('fixed32 runs past the end of its message');
    const value = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return value;
  }

  double(): number {
    if (this.pos + 8 > this.end) throw new Truncated('double runs past the end of its message');
    const value = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return value;
  }

  /** Moves past a length-delimited field's body and returns where it starts. */
  private body(): number {
    const length = this.varint();
    const start = this.pos;
    if (start + length > this.end) throw new Truncated('a field is longer than the message that holds it');
    this.pos = start + length;
    return start;
  }

  string(): string {
    return this.slices.utf8Slice(this.body(), this.pos);
  }

  /** A string that repeats across spans (an attribute key): one shared string per distinct value. */
  key(): string {
    const start = this.body();
    return KEYS.intern(this.buf, start, this.pos, this.slices);
  }

  /** Bytes as lowercase hex ('' when empty). */
  hex(): string {
    return this.slices.hexSlice(this.body(), this.pos);
  }

  base64(): string {
    return this.slices.base64Slice(this.body(), this.pos);
  }

  skip(wireType: number): void {
    switch (wireType) {
      case VARINT:
        this.varint();
        return;
      case FIXED64:
        this.pos += 8;
        break;
      case LEN: {
        // Not `pos += varint()`: that adds the length to pos as it was before the length was read.
        const length = this.varint();
        this.pos += length;
        break;
      }
      case FIXED32:
        this.pos += 4;
        break;
      default:
        throw new Truncated(`unsupported wire type ${wireType}`);
    }
    if (this.pos > this.end) throw new Truncated('a field runs past the end of its message');
  }
}

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
    if (error instanceof Truncated || error instanceof RangeError) {
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
