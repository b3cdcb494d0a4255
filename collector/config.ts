// Configuration: defaults, then a YAML file (--config or MESHLENS_CONFIG), then environment variables
// (MESHLENS_<SECTION>_<KEY>, plus the contract's short aliases), then flags. The schema below is the
// single description of every key: validation, defaults, env names and the README table come from it.
// A bad value stops start-up with one line naming the key.
import { readFileSync } from 'node:fs';
import { Type, type Static, type TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { parse as parseYaml } from 'yaml';

const DURATION = '^([0-9]+(\\.[0-9]+)?(ms|s|m|h|d|w))+$';
const SIZE = '^[0-9]+(\\.[0-9]+)?\\s*(B|KiB|MiB|GiB|KB|MB|GB|k|m|g)?$';

const Port = (port: number, description: string) =>
  Type.Integer({ minimum: 0, maximum: 65535, default: port, description });
const Duration = (value: string, description: string) => Type.String({ pattern: DURATION, default: value, description });
const Size = (value: string, description: string) => Type.String({ pattern: SIZE, default: value, description });
const Section = <T extends Record<string, TSchema>>(properties: T) =>
  Type.Object(properties, { additionalProperties: false, default: {} });

export const ConfigSchema = Section({
  server: Section({
    host: Type.String({ default: '0.0.0.0', description: 'address every listener binds to' }),
    otlp_grpc_port: Port(4317, 'OTLP gRPC (TraceService/Export)'),
    otlp_http_port: Port(4318, 'OTLP HTTP (POST /v1/traces)'),
    zipkin_port: Port(9411, 'Zipkin HTTP (POST /api/v2/spans JSON or proto3, /api/v1/spans JSON)'),
    statsd_port: Port(8125, 'StatsD / DogStatsD, UDP and TCP (newline-delimited) on the same port'),
    query_port: Port(16686, 'query API, Jaeger-compatible API, /metrics, /healthz'),
  }),
  storage: Section({
    data_dir: Type.String({ default: './data', description: 'embedded ClickHouse (chDB) data directory; alias MESHLENS_DATA_DIR' }),
    retention: Duration('7d', 'how long data is kept (whole days; becomes ClickHouse TTL)'),
    clickhouse: Section({
      url: Type.String({ default: '', description: 'ClickHouse server URL; when set, used instead of the embedded engine; alias MESHLENS_CLICKHOUSE_URL' }),
      username: Type.String({ default: 'default', description: 'ClickHouse user' }),
      password: Type.String({ default: '', description: 'ClickHouse password' }),
      database: Type.String({ default: 'default', description: 'ClickHouse database' }),
    }),
  }),
  batch: Section({
    max_rows: Type.Integer({ minimum: 1, default: 50000, description: 'rows per insert at most' }),
    max_delay: Duration('500ms', 'longest a row waits for its batch to fill (while a writer is free)'),
  }),
  graph: Section({
    enabled: Type.Boolean({ default: true, description: 'derive the service graph from spans (off: spans are only stored)' }),
    wait: Duration('10s', 'how long a trace must be quiet before its spans are paired in memory (a half arriving later is paired by the storage pass)'),
    max_halves: Type.Integer({ minimum: 1, default: 1000000, description: 'spans waiting for pairing at most; past it the oldest traces are decided early (counted)' }),
    flush_interval: Duration('10s', 'how often derived service-graph rows are written'),
    late_window: Duration('15m', 'how late (or at another collector) the other half of a call may arrive and still be paired, by the storage pass; 0s turns the pass off'),
    reconcile_interval: Duration('30s', 'how often the storage pass runs (one collector per window, elected through ClickHouse)'),
  }),
  limits: Section({
    max_body_bytes: Size('16MiB', 'request body size after decompression; larger gets 413 / RESOURCE_EXHAUSTED'),
    spans_per_request: Type.Integer({ minimum: 1, default: 100000, description: 'spans in one request (and OTLP log records, OTLP metric data points); more gets 413 / RESOURCE_EXHAUSTED' }),
    attributes_per_span: Type.Integer({ minimum: 1, default: 128, description: 'attributes kept per span, event or link; the rest are dropped and counted' }),
    attribute_value_length: Type.Integer({ minimum: 1, default: 16384, description: 'characters kept per attribute value; longer ones are truncated' }),
    queue_bytes: Size('256MiB', 'encoded rows waiting for storage; past it senders get RESOURCE_EXHAUSTED / 429 with Retry-After'),
    label_cardinality: Type.Integer({ minimum: 1, default: 200000, description: 'series (label sets) whose counter state each metrics receiver keeps (remote-write; scrape, for all targets together; Envoy metrics service; OTLP metrics); new series past it are dropped, counted and logged' }),
  }),
  // Prometheus scraping (collector/receivers/prometheus-scrape.ts): configured targets and Kubernetes pods.
  scrape: Section({
    interval: Duration('15s', 'how often each Prometheus target is scraped (targets are spread over the interval)'),
    timeout: Duration('10s', 'a scrape still running after this is aborted and the target counted down; at most scrape.interval'),
    targets: Type.Array(
      Type.Object(
        {
          url: Type.String({ pattern: '^https?://' }),
          labels: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]))),
        },
        { additionalProperties: false },
      ),
      { default: [], description: 'targets to scrape: [{url, labels: {workload, namespace, mesh, …}}] (labels say who the proxy is; all kept); environment: JSON' },
    ),
    max_body_bytes: Size('32MiB', 'a scrape response larger than this (after decompression) is refused and the target counted down'),
    concurrency: Type.Integer({ minimum: 1, default: 32, description: 'scrapes in flight at once at most' }),
    kubernetes: Section({
      enabled: Type.Union([Type.Boolean(), Type.Literal('auto')], { default: 'auto', description: 'discover mesh proxies and prometheus.io/scrape pods through the Kubernetes API: auto (when running in a cluster), true or false' }),
      namespaces: Type.Array(Type.String(), { default: [], description: 'namespaces whose pods are discovered; empty: all (environment: comma-separated)' }),
      refresh_interval: Duration('1m', 'how often the pod list is read again'),
      api_server: Type.String({ default: '', description: 'Kubernetes API URL; empty: in-cluster (KUBERNETES_SERVICE_HOST and the service-account token)' }),
    }),
  }),
  // Envoy's metrics service (collector/receivers/envoy-metrics.ts).
  envoy: Section({
    report_counters_as_deltas: Type.Boolean({ default: false, description: 'set when the proxies\' metrics-service sink has report_counters_as_deltas: counters then arrive as per-flush increases, not lifetime totals' }),
  }),
  // StatsD / DogStatsD (collector/receivers/statsd.ts).
  statsd: Section({
    flush_interval: Duration('10s', 'StatsD lines are aggregated over this interval, then turned into service-graph edges'),
    max_series: Type.Integer({ minimum: 1, default: 100000, description: 'StatsD series (sender + name + type + tags) aggregated per interval at most (per UDP reader); past it UDP lines of new series are dropped (counted), TCP senders are paused until the next flush' }),
    udp_readers: Type.Integer({
      minimum: 1,
      maximum: 64,
      default: 1,
      description: 'processes reading the StatsD UDP socket; one reads ~400k lines/s, more read more on more cores (each another Node.js process, ~130 MiB under load)',
    }),
    udp_receive_buffer: Size('8MiB', 'SO_RCVBUF asked for the StatsD UDP socket: bursts wait there instead of being dropped; the kernel caps it at net.core.rmem_max (and doubles it)'),
    senders: Type.Record(
      Type.String(),
      Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()])),
      { default: {}, description: 'sender IP → who it is: {workload, namespace, version, …labels} (plain StatsD has no tags; all labels kept); environment: JSON' },
    ),
  }),
  log: Section({
    level: Type.Union(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
      { default: 'info', description: 'log level' },
    ),
  }),
});

export type RawConfig = Static<typeof ConfigSchema>;

/** The configuration with durations and sizes resolved to numbers. */
export interface MeshlensConfig {
  server: RawConfig['server'];
  storage: {
    dataDir: string;
    retentionDays: number;
    clickhouse: { url: string; username: string; password: string; database: string };
  };
  batch: { maxRows: number; maxDelayMs: number };
  graph: { enabled: boolean; waitMs: number; maxHalves: number; flushIntervalMs: number; lateWindowMs: number; reconcileIntervalMs: number };
  limits: {
    maxBodyBytes: number;
    spansPerRequest: number;
    attributesPerSpan: number;
    attributeValueLength: number;
    queueBytes: number;
    /** limits.label_cardinality: series tracked per Prometheus receiver. */
    labelCardinality: number;
  };
  scrape: ScrapeConfig;
  envoy: { reportCountersAsDeltas: boolean };
  statsd: StatsdConfig;
  log: { level: string };
}

export interface StatsdConfig {
  flushIntervalMs: number;
  maxSeries: number;
  /** Processes reading the UDP socket (1: the collector's own). */
  udpReaders: number;
  /** SO_RCVBUF asked for the UDP socket. */
  udpReceiveBufferBytes: number;
  /** Sender IP → its labels (workload, namespace, version, …), all as text. */
  senders: Record<string, Record<string, string>>;
}

export interface ScrapeTargetConfig {
  url: string;
  /** Who the target is: workload, namespace, mesh, … (free-form, all kept). */
  labels: Record<string, string>;
}

export interface ScrapeConfig {
  intervalMs: number;
  timeoutMs: number;
  targets: ScrapeTargetConfig[];
  maxBodyBytes: number;
  concurrency: number;
  kubernetes: { enabled: boolean | 'auto'; namespaces: string[]; refreshIntervalMs: number; apiServer: string };
}

export class ConfigError extends Error {}

/** Short environment names the contract promises, beside the generic MESHLENS_<SECTION>_<KEY>. */
const ENV_ALIASES: Record<string, string> = {
  MESHLENS_DATA_DIR: 'storage.data_dir',
  MESHLENS_CLICKHOUSE_URL: 'storage.clickhouse.url',
};

/** Flags for the most common keys; any key can also be given as --set path=value. */
export const FLAGS: Record<string, string> = {
  '--data-dir': 'storage.data_dir',
  '--clickhouse-url': 'storage.clickhouse.url',
  '--retention': 'storage.retention',
  '--host': 'server.host',
  '--query-port': 'server.query_port',
  '--otlp-grpc-port': 'server.otlp_grpc_port',
  '--otlp-http-port': 'server.otlp_http_port',
  '--zipkin-port': 'server.zipkin_port',
  '--statsd-port': 'server.statsd_port',
  '--log-level': 'log.level',
};

interface Leaf {
  path: string;
  schema: TSchema;
}

/** Every settable key, as a dotted path with its schema. */
export function configKeys(schema: TSchema = ConfigSchema, prefix = ''): Leaf[] {
  const properties = (schema as { properties?: Record<string, TSchema> }).properties;
  if (!properties) return [{ path: prefix, schema }];
  return Object.entries(properties).flatMap(([key, child]) => configKeys(child, prefix ? `${prefix}.${key}` : key));
}

export const envName = (path: string) => `MESHLENS_${path.replace(/\./g, '_').toUpperCase()}`;

export interface ConfigSources {
  /** Path of a YAML file; when absent, MESHLENS_CONFIG, else no file. */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Key paths set by flags, already mapped from flag names. */
  overrides?: Record<string, string>;
}

export function loadConfig(sources: ConfigSources = {}): MeshlensConfig {
  const env = sources.env ?? process.env;
  const file = sources.file ?? env.MESHLENS_CONFIG;
  const raw: Record<string, unknown> = file ? readYaml(file) : {};
  dropEmptySections(raw, ConfigSchema);
  const leaves = configKeys();
  for (const [alias, path] of Object.entries(ENV_ALIASES)) {
    const value = env[alias];
    if (value !== undefined && value !== '') setPath(raw, path, coerce(leafSchema(leaves, path), value, alias));
  }
  for (const leaf of leaves) {
    const value = env[envName(leaf.path)];
    if (value !== undefined && value !== '') setPath(raw, leaf.path, coerce(leaf.schema, value, envName(leaf.path)));
  }
  for (const [path, value] of Object.entries(sources.overrides ?? {})) {
    const schema = leafSchema(leaves, path);
    if (!schema) throw new ConfigError(`config: unknown key "${path}"`);
    setPath(raw, path, coerce(schema, value, path));
  }
  const withDefaults = Value.Default(ConfigSchema, raw) as unknown;
  const error = firstError(withDefaults);
  if (error) throw new ConfigError(error);
  return resolve(withDefaults as RawConfig);
}

function readYaml(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`config: cannot read ${file}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (error) {
    throw new ConfigError(`config: ${file} is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`config: ${file} must be a YAML mapping`);
  return parsed as Record<string, unknown>;
}

/** A section whose keys are all commented out parses as null: it means "nothing set here", not an error. */
function dropEmptySections(node: Record<string, unknown>, schema: TSchema): void {
  const properties = (schema as { properties?: Record<string, TSchema> }).properties ?? {};
  for (const [key, child] of Object.entries(properties)) {
    if (!(child as { properties?: unknown }).properties) continue;
    const value = node[key];
    if (value === null) delete node[key];
    else if (typeof value === 'object' && !Array.isArray(value)) dropEmptySections(value as Record<string, unknown>, child);
  }
}

function leafSchema(leaves: Leaf[], path: string): TSchema | undefined {
  return leaves.find((l) => l.path === path)?.schema;
}

/** Environment values and flags are text: numbers become numbers where the key wants one. */
function coerce(schema: TSchema | undefined, value: string, source: string): unknown {
  const type = (schema as { type?: string } | undefined)?.type;
  // Lists from the environment or a flag: JSON, or for lists of strings a comma-separated line.
  if (type === 'array') {
    if (value.trim().startsWith('[')) {
      try {
        return JSON.parse(value) as unknown;
      } catch {
        throw new ConfigError(`config: ${source} must be a JSON list, got ${JSON.stringify(value)}`);
      }
    }
    return value.split(',').map((item) => item.trim()).filter((item) => item !== '');
  }
  // Maps (statsd.senders) from the environment or a flag: JSON.
  if (type === 'object') {
    try {
      return JSON.parse(value) as unknown;
    } catch {
      throw new ConfigError(`config: ${source} must be a JSON object, got ${JSON.stringify(value)}`);
    }
  }
  const anyOf = (schema as { anyOf?: { type?: string }[] } | undefined)?.anyOf;
  if (anyOf?.some((option) => option.type === 'boolean') && (value === 'true' || value === 'false')) return value === 'true';
  if (type === 'boolean') {
    if (value === 'true' || value === 'false') return value === 'true';
    throw new ConfigError(`config: ${source} must be true or false, got "${value}"`);
  }
  if (type !== 'integer' && type !== 'number') return value;
  const n = Number(value);
  if (value.trim() === '' || Number.isNaN(n)) throw new ConfigError(`config: ${source} must be a number, got "${value}"`);
  return n;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== 'object' || next === null) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]!] = value;
}

function firstError(value: unknown): string | undefined {
  for (const error of Value.Errors(ConfigSchema, value)) {
    const key = error.instancePath.replace(/^\//, '').replace(/\//g, '.');
    if (error.keyword === 'boolean') return `config: unknown key "${key}"`;
    if (error.keyword === 'additionalProperties') continue;
    if (error.keyword === 'pattern') {
      const what = (error.params as { pattern?: string }).pattern === DURATION ? 'a duration like 30s, 5m, 7d' : 'a size like 16MiB';
      return `config: ${key} must be ${what}, got ${JSON.stringify(valueAt(value, error.instancePath))}`;
    }
    return `config: ${key || '(top level)'} ${error.message}, got ${JSON.stringify(valueAt(value, error.instancePath))}`;
  }
  return undefined;
}

/** The value at a JSON pointer (`/statsd/senders/10.0.0.9`: map keys may hold dots). */
function valueAt(value: unknown, pointer: string): unknown {
  return pointer.split('/').slice(1).reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], value);
}

const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const SIZE_BYTES: Record<string, number> = {
  '': 1, B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, KB: 1000, MB: 1000 ** 2, GB: 1000 ** 3, k: 1024, m: 1024 ** 2, g: 1024 ** 3,
};

export function parseDurationMs(text: string): number {
  let total = 0;
  for (const [, amount, , unit] of text.matchAll(/([0-9]+(\.[0-9]+)?)(ms|s|m|h|d|w)/g)) total += Number(amount) * DURATION_MS[unit!]!;
  return total;
}

export function parseSizeBytes(text: string): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)$/.exec(text)!;
  return Math.floor(Number(match[1]) * SIZE_BYTES[match[2]!]!);
}

function resolve(raw: RawConfig): MeshlensConfig {
  const retentionMs = parseDurationMs(raw.storage.retention);
  if (retentionMs < DURATION_MS.d!) throw new ConfigError(`config: storage.retention must be at least 1d, got "${raw.storage.retention}"`);
  // Leftover halves are kept two days (schema v4): the window must fit inside that.
  if (parseDurationMs(raw.graph.late_window) > DURATION_MS.d!) throw new ConfigError(`config: graph.late_window must be at most 1d, got "${raw.graph.late_window}"`);
  if (parseDurationMs(raw.graph.reconcile_interval) < 1000) throw new ConfigError(`config: graph.reconcile_interval must be at least 1s, got "${raw.graph.reconcile_interval}"`);
  return {
    server: raw.server,
    storage: {
      dataDir: raw.storage.data_dir,
      retentionDays: Math.ceil(retentionMs / DURATION_MS.d!),
      clickhouse: raw.storage.clickhouse,
    },
    batch: { maxRows: raw.batch.max_rows, maxDelayMs: parseDurationMs(raw.batch.max_delay) },
    graph: { enabled: raw.graph.enabled, waitMs: parseDurationMs(raw.graph.wait), maxHalves: raw.graph.max_halves, flushIntervalMs: parseDurationMs(raw.graph.flush_interval), lateWindowMs: parseDurationMs(raw.graph.late_window), reconcileIntervalMs: parseDurationMs(raw.graph.reconcile_interval) },
    limits: {
      maxBodyBytes: parseSizeBytes(raw.limits.max_body_bytes),
      spansPerRequest: raw.limits.spans_per_request,
      attributesPerSpan: raw.limits.attributes_per_span,
      attributeValueLength: raw.limits.attribute_value_length,
      queueBytes: parseSizeBytes(raw.limits.queue_bytes),
      labelCardinality: raw.limits.label_cardinality,
    },
    scrape: resolveScrape(raw.scrape),
    envoy: { reportCountersAsDeltas: raw.envoy.report_counters_as_deltas },
    statsd: resolveStatsd(raw.statsd),
    log: { level: raw.log.level },
  };
}

function resolveScrape(raw: RawConfig['scrape']): ScrapeConfig {
  const intervalMs = parseDurationMs(raw.interval);
  const timeoutMs = parseDurationMs(raw.timeout);
  if (intervalMs < 100) throw new ConfigError(`config: scrape.interval must be at least 100ms, got "${raw.interval}"`);
  if (timeoutMs > intervalMs) throw new ConfigError(`config: scrape.timeout must not exceed scrape.interval (${raw.interval}), got "${raw.timeout}"`);
  return {
    intervalMs,
    timeoutMs,
    targets: raw.targets.map((target) => ({
      url: target.url,
      labels: Object.fromEntries(Object.entries(target.labels ?? {}).map(([name, value]) => [name, String(value)])),
    })),
    maxBodyBytes: parseSizeBytes(raw.max_body_bytes),
    concurrency: raw.concurrency,
    kubernetes: {
      enabled: raw.kubernetes.enabled,
      namespaces: raw.kubernetes.namespaces,
      refreshIntervalMs: parseDurationMs(raw.kubernetes.refresh_interval),
      apiServer: raw.kubernetes.api_server,
    },
  };
}

function resolveStatsd(raw: RawConfig['statsd']): StatsdConfig {
  const flushIntervalMs = parseDurationMs(raw.flush_interval);
  if (flushIntervalMs < 10) throw new ConfigError(`config: statsd.flush_interval must be at least 10ms, got "${raw.flush_interval}"`);
  const senders: Record<string, Record<string, string>> = {};
  for (const [address, labels] of Object.entries(raw.senders)) {
    senders[address] = Object.fromEntries(Object.entries(labels).map(([name, value]) => [name, String(value)]));
  }
  return { flushIntervalMs, maxSeries: raw.max_series, udpReaders: raw.udp_readers, udpReceiveBufferBytes: parseSizeBytes(raw.udp_receive_buffer), senders };
}
