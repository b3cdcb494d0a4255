// Hand-written OTLP/JSON trace requests for service-graph tests: a trace's exact shape (ids, parents,
// kinds, times, attributes) matters there, which the SDK does not let a test choose.

export const SPAN_KIND = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;

export interface HandSpan {
  /** Small numbers, hex-padded to full-width ids. */
  trace: number;
  id: number;
  parent?: number;
  kind: number;
  /** Milliseconds after the request's base time. */
  startMs: number;
  durationMs: number;
  attributes?: Record<string, string | number>;
  /** OTLP status code (2 = ERROR). */
  code?: number;
}

const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');

/** One resource (service in namespace) with its spans, as the body of POST /v1/traces. */
export function otlpJsonRequest(service: string, namespace: string, baseNs: bigint, spans: readonly HandSpan[]): string {
  const ms = 1_000_000n;
  return JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }, { key: 'k8s.namespace.name', value: { stringValue: namespace } }] },
        scopeSpans: [
          {
            spans: spans.map((s) => ({
              traceId: hex(s.trace, 32),
              spanId: hex(s.id, 16),
              ...(s.parent ? { parentSpanId: hex(s.parent, 16) } : {}),
              name: `${service} op`,
              kind: s.kind,
              startTimeUnixNano: String(baseNs + BigInt(s.startMs) * ms),
              endTimeUnixNano: String(baseNs + BigInt(s.startMs + s.durationMs) * ms),
              attributes: Object.entries(s.attributes ?? {}).map(([key, value]) =>
                typeof value === 'number' ? { key, value: { intValue: value } } : { key, value: { stringValue: value } },
              ),
              ...(s.code ? { status: { code: s.code } } : {}),
            })),
          },
        ],
      },
    ],
  });
}

/** POSTs an OTLP/JSON body to a collector's /v1/traces; throws unless it was accepted. */
export async function postTraces(otlpHttpUrl: string, body: string): Promise<void> {
  const response = await fetch(`${otlpHttpUrl}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  if (response.status !== 200) throw new Error(`POST /v1/traces answered ${response.status}: ${await response.text()}`);
}
