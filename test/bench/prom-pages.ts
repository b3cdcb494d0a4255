// Prometheus pages as mesh proxies serve them, about 2,000 series each, for benchmarks of the scrape and
// remote-write paths (bench:prom-cpu; reusable by bench:mesh). Every page is one proxy of a bookinfo-like
// namespace: `target` numbers the namespace (bookinfo-<target>), so pages of different targets have
// different series; `step` moves every cumulative value on (0 = the first scrape, each step +15 s of
// traffic), so step 0 is a baseline and later steps give increases.
//
//   istio    a sidecar's /stats/prometheus (15090): istio_requests_total and the request duration, request
//            and response byte histograms with all 25 standard labels, for both reporters, then the envoy_*
//            stats Istio keeps by default (server, listener, http connection manager, cluster manager,
//            the xds-grpc cluster): about half the lines are read by the converter.
//   linkerd  a linkerd2-proxy's /metrics (4191): request_total, response_total and response_latency_ms per
//            destination and status, inbound rows, tcp_*, and the proxy's own process/control stats.
//   traefik  Traefik's /metrics (8080): per-service requests and duration histograms, entrypoint and router
//            series, Go runtime stats.
//
// remoteWriteRequests() turns pages into prometheus.WriteRequest bodies (snappy) as a Prometheus server
// that scraped them sends them: target labels added, label names sorted, 2,000 series per request.
import protobuf from 'protobufjs';
import snappy from 'snappyjs';
import { ENVOY_BOUNDS_MS, LINKERD_BOUNDS_MS, TRAEFIK_BOUNDS_S, type Workload, istioLabels, linkerdInbound, linkerdOutbound, workloadName } from '../helpers/mesh-series.ts';

export type MeshPage = 'istio' | 'linkerd' | 'traefik';

export interface PageSeries {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** One scraped page: its series (in print order), the text a proxy serves and the labels a scrape config gives its target. */
export interface Page {
  mesh: MeshPage;
  target: number;
  series: PageSeries[];
  text: string;
  /** Who the proxy is (scrape.targets[].labels / Prometheus' target labels). */
  targetLabels: Record<string, string>;
}

const apps = ['productpage', 'details', 'reviews', 'ratings', 'frontend', 'cart', 'checkout', 'payment', 'shipping', 'catalog'];

function workloads(target: number): Workload[] {
  const namespace = `bookinfo-${target}`;
  return apps.flatMap((app) => ['v1', 'v2'].map((version) => ({ app, version, namespace })));
}

/** Cumulative values that grow with `step`, different per series (the i-th series of a page). */
const grow = (step: number, i: number, perStep: number) => 1000 + i * 7 + step * (perStep + (i % 5));

function histogram(out: PageSeries[], name: string, labels: Record<string, string>, bounds: readonly number[], step: number, seed: number): void {
  let cumulative = 0;
  for (let b = 0; b < bounds.length; b++) {
    cumulative += b < 6 ? grow(step, seed + b, 3) : b < 10 ? step : 0;
    out.push({ name: `${name}_bucket`, labels: { ...labels, le: String(bounds[b]) }, value: cumulative });
  }
  out.push({ name: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: cumulative });
  out.push({ name: `${name}_sum`, labels, value: cumulative * 12.5 });
  out.push({ name: `${name}_count`, labels, value: cumulative });
}

function istioSeries(target: number, step: number): PageSeries[] {
  const all = workloads(target);
  const self = all[0]!;
  const out: PageSeries[] = [];
  let seed = 0;
  // Outbound (reporter=source) to 6 destinations, 200 and 503; inbound (reporter=destination) from 3 callers.
  const rows: Array<Record<string, string>> = [];
  for (const destination of all.slice(2, 8)) for (const code of [200, 503]) rows.push(istioLabels('source', self, destination, { code }));
  for (const caller of [all[4]!, all[6]!, null]) rows.push(istioLabels('destination', caller, self, { code: 200 }));
  for (const labels of rows) out.push({ name: 'istio_requests_total', labels, value: grow(step, seed++, 40) });
  for (const labels of rows) histogram(out, 'istio_request_duration_milliseconds', labels, ENVOY_BOUNDS_MS, step, seed++);
  for (const labels of rows) histogram(out, 'istio_request_bytes', labels, ENVOY_BOUNDS_MS, step, seed++);
  for (const labels of rows) histogram(out, 'istio_response_bytes', labels, ENVOY_BOUNDS_MS, step, seed++);
  // What else the sidecar keeps by default: never an edge.
  const server = ['uptime', 'live', 'memory_allocated', 'memory_heap_size', 'total_connections', 'concurrency', 'days_until_first_cert_expiring', 'state', 'hot_restart_epoch', 'parent_connections'];
  for (const stat of server) out.push({ name: `envoy_server_${stat}`, labels: {}, value: grow(step, seed++, 1) });
  const listeners = ['0.0.0.0_15006', '0.0.0.0_15090', '0.0.0.0_15021', '10.96.0.1_443', '10.96.0.10_53', 'virtualOutbound', 'virtualInbound'];
  const listenerStats = ['downstream_cx_total', 'downstream_cx_destroy', 'downstream_cx_active', 'downstream_cx_overflow', 'downstream_pre_cx_timeout', 'downstream_global_cx_overflow', 'no_filter_chain_match', 'downstream_cx_transport_socket_connect_timeout'];
  for (const stat of listenerStats) for (const address of listeners) out.push({ name: `envoy_listener_${stat}`, labels: { listener_address: address }, value: grow(step, seed++, 2) });
  const httpStats = ['downstream_rq_total', 'downstream_rq_1xx', 'downstream_rq_2xx', 'downstream_rq_3xx', 'downstream_rq_4xx', 'downstream_rq_5xx', 'downstream_cx_total', 'downstream_cx_active', 'downstream_cx_http1_total', 'downstream_cx_http2_total', 'downstream_rq_timeout', 'downstream_rq_idle_timeout', 'no_route', 'rq_direct_response', 'rq_redirect', 'rq_reset_after_downstream_response_started'];
  const prefixes = ['inbound_0.0.0.0_9080', 'outbound_0.0.0.0_9080', 'admin', 'stats_prometheus', 'inbound_0.0.0.0_15021'];
  for (const stat of httpStats) for (const prefix of prefixes) out.push({ name: `envoy_http_${stat}`, labels: { http_conn_manager_prefix: prefix }, value: grow(step, seed++, 4) });
  const clusterStats = [
    'upstream_cx_total', 'upstream_cx_active', 'upstream_cx_connect_fail', 'upstream_cx_connect_timeout', 'upstream_cx_destroy', 'upstream_cx_destroy_local', 'upstream_cx_destroy_remote',
    'upstream_cx_rx_bytes_total', 'upstream_cx_tx_bytes_total', 'upstream_cx_none_healthy', 'upstream_cx_overflow', 'upstream_cx_pool_overflow', 'upstream_rq_active', 'upstream_rq_pending_active',
    'upstream_rq_pending_total', 'upstream_rq_pending_overflow', 'upstream_rq_retry', 'upstream_rq_retry_success', 'upstream_rq_timeout', 'upstream_rq_cancelled', 'upstream_rq_per_try_timeout',
    'membership_healthy', 'membership_total', 'membership_change', 'update_attempt', 'update_success', 'update_failure', 'update_empty', 'update_no_rebuild', 'version', 'lb_healthy_panic',
    'circuit_breakers_default_cx_open', 'circuit_breakers_default_rq_open', 'circuit_breakers_high_cx_open', 'assignment_stale', 'assignment_timeout_received', 'bind_errors', 'max_host_weight',
  ];
  const clusters = ['xds-grpc', 'sds-grpc', 'prometheus_stats', 'agent', 'BlackHoleCluster', 'PassthroughCluster', 'InboundPassthroughClusterIpv4'];
  for (const stat of clusterStats) for (const cluster of clusters) out.push({ name: `envoy_cluster_${stat}`, labels: { cluster_name: cluster }, value: grow(step, seed++, 1) });
  // Read by the converter (Envoy cluster stats) but not edges: the control-plane cluster.
  for (const cls of ['2', '4', '5']) out.push({ name: 'envoy_cluster_upstream_rq_xx', labels: { response_code_class: cls, cluster_name: 'xds-grpc' }, value: grow(step, seed++, 2) });
  out.push({ name: 'envoy_cluster_upstream_rq_total', labels: { cluster_name: 'xds-grpc' }, value: grow(step, seed++, 6) });
  const managerStats = ['active_clusters', 'warming_clusters', 'cds_update_attempt', 'cds_update_success', 'cds_update_failure', 'cds_update_rejected', 'cds_version', 'cluster_added', 'cluster_modified', 'cluster_removed', 'cluster_updated', 'update_merge_cancelled', 'update_out_of_merge_window'];
  for (const stat of managerStats) out.push({ name: `envoy_cluster_manager_${stat}`, labels: {}, value: grow(step, seed++, 1) });
  const wasm = ['envoy_wasm_envoy_wasm_runtime_null_active', 'envoy_wasm_envoy_wasm_runtime_null_created', 'envoy_wasm_remote_load_cache_entries', 'envoy_wasm_remote_load_fetch_failures'];
  for (const name of wasm) out.push({ name, labels: {}, value: grow(step, seed++, 0) });
  // Fill up to about 2,000 series with per-route stats (vhost, route) as a busy sidecar has them.
  for (let i = 0; out.length < 2000; i++) out.push({ name: 'envoy_vhost_vcluster_upstream_rq', labels: { virtual_cluster_name: `other-${i % 17}`, virtual_host_name: `${apps[i % apps.length]}.bookinfo-${target}.svc.cluster.local:9080`, envoy_response_code: String(200 + (i % 4)) }, value: grow(step, seed++, 1) });
  return out;
}

function linkerdSeries(target: number, step: number): PageSeries[] {
  const all = workloads(target);
  const out: PageSeries[] = [];
  let seed = 0;
  const ok = { status_code: '200', classification: 'success', grpc_status: '', error: '' };
  const failed = { status_code: '500', classification: 'failure', grpc_status: '', error: '' };
  for (const destination of all.slice(2, 18)) {
    out.push({ name: 'request_total', labels: linkerdOutbound(destination), value: grow(step, seed++, 30) });
    out.push({ name: 'response_total', labels: linkerdOutbound(destination, ok), value: grow(step, seed++, 28) });
    out.push({ name: 'response_total', labels: linkerdOutbound(destination, failed), value: grow(step, seed++, 2) });
    for (const status of ['200', '500']) {
      const labels = linkerdOutbound(destination, { status_code: status });
      // Linkerd prints the buckets, then _count, then _sum.
      const flat: PageSeries[] = [];
      histogram(flat, 'response_latency_ms', labels, LINKERD_BOUNDS_MS, step, seed++);
      out.push(...flat.slice(0, -2), flat.at(-1)!, flat.at(-2)!);
    }
    for (const stat of ['tcp_open_total', 'tcp_open_connections', 'tcp_read_bytes_total', 'tcp_write_bytes_total']) out.push({ name: stat, labels: { ...linkerdOutbound(destination), peer: 'dst' }, value: grow(step, seed++, 100) });
  }
  for (const tls of ['true', 'no_identity'] as const) {
    out.push({ name: 'request_total', labels: linkerdInbound(tls, {}, `bookinfo-${target}`), value: grow(step, seed++, 20) });
    out.push({ name: 'response_total', labels: linkerdInbound(tls, ok, `bookinfo-${target}`), value: grow(step, seed++, 20) });
    histogram(out, 'response_latency_ms', linkerdInbound(tls, { status_code: '200' }, `bookinfo-${target}`), LINKERD_BOUNDS_MS, step, seed++);
  }
  const own = ['process_cpu_seconds_total', 'process_open_fds', 'process_max_fds', 'process_virtual_memory_bytes', 'process_resident_memory_bytes', 'process_start_time_seconds', 'proxy_build_info'];
  for (const name of own) out.push({ name, labels: {}, value: grow(step, seed++, 1) });
  for (let i = 0; out.length < 2000; i++) {
    out.push({ name: 'control_response_latency_ms_bucket', labels: { addr: `linkerd-dst-headless.linkerd.svc.cluster.local:${8086 + (i % 3)}`, le: String(LINKERD_BOUNDS_MS[i % LINKERD_BOUNDS_MS.length]), path: `/io.linkerd.proxy.destination.Destination/Get${i}` }, value: grow(step, seed++, 1) });
  }
  return out;
}

function traefikSeries(target: number, step: number): PageSeries[] {
  const out: PageSeries[] = [];
  let seed = 0;
  const services = workloads(target).flatMap((w) => [`bookinfo-${target}-${w.app}-${w.version}-9080@kubernetes`, `bookinfo-${target}-${workloadName(w)}-9080-traffic-split@kubernetes`]);
  for (const service of services) {
    for (const code of ['200', '404', '502']) {
      const labels = { code, method: 'GET', protocol: 'http', service };
      out.push({ name: 'traefik_service_requests_total', labels, value: grow(step, seed++, 10) });
      histogram(out, 'traefik_service_request_duration_seconds', labels, TRAEFIK_BOUNDS_S, step, seed++);
    }
    out.push({ name: 'traefik_service_open_connections', labels: { method: 'GET', protocol: 'http', service }, value: 3 });
    out.push({ name: 'traefik_service_retries_total', labels: { service }, value: grow(step, seed++, 1) });
    out.push({ name: 'traefik_service_server_up', labels: { service, url: `http://10.42.${target % 256}.${seed % 256}:9080` }, value: 1 });
  }
  for (let i = 0; out.length < 2000; i++) {
    const labels = { code: String(200 + (i % 5)), entrypoint: i % 2 === 0 ? 'web' : 'websecure', method: ['GET', 'POST', 'PUT'][i % 3]!, protocol: 'http', router: `router-${i % 40}@kubernetes` };
    out.push({ name: i % 4 === 0 ? 'traefik_entrypoint_requests_total' : 'traefik_router_requests_total', labels, value: grow(step, seed++, 2) });
  }
  return out;
}

const escape = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** The text format 0.0.4 as the proxy prints it: `# TYPE` per family, `name{a="1",…} value`. */
export function exposition(series: readonly PageSeries[]): string {
  const lines: string[] = [];
  let family = '';
  for (const { name, labels, value } of series) {
    const base = name.replace(/_(bucket|sum|count)$/, '');
    if (base !== family) {
      family = base;
      lines.push(`# TYPE ${base} ${name === base ? (name.endsWith('_total') ? 'counter' : 'gauge') : 'histogram'}`);
    }
    const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escape(v)}"`);
    lines.push(`${name}{${pairs.join(',')}} ${value}`);
  }
  lines.push('');
  return lines.join('\n');
}

export function page(mesh: MeshPage, target: number, step: number): Page {
  const series = mesh === 'istio' ? istioSeries(target, step) : mesh === 'linkerd' ? linkerdSeries(target, step) : traefikSeries(target, step);
  const namespace = `bookinfo-${target}`;
  const targetLabels: Record<string, string> = mesh === 'traefik' ? { namespace: 'traefik', pod: `traefik-7d9f8b6c5-${String(target).padStart(5, 'x')}` } : { namespace, workload: 'productpage-v1', pod: `productpage-v1-5d8f7b6c9d-${String(target).padStart(5, 'x')}` };
  return { mesh, target, series, text: exposition(series), targetLabels };
}

const TIMESERIES = 1;
const LABEL = 1;
const SAMPLE = 2;

/**
 * The pages' series as a Prometheus server remote-writes them after scraping: target labels (job, instance,
 * namespace, pod) added, labels sorted by name (`__name__` first), one sample each at `timestampMs`,
 * `perRequest` series per WriteRequest (Prometheus' max_samples_per_send default), snappy block format.
 */
export function remoteWriteRequests(pages: readonly Page[], timestampMs: number, perRequest = 2000): { bodies: Buffer[]; samples: number } {
  const bodies: Buffer[] = [];
  let writer = protobuf.Writer.create();
  let inRequest = 0;
  let samples = 0;
  const flush = () => {
    bodies.push(Buffer.from(snappy.compress(writer.finish())));
    writer = protobuf.Writer.create();
    inRequest = 0;
  };
  for (const p of pages) {
    const target = { job: 'kubernetes-pods', instance: `10.42.${p.target % 256}.${Math.floor(p.target / 256)}:15090`, ...p.targetLabels };
    for (const series of p.series) {
      const labels = Object.entries({ __name__: series.name, ...target, ...series.labels }).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      writer.uint32((TIMESERIES << 3) | 2).fork();
      for (const [name, value] of labels) writer.uint32((LABEL << 3) | 2).fork().uint32((1 << 3) | 2).string(name).uint32((2 << 3) | 2).string(value).ldelim();
      writer.uint32((SAMPLE << 3) | 2).fork().uint32((1 << 3) | 1).double(series.value).uint32(2 << 3).int64(timestampMs).ldelim();
      writer.ldelim();
      samples++;
      if (++inRequest === perRequest) flush();
    }
  }
  if (inRequest > 0) flush();
  return { bodies, samples };
}
