// Zipkin v2 JSON (POST /api/v2/spans, application/json): an array of spans, `zipkin2-api.yaml`.
import type { ConvertedTraces, TraceLimits } from '../otlp/traces.ts';
import { type ZipkinAnnotation, ZipkinConverter, type ZipkinKind, type ZipkinSpan, emptyZipkinSpan } from './convert.ts';
import { FieldProblem, type JsonObject, endpoint, isObject, label, list, micros, parseJsonArray, tagValue, text } from './json-fields.ts';

/** Throws BadRequestError when the body is not a JSON array; bad spans are counted as rejected. */
export function convertZipkinV2Json(body: Buffer, limits: TraceLimits): ConvertedTraces {
  const converter = new ZipkinConverter(limits);
  parseJsonArray(body, 'Zipkin v2 JSON').forEach((value, index) => {
    converter.countSpan();
    if (!isObject(value)) {
      converter.reject(`span #${index + 1} is not a JSON object`);
      return;
    }
    const span = emptyZipkinSpan();
    span.name = label(value.name);
    span.id = label(value.id);
    try {
      readV2Span(value, span);
    } catch (error) {
      if (!(error instanceof FieldProblem)) throw error;
      span.problem = error.message;
    }
    converter.add(span);
  });
  return converter.result;
}

function readV2Span(value: JsonObject, span: ZipkinSpan): void {
  span.traceId = text(value.traceId, 'traceId');
  span.id = text(value.id, 'id');
  span.parentId = text(value.parentId, 'parentId');
  span.name = text(value.name, 'name');
  span.kind = kind(value.kind);
  span.timestamp = micros(value.timestamp, 'timestamp');
  span.duration = micros(value.duration, 'duration');
  span.localEndpoint = endpoint(value.localEndpoint, 'localEndpoint');
  span.remoteEndpoint = endpoint(value.remoteEndpoint, 'remoteEndpoint');
  span.annotations = list(value.annotations, 'annotations').map((a): ZipkinAnnotation => {
    if (!isObject(a)) throw new FieldProblem('an annotation that is not an object');
    return { timestamp: micros(a.timestamp, 'annotation timestamp'), value: text(a.value, 'annotation value') };
  });
  const tags = value.tags;
  if (tags !== undefined && tags !== null) {
    if (!isObject(tags)) throw new FieldProblem('tags that are not a JSON object');
    for (const [key, tag] of Object.entries(tags)) span.tags.push([key, tagValue(tag, key)]);
  }
}

const KINDS = new Set<ZipkinKind>(['CLIENT', 'SERVER', 'PRODUCER', 'CONSUMER']);

/** Zipkin's kind names; case is forgiven (hand-written JSON), anything else refuses the span. */
function kind(value: unknown): ZipkinKind {
  if (value === undefined || value === null) return '';
  const name = typeof value === 'string' ? value.toUpperCase() : '';
  if (!KINDS.has(name as ZipkinKind)) throw new FieldProblem(`a kind ${JSON.stringify(String(value).slice(0, 40))} that is not CLIENT, SERVER, PRODUCER or CONSUMER`);
  return name as ZipkinKind;
}
