// Prometheus remote-write 1.0 (mesh-telemetry.md §7.3): POST /api/v1/write on the OTLP HTTP port (4318),
// registered on that fastify instance in its own scope (own body parsing and error replies). Body = the
// snappy *block* format of a protobuf prometheus.WriteRequest; each series' `__name__` label is its name.
// The samples go through the same converter as scraped ones (collector/prometheus/mesh-series.ts) and
// become edge increments with signal `prometheus`.
//
// Replies: 204 done; 400 with a one-line reason for a body that is not snappy or not a WriteRequest (a
// sender drops those, it does not retry); 413 over limits.max_body_bytes (compressed, or as the snappy
// header declares it uncompressed); 415 for another content type, encoding or `proto=` message.
//
// Remote-write 2.0 (`Content-Type: application/x-protobuf;proto=io.prometheus.write.v2.Request`) is read by
// collector/prometheus/remote-write-v2.ts into the same samples and the same converter; its 204 carries the
// X-Prometheus-Remote-Write-{Samples,Histograms,Exemplars}-Written counts the 2.0 spec requires.
//
// Counter state: every request is one batch with source `remote-write`, so a series is identified by its
// full label set — the `job`/`instance` target labels and any external labels keep two targets or two
// Prometheus servers apart, and two HA replicas sending the very same series (no replica label) count it
// once (a sample older than the stored one is ignored).
import type { FastifyBaseLogger, FastifyInstance, FastifyReply } from 'fastify';
// Native (napi-rs): a third of snappyjs' time per body, the largest single cost of a request.
import { uncompressSync } from 'snappy';
import type { EdgeSink } from '../edge-sink.ts';
import type { CollectorMetrics } from '../metrics.ts';
import { BadRequestError } from '../otlp/traces.ts';
import { KeyTable, LEN, Reader } from '../protobuf-reader.ts';
import { PrometheusEdgeConverter, readsSample } from '../prometheus/mesh-series.ts';
import { type DecodedV2Samples, RemoteWriteV2LabelSets, type V2DecodeOptions, readRequestV2 } from '../prometheus/remote-write-v2.ts';
import { SeriesGenerations } from '../prometheus/series-generations.ts';
import { SampleReader } from '../prometheus/remote-write-sample.ts';
import type { PromSample } from '../prometheus/samples.ts';
import { bodyProblem, firstLine } from './http-body.ts';

export const REMOTE_WRITE_PATH = '/api/v1/write';
const PROTOBUF = 'application/x-protobuf';
/** `proto=` values of the Content-Type, lowercased as the header is compared. */
const PROTO_V1 = 'prometheus.writerequest';
const PROTO_V2 = 'io.prometheus.write.v2.request';
const RECEIVER = 'remote-write';
/** At most one cardinality warning per this long: a label explosion would otherwise flood the log. */
const DROP_LOG_INTERVAL_MS = 60_000;

/**
 * prometheus.WriteRequest (prometheus/prompb remote.proto, types.proto; stack.md §3), read straight from the
 * wire into samples with the shared protobuf Reader — no message objects per label and sample:
 *   WriteRequest { repeated TimeSeries timeseries = 1; }   (metadata = 3 and anything else skipped)
 *   TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; }   (exemplars, histograms skipped)
 *   Label { string name = 1; string value = 2; }   Sample { double value = 1; int64 timestamp = 2; }
 * Tags as their bytes on the wire (field number << 3 | wire type).
 */
const TIMESERIES = (1 << 3) | LEN;
const LABEL = (1 << 3) | LEN;
const SAMPLE = (2 << 3) | LEN;
const NAME = (1 << 3) | LEN;
const VALUE_STRING = (2 << 3) | LEN;
/** `__name__` as it is on the wire. */
const NAME_LABEL = Buffer.from('__name__');

/** Label names and values of series read anew: the same few strings again and again, kept apart from the OTLP keys. */
const LABEL_STRINGS = new KeyTable();
const SAMPLE_FIELDS = new SampleReader();

function readWriteRequest(raw: Buffer, options: DecodeOptions): DecodedSamples {
  const reader = new Reader(raw, 0, raw.length);
  const decoded: DecodedSamples = { samples: [], unnamed: 0, skipped: 0 };
  const names = options.reads === undefined ? undefined : nameVerdicts(options.reads);
  const labelSets = options.labelSets;
  RECENT_LABELS.startRequest(raw);
  try {
    readTimeSeriesFields(reader, decoded, names, labelSets);
  } finally {
    // Not to keep the request's bytes alive until the next one.
    RECENT_LABELS.startRequest(undefined);
  }
  return decoded;
}

function readTimeSeriesFields(reader: Reader, decoded: DecodedSamples, names: NameVerdicts | undefined, labelSets: RemoteWriteLabelSets | undefined): void {
  const raw = reader.buf;
  while (reader.pos < raw.length) {
    const tag = reader.uint32();
    if (tag !== TIMESERIES) {
      reader.skip(tag & 7);
      continue;
    }
    const outer = reader.enter();
    if (names !== undefined && names.skips(reader)) {
      decoded.skipped += samplesLeft(reader);
    } else {
      const known = labelSets?.lookUp(raw, reader.pos, reader.end);
      if (known !== undefined) {
        reader.pos = knownLabelsEnd;
        readTimeSeries(reader, decoded.samples, known, undefined);
      } else if (!readTimeSeries(reader, decoded.samples, undefined, labelSets)) decoded.unnamed++;
    }
    reader.leave(outer);
  }
}

/**
 * The Sample fields from the reader's position to the end of its TimeSeries, skipped and counted. Fields of
 * a one-byte length (every Label but the longest, every Sample) are stepped over in place: this runs for
 * every series nobody reads, three in four of what a Prometheus server forwards.
 */
function samplesLeft(reader: Reader): number {
  const raw = reader.buf;
  const end = reader.end;
  let position = reader.pos;
  let samples = 0;
  while (position < end) {
    const tag = raw[position]!;
    const length = raw[position + 1]!;
    if ((tag === LABEL || tag === SAMPLE) && length < 0x80 && position + 1 < end) {
      if (tag === SAMPLE) samples++;
      position += 2 + length;
      continue;
    }
    reader.pos = position;
    const field = reader.uint32();
    if (field === SAMPLE) samples++;
    reader.skip(field & 7);
    position = reader.pos;
  }
  reader.pos = position;
  return samples;
}

/**
 * Per `reads` function: whether it refuses a series, by the bytes of its first label. Prometheus sorts
 * labels, so `__name__` comes first: a name seen before is found by its bytes (hashed and compared in
 * place; no string), and a refused series is skipped without its other labels being read. Most of what a
 * Prometheus server forwards is not a mesh request metric, so this is the commonest path of all.
 */
class NameVerdicts {
  /** Metric names remembered at most (a large Prometheus forwards several thousand); then they are learnt anew. */
  private static readonly MAX_NAMES = 32_768;
  private readonly byHash = new Map<number, NameVerdict>();
  /** The name decided last: tried first. */
  private last: NameVerdict | undefined;

  constructor(private readonly reads: (name: string) => boolean) {}

  /**
   * Whether the TimeSeries at the reader's position (its labels not read yet) has a `__name__` first that
   * `reads` refuses. The reader is not moved.
   */
  skips(reader: Reader): boolean {
    const raw = reader.buf;
    const end = reader.end;
    // The usual layout: Label { 0x0a 8 "__name__" 0x12 <length> <name> } as the first field.
    let position = reader.pos;
    if (position + 13 > end || raw[position] !== LABEL) return this.skipsInOtherLayout(reader);
    const labelLength = raw[position + 1]!;
    position += 2;
    if (labelLength >= 0x80 || position + labelLength > end || raw[position] !== NAME || raw[position + 1] !== 8 || !sameBytes(NAME_LABEL, raw, position + 2)) {
      return this.skipsInOtherLayout(reader);
    }
    position += 10;
    const valueLength = raw[position + 1]!;
    const valueStart = position + 2;
    if (raw[position] !== VALUE_STRING || valueLength >= 0x80 || valueLength === 0 || valueStart + valueLength !== reader.pos + 2 + labelLength) return this.skipsInOtherLayout(reader);
    const valueEnd = valueStart + valueLength;
    // A scrape prints a family's series together, and Prometheus forwards them in that order.
    const last = this.last;
    if (last !== undefined && last.bytes.length === valueLength && sameBytes(last.bytes, raw, valueStart)) return !last.reads;
    let hash = 0x811c9dc5;
    for (let i = valueStart; i < valueEnd; i++) hash = Math.imul(hash ^ raw[i]!, 0x01000193);
    for (let verdict = this.byHash.get(hash); verdict !== undefined; verdict = verdict.next) {
      if (verdict.bytes.length === valueLength && sameBytes(verdict.bytes, raw, valueStart)) {
        this.last = verdict;
        return !verdict.reads;
      }
    }
    const reads = this.reads((raw as unknown as Slices).utf8Slice(valueStart, valueEnd));
    if (this.byHash.size >= NameVerdicts.MAX_NAMES) this.byHash.clear();
    const verdict: NameVerdict = { bytes: Buffer.from(raw.subarray(valueStart, valueEnd)), reads, next: this.byHash.get(hash) };
    this.byHash.set(hash, verdict);
    this.last = verdict;
    return !reads;
  }

  /** Any other encoding of the first label (fields in another order, long varints): read it as a message. */
  private skipsInOtherLayout(reader: Reader): boolean {
    const start = reader.pos;
    const end = reader.end;
    try {
      if (start >= end || reader.uint32() !== LABEL) return false;
      const [labelName, labelValue] = readLabel(reader);
      return labelName === '__name__' && labelValue !== '' && !this.reads(labelValue);
    } finally {
      reader.pos = start;
      reader.end = end;
    }
  }
}

/**
 * Whether `raw` holds `bytes` at `start` (the caller checked it has room). A loop: for these few bytes,
 * Buffer#compare's argument checks and native call cost several times more.
 */
function sameBytes(bytes: Buffer, raw: Buffer, start: number): boolean {
  for (let i = 0; i < bytes.length; i++) if (raw[start + i] !== bytes[i]) return false;
  return true;
}

interface NameVerdict {
  bytes: Buffer;
  reads: boolean;
  next: NameVerdict | undefined;
}

interface Slices {
  utf8Slice(start: number, end: number): string;
}

const verdictsByReads = new WeakMap<(name: string) => boolean, NameVerdicts>();

function nameVerdicts(reads: (name: string) => boolean): NameVerdicts {
  let verdicts = verdictsByReads.get(reads);
  if (verdicts === undefined) verdictsByReads.set(reads, (verdicts = new NameVerdicts(reads)));
  return verdicts;
}

/** A Label message (its tag read, its length prefix at the reader's position) as [name, value]. */
function readLabel(reader: Reader): [name: string, value: string] {
  const outer = reader.enter();
  const label = readLabelFields(reader);
  reader.leave(outer);
  return label;
}

/** The fields of the Label message the reader is inside, as [name, value] (interned strings). */
function readLabelFields(reader: Reader): [name: string, value: string] {
  let name = '';
  let value = '';
  while (reader.pos < reader.end) {
    const field = reader.uint32();
    if (field === NAME) name = reader.key(LABEL_STRINGS);
    else if (field === VALUE_STRING) value = reader.key(LABEL_STRINGS);
    else reader.skip(field & 7);
  }
  return [name, value];
}

/**
 * The labels of series read anew, as strings. A target's series share most labels (its target labels, the
 * caller and callee of a call, all of a histogram's but `le`) and Prometheus sorts them, so the i-th Label
 * is mostly the bytes of the i-th Label of a series before it: compared in place, its strings are taken
 * again, not decoded or interned. Remembered per position, for the request being read only.
 */
class RecentLabels {
  /** The label just read. */
  name = '';
  value = '';
  private raw: Buffer | undefined;
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  private readonly names: string[] = [];
  private readonly values: string[] = [];

  /** Forgets the labels of an earlier request (undefined: after the last one). */
  startRequest(raw: Buffer | undefined): void {
    this.raw = raw;
    this.starts.length = 0;
    this.ends.length = 0;
    this.names.length = 0;
    this.values.length = 0;
  }

  /** Reads the Label whose length prefix is at the reader's position, the `index`-th of its series. */
  read(reader: Reader, index: number): void {
    const outer = reader.enter();
    const raw = reader.buf;
    const start = reader.pos;
    const end = reader.end;
    if (raw === this.raw && index < this.starts.length) {
      const before = this.starts[index]!;
      if (this.ends[index]! - before === end - start) {
        let same = true;
        for (let i = 0; i < end - start; i++) {
          if (raw[before + i] !== raw[start + i]) {
            same = false;
            break;
          }
        }
        if (same) {
          this.name = this.names[index]!;
          this.value = this.values[index]!;
          reader.leave(outer);
          return;
        }
      }
    }
    const [name, value] = readLabelFields(reader);
    reader.leave(outer);
    if (raw === this.raw && index <= this.starts.length) {
      this.starts[index] = start;
      this.ends[index] = end;
      this.names[index] = name;
      this.values[index] = value;
    }
    this.name = name;
    this.value = value;
  }
}

const RECENT_LABELS = new RecentLabels();

/**
 * Label sets of series read before, by their bytes on the wire: a sender sends the same series with the
 * same bytes each time, so its labels are decoded once and the same objects handed out again (the
 * converter keeps its per-series work by object). A series is first compared with the one that followed
 * the previous series last time (a Prometheus shard sends a target's series in scrape order: one compare
 * of the bytes, no hashing), else found by a hash of its bytes. Two generations of at most `maxSize` sets
 * each: sets not seen for a generation are forgotten.
 */
export class RemoteWriteLabelSets extends SeriesGenerations<KnownLabelSet> {
  /** The bytes of the last lookUp() that missed, for remember(). */
  private missed: { raw: Buffer; start: number; end: number; hash: number } | undefined;

  /** The label set whose fields start at `start` of a TimeSeries ending at `end`, if read before. */
  lookUp(raw: Buffer, start: number, end: number): KnownLabelSet | undefined {
    this.missed = undefined;
    // The guess holds when the series starts with its bytes and no Label field follows them (the same
    // bytes read as the same Label fields): the labels need not be walked to find where they end.
    const guess = this.guess();
    if (guess !== undefined) {
      const guessEnd = start + guess.bytes.length;
      if (guessEnd <= end && (guessEnd === end || raw[guessEnd] !== LABEL) && raw.compare(guess.bytes, 0, guess.bytes.length, start, guessEnd) === 0) {
        this.last = guess;
        knownLabelsEnd = guessEnd;
        return guess;
      }
    }
    const labelsEnd = labelFieldsEnd(raw, start, end);
    if (labelsEnd === start) return undefined;
    // Hashed and compared in place: a string of the bytes as the key cost more (and made garbage).
    const hash = bytesHash(raw, start, labelsEnd);
    const known = find(this.current.get(hash), raw, start, labelsEnd) ?? find(this.previous.get(hash), raw, start, labelsEnd);
    if (known === undefined) {
      this.missed = { raw, start, end: labelsEnd, hash };
      return undefined;
    }
    knownLabelsEnd = labelsEnd;
    return this.found(hash, known);
  }

  /** The set of the series just decoded after a lookUp() that missed. */
  remember(name: string, labels: Readonly<Record<string, string>>): void {
    const missed = this.missed;
    this.missed = undefined;
    if (missed === undefined) return;
    this.add(missed.hash, { bytes: Buffer.from(missed.raw.subarray(missed.start, missed.end)), name, labels, generation: 0, next: undefined, following: undefined });
  }
}

interface KnownLabelSet {
  /** Its Label fields as sent (a copy). */
  bytes: Buffer;
  name: string;
  labels: Readonly<Record<string, string>>;
  /** RemoteWriteLabelSets' generation it was kept in: older than the previous one is forgotten. */
  generation: number;
  /** Another set with the same hash. */
  next: KnownLabelSet | undefined;
  /** The set read after this one last time. */
  following: KnownLabelSet | undefined;
}

function find(first: KnownLabelSet | undefined, raw: Buffer, start: number, end: number): KnownLabelSet | undefined {
  for (let known = first; known !== undefined; known = known.next) {
    if (known.bytes.length === end - start && raw.compare(known.bytes, 0, known.bytes.length, start, end) === 0) return known;
  }
  return undefined;
}

/** FNV-1a over 4 bytes at a time, 30 bits (a small integer as Map key). */
function bytesHash(raw: Buffer, start: number, end: number): number {
  let hash = 0x811c9dc5;
  let i = start;
  for (; i + 4 <= end; i += 4) hash = Math.imul(hash ^ (raw[i]! | (raw[i + 1]! << 8) | (raw[i + 2]! << 16) | (raw[i + 3]! << 24)), 0x01000193);
  for (; i < end; i++) hash = Math.imul(hash ^ raw[i]!, 0x01000193);
  return (hash ^ (hash >>> 15)) & 0x3fffffff;
}

/** Where the labels a lookUp() found end. */
let knownLabelsEnd = 0;

/** Where the run of Label fields starting at `start` ends (labels come first in what Prometheus sends). */
function labelFieldsEnd(raw: Buffer, start: number, end: number): number {
  let position = start;
  while (position < end && raw[position] === LABEL) {
    let length = 0;
    let shift = 0;
    let next = position + 1;
    for (;;) {
      if (next >= end || shift > 28) return position;
      const byte = raw[next++]!;
      length += (byte & 0x7f) * 2 ** shift;
      shift += 7;
      if ((byte & 0x80) === 0) break;
    }
    if (next + length > end) return position;
    position = next + length;
  }
  return position;
}

/**
 * One TimeSeries (the reader inside it) into `out`; false (nothing added) when it has no `__name__`. With
 * `known` its labels were read before (the reader is past them); `labelSets` remembers the labels read here.
 * Samples are added as they come, with the name and labels known so far: a label after a sample (not what
 * Prometheus sends) gives them the final ones at the end.
 */
function readTimeSeries(reader: Reader, out: PromSample[], known: KnownLabelSet | undefined, labelSets: RemoteWriteLabelSets | undefined): boolean {
  let name = known?.name ?? '';
  let labels: Record<string, string> = (known?.labels as Record<string, string> | undefined) ?? {};
  const first = out.length;
  // Whether every label came before any other field: only then do the leading label bytes name the series.
  let labelsFirst = true;
  let pastLabels = false;
  let labelIndex = 0;
  while (reader.pos < reader.end) {
    const tag = reader.uint32();
    if (tag === SAMPLE) {
      SAMPLE_FIELDS.read(reader);
      const { value, timestampMs } = SAMPLE_FIELDS;
      out.push(timestampMs > 0 ? { name, labels, value, timestampMs } : { name, labels, value });
      pastLabels = true;
    } else if (tag === LABEL) {
      if (pastLabels && labelsFirst) {
        labelsFirst = false;
        // A remembered set is shared: add to a copy.
        if (known !== undefined) labels = { ...labels };
      }
      RECENT_LABELS.read(reader, labelIndex++);
      if (RECENT_LABELS.name === '__name__') name = RECENT_LABELS.value;
      else labels[RECENT_LABELS.name] = RECENT_LABELS.value;
    } else {
      reader.skip(tag & 7);
      pastLabels = true;
    }
  }
  if (name === '') {
    out.length = first;
    return false;
  }
  if (!labelsFirst) {
    for (let i = first; i < out.length; i++) {
      const sample = out[i]!;
      out[i] = sample.timestampMs === undefined ? { name, labels, value: sample.value } : { name, labels, value: sample.value, timestampMs: sample.timestampMs };
    }
  }
  if (known === undefined && labelsFirst) labelSets?.remember(name, labels);
  return true;
}

class UnsupportedMediaTypeError extends Error {}

export interface RemoteWriteOptions {
  maxBodyBytes: number;
  /** limits.label_cardinality: series whose counter state is kept. */
  labelCardinality: number;
}

export interface DecodedSamples {
  samples: PromSample[];
  /** Series without a `__name__` label: skipped. */
  unnamed: number;
  /** Samples of series whose name `reads` refused: not decoded past their name. */
  skipped: number;
}

export interface DecodeOptions {
  /** Only series of these names are decoded; default all. */
  reads?: (name: string) => boolean;
  /** Label sets decoded before (one per receiver): the same series sent again is not decoded again. */
  labelSets?: RemoteWriteLabelSets;
}

/** The snappy block's declared uncompressed length (its leading varint), or -1 when there is none. */
function declaredLength(body: Uint8Array): number {
  let length = 0;
  for (let i = 0, shift = 0; i < Math.min(body.length, 5); i++, shift += 7) {
    const byte = body[i]!;
    length += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return length;
  }
  return -1;
}

/** A snappy block, inflated; BadRequestError (decode / too_large) for what is not one or is too large. */
function inflate(body: Buffer, maxBodyBytes: number): Buffer {
  const length = declaredLength(body);
  if (length < 0) throw new BadRequestError('body is not snappy (block format): no length header', 'decode');
  if (length > maxBodyBytes) throw new BadRequestError(`request body over limits.max_body_bytes (${maxBodyBytes} bytes after decompression; snappy header says ${length})`, 'too_large');
  let raw: Buffer;
  try {
    // The header was checked against maxBodyBytes above: the output is no larger. copyOutputData: into a
    // V8-owned buffer; the default (an external one per body) measured ten times slower under load (GC).
    raw = uncompressSync(body, { asBuffer: true, copyOutputData: true }) as Buffer;
  } catch (error) {
    throw new BadRequestError(`body is not snappy (block format): ${firstLine((error as Error).message)}`, 'decode');
  }
  return raw;
}

/** Snappy block → WriteRequest → samples; BadRequestError (decode / too_large) for what cannot be read. */
export function decodeRemoteWrite(body: Buffer, maxBodyBytes: number, options: DecodeOptions = {}): DecodedSamples {
  const raw = inflate(body, maxBodyBytes);
  try {
    return readWriteRequest(raw, options);
  } catch (error) {
    throw new BadRequestError(`body is not a prometheus.WriteRequest (remote-write 1.0): ${firstLine((error as Error).message)}`, 'decode');
  }
}

/** Snappy block → io.prometheus.write.v2.Request → samples; BadRequestError (decode / too_large) for what cannot be read. */
export function decodeRemoteWriteV2(body: Buffer, maxBodyBytes: number, options: V2DecodeOptions = {}): DecodedV2Samples {
  const raw = inflate(body, maxBodyBytes);
  try {
    return readRequestV2(raw, options);
  } catch (error) {
    throw new BadRequestError(`body is not an io.prometheus.write.v2.Request (remote-write 2.0): ${firstLine((error as Error).message)}`, 'decode');
  }
}

/** Adds POST /api/v1/write to the OTLP HTTP server (call before it listens); returns the converter it feeds. */
export function registerRemoteWrite(app: FastifyInstance, edges: EdgeSink, metrics: CollectorMetrics, log: FastifyBaseLogger, options: RemoteWriteOptions): PrometheusEdgeConverter {
  const converter = new PrometheusEdgeConverter({ maxSeries: options.labelCardinality });
  // Two generations of half the tracked-series bound: at most as many sets kept as series tracked.
  const labelSets = new RemoteWriteLabelSets(Math.max(1, Math.ceil(options.labelCardinality / 2)));
  const v2LabelSets = new RemoteWriteV2LabelSets(Math.max(1, Math.ceil(options.labelCardinality / 2)));
  let lastDropLogMs = 0;
  const fail = (reply: FastifyReply, error: unknown): FastifyReply => {
    let status: number;
    let message: string;
    if (error instanceof UnsupportedMediaTypeError) {
      metrics.badRequests.inc({ receiver: RECEIVER, reason: 'media_type' });
      [status, message] = [415, error.message];
    } else {
      const problem = bodyProblem(error, reply.request.headers['content-encoding'], options.maxBodyBytes);
      if (problem !== undefined) {
        metrics.badRequests.inc({ receiver: RECEIVER, reason: problem.reason });
        [status, message] = [problem.reason === 'too_large' ? 413 : 400, problem.message];
      } else {
        reply.log.error({ err: error }, 'remote-write request failed');
        [status, message] = [500, `remote-write failed: ${firstLine(error instanceof Error ? error.message : String(error))}`];
      }
    }
    return reply.code(status).type('text/plain; charset=utf-8').send(`${message}\n`);
  };
  void app.register(async (scope) => {
    // The body is read as it came (snappy); the OTLP routes' parsers and inflation do not apply.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    scope.setErrorHandler((error, _request, reply) => fail(reply, error));
    scope.post(REMOTE_WRITE_PATH, async (request, reply) => {
      const contentType = String(request.headers['content-type'] ?? '');
      const [mediaType = '', ...parameters] = contentType.toLowerCase().split(';').map((part) => part.trim());
      if (mediaType !== PROTOBUF) throw new UnsupportedMediaTypeError(`unsupported content type ${JSON.stringify(contentType)}; remote-write sends ${PROTOBUF}`);
      const proto = parameters.find((p) => p.startsWith('proto='))?.slice('proto='.length) ?? PROTO_V1;
      if (proto !== PROTO_V1 && proto !== PROTO_V2) {
        throw new UnsupportedMediaTypeError(
          `unsupported remote-write message ${JSON.stringify(proto)}; accepted: prometheus.WriteRequest (remote-write 1.0), io.prometheus.write.v2.Request (remote-write 2.0)`,
        );
      }
      // Prometheus always says snappy; some clients send it without saying.
      const encoding = String(request.headers['content-encoding'] ?? 'snappy').toLowerCase();
      if (encoding !== 'snappy') throw new UnsupportedMediaTypeError(`unsupported content-encoding ${JSON.stringify(encoding)}; remote-write bodies are snappy`);
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      // Series no mesh rule reads are counted as skipped without being decoded past their name.
      const v2 = proto === PROTO_V2 ? decodeRemoteWriteV2(body, options.maxBodyBytes, { reads: readsSample, labelSets: v2LabelSets }) : undefined;
      const { samples, unnamed, skipped } = v2 ?? decodeRemoteWrite(body, options.maxBodyBytes, { reads: readsSample, labelSets });
      metrics.remoteWriteSeries.inc({ result: 'received' }, samples.length + skipped);
      const converted = converter.convert({ source: RECEIVER, samples, receivedAtMs: Date.now(), labelsReused: true });
      if (converted.increments.length > 0) edges.addIncrements(converted.increments, 'prometheus');
      for (const [result, count] of [
        ['counted', converted.counted],
        ['baseline', converted.baselines],
        ['reset', converted.resets],
        ['skipped', converted.skipped + unnamed + skipped],
        ['dropped', converted.dropped],
      ] as const) {
        if (count > 0) metrics.remoteWriteSeries.inc({ result }, count);
      }
      if (converted.dropped > 0 && Date.now() - lastDropLogMs >= DROP_LOG_INTERVAL_MS) {
        lastDropLogMs = Date.now();
        log.warn(
          `remote-write: dropped ${converted.dropped} new series: limits.label_cardinality (${options.labelCardinality} series) reached, e.g. ${converted.droppedExample ?? '?'}; tracked series still count (meshlens_remote_write_series_total{result="dropped"})`,
        );
      }
      if (v2 !== undefined) {
        // Accepted, as 2.0 counts it: float samples of named series (converted or refused by name); native
        // histograms and exemplars are not read, so none is reported written.
        void reply.header('X-Prometheus-Remote-Write-Samples-Written', String(v2.samplesAccepted));
        void reply.header('X-Prometheus-Remote-Write-Histograms-Written', '0');
        void reply.header('X-Prometheus-Remote-Write-Exemplars-Written', '0');
      }
      return reply.code(204).send();
    });
  });
  return converter;
}
