// Kubernetes pod discovery for scraping: list pods through the API server (GET /api/v1/pods, or per
// namespace) with the service-account token, and turn each running pod into the scrape targets its mesh
// proxy (or its prometheus.io annotations) offers (mesh-telemetry.md §1, §3):
//
//   container linkerd-proxy  → :4191/metrics            (mesh linkerd)
//   container istio-proxy    → :15020/stats/prometheus  (mesh istio; merged Envoy + app, the annotation default)
//   container kuma-sidecar   → :5670/metrics            (mesh kuma; prometheus.metrics.kuma.io/port|path override)
//   a traefik image          → :8080/metrics            (mesh traefik; Traefik Mesh's DaemonSet proxies)
//   prometheus.io/scrape: "true" → prometheus.io/scheme://ip:prometheus.io/port/prometheus.io/path
//
// The same URL found twice (Istio also annotates 15020) is one target. Each target carries who the pod
// is, since the series do not say it: workload (the owning Deployment/StatefulSet/DaemonSet/Job name —
// the name Linkerd's dst_deployment and Istio's *_workload use — else the app label, else the pod name),
// namespace, app and version labels, pod, pod_ip, node, mesh.
//
// Plain HTTP(S) with node:https (the API server's CA is a file; fetch cannot take one without undici);
// no Kubernetes client library: one paginated GET is all this needs.
import { existsSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { FastifyBaseLogger } from 'fastify';
import type { CollectorMetrics } from '../metrics.ts';
import type { ScrapeTarget } from '../receivers/prometheus-scrape.ts';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubernetesApi {
  /** https://kubernetes.default.svc:443, or any API server URL (kubectl proxy: http://127.0.0.1:8001). */
  baseUrl: string;
  /** Bearer token (the service account's), if any. */
  token?: string;
  /** PEM CA bundle to trust for an https baseUrl. */
  ca?: string;
}

/**
 * The API server as seen from inside a pod: KUBERNETES_SERVICE_HOST/PORT plus the mounted service-account
 * token and CA; undefined when not running in a cluster. `apiServer` (scrape.kubernetes.api_server)
 * replaces the address; the token and CA are still used when mounted.
 */
export function kubernetesApiFromEnvironment(env: NodeJS.ProcessEnv, apiServer = '', accountDir = SERVICE_ACCOUNT_DIR): KubernetesApi | undefined {
  const read = (file: string) => (existsSync(`${accountDir}/${file}`) ? readFileSync(`${accountDir}/${file}`, 'utf8').trim() : undefined);
  const token = read('token');
  const ca = read('ca.crt');
  let baseUrl = apiServer.replace(/\/+$/, '');
  if (baseUrl === '') {
    const host = env.KUBERNETES_SERVICE_HOST;
    if (!host || token === undefined) return undefined;
    const port = env.KUBERNETES_SERVICE_PORT ?? '443';
    baseUrl = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  }
  return { baseUrl, ...(token !== undefined ? { token } : {}), ...(ca !== undefined ? { ca } : {}) };
}

/** The fields of a v1 Pod that discovery reads. */
export interface Pod {
  metadata: {
    name: string;
    namespace: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; controller?: boolean }[];
  };
  spec?: {
    nodeName?: string;
    containers?: { name: string; image?: string; ports?: { name?: string; containerPort: number; protocol?: string }[] }[];
  };
  status?: { phase?: string; podIP?: string };
}

interface PodList {
  items?: Pod[];
  metadata?: { continue?: string };
}

const PAGE_SIZE = 500;

/** Every pod (of the given namespaces, or all), following `continue` pages. */
export async function listPods(api: KubernetesApi, namespaces: readonly string[], timeoutMs = 30_000): Promise<Pod[]> {
  const paths = namespaces.length === 0 ? ['/api/v1/pods'] : namespaces.map((ns) => `/api/v1/namespaces/${encodeURIComponent(ns)}/pods`);
  const pods: Pod[] = [];
  for (const path of paths) {
    let continueToken: string | undefined;
    do {
      const query = new URLSearchParams({ limit: String(PAGE_SIZE), fieldSelector: 'status.phase=Running' });
      if (continueToken) query.set('continue', continueToken);
      const page = (await getJson(api, `${path}?${query}`, timeoutMs)) as PodList;
      pods.push(...(page.items ?? []));
      continueToken = page.metadata?.continue || undefined;
    } while (continueToken);
  }
  return pods;
}

function getJson(api: KubernetesApi, path: string, timeoutMs: number): Promise<unknown> {
  const url = new URL(api.baseUrl + path);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'GET',
        headers: { accept: 'application/json', ...(api.token ? { authorization: `Bearer ${api.token}` } : {}) },
        ...(api.ca ? { ca: api.ca } : {}),
        timeout: timeoutMs,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if ((response.statusCode ?? 0) >= 300) {
            reject(new Error(`Kubernetes API ${url.pathname}: HTTP ${response.statusCode}: ${text.slice(0, 200).replace(/\s+/g, ' ')}`));
            return;
          }
          try {
            resolve(JSON.parse(text));
          } catch {
            reject(new Error(`Kubernetes API ${url.pathname}: the answer is not JSON`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`Kubernetes API ${url.pathname}: no answer within ${timeoutMs}ms`)));
    req.on('error', reject);
    req.end();
  });
}

interface ProxyKind {
  mesh: string;
  matches: (container: NonNullable<NonNullable<Pod['spec']>['containers']>[number]) => boolean;
  port: number;
  path: string;
}

const PROXIES: readonly ProxyKind[] = [
  { mesh: 'linkerd', matches: (c) => c.name === 'linkerd-proxy', port: 4191, path: '/metrics' },
  { mesh: 'istio', matches: (c) => c.name === 'istio-proxy', port: 15020, path: '/stats/prometheus' },
  { mesh: 'kuma', matches: (c) => c.name === 'kuma-sidecar', port: 5670, path: '/metrics' },
  { mesh: 'traefik', matches: (c) => /(^|\/)traefik(:|@|$)/.test(c.image ?? ''), port: 8080, path: '/metrics' },
];

/** Scrape targets of one pod (none when it is not running or has no IP yet). */
export function targetsOfPod(pod: Pod): ScrapeTarget[] {
  const ip = pod.status?.podIP;
  if (!ip || (pod.status?.phase !== undefined && pod.status.phase !== 'Running')) return [];
  const host = ip.includes(':') ? `[${ip}]` : ip;
  const annotations = pod.metadata.annotations ?? {};
  const containers = pod.spec?.containers ?? [];
  const found = new Map<string, ScrapeTarget>();
  const add = (mesh: string | undefined, scheme: string, port: number, path: string) => {
    const url = `${scheme}://${host}:${port}${path.startsWith('/') ? path : `/${path}`}`;
    const existing = found.get(url);
    // The proxy's own kind names the mesh better than a generic annotation on the same URL.
    if (existing && (existing.labels.mesh !== undefined || mesh === undefined)) return;
    found.set(url, { url, labels: podLabels(pod, ip, mesh), origin: 'kubernetes' });
  };
  for (const proxy of PROXIES) {
    if (!containers.some(proxy.matches)) continue;
    if (proxy.mesh === 'kuma') {
      const port = Number(annotations['prometheus.metrics.kuma.io/port'] ?? proxy.port);
      add('kuma', 'http', Number.isInteger(port) && port > 0 ? port : proxy.port, annotations['prometheus.metrics.kuma.io/path'] ?? proxy.path);
    } else {
      add(proxy.mesh, 'http', proxy.port, proxy.path);
    }
  }
  if (annotations['prometheus.io/scrape'] === 'true') {
    const declared = Number(annotations['prometheus.io/port']);
    const port = Number.isInteger(declared) && declared > 0 ? declared : containers.flatMap((c) => c.ports ?? []).find((p) => (p.protocol ?? 'TCP') === 'TCP')?.containerPort;
    const scheme = annotations['prometheus.io/scheme'] === 'https' ? 'https' : 'http';
    const mesh = PROXIES.find((proxy) => containers.some(proxy.matches))?.mesh;
    if (port !== undefined) add(mesh, scheme, port, annotations['prometheus.io/path'] ?? '/metrics');
  }
  return [...found.values()];
}

export function targetsOfPods(pods: readonly Pod[]): ScrapeTarget[] {
  const byUrl = new Map<string, ScrapeTarget>();
  for (const pod of pods) for (const target of targetsOfPod(pod)) if (!byUrl.has(target.url)) byUrl.set(target.url, target);
  return [...byUrl.values()];
}

/** Who the pod is, as the reporter labels of its targets. */
export function podLabels(pod: Pod, ip: string, mesh: string | undefined): Record<string, string> {
  const labels = pod.metadata.labels ?? {};
  const app = labels['app.kubernetes.io/name'] ?? labels.app;
  const version = labels['app.kubernetes.io/version'] ?? labels.version;
  const owner = ownerWorkload(pod);
  const result: Record<string, string> = {
    workload: owner?.name ?? app ?? pod.metadata.name,
    namespace: pod.metadata.namespace,
    pod: pod.metadata.name,
    pod_ip: ip,
  };
  if (owner) result.workload_kind = owner.kind;
  if (app !== undefined) result.app = app;
  if (version !== undefined) result.version = version;
  if (pod.spec?.nodeName) result.node = pod.spec.nodeName;
  if (mesh !== undefined) result.mesh = mesh;
  return result;
}

/** The controlling workload: a ReplicaSet's Deployment (its name minus the pod-template-hash), else the owner itself. */
function ownerWorkload(pod: Pod): { kind: string; name: string } | undefined {
  const owners = pod.metadata.ownerReferences ?? [];
  const owner = owners.find((o) => o.controller) ?? owners[0];
  if (!owner) return undefined;
  if (owner.kind === 'ReplicaSet') {
    const hash = pod.metadata.labels?.['pod-template-hash'];
    if (hash && owner.name.endsWith(`-${hash}`)) return { kind: 'Deployment', name: owner.name.slice(0, -hash.length - 1) };
    return { kind: 'ReplicaSet', name: owner.name };
  }
  return { kind: owner.kind, name: owner.name };
}

export interface KubernetesDiscoveryOptions {
  api: KubernetesApi;
  namespaces: readonly string[];
  refreshIntervalMs: number;
  onTargets: (targets: ScrapeTarget[]) => void;
}

/** Re-lists pods every refreshIntervalMs and hands over the derived targets; a failed list keeps the last ones. */
export class KubernetesDiscovery {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private failing = false;

  constructor(
    private readonly options: KubernetesDiscoveryOptions,
    private readonly metrics: CollectorMetrics,
    private readonly log: FastifyBaseLogger,
  ) {}

  /** Lists once now (start-up does not wait for it), then every refresh interval. */
  start(): void {
    const tick = () => {
      this.running ??= this.refresh().finally(() => {
        this.running = undefined;
      });
    };
    tick();
    this.timer = setInterval(tick, this.options.refreshIntervalMs);
    this.timer.unref();
  }

  async refresh(): Promise<void> {
    try {
      const pods = await listPods(this.options.api, this.options.namespaces);
      const targets = targetsOfPods(pods);
      this.metrics.kubernetesDiscoveries.inc({ result: 'ok' });
      if (this.failing) this.log.info(`kubernetes pod discovery works again: ${targets.length} scrape targets`);
      else this.log.debug({ pods: pods.length, targets: targets.length }, 'kubernetes pod discovery');
      this.failing = false;
      this.options.onTargets(targets);
    } catch (error) {
      this.metrics.kubernetesDiscoveries.inc({ result: 'error' });
      if (!this.failing) this.log.warn(`kubernetes pod discovery failed (keeping the last targets; retried every ${this.options.refreshIntervalMs}ms): ${(error as Error).message}`);
      this.failing = true;
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
