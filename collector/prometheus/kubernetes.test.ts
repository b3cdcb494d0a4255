// Pod discovery against a Kubernetes-API-shaped HTTP server on loopback. The server is a test double of
// the Kubernetes API server (a third-party system we cannot run here), not of meshlens code: listPods,
// targetsOfPods and KubernetesDiscovery run for real against it, over real HTTP, with the bearer token,
// pagination (`limit`/`continue`), namespaced paths and the Running field selector the real API takes.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import type { FastifyBaseLogger } from 'fastify';
import { CollectorMetrics } from '../metrics.ts';
import { KubernetesDiscovery, type Pod, kubernetesApiFromEnvironment, listPods, targetsOfPods } from './kubernetes.ts';

const TOKEN = 'test-service-account-token';

const replicaSetPod = (name: string, namespace: string, deployment: string, hash: string, ip: string, labels: Record<string, string>, containers: NonNullable<Pod['spec']>['containers'], annotations: Record<string, string> = {}): Pod => ({
  metadata: {
    name: `${deployment}-${hash}-${name}`,
    namespace,
    labels: { ...labels, 'pod-template-hash': hash },
    annotations,
    ownerReferences: [{ kind: 'ReplicaSet', name: `${deployment}-${hash}`, controller: true }],
  },
  spec: { nodeName: 'node-1', containers },
  status: { phase: 'Running', podIP: ip },
});

const PODS: Pod[] = [
  replicaSetPod('abcde', 'bookinfo', 'productpage-v1', '6b746f74dc', '10.1.0.11', { app: 'productpage', version: 'v1' }, [
    { name: 'productpage', image: 'docker.io/istio/examples-bookinfo-productpage-v1:1.18.0', ports: [{ containerPort: 9080 }] },
    { name: 'linkerd-proxy', image: 'cr.l5d.io/linkerd/proxy:edge-25.1.1', ports: [{ name: 'linkerd-admin', containerPort: 4191 }] },
  ]),
  // Istio annotates its own merged port: the annotation and the sidecar name the same URL, one target.
  replicaSetPod('fghij', 'bookinfo', 'reviews-v2', '7d5bd8f9c', '10.1.0.12', { 'app.kubernetes.io/name': 'reviews', 'app.kubernetes.io/version': 'v2' }, [
    { name: 'reviews', image: 'reviews:v2' },
    { name: 'istio-proxy', image: 'docker.io/istio/proxyv2:1.24.0' },
  ], { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '15020', 'prometheus.io/path': '/stats/prometheus' }),
  replicaSetPod('klmno', 'kuma-demo', 'backend', '5f8c7b9d4', '10.1.0.13', { app: 'backend' }, [
    { name: 'backend', image: 'kumahq/kuma-demo-backend' },
    { name: 'kuma-sidecar', image: 'docker.io/kumahq/kuma-dp:2.9.0' },
  ], { 'prometheus.metrics.kuma.io/port': '5671', 'prometheus.metrics.kuma.io/path': '/stats' }),
  {
    metadata: { name: 'traefik-mesh-proxy-x7k2p', namespace: 'traefik-mesh', labels: { app: 'maesh', component: 'maesh-mesh' }, ownerReferences: [{ kind: 'DaemonSet', name: 'traefik-mesh-proxy', controller: true }] },
    spec: { nodeName: 'node-2', containers: [{ name: 'traefik-mesh-proxy', image: 'traefik:v2.10' }] },
    status: { phase: 'Running', podIP: 'fd00::14' },
  },
  // A plain app with the usual annotations, one without a port annotation (its first TCP port is used).
  {
    metadata: { name: 'exporter-0', namespace: 'monitoring', labels: { app: 'exporter' }, annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9102', 'prometheus.io/scheme': 'https' }, ownerReferences: [{ kind: 'StatefulSet', name: 'exporter', controller: true }] },
    spec: { containers: [{ name: 'exporter', image: 'exporter:1' }] },
    status: { phase: 'Running', podIP: '10.1.0.15' },
  },
  {
    metadata: { name: 'bare', namespace: 'monitoring', annotations: { 'prometheus.io/scrape': 'true' } },
    spec: { containers: [{ name: 'bare', image: 'bare:1', ports: [{ containerPort: 53, protocol: 'UDP' }, { containerPort: 8081 }] }] },
    status: { phase: 'Running', podIP: '10.1.0.16' },
  },
  // Not scraped: no IP yet; not meshed and not annotated; annotated "false".
  { metadata: { name: 'pending', namespace: 'bookinfo' }, spec: { containers: [{ name: 'linkerd-proxy' }] }, status: { phase: 'Pending' } },
  { metadata: { name: 'plain', namespace: 'bookinfo' }, spec: { containers: [{ name: 'app', image: 'nginx' }] }, status: { phase: 'Running', podIP: '10.1.0.17' } },
  { metadata: { name: 'off', namespace: 'bookinfo', annotations: { 'prometheus.io/scrape': 'false', 'prometheus.io/port': '80' } }, spec: { containers: [] }, status: { phase: 'Running', podIP: '10.1.0.18' } },
];

interface ApiRequest {
  path: string;
  query: URLSearchParams;
  authorization: string | undefined;
}

let server: Server;
let baseUrl: string;
const requests: ApiRequest[] = [];
/** When set, the API answers this status (as an API server does when RBAC is missing or it is down). */
let failWith: number | undefined;
let pods = PODS;

/** GET /api/v1/pods and /api/v1/namespaces/<ns>/pods, 2 items per page, as the API pages with limit/continue. */
function kubernetesApi(request: IncomingMessage, response: ServerResponse): void {
  const url = new URL(request.url ?? '/', 'http://localhost');
  requests.push({ path: url.pathname, query: url.searchParams, authorization: request.headers.authorization });
  const reply = (status: number, body: unknown) => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  };
  if (request.headers.authorization !== `Bearer ${TOKEN}`) return reply(401, { kind: 'Status', status: 'Failure', reason: 'Unauthorized', code: 401 });
  if (failWith !== undefined) return reply(failWith, { kind: 'Status', status: 'Failure', message: 'pods is forbidden', code: failWith });
  const namespaced = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(url.pathname);
  if (url.pathname !== '/api/v1/pods' && !namespaced) return reply(404, { kind: 'Status', code: 404 });
  let items = namespaced ? pods.filter((p) => p.metadata.namespace === decodeURIComponent(namespaced[1]!)) : pods;
  if (url.searchParams.get('fieldSelector') === 'status.phase=Running') items = items.filter((p) => p.status?.phase === 'Running');
  const limit = Number(url.searchParams.get('limit') ?? items.length);
  const pageSize = Math.min(limit, 2);
  const from = Number(url.searchParams.get('continue') ?? 0);
  const next = from + pageSize < items.length ? String(from + pageSize) : undefined;
  reply(200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '1', ...(next ? { continue: next } : {}) }, items: items.slice(from, from + pageSize) });
}

before(async () => {
  server = createServer(kubernetesApi);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('listPods against a Kubernetes-API-shaped server', () => {
  it('lists every running pod across pages, with the bearer token and the Running selector', async () => {
    requests.length = 0;
    const listed = await listPods({ baseUrl, token: TOKEN }, []);
    assert.deepEqual(listed.map((p) => p.metadata.name), PODS.filter((p) => p.status?.phase === 'Running').map((p) => p.metadata.name));
    assert.equal(requests.length, 4, '8 running pods, 2 per page');
    assert.ok(requests.every((r) => r.path === '/api/v1/pods' && r.authorization === `Bearer ${TOKEN}` && r.query.get('fieldSelector') === 'status.phase=Running'));
    assert.deepEqual(requests.map((r) => r.query.get('continue')), [null, '2', '4', '6']);
  });

  it('lists only the configured namespaces', async () => {
    requests.length = 0;
    const listed = await listPods({ baseUrl, token: TOKEN }, ['bookinfo', 'kuma-demo']);
    assert.deepEqual(new Set(listed.map((p) => p.metadata.namespace)), new Set(['bookinfo', 'kuma-demo']));
    assert.deepEqual([...new Set(requests.map((r) => r.path))], ['/api/v1/namespaces/bookinfo/pods', '/api/v1/namespaces/kuma-demo/pods']);
  });

  it('fails with the API status in the message (no token: 401)', async () => {
    await assert.rejects(listPods({ baseUrl }, []), /Kubernetes API \/api\/v1\/pods: HTTP 401/);
  });
});

describe('listPods over HTTPS with the cluster CA', () => {
  // The API server's certificate is signed by the cluster's own CA (ca.crt in the service-account mount):
  // a self-signed certificate for 127.0.0.1 plays that part here.
  const dir = mkdtempSync(join(tmpdir(), 'meshlens-k8s-tls-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  let hasOpenssl = true;
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=kubernetes', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'ca.crt')], { stdio: 'ignore' });
  } catch {
    hasOpenssl = false;
  }

  it('trusts the API server through the given CA, and refuses it without', { skip: !hasOpenssl && 'openssl is not installed' }, async () => {
    const ca = readFileSync(join(dir, 'ca.crt'), 'utf8');
    const tls = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: ca }, kubernetesApi);
    await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
    try {
      const tlsUrl = `https://127.0.0.1:${(tls.address() as { port: number }).port}`;
      const listed = await listPods({ baseUrl: tlsUrl, token: TOKEN, ca }, ['kuma-demo']);
      assert.deepEqual(listed.map((p) => p.metadata.name), ['backend-5f8c7b9d4-klmno']);
      await assert.rejects(listPods({ baseUrl: tlsUrl, token: TOKEN }, []), /self.signed certificate/i);
    } finally {
      tls.closeAllConnections();
      await new Promise<void>((resolve) => tls.close(() => resolve()));
    }
  });
});

describe('targetsOfPods', () => {
  it('derives one target per proxy or annotation, with who the pod is', async () => {
    const targets = targetsOfPods(await listPods({ baseUrl, token: TOKEN }, []));
    assert.deepEqual(
      targets.map((t) => [t.url, t.labels]),
      [
        ['http://10.1.0.11:4191/metrics', { workload: 'productpage-v1', namespace: 'bookinfo', pod: 'productpage-v1-6b746f74dc-abcde', pod_ip: '10.1.0.11', workload_kind: 'Deployment', app: 'productpage', version: 'v1', node: 'node-1', mesh: 'linkerd' }],
        ['http://10.1.0.12:15020/stats/prometheus', { workload: 'reviews-v2', namespace: 'bookinfo', pod: 'reviews-v2-7d5bd8f9c-fghij', pod_ip: '10.1.0.12', workload_kind: 'Deployment', app: 'reviews', version: 'v2', node: 'node-1', mesh: 'istio' }],
        ['http://10.1.0.13:5671/stats', { workload: 'backend', namespace: 'kuma-demo', pod: 'backend-5f8c7b9d4-klmno', pod_ip: '10.1.0.13', workload_kind: 'Deployment', app: 'backend', node: 'node-1', mesh: 'kuma' }],
        ['http://[fd00::14]:8080/metrics', { workload: 'traefik-mesh-proxy', namespace: 'traefik-mesh', pod: 'traefik-mesh-proxy-x7k2p', pod_ip: 'fd00::14', workload_kind: 'DaemonSet', app: 'maesh', node: 'node-2', mesh: 'traefik' }],
        ['https://10.1.0.15:9102/metrics', { workload: 'exporter', namespace: 'monitoring', pod: 'exporter-0', pod_ip: '10.1.0.15', workload_kind: 'StatefulSet', app: 'exporter' }],
        ['http://10.1.0.16:8081/metrics', { workload: 'bare', namespace: 'monitoring', pod: 'bare', pod_ip: '10.1.0.16' }],
      ],
    );
    assert.ok(targets.every((t) => t.origin === 'kubernetes'));
  });
});

describe('kubernetesApiFromEnvironment', () => {
  const accountDir = mkdtempSync(join(tmpdir(), 'meshlens-sa-'));
  after(() => rmSync(accountDir, { recursive: true, force: true }));

  it('is off outside a cluster, and on with KUBERNETES_SERVICE_HOST and a mounted token', () => {
    assert.equal(kubernetesApiFromEnvironment({}, '', accountDir), undefined);
    assert.equal(kubernetesApiFromEnvironment({ KUBERNETES_SERVICE_HOST: '10.96.0.1' }, '', accountDir), undefined, 'no token mounted');
    writeFileSync(join(accountDir, 'token'), `${TOKEN}\n`);
    writeFileSync(join(accountDir, 'ca.crt'), '-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----\n');
    assert.deepEqual(kubernetesApiFromEnvironment({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '6443' }, '', accountDir), {
      baseUrl: 'https://10.96.0.1:6443',
      token: TOKEN,
      ca: '-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----',
    });
  });

  it('takes scrape.kubernetes.api_server instead (e.g. kubectl proxy), with no token needed', () => {
    assert.deepEqual(kubernetesApiFromEnvironment({}, 'http://127.0.0.1:8001/', join(accountDir, 'none')), { baseUrl: 'http://127.0.0.1:8001' });
  });
});

describe('KubernetesDiscovery', () => {
  const log = pino({ level: 'silent' }) as unknown as FastifyBaseLogger;
  const metricValue = async (metrics: CollectorMetrics, result: string) =>
    (await metrics.kubernetesDiscoveries.get()).values.find((v) => v.labels.result === result)?.value ?? 0;

  it('hands over the targets on each refresh; a failed list keeps the last ones and is counted', async () => {
    const metrics = new CollectorMetrics({ processMetrics: false });
    const seen: string[][] = [];
    const discovery = new KubernetesDiscovery({ api: { baseUrl, token: TOKEN }, namespaces: ['bookinfo'], refreshIntervalMs: 60_000, onTargets: (t) => seen.push(t.map((x) => x.url)) }, metrics, log);
    await discovery.refresh();
    assert.deepEqual(seen, [['http://10.1.0.11:4191/metrics', 'http://10.1.0.12:15020/stats/prometheus']]);
    failWith = 403;
    await discovery.refresh();
    failWith = undefined;
    assert.equal(seen.length, 1, 'a failed list hands over nothing (the scraper keeps the last targets)');
    pods = PODS.filter((p) => !p.metadata.name.startsWith('reviews'));
    await discovery.refresh();
    pods = PODS;
    assert.deepEqual(seen[1], ['http://10.1.0.11:4191/metrics'], 'a pod gone is a target gone');
    assert.equal(await metricValue(metrics, 'ok'), 2);
    assert.equal(await metricValue(metrics, 'error'), 1);
    await discovery.stop();
  });
});
