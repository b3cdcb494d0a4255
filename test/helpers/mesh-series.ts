// Hand-written Prometheus series as each mesh's proxies expose them (mesh-telemetry.md §3), for a
// bookinfo-like topology: productpage → details, productpage → reviews v1/v2/v3 (a canary), reviews →
// ratings, plus a caller outside the mesh. Cumulative values are given per observation, so a test can
// send a baseline, then an increase, then a restart.
import type { PromSample } from '../../collector/prometheus/samples.ts';

export interface Workload {
  app: string;
  version: string;
  namespace: string;
}

export const bookinfo = {
  productpage: { app: 'productpage', version: 'v1', namespace: 'bookinfo' },
  details: { app: 'details', version: 'v1', namespace: 'bookinfo' },
  reviewsV1: { app: 'reviews', version: 'v1', namespace: 'bookinfo' },
  reviewsV2: { app: 'reviews', version: 'v2', namespace: 'bookinfo' },
  reviewsV3: { app: 'reviews', version: 'v3', namespace: 'bookinfo' },
  ratings: { app: 'ratings', version: 'v1', namespace: 'bookinfo' },
} satisfies Record<string, Workload>;

export const workloadName = (w: Workload) => `${w.app}-${w.version}`;

/** Envoy's default histogram bounds (ms), which Istio's istio_request_duration_milliseconds uses. */
export const ENVOY_BOUNDS_MS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];
/** Linkerd's response_latency_ms bounds: {1,2,3,4,5}×10^k, k = 0…4. */
export const LINKERD_BOUNDS_MS = [0, 1, 2, 3, 4].flatMap((k) => [1, 2, 3, 4, 5].map((m) => m * 10 ** k));
/** Traefik's default bounds (s). */
export const TRAEFIK_BOUNDS_S = [0.1, 0.3, 1.2, 5];

/**
 * A histogram as flat series: `<name>_bucket{le}` per bound and +Inf, `_sum`, `_count` (in that order unless
 * `countFirst`, as Linkerd prints them). `perBound`: observations per bound (not cumulative).
 */
export function histogramSamples(name: string, labels: Record<string, string>, bounds: readonly number[], perBound: Readonly<Record<number, number>>, sum: number, countFirst = false): PromSample[] {
  let cumulative = 0;
  const buckets = bounds.map((le) => ({ name: `${name}_bucket`, labels: { ...labels, le: String(le) }, value: (cumulative += perBound[le] ?? 0) }));
  buckets.push({ name: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: cumulative });
  const count = { name: `${name}_count`, labels, value: cumulative };
  const sumSample = { name: `${name}_sum`, labels, value: sum };
  return countFirst ? [...buckets, count, sumSample] : [...buckets, sumSample, count];
}

// ---- Istio ----

/** Every label istio_requests_total carries, in istio_stats.cc's order. `source` null = a caller outside the mesh. */
export function istioLabels(reporter: 'source' | 'destination', source: Workload | null, destination: Workload, options: { code?: number; mtls?: boolean; grpcStatus?: string } = {}): Record<string, string> {
  const unknown = 'unknown';
  const mtls = options.mtls ?? true;
  return {
    reporter,
    source_workload: source ? workloadName(source) : unknown,
    source_canonical_service: source ? source.app : unknown,
    source_canonical_revision: source ? source.version : 'latest',
    source_workload_namespace: source ? source.namespace : unknown,
    source_principal: source ? `spiffe://cluster.local/ns/${source.namespace}/sa/bookinfo-${source.app}` : unknown,
    source_app: source ? source.app : unknown,
    source_version: source ? source.version : unknown,
    source_cluster: source ? 'Kubernetes' : unknown,
    destination_workload: workloadName(destination),
    destination_workload_namespace: destination.namespace,
    destination_principal: `spiffe://cluster.local/ns/${destination.namespace}/sa/bookinfo-${destination.app}`,
    destination_app: destination.app,
    destination_version: destination.version,
    destination_service: `${destination.app}.${destination.namespace}.svc.cluster.local`,
    destination_canonical_service: destination.app,
    destination_canonical_revision: destination.version,
    destination_service_name: destination.app,
    destination_service_namespace: destination.namespace,
    destination_cluster: 'Kubernetes',
    request_protocol: options.grpcStatus === undefined ? 'http' : 'grpc',
    response_code: String(options.code ?? 200),
    grpc_response_status: options.grpcStatus ?? '',
    response_flags: '-',
    // Known only to the server's sidecar.
    connection_security_policy: reporter === 'source' ? unknown : mtls ? 'mutual_tls' : 'none',
  };
}

/** Cumulative istio_requests_total per call pair and code, as both sidecars count them. */
export interface IstioCall {
  source: Workload | null;
  destination: Workload;
  code: number;
  total: number;
  mtls?: boolean;
}

/**
 * What Prometheus would hold for the calls: each one a `reporter="source"` series (unless the caller is
 * outside the mesh) and a `reporter="destination"` series with the same count — Istio's double reporting.
 */
export function istioRequests(calls: readonly IstioCall[]): PromSample[] {
  const samples: PromSample[] = [];
  for (const call of calls) {
    const options = { code: call.code, ...(call.mtls === undefined ? {} : { mtls: call.mtls }) };
    if (call.source !== null) samples.push({ name: 'istio_requests_total', labels: istioLabels('source', call.source, call.destination, options), value: call.total });
    samples.push({ name: 'istio_requests_total', labels: istioLabels('destination', call.source, call.destination, options), value: call.total });
  }
  return samples;
}

/**
 * What istioBookinfo(0) then istioBookinfo(1) must give, however the series arrive (edgeCounts() form, signal
 * prometheus): each call once by the reporter rule, mTLS from the destination rows; 252 requests in all.
 */
export const ISTIO_BOOKINFO_EDGES = [
  { id: 'bookinfo/productpage@v1->bookinfo/details@v1', requests: 60, errors: 0, mtls: true, signals: ['prometheus'] },
  { id: 'bookinfo/productpage@v1->bookinfo/reviews@v1', requests: 20, errors: 0, mtls: true, signals: ['prometheus'] },
  { id: 'bookinfo/productpage@v1->bookinfo/reviews@v2', requests: 25, errors: 0, mtls: true, signals: ['prometheus'] },
  { id: 'bookinfo/productpage@v1->bookinfo/reviews@v3', requests: 15, errors: 3, mtls: true, signals: ['prometheus'] },
  { id: 'bookinfo/reviews@v2->bookinfo/ratings@v1', requests: 25, errors: 0, mtls: true, signals: ['prometheus'] },
  { id: 'bookinfo/reviews@v3->bookinfo/ratings@v1', requests: 12, errors: 0, mtls: true, signals: ['prometheus'] },
  { id: 'unknown->bookinfo/productpage@v1', requests: 95, errors: 0, mtls: false, signals: ['prometheus'] },
];

/** The bookinfo calls at one observation: `step` 0 = the baseline, 1 = 15 s later. */
export function istioBookinfo(step: 0 | 1): PromSample[] {
  const { productpage, details, reviewsV1, reviewsV2, reviewsV3, ratings } = bookinfo;
  const add = (base: number, increase: number) => base + (step === 1 ? increase : 0);
  const samples = istioRequests([
    { source: productpage, destination: details, code: 200, total: add(1000, 60) },
    { source: productpage, destination: reviewsV1, code: 200, total: add(300, 20) },
    { source: productpage, destination: reviewsV2, code: 200, total: add(300, 25) },
    { source: productpage, destination: reviewsV3, code: 200, total: add(100, 10) },
    { source: productpage, destination: reviewsV3, code: 503, total: add(5, 3) },
    { source: productpage, destination: reviewsV3, code: 404, total: add(7, 2) },
    { source: reviewsV2, destination: ratings, code: 200, total: add(300, 25) },
    { source: reviewsV3, destination: ratings, code: 200, total: add(100, 12) },
    // The ingress traffic: a caller outside the mesh, plaintext.
    { source: null, destination: productpage, code: 200, total: add(2000, 95), mtls: false },
  ]);
  // productpage → reviews-v2 took 5–25 ms: ≤5 ms 10, ≤10 ms 20, ≤25 ms 25 in the interval.
  const sourceRow = istioLabels('source', productpage, reviewsV2);
  const destinationRow = istioLabels('destination', productpage, reviewsV2);
  const baseline = { 5: 100, 10: 150, 25: 50 };
  const grown = step === 1 ? { 5: 110, 10: 160, 25: 55 } : baseline;
  samples.push(...histogramSamples('istio_request_duration_milliseconds', sourceRow, ENVOY_BOUNDS_MS, grown, step === 1 ? 3300 : 3000));
  // The server side measured other times (no network): never counted for a meshed caller.
  samples.push(...histogramSamples('istio_request_duration_milliseconds', destinationRow, ENVOY_BOUNDS_MS, step === 1 ? { 1: 325 } : { 1: 300 }, 300));
  samples.push({ name: 'istio_request_bytes_sum', labels: sourceRow, value: step === 1 ? 30_000 + 2_500 : 30_000 });
  samples.push({ name: 'istio_response_bytes_sum', labels: sourceRow, value: step === 1 ? 900_000 + 75_000 : 900_000 });
  // What else a sidecar exposes: never an edge.
  samples.push({ name: 'istio_tcp_connections_opened_total', labels: istioLabels('source', productpage, reviewsV2), value: 40 });
  samples.push({ name: 'envoy_server_uptime', labels: {}, value: 3600 });
  return samples;
}

// ---- Linkerd ----

export function linkerdOutbound(destination: Workload, extra: Record<string, string> = {}): Record<string, string> {
  const { app, version, namespace } = destination;
  return {
    direction: 'outbound',
    authority: `${app}.${namespace}.svc.cluster.local:9080`,
    target_addr: '10.42.0.17:9080',
    target_ip: '10.42.0.17',
    target_port: '9080',
    tls: 'true',
    server_id: `bookinfo-${app}.${namespace}.serviceaccount.identity.linkerd.cluster.local`,
    dst_control_plane_ns: 'linkerd',
    dst_deployment: `${app}-${version}`,
    dst_namespace: namespace,
    dst_pod: `${app}-${version}-5d8f7b6c9d-x7k2p`,
    dst_pod_template_hash: '5d8f7b6c9d',
    dst_service: app,
    dst_serviceaccount: `bookinfo-${app}`,
    ...extra,
  };
}

export function linkerdInbound(tls: 'true' | 'no_identity', extra: Record<string, string> = {}, namespace = 'bookinfo'): Record<string, string> {
  return {
    direction: 'inbound',
    authority: `productpage.${namespace}.svc.cluster.local:9080`,
    target_addr: '10.42.0.9:9080',
    target_ip: '10.42.0.9',
    target_port: '9080',
    tls,
    ...(tls === 'true' ? { client_id: 'default.istio-system.serviceaccount.identity.linkerd.cluster.local' } : { no_tls_reason: 'no_authority_in_http_request' }),
    srv_kind: 'default',
    srv_name: 'all-unauthenticated',
    ...extra,
  };
}

/**
 * What productpage-v1's linkerd2-proxy exposes at one observation (`target` = the labels a Prometheus
 * server adds, e.g. { namespace, pod }; empty for a direct scrape).
 */
export function linkerdProductpage(step: 0 | 1, target: Record<string, string> = {}, namespace = 'bookinfo'): PromSample[] {
  const inNamespace = (w: Workload): Workload => ({ ...w, namespace });
  const [details, reviewsV1, reviewsV3] = [inNamespace(bookinfo.details), inNamespace(bookinfo.reviewsV1), inNamespace(bookinfo.reviewsV3)];
  const add = (base: number, increase: number) => base + (step === 1 ? increase : 0);
  const out = (w: Workload, extra: Record<string, string> = {}) => ({ ...linkerdOutbound(w, extra), ...target });
  const ok = { status_code: '200', classification: 'success', grpc_status: '', error: '' };
  const failed = { status_code: '500', classification: 'failure', grpc_status: '', error: '' };
  const samples: PromSample[] = [
    // request_total counts the same requests: read only where no response_total exists.
    { name: 'request_total', labels: out(details), value: add(500, 40) },
    { name: 'request_total', labels: out(reviewsV1), value: add(200, 30) },
    { name: 'request_total', labels: out(reviewsV3), value: add(50, 14) },
    { name: 'response_total', labels: out(details, ok), value: add(500, 40) },
    { name: 'response_total', labels: out(reviewsV1, ok), value: add(200, 30) },
    { name: 'response_total', labels: out(reviewsV3, ok), value: add(45, 10) },
    { name: 'response_total', labels: out(reviewsV3, failed), value: add(5, 4) },
    // Callers with an identity are counted by their own proxy; one without is counted here.
    { name: 'request_total', labels: { ...linkerdInbound('true', {}, namespace), ...target }, value: add(900, 80) },
    { name: 'response_total', labels: { ...linkerdInbound('true', { status_code: '200', classification: 'success' }, namespace), ...target }, value: add(900, 80) },
    { name: 'request_total', labels: { ...linkerdInbound('no_identity', {}, namespace), ...target }, value: add(70, 7) },
    { name: 'response_total', labels: { ...linkerdInbound('no_identity', { status_code: '200', classification: 'success' }, namespace), ...target }, value: add(70, 7) },
    { name: 'tcp_open_total', labels: { ...linkerdOutbound(details), ...target }, value: 12 },
  ];
  // productpage → details: ≤3 ms 10, ≤10 ms 25, ≤20 ms 5 in the interval (40 responses).
  const baseline = { 3: 100, 10: 300, 20: 100 };
  samples.push(...histogramSamples('response_latency_ms', out(details, { status_code: '200' }), LINKERD_BOUNDS_MS, step === 1 ? { 3: 110, 10: 325, 20: 105 } : baseline, 4000, true));
  return samples;
}

// ---- Traefik ----

export function traefikProductpage(step: 0 | 1): PromSample[] {
  const add = (base: number, increase: number) => base + (step === 1 ? increase : 0);
  const service = 'bookinfo-productpage-9080@kubernetes';
  const labels = (code: string) => ({ code, method: 'GET', protocol: 'http', service });
  return [
    { name: 'traefik_service_requests_total', labels: labels('200'), value: add(800, 50) },
    { name: 'traefik_service_requests_total', labels: labels('502'), value: add(4, 2) },
    { name: 'traefik_service_requests_total', labels: { code: '200', method: 'GET', protocol: 'http', service: 'dashboard@internal' }, value: add(10, 5) },
    // Of the interval's 50 OK calls, 30 took ≤ 0.1 s and 20 ≤ 0.3 s.
    ...histogramSamples('traefik_service_request_duration_seconds', labels('200'), TRAEFIK_BOUNDS_S, step === 1 ? { 0.1: 530, 0.3: 270, 1.2: 2 } : { 0.1: 500, 0.3: 250, 1.2: 2 }, 100),
    { name: 'traefik_entrypoint_requests_total', labels: { code: '200', entrypoint: 'web', method: 'GET', protocol: 'http' }, value: add(900, 57) },
  ];
}
