// Realistic east-west mesh spans for the benchmarks: bookinfo-like request paths through Istio
// sidecars (ingress → productpage → details / reviews → ratings), each hop a CLIENT and a SERVER
// span with Envoy's tags, on Envoy/Istio-like resources. Built as the SDK's ReadableSpans, so
// @opentelemetry/otlp-transformer turns them into byte-exact OTLP requests.
import { randomBytes } from 'node:crypto';
import { SpanKind, SpanStatusCode, type HrTime } from '@opentelemetry/api';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';

const WORKLOADS = ['istio-ingressgateway', 'productpage-v1', 'details-v1', 'reviews-v1', 'reviews-v2', 'reviews-v3', 'ratings-v1'];
const HOPS: Array<[string, string, string]> = [
  ['istio-ingressgateway', 'productpage-v1', '/productpage'],
  ['productpage-v1', 'details-v1', '/details/0'],
  ['productpage-v1', 'reviews-v2', '/reviews/0'],
  ['reviews-v2', 'ratings-v1', '/ratings/0'],
];

function resourceFor(workload: string, replica: number): Resource {
  const app = workload.replace(/-v[0-9]+$/, '');
  return resourceFromAttributes({
    'service.name': `${app}.bookinfo`,
    'k8s.namespace.name': 'bookinfo',
    'k8s.pod.name': `${workload}-7d9f8c-${replica}`,
    'service.version': workload.match(/v[0-9]+$/)?.[0] ?? 'v1',
    'istio.mesh_id': 'cluster.local',
    'istio.canonical_service': app,
  });
}

const resources = new Map<string, Resource>();
function resource(workload: string, replica: number): Resource {
  const key = `${workload}/${replica}`;
  let r = resources.get(key);
  if (!r) resources.set(key, (r = resourceFor(workload, replica)));
  return r;
}

const hr = (ns: bigint): HrTime => [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
const hex = (bytes: number) => randomBytes(bytes).toString('hex');

function span(options: {
  traceId: string; spanId: string; parentSpanId?: string; name: string; kind: SpanKind;
  startNs: bigint; durationNs: bigint; attributes: ReadableSpan['attributes']; resource: Resource; error: boolean;
}): ReadableSpan {
  const context = { traceId: options.traceId, spanId: options.spanId, traceFlags: 1 };
  return {
    name: options.name,
    kind: options.kind,
    spanContext: () => context,
    ...(options.parentSpanId ? { parentSpanContext: { traceId: options.traceId, spanId: options.parentSpanId, traceFlags: 1 } } : {}),
    startTime: hr(options.startNs),
    endTime: hr(options.startNs + options.durationNs),
    duration: hr(options.durationNs),
    status: options.error ? { code: SpanStatusCode.ERROR } : { code: SpanStatusCode.UNSET },
    attributes: options.attributes,
    links: [],
    events: [],
    ended: true,
    resource: options.resource,
    instrumentationScope: { name: 'envoy' },
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

/** One request through the mesh: 2 spans per hop (CLIENT at the caller's sidecar, SERVER at the callee's). */
export function meshTrace(startNs: bigint, sequence: number): ReadableSpan[] {
  const traceId = hex(16);
  const requestId = hex(16);
  const spans: ReadableSpan[] = [];
  let parent: string | undefined;
  let offset = 0n;
  for (const [caller, callee, path] of HOPS) {
    const status = sequence % 97 === 0 ? 503 : sequence % 31 === 0 ? 404 : 200;
    const durationNs = BigInt(1_000_000 + ((sequence * 7919 + path.length * 104729) % 40_000_000));
    const common = {
      'http.method': 'GET',
      'http.url': `http://${callee.replace(/-v[0-9]+$/, '')}:9080${path}`,
      'http.protocol': 'HTTP/1.1',
      'http.status_code': String(status),
      'guid:x-request-id': requestId,
      'user_agent': 'python-requests/2.31',
      'request_size': '0',
      'response_size': String(1000 + (sequence % 4000)),
      'component': 'proxy',
      'upstream_cluster': `outbound|9080||${callee.replace(/-v[0-9]+$/, '')}.bookinfo.svc.cluster.local`,
    };
    const clientId = hex(8);
    const serverId = hex(8);
    spans.push(
      span({
        traceId, spanId: clientId, parentSpanId: parent, name: `${callee.replace(/-v[0-9]+$/, '')}.bookinfo.svc.cluster.local:9080/*`,
        kind: SpanKind.CLIENT, startNs: startNs + offset, durationNs: durationNs + 400_000n,
        attributes: { ...common, 'node_id': `sidecar~10.1.0.${sequence % 250}~${caller}.bookinfo~bookinfo.svc.cluster.local` },
        resource: resource(caller, sequence % 3), error: status >= 500,
      }),
      span({
        traceId, spanId: serverId, parentSpanId: clientId, name: `${callee.replace(/-v[0-9]+$/, '')}.bookinfo.svc.cluster.local:9080${path}`,
        kind: SpanKind.SERVER, startNs: startNs + offset + 200_000n, durationNs,
        attributes: { ...common, 'node_id': `sidecar~10.1.1.${sequence % 250}~${callee}.bookinfo~bookinfo.svc.cluster.local`, 'peer.address': `10.1.0.${sequence % 250}` },
        resource: resource(callee, sequence % 3), error: status >= 500,
      }),
    );
    parent = serverId;
    offset += 1_000_000n;
  }
  return spans;
}

/** `count` spans (rounded up to whole traces), starting around `startNs`, one trace per 50 µs. */
export function meshSpans(count: number, startNs: bigint, firstSequence = 0): ReadableSpan[] {
  const out: ReadableSpan[] = [];
  for (let i = firstSequence; out.length < count; i++) out.push(...meshTrace(startNs + BigInt(i) * 50_000n, i));
  return out;
}

export const BENCH_WORKLOADS = WORKLOADS;
