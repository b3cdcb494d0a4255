// Small hand-made Jaeger traces for the trace explorer's unit tests (times in µs after BASE).
import type { JaegerTag, JaegerTrace } from './jaeger-api.ts';

export const BASE = 1_700_000_000_000_000;

export interface HandSpan {
  id: string;
  parent?: string;
  service: string;
  op?: string;
  start: number;
  end: number;
  error?: boolean;
}

export function handTrace(spans: HandSpan[], traceId = 'abc'): JaegerTrace {
  const services = [...new Set(spans.map((s) => s.service))];
  return {
    traceID: traceId,
    warnings: null,
    processes: Object.fromEntries(services.map((service, i) => [`p${i + 1}`, { serviceName: service, tags: [] }])),
    spans: spans.map((s) => ({
      traceID: traceId,
      spanID: s.id,
      operationName: s.op ?? `${s.service} ${s.id}`,
      references: s.parent ? [{ refType: 'CHILD_OF' as const, traceID: traceId, spanID: s.parent }] : [],
      startTime: BASE + s.start,
      duration: s.end - s.start,
      tags: s.error ? [{ key: 'error', type: 'bool', value: true } satisfies JaegerTag] : [],
      logs: [],
      processID: `p${services.indexOf(s.service) + 1}`,
      warnings: null,
    })),
  };
}

/**
 * frontend root 0–100 calls auth (a→b, 5–25) and db (c→d, 30–90; d fails, with internal e 40–50, f 60–85),
 * then logs (g 92–96); h (cache) names a parent that is not in the trace. Listed out of order on purpose.
 */
export const SHOP = handTrace([
  { id: 'f', parent: 'd', service: 'db', start: 60, end: 85 },
  { id: 'root', service: 'frontend', op: 'GET /', start: 0, end: 100 },
  { id: 'c', parent: 'root', service: 'frontend', start: 30, end: 90 },
  { id: 'a', parent: 'root', service: 'frontend', start: 5, end: 25 },
  { id: 'b', parent: 'a', service: 'auth', start: 6, end: 24 },
  { id: 'd', parent: 'c', service: 'db', start: 32, end: 88, error: true },
  { id: 'e', parent: 'd', service: 'db', start: 40, end: 50 },
  { id: 'g', parent: 'root', service: 'frontend', start: 92, end: 96 },
  { id: 'h', parent: 'zzz', service: 'cache', start: 10, end: 20 },
]);
