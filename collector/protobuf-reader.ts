// The protobuf wire reader of our hand-written decoders (OTLP traces: otlp/traces-proto.ts; Envoy access
// logs: envoy/access-log-proto.ts). They read the fields they use straight from the bytes into our own
// model: a generic decoder first builds a message tree (objects for every message, Long objects for
// every 64-bit number) that we would only copy again. Unknown fields are skipped; bytes that are not
// protobuf throw WireFormatError (or RangeError), which each decoder turns into its own refusal.

export const VARINT = 0;
export const FIXED64 = 1;
export const LEN = 2;
export const FIXED32 = 5;

/** Bytes that are not a protobuf message: truncated, an unknown wire type, a varint too long. */
export class WireFormatError extends Error {}

/** Buffer's own slice methods: `toString(encoding, …)` adds a lookup per call on this hot path. */
interface Slices {
  utf8Slice(start: number, end: number): string;
  hexSlice(start: number, end: number): string;
  base64Slice(start: number, end: number): string;
}

/**
 * Keys (attribute keys, header names, type URLs) are a small set repeated in every message, but the
 * wire gives each as fresh bytes. Read into a new string each time, every key is allocated anew and
 * hashed again by every Map lookup that follows (the graph's attribute slots, the row encoder).
 * Interned by their bytes, a key is one string for the life of the process, with its hash computed
 * once. A direct-mapped table: a collision replaces the slot, so a process sending endless distinct
 * keys costs a copy per key and never grows the table.
 */
export class KeyTable {
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
 * A cursor over a message. Nested messages are read in place: `enter()` narrows `end` to the
 * field's body and `leave()` restores it, so no object is allocated per message.
 */
export class Reader {
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
    if (this.pos + length > this.end) throw new WireFormatError('a field is longer than the message that holds it');
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
    if (this.pos >= this.end) throw new WireFormatError('varint runs past the end of its message');
    const first = this.buf[this.pos++]!;
    if (first < 0x80) return first;
    let result = first & 0x7f;
    let multiplier = 128;
    for (;;) {
      if (this.pos >= this.end) throw new WireFormatError('varint runs past the end of its message');
      const byte = this.buf[this.pos++]!;
      result += (byte & 0x7f) * multiplier;
      if (byte < 0x80) return result;
      multiplier *= 128;
      if (multiplier > 2 ** 63) throw new WireFormatError('varint longer than 10 bytes');
    }
  }

  /** A uint32 field: the low 32 bits of the varint, as protobuf reads a longer one. */
  uint32(): number {
    let result = 0;
    for (let shift = 0; ; shift += 7) {
      if (this.pos >= this.end) throw new WireFormatError('varint runs past the end of its message');
      const byte = this.buf[this.pos++]!;
      if (shift < 32) result |= (byte & 0x7f) << shift;
      if (byte < 0x80) return result >>> 0;
      if (shift >= 63) throw new WireFormatError('varint longer than 10 bytes');
    }
  }

  /** A varint as a signed 64-bit integer (AnyValue.int_value). */
  int64(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.end) throw new WireFormatError('varint runs past the end of its message');
      const byte = this.buf[this.pos++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return BigInt.asIntN(64, result);
      shift += 7n;
      if (shift > 63n) throw new WireFormatError('varint longer than 10 bytes');
    }
  }

  fixed64(): bigint {
    if (this.pos + 8 > this.end) throw new WireFormatError('fixed64 runs past the end of its message');
    const value = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return value;
  }

  fixed32(): number {
    if (this.pos + 4 > this.end) throw new WireFormatError('fixed32 runs past the end of its message');
    const value = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return value;
  }

  double(): number {
    if (this.pos + 8 > this.end) throw new WireFormatError('double runs past the end of its message');
    const value = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return value;
  }

  /** Moves past a length-delimited field's body and returns where it starts. */
  private body(): number {
    const length = this.varint();
    const start = this.pos;
    if (start + length > this.end) throw new WireFormatError('a field is longer than the message that holds it');
    this.pos = start + length;
    return start;
  }

  string(): string {
    return this.slices.utf8Slice(this.body(), this.pos);
  }

  /**
   * A string that repeats across messages (an attribute key): one shared string per distinct value. A
   * decoder whose strings would crowd out the shared keys (label values) passes its own table.
   */
  key(table: KeyTable = KEYS): string {
    const start = this.body();
    return table.intern(this.buf, start, this.pos, this.slices);
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
        throw new WireFormatError(`unsupported wire type ${wireType}`);
    }
    if (this.pos > this.end) throw new WireFormatError('a field runs past the end of its message');
  }
}
