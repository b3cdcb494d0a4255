// Prometheus remote-write 1.0 (mesh-telemetry.md §7.3): POST /api/v1/write on the OTLP HTTP port (4318),
// registered on that fastify instance in its own scope (own body parsing and error replies). Body = the
// snappy *block* format of a protobuf prometheus.WriteRequest; each series' `__name__` label is its name.
// The samples go through the same converter as scraped ones (collector/prometheus/mesh-series.ts) and
// become edge increments with signal `prometheus`.
//
// Replies: 204 done; 400 with a one-line reason for a body that is not snappy or not a WriteRequest (a
// sender drops those, it does not retry); 413 over limits.max_body_bytes (compressed, or as the snappy
// header declares it uncompressed); 415 for another content type or encoding, or remote-write 2.0.
//
// Counter state: every request is one batch with source `remote-write`, so a series is identified by its
// full label set — the `job`/`instance` target labels and any external labels keep two targets or two
// Prometheus servers apart, and two HA replicas sending the very same series (no replica label) count it
// once (a sample older than the stored one is ignored).
import type { FastifyBaseLogger, FastifyInstance, FastifyReply } from 'fastify';
import protobuf from 'protobufjs';
// Native (napi-rs): a third of snappyjs' time per body, the largest single cost of a request.
import { uncompressSync } from 'snappy';
import type { EdgeSink } from '../edge-sink.ts';
import type { CollectorMetrics } from '../metrics.ts';
import { BadRequestError } from '../otlp/traces.ts';
import { PrometheusEdgeConverter, readsSample } from '../prometheus/mesh-series.ts';
import type { PromSample } from '../prometheus/samples.ts';
import { bodyProblem, firstLine } from './http-body.ts';

export const REMOTE_WRITE_PATH = '/api/v1/write';
const PROTOBUF = 'application/x-protobuf';
const RECEIVER = 'remote-write';
/** At most one cardinality warning per this long: a label explosion would otherwise flood the log. */
const DROP_LOG_INTERVAL_MS = 60_000;

/**
 * prometheus.WriteRequest (prometheus/prompb remote.proto, types.proto; stack.md §3), read straight from the
 * wire into samples — no message objects per label and sample:
 *   WriteRequest { repeated TimeSeries timeseries = 1; }   (metadata = 3 and anything else skipped)
 *   TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; }   (exemplars, histograms skipped)
 *   Label { string name = 1; string value = 2; }   Sample { double value = 1; int64 timestamp = 2; }
 */
const TIMESERIES = (1 << 3) | 2;
const LABEL = (1 << 3) | 2;
const SAMPLE = (2 << 3) | 2;
const NAME = (1 << 3) | 2;
const VALUE_STRING = (2 << 3) | 2;
const VALUE_DOUBLE = (1 << 3) | 1;
const TIMESTAMP = (2 << 3) | 0;

/** The end of the length-delimited field starting at the reader's position; never past `limit`. */
function fieldEnd(reader: protobuf.Reader, limit: number): number {
  const end = reader.uint32() + reader.pos;
  if (end > limit) throw new RangeError(`field of length ${end - reader.pos} runs past its message (index out of range)`);
  return end;
}

/** A Label message (its length prefix at the reader's position) as [name, value]. */
function readLabel(reader: protobuf.Reader, limit: number): [name: string, value: string] {
  const labelEnd = fieldEnd(reader, limit);
  let name = '';
  let value = '';
  while (reader.pos < labelEnd) {
    const field = reader.uint32();
    if (field === NAME) name = reader.string();
    else if (field === VALUE_STRING) value = reader.string();
    else reader.skipType(field & 7);
  }
  return [name, value];
}

function readWriteRequest(raw: Buffer, options: DecodeOptions): DecodedSamples {
  const reader = protobuf.Reader.create(raw);
  const decoded: DecodedSamples = { samples: [], unnamed: 0, skipped: 0 };
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag === TIMESERIES) {
      const end = fieldEnd(reader, reader.len);
      if (options.reads !== undefined && skipUnread(reader, end, options.reads, decoded)) continue;
      const known = options.labelSets?.lookUp(raw, reader.pos, end);
      if (known !== undefined) {
        reader.pos = knownLabelsEnd;
        readTimeSeries(reader, end, decoded.samples, known);
      } else if (!readTimeSeries(reader, end, decoded.samples, undefined, options.labelSets)) decoded.unnamed++;
    } else reader.skipType(tag & 7);
  }
  return decoded;
}

/**
 * Skips (to `end`, counting its samples) a TimeSeries whose first label is a `__name__` that `reads`
 * refuses: Prometheus sorts labels, so `__name__` comes first and the rest is never decoded. False (reader
 * back where it was) when the series is to be read.
 */
function skipUnread(reader: protobuf.Reader, end: number, reads: (name: string) => boolean, decoded: DecodedSamples): boolean {
  const start = reader.pos;
  if (start >= end || reader.uint32() !== LABEL) {
    reader.pos = start;
    return false;
  }
  const [labelName, labelValue] = readLabel(reader, end);
  if (labelName !== '__name__' || labelValue === '' || reads(labelValue)) {
    reader.pos = start;
    return false;
  }
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag === SAMPLE) decoded.skipped++;
    reader.skipType(tag & 7);
    if (reader.pos > end) throw new RangeError('a field runs past its TimeSeries (index out of range)');
  }
  return true;
}

/**
 * Label sets of series read before, by their bytes on the wire: a sender sends the same series with the
 * same bytes each time, so its labels are decoded once and the same objects handed out again (the
 * converter keeps its per-series work by object). Two generations of at most `maxSize` sets each: sets
 * not seen for a generation are forgotten.
 */
export class RemoteWriteLabelSets {
  private current = new Map<number, KnownLabelSet>();
  private previous = new Map<number, KnownLabelSet>();
  private currentSize = 0;
  /** The bytes of the last lookUp() that missed, for remember(). */
  private missed: { raw: Buffer; start: number; end: number; hash: number } | undefined;

  constructor(private readonly maxSize: number) {}

  /** The label set whose fields start at `start` of a TimeSeries ending at `end`, if read before. */
  lookUp(raw: Buffer, start: number, end: number): KnownLabelSet | undefined {
    this.missed = undefined;
    const labelsEnd = labelFieldsEnd(raw, start, end);
    if (labelsEnd === start) return undefined;
    // Hashed and compared in place: a string of the bytes as the key cost more (and made garbage).
    const hash = bytesHash(raw, start, labelsEnd);
    let known = find(this.current.get(hash), raw, start, labelsEnd);
    if (known === undefined) {
      known = find(this.previous.get(hash), raw, start, labelsEnd);
      if (known === undefined) {
        this.missed = { raw, start, end: labelsEnd, hash };
        return undefined;
      }
      this.keep(hash, { ...known, next: undefined });
    }
    knownLabelsEnd = labelsEnd;
    return known;
  }

  /** The set of the series just decoded after a lookUp() that missed. */
  remember(name: string, labels: Readonly<Record<string, string>>): void {
    const missed = this.missed;
    this.missed = undefined;
    if (missed === undefined) return;
    this.keep(missed.hash, { bytes: Buffer.from(missed.raw.subarray(missed.start, missed.end)), name, labels, next: undefined });
  }

  private keep(hash: number, known: KnownLabelSet): void {
    if (this.currentSize >= this.maxSize) {
      this.previous = this.current;
      this.current = new Map();
      this.currentSize = 0;
    }
    known.next = this.current.get(hash);
    this.current.set(hash, known);
    this.currentSize++;
  }
}

interface KnownLabelSet {
  /** Its Label fields as sent (a copy). */
  bytes: Buffer;
  name: string;
  labels: Readonly<Record<string, string>>;
  /** Another set with the same hash. */
  next: KnownLabelSet | undefined;
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
 * One TimeSeries ending at `end` into `out`; false (nothing added) when it has no `__name__`. With `known`
 * its labels were read before (the reader is past them); `labelSets` remembers the labels read here.
 */
function readTimeSeries(reader: protobuf.Reader, end: number, out: PromSample[], known?: KnownLabelSet, labelSets?: RemoteWriteLabelSets): boolean {
  let name = known?.name ?? '';
  let labels: Record<string, string> = (known?.labels as Record<string, string> | undefined) ?? {};
  const values: number[] = [];
  const timestamps: number[] = [];
  // Whether every label came before any other field: only then do the leading label bytes name the series.
  let labelsFirst = true;
  let pastLabels = false;
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag === LABEL) {
      if (pastLabels && labelsFirst) {
        labelsFirst = false;
        // A remembered set is shared: add to a copy.
        if (known !== undefined) labels = { ...labels };
      }
      const [labelName, labelValue] = readLabel(reader, end);
      if (labelName === '__name__') name = labelValue;
      else labels[labelName] = labelValue;
    } else if (tag === SAMPLE) {
      const sampleEnd = fieldEnd(reader, end);
      let value = 0;
      let timestamp = 0;
      while (reader.pos < sampleEnd) {
        const field = reader.uint32();
        if (field === VALUE_DOUBLE) value = reader.double();
        else if (field === TIMESTAMP) timestamp = readInt64(reader);
        else reader.skipType(field & 7);
      }
      values.push(value);
      timestamps.push(timestamp);
      pastLabels = true;
    } else {
      reader.skipType(tag & 7);
      pastLabels = true;
    }
    if (reader.pos > end) throw new RangeError('a field runs past its TimeSeries (index out of range)');
  }
  if (name === '') return false;
  if (known === undefined && labelsFirst) labelSets?.remember(name, labels);
  for (let i = 0; i < values.length; i++) {
    const timestampMs = timestamps[i]!;
    out.push(timestampMs > 0 ? { name, labels, value: values[i]!, timestampMs } : { name, labels, value: values[i]! });
  }
  return true;
}

/**
 * An int64 varint as a number, read in place: protobufjs' int64() makes a Long object per sample. Values
 * past 2^53 (and negative ones: ten bytes) are read again by protobufjs, as before.
 */
function readInt64(reader: protobuf.Reader): number {
  const buf = reader.buf;
  const start = reader.pos;
  let position = start;
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 8 && position < reader.len; i++) {
    const byte = buf[position++]!;
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) {
      reader.pos = position;
      return value;
    }
    scale *= 128;
  }
  return longToNumber(reader.int64());
}

function longToNumber(value: number | protobuf.Long): number {
  return typeof value === 'number' ? value : protobuf.util.LongBits.from(value).toNumber();
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

/** Snappy block → WriteRequest → samples; BadRequestError (decode / too_large) for what cannot be read. */
export function decodeRemoteWrite(body: Buffer, maxBodyBytes: number, options: DecodeOptions = {}): DecodedSamples {
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
  try {
    return readWriteRequest(raw, options);
  } catch (error) {
    throw new BadRequestError(`body is not a prometheus.WriteRequest (remote-write 1.0): ${firstLine((error as Error).message)}`, 'decode');
  }
}

/** Adds POST /api/v1/write to the OTLP HTTP server (call before it listens); returns the converter it feeds. */
export function registerRemoteWrite(app: FastifyInstance, edges: EdgeSink, metrics: CollectorMetrics, log: FastifyBaseLogger, options: RemoteWriteOptions): PrometheusEdgeConverter {
  const converter = new PrometheusEdgeConverter({ maxSeries: options.labelCardinality });
  // Two generations of half the tracked-series bound: at most as many sets kept as series tracked.
  const labelSets = new RemoteWriteLabelSets(Math.max(1, Math.ceil(options.labelCardinality / 2)));
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
      const proto = parameters.find((p) => p.startsWith('proto='));
      if (proto !== undefined && proto !== 'proto=prometheus.writerequest') {
        throw new UnsupportedMediaTypeError(`unsupported remote-write message ${JSON.stringify(proto.slice('proto='.length))}; only remote-write 1.0 (prometheus.WriteRequest) is accepted`);
      }
      // Prometheus always says snappy; some clients send it without saying.
      const encoding = String(request.headers['content-encoding'] ?? 'snappy').toLowerCase();
      if (encoding !== 'snappy') throw new UnsupportedMediaTypeError(`unsupported content-encoding ${JSON.stringify(encoding)}; remote-write bodies are snappy`);
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      // Series no mesh rule reads are counted as skipped without being decoded past their name.
      const { samples, unnamed, skipped } = decodeRemoteWrite(body, options.maxBodyBytes, { reads: readsSample, labelSets });
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
      return reply.code(204).send();
    });
  });
  return converter;
}
