// Reading Zipkin JSON (v1 and v2) field by field. A field of the wrong type refuses its span, not the
// request: the rest of the batch is still stored (FieldProblem carries the one-line reason).
import { BadRequestError } from '../otlp/traces.ts';
import type { ZipkinEndpoint } from './convert.ts';

export class FieldProblem extends Error {}

export type JsonObject = Record<string, unknown>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The body as a JSON array (of spans); anything else refuses the whole request. */
export function parseJsonArray(body: Buffer, what: string): unknown[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new BadRequestError(`invalid ${what}: ${(error as Error).message.split('\n')[0]}`, 'decode');
  }
  if (!Array.isArray(parsed)) throw new BadRequestError(`invalid ${what}: the body must be a JSON array of spans`, 'decode');
  return parsed;
}

/** A string field; '' when absent or null. */
export function text(value: unknown, field: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new FieldProblem(`a ${field} that is not a string`);
  return value;
}

/** A text field read only to name a span in a message: never a problem. */
export function label(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** A µs timestamp or duration: an integer JSON number or decimal string; 0n when absent. */
export function micros(value: unknown, field: string): bigint {
  if (value === undefined || value === null) return 0n;
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return BigInt(Math.trunc(value));
  if (typeof value === 'string' && /^[0-9]{1,20}$/.test(value)) return BigInt(value);
  throw new FieldProblem(`a ${field} that is not a number of microseconds`);
}

export function endpoint(value: unknown, field: string): ZipkinEndpoint | null {
  if (value === undefined || value === null) return null;
  if (!isObject(value)) throw new FieldProblem(`a ${field} that is not an object`);
  const port = value.port;
  if (port !== undefined && port !== null && !(typeof port === 'number' && Number.isInteger(port) && port >= 0 && port <= 65535)) {
    throw new FieldProblem(`a ${field}.port that is not a port number`);
  }
  return {
    serviceName: text(value.serviceName, `${field}.serviceName`),
    ipv4: text(value.ipv4, `${field}.ipv4`),
    ipv6: text(value.ipv6, `${field}.ipv6`),
    port: typeof port === 'number' ? port : 0,
  };
}

/** A tag value: Zipkin's are strings; numbers and booleans (hand-written JSON) are taken as their text. */
export function tagValue(value: unknown, key: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new FieldProblem(`tag ${JSON.stringify(key.slice(0, 40))} with a value that is not a string`);
}

export function list(value: unknown, field: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new FieldProblem(`${field} that are not a JSON array`);
  return value;
}
