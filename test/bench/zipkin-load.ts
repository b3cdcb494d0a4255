// Load for the Zipkin receiver (bench:mesh): the bookinfo traffic of mesh-spans.ts as Envoy's Zipkin
// tracer reports it — v2 JSON, the SERVER half sharing its CLIENT's span id (Envoy's default
// shared_span_context), the sidecar as localEndpoint, Envoy's tags — pre-serialised, and POSTed over
// keep-alive connections with several requests in flight.
import { Agent, request } from 'node:http';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { meshSpans } from './mesh-spans.ts';

const micros = ([seconds, nanos]: [number, number]) => seconds * 1_000_000 + Math.floor(nanos / 1000);

/** One Zipkin v2 span per ReadableSpan, Envoy-style: shared ids, string tags, the sidecar's endpoint. */
export function zipkinSpans(spans: ReadableSpan[]): object[] {
  // The span id a SERVER span takes (its CLIENT's), so that children point at the shared id.
  const sharedId = new Map<string, string>();
  for (const s of spans) {
    if (s.kind === SpanKind.SERVER && s.parentSpanContext) sharedId.set(s.spanContext().spanId, s.parentSpanContext.spanId);
  }
  const parentOf = new Map<string, string | undefined>(spans.map((s) => [s.spanContext().spanId, s.parentSpanContext?.spanId]));
  return spans.map((s) => {
    const own = s.spanContext().spanId;
    const server = s.kind === SpanKind.SERVER && sharedId.has(own);
    const id = server ? sharedId.get(own)! : own;
    const rawParent = server ? parentOf.get(id) : s.parentSpanContext?.spanId;
    const parentId = rawParent === undefined ? undefined : (sharedId.get(rawParent) ?? rawParent);
    const tags: Record<string, string> = {};
    for (const [key, value] of Object.entries(s.attributes)) tags[key] = String(value);
    if (s.status.code === SpanStatusCode.ERROR) tags['error'] = 'true';
    const ip = String(s.attributes['node_id'] ?? '').split('~')[1] ?? '';
    return {
      traceId: s.spanContext().traceId,
      id,
      ...(parentId ? { parentId } : {}),
      kind: s.kind === SpanKind.SERVER ? 'SERVER' : 'CLIENT',
      name: s.name,
      timestamp: micros(s.startTime),
      duration: Math.max(1, micros(s.duration)),
      localEndpoint: { serviceName: String(s.resource.attributes['service.name']), ipv4: ip, port: 9080 },
      ...(server ? { shared: true } : {}),
      tags,
    };
  });
}

/** `total` spans (whole traces) as v2 JSON bodies of `perRequest` spans. */
export function zipkinBodies(total: number, perRequest: number, startNs: bigint): { bodies: Buffer[]; spans: number } {
  const bodies: Buffer[] = [];
  let spans = 0;
  for (let sequence = 0; spans < total; ) {
    const batch = meshSpans(Math.min(perRequest, total - spans), startNs, sequence);
    sequence += batch.length / 8; // meshTrace: 4 hops, 2 spans each
    bodies.push(Buffer.from(JSON.stringify(zipkinSpans(batch))));
    spans += batch.length;
  }
  return { bodies, spans };
}

/** POSTs every body to /api/v2/spans, `concurrency` at a time over keep-alive connections; 429/503 are retried after a pause. */
export async function postAll(port: number, bodies: Buffer[], concurrency: number): Promise<{ accepted: number; retries: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const post = (body: Buffer) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/api/v2/spans', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  let next = 0;
  let accepted = 0;
  let retries = 0;
  const sender = async () => {
    while (next < bodies.length) {
      const body = bodies[next++]!;
      for (;;) {
        const { status, text } = await post(body);
        if (status === 202 && text === '') break;
        // Backpressure is part of the contract: wait as a sender would, then resend.
        if (status !== 429 && status !== 503) throw new Error(`POST /api/v2/spans answered ${status}: ${text}`);
        retries++;
        await new Promise((r) => setTimeout(r, 50));
      }
      accepted++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, sender));
  agent.destroy();
  return { accepted, retries };
}
