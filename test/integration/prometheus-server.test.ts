// The real Prometheus server (Debian's `prometheus` package, run in agent mode) scrapes a prom-client
// endpoint that exposes Istio's istio_requests_total and istio_request_duration_milliseconds the way a
// sidecar does, and remote-writes to meshlens' POST /api/v1/write: the series it forwards (with its own
// job/instance labels, snappy + protobuf as Prometheus encodes them) become the same edges. The counters
// exist before Prometheus starts (the first scrape is a baseline); once meshlens has seen that baseline
// the test adds calls, and the graph must show exactly those.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { getJson, graphEdgesUntil, ownMetric, startTestMeshlens, totalRequests, type TestMeshlens } from '../helpers/meshlens.ts';
import { ENVOY_BOUNDS_MS, type Workload, istioLabels } from '../helpers/mesh-series.ts';

const PROMETHEUS = '/usr/bin/prometheus';
const installed = existsSync(PROMETHEUS);
const NS = 'prom-server';
const productpage: Workload = { app: 'productpage', version: 'v1', namespace: NS };
const details: Workload = { app: 'details', version: 'v1', namespace: NS };
const reviews: Workload = { app: 'reviews', version: 'v2', namespace: NS };

let meshlens: TestMeshlens;
let endpoint: Server;
let prometheus: ChildProcess | undefined;
let prometheusLog = '';
let workDir: string;

const registry = new Registry();
const LABEL_NAMES = Object.keys(istioLabels('source', productpage, details));
const requests = new Counter({ name: 'istio_requests_total', help: 'Requests.', labelNames: LABEL_NAMES, registers: [registry] });
const duration = new Histogram({ name: 'istio_request_duration_milliseconds', help: 'Duration.', labelNames: LABEL_NAMES, buckets: ENVOY_BOUNDS_MS, registers: [registry] });

/** One call pair as both sidecars count it (Istio's double reporting). */
function calls(source: Workload, destination: Workload, code: number, n: number): void {
  requests.inc(istioLabels('source', source, destination, { code }), n);
  requests.inc(istioLabels('destination', source, destination, { code }), n);
}

before(async () => {
  if (!installed) return;
  meshlens = await startTestMeshlens({ overrides: { 'graph.flush_interval': '300ms' } });
  endpoint = createServer((request, response) => {
    void registry.metrics().then((text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text));
  });
  await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
  // Lifetime totals before Prometheus ever scrapes: the baseline.
  calls(productpage, details, 200, 1000);
  calls(productpage, reviews, 200, 400);
  calls(productpage, reviews, 503, 10);
  for (const ms of [3, 7, 20]) duration.observe(istioLabels('source', productpage, reviews), ms);

  workDir = mkdtempSync(join(tmpdir(), 'meshlens-prometheus-'));
  const config = join(workDir, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global: { scrape_interval: 1s, scrape_timeout: 1s }',
      'scrape_configs:',
      '  - job_name: istio-sidecars',
      `    static_configs: [{ targets: ['127.0.0.1:${(endpoint.address() as AddressInfo).port}'] }]`,
      'remote_write:',
      `  - url: ${meshlens.otlpHttpUrl}/api/v1/write`,
      '    queue_config: { batch_send_deadline: 500ms, min_backoff: 100ms, max_backoff: 1s }',
      '',
    ].join('\n'),
  );
  prometheus = spawn(
    PROMETHEUS,
    [`--config.file=${config}`, '--enable-feature=agent', `--storage.agent.path=${join(workDir, 'agent')}`, '--web.listen-address=127.0.0.1:0', '--log.level=warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  prometheus.stderr!.on('data', (chunk: Buffer) => {
    prometheusLog = (prometheusLog + chunk.toString()).slice(-4000);
  });
});

after(async () => {
  if (prometheus !== undefined && prometheus.exitCode === null) {
    const exited = new Promise((resolve) => prometheus!.once('exit', resolve));
    prometheus.kill('SIGTERM');
    await exited;
  }
  endpoint?.close();
  await meshlens?.destroy();
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
});

async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) assert.fail(`${what} did not happen within ${timeoutMs} ms; Prometheus said: ${prometheusLog || '(nothing)'}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}


describe('the real Prometheus server remote-writing to meshlens', { skip: installed ? false : `${PROMETHEUS} is not installed (apt-get install prometheus; .ci/run installs it)` }, () => {
  it('forwards scraped Istio series: baseline first, then exactly the calls made since', async () => {
    // Every requests series (5) and the histogram seen once: the baseline is in.
    await until('the baseline arriving', () => ownMetric(meshlens.queryUrl, 'meshlens_remote_write_series_total'), (m) => (m.get('{result="baseline"}') ?? 0) >= 6);
    calls(productpage, details, 200, 30);
    calls(productpage, reviews, 200, 17);
    calls(productpage, reviews, 503, 3);
    // 20 calls to reviews: ≤5 ms 8, ≤10 ms 16, ≤25 ms 20.
    for (const [ms, n] of [[4, 8], [9, 8], [22, 4]] as const) for (let i = 0; i < n; i++) duration.observe(istioLabels('source', productpage, reviews), ms);

    const edges = await until('the calls arriving', () => graphEdgesUntil(meshlens.queryUrl, 'prometheus', NS, (e) => totalRequests(e) >= 50), (e) => totalRequests(e) >= 50);
    assert.deepEqual(
      edges.map((e) => ({ id: e.id, requests: e.requests, errors: e.errors, mtls: e.mtls, signals: e.signals })),
      [
        { id: `${NS}/productpage@v1->${NS}/details@v1`, requests: 30, errors: 0, mtls: true, signals: ['prometheus'] },
        { id: `${NS}/productpage@v1->${NS}/reviews@v2`, requests: 20, errors: 3, mtls: true, signals: ['prometheus'] },
      ],
    );
    const latency = await until(
      'the latency arriving',
      async () =>
        (await getJson<{ count: number; p50Ms: number; p90Ms: number }>(`${meshlens.queryUrl}/api/v1/latency?source=${NS}/productpage@v1&target=${NS}/reviews@v2&signal=prometheus&start=${Date.now() - 600_000}`)).body,
      (l) => l.count >= 20,
    );
    assert.equal(latency.count, 20);
    assert.ok(latency.p50Ms > 5 && latency.p50Ms <= 10.1, `p50 ${latency.p50Ms} ms is not in (5, 10]`);
    assert.ok(latency.p90Ms > 10 && latency.p90Ms <= 25.25, `p90 ${latency.p90Ms} ms is not in (10, 25]`);
    const bad = await ownMetric(meshlens.queryUrl, 'meshlens_bad_requests_total');
    assert.equal([...bad.keys()].filter((k) => k.includes('remote-write')).length, 0, 'Prometheus\' own requests were all accepted');
  });
});
