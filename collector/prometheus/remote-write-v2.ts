// Prometheus remote-write 2.0 (io.prometheus.write.v2.Request, prompb/io/prometheus/write/v2/types.proto),
// read straight from the wire into the same samples the 1.0 reader gives (collector/receivers/remote-write.ts),
// so both feed one PrometheusEdgeConverter with the same semantics:
//   Request { repeated string symbols = 4; repeated TimeSeries timeseries = 5; }   (1-3 reserved)
//   TimeSeries { repeated uint32 labels_refs = 1; repeated Sample samples = 2; repeated Histogram histograms = 3;
//                repeated Exemplar exemplars = 4; Metadata metadata = 5; int64 created_timestamp = 6; }
//   Sample { double value = 1; int64 timestamp = 2; }
// labels_refs are pairs (name, value) of indices into this request's symbols. Refs mean nothing outside
// their request, so series are recognised across requests by their label strings, never by refs.
// Native histograms, exemplars, metadata and created_timestamp are not read: histograms are counted as
// skipped, exemplars only counted.
import { KeyTable, LEN, Reader, VARINT, WireFormatError } from '../protobuf-reader.ts';
import { SampleReader } from './remote-write-sample.ts';
import type { PromSample } from './samples.ts';
import { SeriesGenerations } from './series-generations.ts';

const SYMBOL = (4 << 3) | LEN;
const TIMESERIES = (5 << 3) | LEN;
/** labels_refs as proto3 writes it (packed), and unpacked, which a parser must accept too. */
const LABELS_REFS_PACKED = (1 << 3) | LEN;
const LABELS_REF = (1 << 3) | VARINT;
const SAMPLE = (2 << 3) | LEN;
const HISTOGRAM = (3 << 3) | LEN;
const EXEMPLAR = (4 << 3) | LEN;

/** Symbols of v2 requests: the same label strings in every request, kept apart from the OTLP keys and v1 labels. */
const SYMBOL_STRINGS = new KeyTable();
const SAMPLE_FIELDS = new SampleReader();

export interface DecodedV2Samples {
  samples: PromSample[];
  /** Series without a `__name__` label (or with an empty one): skipped. */
  unnamed: number;
  /** Samples of series whose name `reads` refused, and native histogram samples: not converted. */
  skipped: number;
  /** Float samples of named series (converted or refused by name): what the Samples-Written header reports. */
  samplesAccepted: number;
  /** Native histogram samples received (skipped). */
  histograms: number;
  /** Exemplars received (not read). */
  exemplars: number;
}

export interface V2DecodeOptions {
  /** Only series of these names are decoded; default all. */
  reads?: (name: string) => boolean;
  /** Label sets decoded before (one per receiver): the same series sent again gets the same labels object. */
  labelSets?: RemoteWriteV2LabelSets;
}

interface KnownV2Series {
  name: string;
  labels: Readonly<Record<string, string>>;
  /** Its label strings as RemoteWriteV2LabelSets' symbol ids, in order: what identifies it. */
  key: Int32Array;
  generation: number;
  /** Another series with the same hash. */
  next: KnownV2Series | undefined;
  /** The series read after this one last time. */
  following: KnownV2Series | undefined;
}

/**
 * Label sets of series read before: the converter keeps its per-series work by labels object, so a series
 * sent again must get the same object. Refs mean nothing across requests, so each symbol a read series uses
 * is given a lasting id by its string (once per request), and a series is known by the ids of its label
 * strings: a few integers hashed and compared, not its label bytes. Two generations of at most `maxSize`
 * sets: sets unseen for a generation are forgotten; past `maxSize` × 8 symbol ids, all is forgotten.
 */
export class RemoteWriteV2LabelSets extends SeriesGenerations<KnownV2Series> {
  private readonly symbolIds = new Map<string, number>();

  /** Called before a request's series: ids stay valid for the whole request. */
  startRequest(): void {
    if (this.symbolIds.size < this.maxSize * 8) return;
    this.symbolIds.clear();
    this.forgetAll();
  }

  idOf(text: string): number {
    let id = this.symbolIds.get(text);
    if (id === undefined) this.symbolIds.set(text, (id = this.symbolIds.size));
    return id;
  }

  /**
   * The series whose ids are in `seriesIds`, if read before: first the one that followed the previous series
   * last time (a Prometheus shard sends a target's series in scrape order: one compare, no hash).
   */
  lookUp(): KnownV2Series | { hash: number } {
    const guess = this.guess();
    if (guess !== undefined && sameKey(guess.key)) {
      this.last = guess;
      return guess;
    }
    const hash = keyHash();
    const known = find(this.current.get(hash)) ?? find(this.previous.get(hash));
    return known === undefined ? { hash } : this.found(hash, known);
  }


}

/** The series being read, as symbol ids (RemoteWriteV2LabelSets.idOf) of its refs. */
const seriesIds: number[] = [];
let seriesIdCount = 0;

/** The series in a chain whose key is `seriesIds`. */
function find(first: KnownV2Series | undefined): KnownV2Series | undefined {
  for (let known = first; known !== undefined; known = known.next) if (sameKey(known.key)) return known;
  return undefined;
}

function sameKey(key: Int32Array): boolean {
  if (key.length !== seriesIdCount) return false;
  for (let i = 0; i < key.length; i++) if (key[i] !== seriesIds[i]) return false;
  return true;
}

/** FNV-1a over `seriesIds`, 30 bits (a small integer as Map key). */
function keyHash(): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < seriesIdCount; i++) hash = Math.imul(hash ^ seriesIds[i]!, 0x01000193);
  return (hash ^ (hash >>> 15)) & 0x3fffffff;
}

/** Per `reads` function: its verdict per metric name, across requests (a name is decided once). */
const verdictsByReads = new WeakMap<(name: string) => boolean, Map<string, boolean>>();
const MAX_VERDICTS = 32_768;

function verdictOf(reads: (name: string) => boolean, name: string): boolean {
  let verdicts = verdictsByReads.get(reads);
  if (verdicts === undefined) verdictsByReads.set(reads, (verdicts = new Map()));
  let verdict = verdicts.get(name);
  if (verdict === undefined) {
    verdict = reads(name);
    if (verdicts.size >= MAX_VERDICTS) verdicts.clear();
    verdicts.set(name, verdict);
  }
  return verdict;
}

// Per request and per series, reused: where the symbols are, the series' refs and samples as read.
const symbolStarts: number[] = [];
const symbolEnds: number[] = [];
const seriesRanges: number[] = [];
// Filled up to `refCount` / `sampleCount` (not emptied by `length = 0`: a runtime call per series).
const refs: number[] = [];
let refCount = 0;
const values: number[] = [];
const timestamps: number[] = [];
let sampleCount = 0;
const NAME_LABEL = Buffer.from('__name__');

/** Buffer's own slice methods, as KeyTable.intern takes them. */
type Slices = Parameters<KeyTable['intern']>[3];

/**
 * The request's symbols, decoded only when a series that is read needs them: most of what a Prometheus
 * server forwards is refused by its name, and its label strings are never made.
 */
class RequestSymbols {
  private readonly strings: Array<string | undefined>;
  /** Per ref: 0 not looked at, 1 it is `__name__`, 2 it is not. */
  private readonly nameKey: Uint8Array;
  /** Per ref (as a metric name): 0 undecided, 1 read, 2 refused. */
  private readonly verdicts: Uint8Array;
  /** Per ref: its RemoteWriteV2LabelSets symbol id, -1 not looked up yet. */
  private readonly ids: Int32Array;

  constructor(
    private readonly raw: Buffer,
    readonly count: number,
  ) {
    this.strings = new Array<string | undefined>(count);
    this.nameKey = new Uint8Array(count);
    this.verdicts = new Uint8Array(count);
    this.ids = new Int32Array(count).fill(-1);
  }

  id(ref: number, labelSets: RemoteWriteV2LabelSets): number {
    let id = this.ids[ref]!;
    if (id < 0) this.ids[ref] = id = labelSets.idOf(this.text(ref));
    return id;
  }

  text(ref: number): string {
    let text = this.strings[ref];
    if (text === undefined) this.strings[ref] = text = SYMBOL_STRINGS.intern(this.raw, symbolStarts[ref]!, symbolEnds[ref]!, this.raw as unknown as Slices);
    return text;
  }

  isName(ref: number): boolean {
    let state = this.nameKey[ref]!;
    if (state === 0) {
      const start = symbolStarts[ref]!;
      let same = symbolEnds[ref]! - start === NAME_LABEL.length;
      for (let i = 0; same && i < NAME_LABEL.length; i++) same = this.raw[start + i] === NAME_LABEL[i];
      this.nameKey[ref] = state = same ? 1 : 2;
    }
    return state === 1;
  }

  isEmpty(ref: number): boolean {
    return symbolEnds[ref] === symbolStarts[ref];
  }

  /** Whether `reads` refuses the metric name at `ref` (asked once per name and request, remembered across requests). */
  refuses(reads: (name: string) => boolean, ref: number): boolean {
    let verdict = this.verdicts[ref]!;
    if (verdict === 0) this.verdicts[ref] = verdict = verdictOf(reads, this.text(ref)) ? 1 : 2;
    return verdict === 2;
  }
}

/** An io.prometheus.write.v2.Request (uncompressed) → samples; throws (WireFormatError, RangeError) on bad bytes. */
export function readRequestV2(raw: Buffer, options: V2DecodeOptions = {}): DecodedV2Samples {
  const reader = new Reader(raw, 0, raw.length);
  symbolStarts.length = 0;
  symbolEnds.length = 0;
  // The series' [start, end) ranges: symbols are found first wherever they are in the request.
  seriesRanges.length = 0;
  while (reader.pos < reader.end) {
    const tag = reader.uint32();
    if (tag === SYMBOL || tag === TIMESERIES) {
      const outer = reader.enter();
      (tag === SYMBOL ? symbolStarts : seriesRanges).push(reader.pos);
      (tag === SYMBOL ? symbolEnds : seriesRanges).push(reader.end);
      reader.leave(outer);
    } else reader.skip(tag & 7);
  }
  const symbols = new RequestSymbols(raw, symbolStarts.length);
  const decoded: DecodedV2Samples = { samples: [], unnamed: 0, skipped: 0, samplesAccepted: 0, histograms: 0, exemplars: 0 };
  const { reads, labelSets } = options;
  labelSets?.startRequest();
  for (let s = 0; s < seriesRanges.length; s += 2) {
    reader.pos = seriesRanges[s]!;
    reader.end = seriesRanges[s + 1]!;
    const index = s / 2;
    refCount = 0;
    sampleCount = 0;
    let nameRef = -1;
    // Whether the series was refused by its name: its other fields are then only counted.
    let refused = false;
    let histograms = 0;
    while (reader.pos < reader.end) {
      const tag = reader.uint32();
      if (tag === LABELS_REFS_PACKED || tag === LABELS_REF) {
        if (tag === LABELS_REF) refs[refCount++] = reader.uint32();
        else {
          const outer = reader.enter();
          while (reader.pos < reader.end) refs[refCount++] = reader.uint32();
          reader.leave(outer);
        }
        nameRef = nameOf(symbols, index);
        // Labels come first in what Prometheus sends: a refused series' samples are counted, not read.
        // (A second labels_refs field cannot take back a refusal once samples went unread.)
        refused = (reads !== undefined && nameRef >= 0 && !symbols.isEmpty(nameRef) && symbols.refuses(reads, nameRef)) || (refused && sampleCount > 0);
      } else if (tag === SAMPLE && !refused) {
        SAMPLE_FIELDS.read(reader);
        values[sampleCount] = SAMPLE_FIELDS.value;
        timestamps[sampleCount++] = SAMPLE_FIELDS.timestampMs;
      } else {
        if (tag === SAMPLE) sampleCount++;
        else if (tag === HISTOGRAM) histograms++;
        else if (tag === EXEMPLAR) decoded.exemplars++;
        reader.skip(tag & 7);
      }
    }
    if (refCount % 2 !== 0) throw new WireFormatError(`timeseries ${index}: labels_refs has an odd length (${refCount})`);
    decoded.histograms += histograms;
    decoded.skipped += histograms;
    if (nameRef < 0 || symbols.isEmpty(nameRef)) {
      decoded.unnamed++;
      continue;
    }
    decoded.samplesAccepted += sampleCount;
    if (refused) {
      decoded.skipped += sampleCount;
      continue;
    }
    if (sampleCount === 0) continue;
    const known = knownSeries(symbols, labelSets);
    for (let i = 0; i < sampleCount; i++) {
      const timestampMs = timestamps[i]!;
      decoded.samples.push(timestampMs > 0 ? { name: known.name, labels: known.labels, value: values[i]!, timestampMs } : { name: known.name, labels: known.labels, value: values[i]! });
    }
  }
  return decoded;
}

/** The ref of the `__name__` value among `refs` (checked to be in range), or -1. */
function nameOf(symbols: RequestSymbols, index: number): number {
  let nameRef = -1;
  for (let i = 0; i < refCount; i++) {
    const ref = refs[i]!;
    if (ref >= symbols.count) throw new WireFormatError(`timeseries ${index}: label ref ${ref} is out of range (${symbols.count} symbols)`);
    if (i % 2 === 0 && i + 1 < refCount && symbols.isName(ref)) nameRef = refs[i + 1]!;
  }
  return nameRef;
}

/** The name and labels of the series whose refs are in `refs` (checked), the same objects as before if known. */
function knownSeries(symbols: RequestSymbols, labelSets: RemoteWriteV2LabelSets | undefined): Pick<KnownV2Series, 'name' | 'labels'> {
  let found: KnownV2Series | { hash: number } | undefined;
  if (labelSets !== undefined) {
    seriesIdCount = 0;
    for (let i = 0; i < refCount; i++) seriesIds[seriesIdCount++] = symbols.id(refs[i]!, labelSets);
    found = labelSets.lookUp();
    if ('labels' in found) return found;
  }
  let name = '';
  const labels: Record<string, string> = {};
  for (let i = 0; i < refCount; i += 2) {
    const labelName = symbols.text(refs[i]!);
    if (labelName === '__name__') name = symbols.text(refs[i + 1]!);
    else labels[labelName] = symbols.text(refs[i + 1]!);
  }
  if (labelSets === undefined) return { name, labels };
  return labelSets.add((found as { hash: number }).hash, { name, labels, key: Int32Array.from(seriesIds.slice(0, seriesIdCount)), generation: 0, next: undefined, following: undefined });
}

