// Zipkin v1 JSON (POST /api/v1/spans): the legacy model, where one span may hold both sides of a call.
// Each v1 span becomes the v2 spans it stands for (`zipkin-api.yaml`, and Zipkin's own v1 → v2 rules):
//   cs/cr annotations → a CLIENT span, sr/ss → a SERVER span (both: two spans sharing one id, as
//   Envoy's shared span context), ms → PRODUCER, mr → CONSUMER, none → a local span;
//   the core annotation's endpoint is that span's localEndpoint (else `lc`'s, else any endpoint given);
//   binaryAnnotations `sa` / `ca` / `ma` (address annotations) → the remoteEndpoint of the client /
//   server / messaging span; other binaryAnnotations → tags and other annotations → annotations, on
//   the span whose local endpoint they name (else the first).
import type { ConvertedTraces, TraceLimits } from '../otlp/traces.ts';
import { type ZipkinAnnotation, ZipkinConverter, type ZipkinEndpoint, type ZipkinKind, type ZipkinSpan, emptyZipkinSpan, newTags, setTag } from './convert.ts';
import { FieldProblem, type JsonObject, endpoint, isObject, label, list, micros, parseJsonArray, tagValue, text } from './json-fields.ts';

interface V1Annotation {
  timestamp: bigint;
  value: string;
  endpoint: ZipkinEndpoint | null;
}

interface V1BinaryAnnotation {
  key: string;
  value: string;
  endpoint: ZipkinEndpoint | null;
}

/** Which v2 span each core annotation opens or closes, with the address annotation naming its peer. */
const SIDES: Array<{ kind: ZipkinKind; begin: string; end: string; address: string }> = [
  { kind: 'CLIENT', begin: 'cs', end: 'cr', address: 'sa' },
  { kind: 'SERVER', begin: 'sr', end: 'ss', address: 'ca' },
  { kind: 'PRODUCER', begin: 'ms', end: '', address: 'ma' },
  { kind: 'CONSUMER', begin: 'mr', end: '', address: 'ma' },
];
const CORE = new Set(['cs', 'cr', 'sr', 'ss', 'ms', 'mr']);
const ADDRESSES = new Set(['sa', 'ca', 'ma']);

/** Throws BadRequestError when the body is not a JSON array; bad spans are counted as rejected. */
export function convertZipkinV1Json(body: Buffer, limits: TraceLimits): ConvertedTraces {
  const converter = new ZipkinConverter(limits);
  parseJsonArray(body, 'Zipkin v1 JSON').forEach((value, index) => {
    if (!isObject(value)) {
      converter.countSpan();
      converter.reject(`span #${index + 1} is not a JSON object`);
      return;
    }
    let spans: ZipkinSpan[];
    try {
      spans = toV2Spans(value);
    } catch (error) {
      if (!(error instanceof FieldProblem)) throw error;
      const span = emptyZipkinSpan();
      span.name = label(value.name);
      span.id = label(value.id);
      span.problem = error.message;
      spans = [span];
    }
    for (const span of spans) {
      converter.countSpan();
      converter.add(span);
    }
  });
  return converter.result;
}

function toV2Spans(value: JsonObject): ZipkinSpan[] {
  const annotations = list(value.annotations, 'annotations').map((a): V1Annotation => {
    if (!isObject(a)) throw new FieldProblem('an annotation that is not an object');
    return { timestamp: micros(a.timestamp, 'annotation timestamp'), value: text(a.value, 'annotation value'), endpoint: endpoint(a.endpoint, 'annotation endpoint') };
  });
  const binaryAnnotations = list(value.binaryAnnotations, 'binaryAnnotations').map((b): V1BinaryAnnotation => {
    if (!isObject(b)) throw new FieldProblem('a binaryAnnotation that is not an object');
    const key = text(b.key, 'binaryAnnotation key');
    return { key, value: tagValue(b.value, key), endpoint: endpoint(b.endpoint, 'binaryAnnotation endpoint') };
  });
  const base = emptyZipkinSpan();
  base.traceId = text(value.traceId, 'traceId');
  base.id = text(value.id, 'id');
  base.parentId = text(value.parentId, 'parentId');
  base.name = text(value.name, 'name');
  base.debug = value.debug === true;
  const timestamp = micros(value.timestamp, 'timestamp');
  const duration = micros(value.duration, 'duration');
  const find = (name: string) => (name === '' ? undefined : annotations.find((a) => a.value === name));
  const fallbackEndpoint =
    binaryAnnotations.find((b) => b.key === 'lc')?.endpoint ??
    annotations.find((a) => a.endpoint !== null)?.endpoint ??
    binaryAnnotations.find((b) => b.endpoint !== null && !ADDRESSES.has(b.key))?.endpoint ??
    null;

  const spans: ZipkinSpan[] = [];
  const addresses = new Map<ZipkinSpan, string>();
  for (const side of SIDES) {
    const begin = find(side.begin);
    const end = find(side.end);
    if (begin === undefined && end === undefined) continue;
    const span: ZipkinSpan = { ...base, kind: side.kind, annotations: [], tags: newTags() };
    span.localEndpoint = begin?.endpoint ?? end?.endpoint ?? fallbackEndpoint;
    span.timestamp = begin?.timestamp ?? 0n;
    if (begin !== undefined && end !== undefined) span.duration = end.timestamp > begin.timestamp ? end.timestamp - begin.timestamp : 0n;
    spans.push(span);
    addresses.set(span, side.address);
  }
  if (spans.length === 0) {
    // No core annotation: an address annotation alone still says which side this is.
    const side = SIDES.find((s) => binaryAnnotations.some((b) => b.key === s.address)) ?? { kind: '' as const, address: '' };
    const span: ZipkinSpan = { ...base, kind: side.kind, annotations: [], tags: newTags(), localEndpoint: fallbackEndpoint };
    spans.push(span);
    addresses.set(span, side.address);
  }
  // One v1 span with both sides is what v2 calls a shared SERVER half (as Zipkin's own converter reads it).
  if (spans.some((s) => s.kind === 'CLIENT')) for (const s of spans) if (s.kind === 'SERVER') s.shared = true;
  // The span's own timing is the first side's (v1 set it from cs, or sr on a server-only span): it
  // fills what the annotations leave open there, and is the whole story when there is one side.
  const first = spans[0]!;
  if (first.timestamp === 0n) first.timestamp = timestamp;
  if (first.duration === 0n && (spans.length === 1 || first.timestamp === timestamp)) first.duration = duration;

  for (const a of annotations) {
    if (!CORE.has(a.value)) owner(spans, a.endpoint).annotations.push({ timestamp: a.timestamp, value: a.value } satisfies ZipkinAnnotation);
  }
  for (const b of binaryAnnotations) {
    if (ADDRESSES.has(b.key)) {
      const span = spans.find((s) => addresses.get(s) === b.key);
      if (span !== undefined && b.endpoint !== null) span.remoteEndpoint = b.endpoint;
      continue;
    }
    // A key given twice on one span: the last value is kept.
    setTag(owner(spans, b.endpoint).tags, b.key, b.value);
  }
  return spans;
}

/** The span an annotation belongs to: the one whose local service it names, else the first. */
function owner(spans: ZipkinSpan[], endpoint: ZipkinEndpoint | null): ZipkinSpan {
  if (endpoint !== null && spans.length > 1) {
    const match = spans.find((s) => s.localEndpoint !== null && s.localEndpoint.serviceName === endpoint.serviceName && s.localEndpoint.ipv4 === endpoint.ipv4);
    if (match !== undefined) return match;
    const byName = spans.find((s) => s.localEndpoint !== null && s.localEndpoint.serviceName === endpoint.serviceName);
    if (byName !== undefined) return byName;
  }
  return spans[0]!;
}
