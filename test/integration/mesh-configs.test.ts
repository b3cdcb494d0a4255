// Keeps deploy/meshes honest without a cluster: every YAML file parses (all its documents), every JSON
// blob embedded in them or in Consul's HCL parses, every meshlens config loads through the real config
// loader, every place a mesh is pointed at meshlens uses a port meshlens listens on by default and a path
// meshlens serves on that port, and every README names files that exist and graph signals that exist.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, extname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { ConfigSchema, loadConfig } from '../../collector/config.ts';
import { SIGNALS } from '../../query/service-graph.ts';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const meshesDir = join(repo, 'deploy/meshes');
const MESHES = ['appmesh', 'consul', 'istio', 'kuma', 'linkerd', 'traefik-mesh'];

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}
const files = filesUnder(meshesDir).sort();
const name = (file: string) => relative(repo, file);
const text = (file: string) => readFileSync(file, 'utf8');
const isYaml = (file: string) => ['.yaml', '.yml'].includes(extname(file));

// Ports: meshlens' defaults from the real loader (no file, no environment). StatsD's falls back to the
// contract's 8125 (interface.md) where the loader has no server.statsd_port yet.
const defaults = loadConfig({ env: {} }).server;
const STATSD_PORT = (defaults as { statsd_port?: number }).statsd_port ?? 8125;
/** What meshlens serves on each default port: HTTP paths, or `grpc` / `statsd` (no paths at all). */
const SERVED = new Map<number, readonly string[] | 'grpc' | 'statsd'>([
  [defaults.otlp_grpc_port, 'grpc'],
  [defaults.otlp_http_port, ['/v1/traces', '/v1/metrics', '/v1/logs', '/api/v1/write']],
  [defaults.zipkin_port, ['/api/v2/spans', '/api/v1/spans']],
  [STATSD_PORT, 'statsd'],
  [defaults.query_port, ['/api/v1/service-graph', '/api/v1/latency', '/api/v1/red', '/api/traces', '/api/services', '/metrics', '/healthz', '/readyz']],
]);

interface Reference {
  file: string;
  what: string;
  port: number;
  path?: string | undefined;
}

/** A port (and path) some file points meshlens senders at must be one meshlens serves. */
function problemWith(ref: Reference): string | undefined {
  const served = SERVED.get(ref.port);
  const where = `${name(ref.file)}: ${ref.what}`;
  if (served === undefined) return `${where}: port ${ref.port} is not a port meshlens listens on by default (${[...SERVED.keys()].join(', ')})`;
  if (ref.path === undefined || ref.path === '' || ref.path === '/') return undefined;
  if (!Array.isArray(served)) return `${where}: port ${ref.port} is ${served as string}, it has no path ${ref.path}`;
  const path = ref.path.replace(/[.]+$/, '');
  if (!served.some((p) => path === p || path.startsWith(`${p}/`))) return `${where}: meshlens serves no ${path} on ${ref.port} (${served.join(', ')})`;
  return undefined;
}

// host:port[/path] in text: the meshlens Service (any spelling), an address placeholder (MESHLENS_IP,
// MESHLENS_CLUSTER_IP, $MESHLENS_IP), or localhost on a meshlens port (the README's port-forward).
const HOST_PORT = /(?:[a-z]+:\/\/)?(meshlens[\w.-]*|\$?MESHLENS_[A-Z_]+|localhost|127\.0\.0\.1):(\d+)(\/[\w./-]*)?/g;

function textReferences(file: string, body: string): Reference[] {
  const refs: Reference[] = [];
  for (const match of body.matchAll(HOST_PORT)) {
    const [whole, host, port, path] = match;
    // localhost also appears with the proxies' own admin ports (Envoy 9901 / 19000): only meshlens ports count.
    if ((host === 'localhost' || host === '127.0.0.1') && !SERVED.has(Number(port))) continue;
    refs.push({ file, what: whole, port: Number(port), path });
  }
  return refs;
}

/** Ports (and Zipkin endpoints) in parsed configuration: any object that names meshlens and has a port. */
function structuredReferences(file: string, value: unknown, trail = ''): Reference[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => structuredReferences(file, item, `${trail}[${i}]`));
  if (typeof value !== 'object' || value === null) return [];
  const entries = Object.entries(value as Record<string, unknown>);
  const refs: Reference[] = [];
  const namesMeshlens = entries.some(([, v]) => typeof v === 'string' && /meshlens/i.test(v) && !/^https?:\/\//.test(v));
  for (const [key, v] of entries) {
    const at = trail ? `${trail}.${key}` : key;
    if (namesMeshlens && /port/i.test(key) && typeof v === 'number') refs.push({ file, what: at, port: v });
    // Envoy's Zipkin tracer: the path it posts to (the cluster it posts to is checked as a socket_address).
    if (key === 'collector_endpoint' && typeof v === 'string') refs.push({ file, what: at, port: defaults.zipkin_port, path: v });
    // ECS container environment: {name: STATSD_PORT, value: "8125"}.
    if (key === 'name' && typeof v === 'string' && /_PORT$/.test(v) && /^(STATSD|JAEGER_TRACER)_/.test(v)) {
      refs.push({ file, what: `${at}=${v}`, port: Number((value as { value?: unknown }).value) });
    }
    refs.push(...structuredReferences(file, v, at));
  }
  return refs;
}

/** JSON that meshes take as strings: Consul's envoy_*_json keys (YAML values or HCL heredocs). */
function embeddedJson(file: string, body: string, parsed: unknown[]): { where: string; json: string }[] {
  const blobs: { where: string; json: string }[] = [];
  for (const match of body.matchAll(/<<EOF\n([\s\S]*?)\nEOF/g)) blobs.push({ where: `${name(file)} heredoc at ${match.index}`, json: match[1]! });
  const walk = (value: unknown, trail: string): void => {
    if (Array.isArray(value)) value.forEach((item, i) => walk(item, `${trail}[${i}]`));
    else if (typeof value === 'object' && value !== null) {
      for (const [key, v] of Object.entries(value)) {
        if (key.endsWith('_json') && typeof v === 'string') blobs.push({ where: `${name(file)} ${trail}.${key}`, json: v });
        else walk(v, `${trail}.${key}`);
      }
    }
  };
  parsed.forEach((doc, i) => walk(doc, `doc${i}`));
  return blobs;
}

function parseYamlFile(file: string): unknown[] {
  const docs = parseAllDocuments(text(file));
  assert.ok(Array.isArray(docs), `${name(file)}: no YAML documents`);
  for (const doc of docs) {
    assert.deepEqual(doc.errors.map((e) => e.message), [], `${name(file)} does not parse`);
  }
  return docs.map((doc) => doc.toJS() as unknown).filter((doc) => doc !== null && doc !== undefined);
}

function allReferences(file: string): Reference[] {
  const body = text(file);
  const parsed = isYaml(file) ? parseYamlFile(file) : extname(file) === '.json' ? [JSON.parse(body) as unknown] : [];
  const blobs = embeddedJson(file, body, parsed).map(({ json }) => JSON.parse(json) as unknown);
  return [...textReferences(file, body), ...[...parsed, ...blobs].flatMap((doc) => structuredReferences(file, doc))];
}

describe('deploy/meshes', () => {
  it('has a directory with a README for each of the six meshes', () => {
    for (const mesh of MESHES) assert.ok(existsSync(join(meshesDir, mesh, 'README.md')), `deploy/meshes/${mesh}/README.md is missing`);
  });

  it('every YAML file parses, every document of it, and every Kubernetes object is named', () => {
    const yamlFiles = files.filter(isYaml);
    assert.ok(yamlFiles.length >= 15, `only ${yamlFiles.length} YAML files under deploy/meshes`);
    for (const file of yamlFiles) {
      const docs = parseYamlFile(file);
      assert.ok(docs.length > 0, `${name(file)} is empty`);
      for (const doc of docs) {
        const manifest = doc as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown } };
        if (manifest.apiVersion === undefined) continue;
        assert.equal(typeof manifest.kind, 'string', `${name(file)}: a manifest without kind`);
        // IstioOperator overlays merged by istioctl are the one kind that needs no name.
        if (manifest.kind !== 'IstioOperator') assert.equal(typeof manifest.metadata?.name, 'string', `${name(file)}: ${String(manifest.kind)} without metadata.name`);
      }
    }
  });

  it('every JSON file and every embedded Envoy JSON (envoy_*_json, HCL heredocs) parses', () => {
    let blobs = 0;
    for (const file of files) {
      const body = text(file);
      if (extname(file) === '.json') assert.doesNotThrow(() => JSON.parse(body), `${name(file)} is not JSON`);
      const parsed = isYaml(file) ? parseYamlFile(file) : [];
      for (const { where, json } of embeddedJson(file, body, parsed)) {
        blobs += 1;
        assert.doesNotThrow(() => JSON.parse(json), `${where} is not JSON`);
      }
    }
    assert.ok(blobs >= 4, `expected Consul's tracing and cluster JSON in both the HCL and the CRD, found ${blobs}`);
  });

  it('every meshlens config loads through the real config loader', (t) => {
    const known = new Set(Object.keys((ConfigSchema as { properties: Record<string, unknown> }).properties));
    // Sections the contract (interface.md) promises whose receivers are still being built: a file using
    // them is checked for everything else and loaded once the loader knows them.
    const pending = new Set(['statsd', 'scrape']);
    const configs = files.filter((file) => basename(file) === 'meshlens-config.yaml');
    assert.ok(configs.length >= 4, `expected meshlens configs for istio, kuma, linkerd and traefik-mesh, found ${configs.length}`);
    const skipped: string[] = [];
    for (const file of configs) {
      const [doc] = parseYamlFile(file);
      assert.ok(typeof doc === 'object' && doc !== null && !Array.isArray(doc), `${name(file)} is not a mapping`);
      const sections = Object.keys(doc);
      const unknown = sections.filter((key) => !known.has(key) && !pending.has(key));
      assert.deepEqual(unknown, [], `${name(file)} has sections meshlens does not have`);
      const notYet = sections.filter((key) => !known.has(key));
      if (notYet.length > 0) {
        skipped.push(`${name(file)} (${notYet.join(', ')})`);
        continue;
      }
      assert.doesNotThrow(() => loadConfig({ file, env: {} }), `${name(file)} does not load`);
    }
    if (skipped.length > 0) t.diagnostic(`not loaded yet, the loader does not know their sections: ${skipped.join('; ')}`);
  });

  it('points every mesh at ports meshlens listens on and paths it serves', () => {
    const problems: string[] = [];
    for (const mesh of MESHES) {
      const refs = files.filter((file) => file.startsWith(join(meshesDir, mesh) + '/')).flatMap(allReferences);
      // Every mesh sends somewhere: a directory with no reference found means the scan went blind.
      const configRefs = refs.filter((ref) => basename(ref.file) !== 'README.md');
      assert.ok(configRefs.length > 0, `no reference to meshlens found in the configuration files of ${mesh}`);
      for (const ref of refs) {
        const problem = problemWith(ref);
        if (problem) problems.push(problem);
      }
    }
    for (const file of [join(meshesDir, 'meshlens-service.yaml'), join(meshesDir, 'README.md'), join(repo, 'docs/meshes.md')]) {
      for (const ref of allReferences(file)) {
        const problem = problemWith(ref);
        if (problem) problems.push(problem);
      }
    }
    assert.deepEqual(problems, []);
  });

  it('the meshlens Service exposes exactly the default ports', () => {
    const service = parseYamlFile(join(meshesDir, 'meshlens-service.yaml')).find((doc) => (doc as { kind?: string }).kind === 'Service') as {
      metadata: { name: string; namespace: string };
      spec: { ports: { port: number; protocol: string }[] };
    };
    assert.equal(`${service.metadata.name}.${service.metadata.namespace}`, 'meshlens.observability');
    const ports = service.spec.ports.map((p) => `${p.port}/${p.protocol}`).sort();
    const expected = [...SERVED.keys()].map((port) => `${port}/TCP`).concat(`${STATSD_PORT}/UDP`).sort();
    assert.deepEqual(ports, expected);
  });

  it('READMEs and docs/meshes.md name files that exist, signals the graph API knows, and how to apply', () => {
    const docs = [...files.filter((file) => basename(file) === 'README.md'), join(repo, 'docs/meshes.md')];
    for (const file of docs) {
      const body = text(file);
      for (const [path] of body.matchAll(/deploy\/meshes\/[\w./-]+\.(?:ya?ml|hcl|json)/g)) {
        assert.ok(existsSync(join(repo, path)), `${name(file)} names ${path}, which does not exist`);
      }
      for (const [, signal] of body.matchAll(/[?&]signal=([\w-]+)/g)) {
        assert.ok((SIGNALS as readonly string[]).includes(signal!), `${name(file)} asks for signal=${signal}, not one of ${SIGNALS.join(', ')}`);
      }
    }
    for (const mesh of MESHES) {
      const readme = text(join(meshesDir, mesh, 'README.md'));
      assert.match(readme, /kubectl apply -f|consul config write|helm upgrade/, `${mesh}/README.md has no apply command`);
      assert.match(readme, /service-graph\?signal=/, `${mesh}/README.md does not show how to check that edges arrive`);
      assert.match(readme, /\/metrics \| grep/, `${mesh}/README.md does not show meshlens' own counters`);
      // Each file in the directory is described in its README.
      for (const file of readdirSync(join(meshesDir, mesh)).filter((f) => f !== 'README.md')) {
        assert.ok(readme.includes(file), `${mesh}/README.md does not mention ${file}`);
      }
    }
  });
});
