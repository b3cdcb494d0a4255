// Zipkin v2 JSON (POST /api/v2/spans, application/json): an array of spans, `zipkin2-api.yaml`.
// The busiest Zipkin path (Envoy's default encoding): each span is read once, straight from the object
// JSON.parse made, into one ZipkinSpan — its tags object is handed over as it is, not copied.
import type { ConvertedTraces, TraceLimits } from '../otlp/traces.ts';
import { type ZipkinAnnotation, ZipkinConverter, type ZipkinKind, type ZipkinSpan, type ZipkinTags, NO_TAGS, emptyZipkinSpan, newTags, setTag } from './convert.ts';
import { FieldProblem, type JsonObject, endpoint, isObject, label, list, micros, parseJsonArray, tagValue, text } from './json-fields.ts';

/** Throws BadRequestError when the body is not a JSON array; bad spans are counted as rejected. */
export function convertZipkinV2Json(body: Buffer, limits: TraceLimits): ConvertedTraces {
  const converter = new ZipkinConverter(limits);
  const values = parseJsonArray(body, 'Zipkin v2 JSON');
  for (let index = 0; index < values.length; index++) {
    const value = values[index];
    converter.countSpan();
    if (!isObject(value)) {
      converter.reject(`span #${index + 1} is not a JSON object`);
      continue;
    }
    let span: ZipkinSpan;
    try {
      span = readV2Span(value);
    } catch (error) {
      if (!(error instanceof FieldProblem)) throw error;
      span = emptyZipkinSpan();
      span.name = label(value.name);
      span.id = label(value.id);
      span.problem = error.message;
    }
    converter.add(span);
  }
  return converter.result;
}

function readV2Span(value: JsonObject): ZipkinSpan {
  return {
    traceId: text(value.traceId, 'traceId'),
    id: text(value.id, 'id'),
    parentId: text(value.parentId, 'parentId'),
    name: text(value.name, 'name'),
    kind: kind(value.kind),
    timestamp: micros(value.timestamp, 'timestamp'),
    duration: micros(value.duration, 'duration'),
    localEndpoint: endpoint(value.localEndpoint, 'localEndpoint'),
    remoteEndpoint: endpoint(value.remoteEndpoint, 'remoteEndpoint'),
    annotations: annotations(value.annotations),
    tags: tags(value.tags),
    shared: value.shared === true,
    debug: value.debug === true,
    problem: '',
  };
}

function annotations(value: unknown): ZipkinAnnotation[] {
  const values = list(value, 'annotations');
  const read: ZipkinAnnotation[] = new Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const a = values[i];
    if (!isObject(a)) throw new FieldProblem('an annotation that is not an object');
    read[i] = { timestamp: micros(a.timestamp, 'annotation timestamp'), value: text(a.value, 'annotation value') };
  }
  return read;
}

/**
 * The tags object as parsed, when every value is a string (what senders send); otherwise a copy
 * with numbers and booleans (hand-written JSON) as their text.
 */
function tags(value: unknown): ZipkinTags {
  if (value === undefined || value === null) return NO_TAGS;
  if (!isObject(value)) throw new FieldProblem('tags that are not a JSON object');
  for (const key in value) {
    if (typeof value[key] !== 'string') return tagsAsText(value);
  }
  return value as ZipkinTags;
}

function tagsAsText(value: JsonObject): ZipkinTags {
  const copy = newTags();
  for (const key in value) setTag(copy, key, tagValue(value[key], key));
  return copy;
}

/** Zipkin's kind names; case is forgiven (hand-written JSON), anything else refuses the span. */
function kind(value: unknown): ZipkinKind {
  switch (value) {
    case undefined:
    case null:
      return '';
    case 'CLIENT':
    case 'SERVER':
    case 'PRODUCER':
    case 'CONSUMER':
      return value;
  }
  const name = typeof value === 'string' ? value.toUpperCase() : '';
  if (name === 'CLIENT' || name === 'SERVER' || name === 'PRODUCER' || name === 'CONSUMER') return name;
  throw new FieldProblem(`a kind ${JSON.stringify(String(value).slice(0, 40))} that is not CLIENT, SERVER, PRODUCER or CONSUMER`);
}
