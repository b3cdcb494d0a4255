// loadConfig: defaults, YAML file, environment, flags, their precedence, and the one-line errors
// that stop start-up; then the real CLI once, as a user runs it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { ConfigError, loadConfig } from './config.ts';

const dir = mkdtempSync(join(tmpdir(), 'meshlens-config-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
function yamlFile(text: string): string {
  const path = join(dir, `config-${++fileCount}.yaml`);
  writeFileSync(path, text);
  return path;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Asserts loadConfig refuses with a ConfigError whose message is one line matching `expected`. */
function assertRefused(load: () => unknown, expected: RegExp): void {
  assert.throws(load, (error: unknown) => {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.doesNotMatch(error.message, /\n/, 'the message is one line');
    assert.match(error.message, expected);
    return true;
  });
}

describe('loadConfig defaults', () => {
  it('needs no file and gives the documented defaults', () => {
    const config = loadConfig({ env: {} });
    assert.deepEqual(config.server, { host: '0.0.0.0', otlp_grpc_port: 4317, otlp_http_port: 4318, zipkin_port: 9411, statsd_port: 8125, query_port: 16686 });
    assert.equal(config.storage.retentionDays, 7);
    assert.equal(config.storage.dataDir, './data');
    assert.equal(config.storage.clickhouse.url, '');
    assert.equal(config.limits.maxBodyBytes, 16 * 1024 * 1024);
    assert.equal(config.limits.queueBytes, 256 * 1024 * 1024);
    assert.equal(config.batch.maxDelayMs, 500);
    assert.equal(config.batch.maxRows, 50000);
    assert.equal(config.log.level, 'info');
  });
});

describe('loadConfig from a YAML file', () => {
  it('takes the values the file sets and defaults for the rest', () => {
    const file = yamlFile(
      [
        'server:',
        '  query_port: 9999',
        '  host: 127.0.0.1',
        'storage:',
        '  data_dir: /var/lib/meshlens',
        '  retention: 2w',
        '  clickhouse:',
        '    url: http://clickhouse:8123',
        '    database: traces',
        'batch:',
        '  max_delay: 1.5s',
        'limits:',
        '  max_body_bytes: 2MiB',
        '  queue_bytes: 1GB',
        'log:',
        '  level: debug',
      ].join('\n'),
    );
    const config = loadConfig({ file, env: {} });
    assert.equal(config.server.query_port, 9999);
    assert.equal(config.server.host, '127.0.0.1');
    assert.equal(config.server.otlp_grpc_port, 4317, 'keys the file does not set keep their defaults');
    assert.equal(config.storage.dataDir, '/var/lib/meshlens');
    assert.equal(config.storage.retentionDays, 14);
    assert.equal(config.storage.clickhouse.url, 'http://clickhouse:8123');
    assert.equal(config.storage.clickhouse.database, 'traces');
    assert.equal(config.storage.clickhouse.username, 'default');
    assert.equal(config.batch.maxDelayMs, 1500);
    assert.equal(config.limits.maxBodyBytes, 2 * 1024 * 1024);
    assert.equal(config.limits.queueBytes, 1_000_000_000);
    assert.equal(config.log.level, 'debug');
  });

  it('finds the file through MESHLENS_CONFIG when no path is given', () => {
    const file = yamlFile('server:\n  otlp_http_port: 14318\n');
    assert.equal(loadConfig({ env: { MESHLENS_CONFIG: file } }).server.otlp_http_port, 14318);
  });

  it('treats an empty file as no settings', () => {
    assert.equal(loadConfig({ file: yamlFile(''), env: {} }).server.query_port, 16686);
  });

  it('treats a section whose keys are all commented out as not set', () => {
    const file = yamlFile('server:\n  # query_port: 1\nstorage:\n  clickhouse:\n    # url: http://x\n  retention: 2d\n');
    const config = loadConfig({ file, env: { MESHLENS_SERVER_HOST: '127.0.0.1' } });
    assert.deepEqual(config.server, { host: '127.0.0.1', otlp_grpc_port: 4317, otlp_http_port: 4318, zipkin_port: 9411, statsd_port: 8125, query_port: 16686 });
    assert.equal(config.storage.clickhouse.url, '');
    assert.equal(config.storage.retentionDays, 2);
  });

  it('still refuses a section given as a scalar', () => {
    assertRefused(() => loadConfig({ file: yamlFile('server: 8080\n'), env: {} }), /^config: server must be object, got 8080$/);
  });
});

describe('loadConfig from the environment', () => {
  it('reads MESHLENS_<SECTION>_<KEY> and turns numbers and sizes into numbers', () => {
    const config = loadConfig({
      env: { MESHLENS_SERVER_QUERY_PORT: '1234', MESHLENS_LIMITS_MAX_BODY_BYTES: '1MiB', MESHLENS_STORAGE_RETENTION: '30d', MESHLENS_BATCH_MAX_ROWS: '500' },
    });
    assert.equal(config.server.query_port, 1234);
    assert.equal(config.limits.maxBodyBytes, 1024 * 1024);
    assert.equal(config.storage.retentionDays, 30);
    assert.equal(config.batch.maxRows, 500);
  });

  it('reads nested keys: MESHLENS_STORAGE_CLICKHOUSE_DATABASE', () => {
    assert.equal(loadConfig({ env: { MESHLENS_STORAGE_CLICKHOUSE_DATABASE: 'mesh' } }).storage.clickhouse.database, 'mesh');
  });

  it('reads the short aliases MESHLENS_DATA_DIR and MESHLENS_CLICKHOUSE_URL', () => {
    const config = loadConfig({ env: { MESHLENS_DATA_DIR: '/srv/data', MESHLENS_CLICKHOUSE_URL: 'http://ch:8123' } });
    assert.equal(config.storage.dataDir, '/srv/data');
    assert.equal(config.storage.clickhouse.url, 'http://ch:8123');
  });

  it('ignores an empty variable, as shells leave them', () => {
    assert.equal(loadConfig({ env: { MESHLENS_SERVER_QUERY_PORT: '' } }).server.query_port, 16686);
  });
});

describe('precedence: flags beat environment beat file', () => {
  const file = yamlFile('server:\n  query_port: 1001\nstorage:\n  data_dir: /from/file\n  retention: 3d\n');

  it('environment beats the file', () => {
    const config = loadConfig({ file, env: { MESHLENS_SERVER_QUERY_PORT: '2002', MESHLENS_DATA_DIR: '/from/env' } });
    assert.equal(config.server.query_port, 2002);
    assert.equal(config.storage.dataDir, '/from/env');
    assert.equal(config.storage.retentionDays, 3, 'a key only the file sets still comes from the file');
  });

  it('flags beat the environment and the file', () => {
    const config = loadConfig({
      file,
      env: { MESHLENS_SERVER_QUERY_PORT: '2002', MESHLENS_DATA_DIR: '/from/env' },
      overrides: { 'server.query_port': '3003', 'storage.data_dir': '/from/flag' },
    });
    assert.equal(config.server.query_port, 3003);
    assert.equal(config.storage.dataDir, '/from/flag');
    assert.equal(config.storage.retentionDays, 3);
  });
});

describe('a bad value stops with one line naming the key', () => {
  it('unknown key in the file', () => {
    assertRefused(() => loadConfig({ file: yamlFile('server:\n  bogus: 1\n'), env: {} }), /^config: unknown key "server\.bogus"$/);
  });

  it('unknown top-level section in the file', () => {
    assertRefused(() => loadConfig({ file: yamlFile('tracing:\n  on: true\n'), env: {} }), /^config: unknown key "tracing"$/);
  });

  it('unknown key given as a flag', () => {
    assertRefused(() => loadConfig({ env: {}, overrides: { 'server.bogus': '1' } }), /^config: unknown key "server\.bogus"$/);
  });

  it('port 70000', () => {
    assertRefused(() => loadConfig({ env: {}, overrides: { 'server.query_port': '70000' } }), /^config: server\.query_port .*70000/);
    assertRefused(() => loadConfig({ file: yamlFile('server:\n  otlp_grpc_port: 70000\n'), env: {} }), /^config: server\.otlp_grpc_port .*70000/);
  });

  it('retention "3x" is not a duration', () => {
    assertRefused(() => loadConfig({ env: {}, overrides: { 'storage.retention': '3x' } }), /^config: storage\.retention must be a duration.*"3x"/);
  });

  it('retention "12h" is under one day', () => {
    assertRefused(() => loadConfig({ env: {}, overrides: { 'storage.retention': '12h' } }), /^config: storage\.retention must be at least 1d.*"12h"/);
  });

  it('a size that is not one', () => {
    assertRefused(() => loadConfig({ env: { MESHLENS_LIMITS_QUEUE_BYTES: 'lots' } }), /^config: limits\.queue_bytes must be a size.*"lots"/);
  });

  it('non-numeric environment value for an integer key', () => {
    assertRefused(() => loadConfig({ env: { MESHLENS_BATCH_MAX_ROWS: 'many' } }), /^config: MESHLENS_BATCH_MAX_ROWS must be a number, got "many"$/);
  });

  it('non-integer value for an integer key', () => {
    assertRefused(() => loadConfig({ env: {}, overrides: { 'server.query_port': '80.5' } }), /^config: server\.query_port .*80\.5/);
  });

  it('a string in the file for an integer key', () => {
    assertRefused(() => loadConfig({ file: yamlFile('batch:\n  max_rows: "abc"\n'), env: {} }), /^config: batch\.max_rows .*"abc"/);
  });

  it('invalid YAML', () => {
    const file = yamlFile('server:\n  query_port: [\n');
    assertRefused(() => loadConfig({ file, env: {} }), new RegExp(`^config: ${escapeRegExp(file)} is not valid YAML: `));
  });

  it('a file that is not a mapping', () => {
    const file = yamlFile('- a\n- b\n');
    assertRefused(() => loadConfig({ file, env: {} }), new RegExp(`^config: ${escapeRegExp(file)} must be a YAML mapping$`));
  });

  it('missing file', () => {
    const file = join(dir, 'does-not-exist.yaml');
    assertRefused(() => loadConfig({ file, env: {} }), new RegExp(`^config: cannot read ${escapeRegExp(file)}: ENOENT`));
  });
});

describe('statsd settings', () => {
  it('reads statsd.senders from the file (every label kept, as text) and from the environment as JSON', () => {
    const file = yamlFile('statsd:\n  flush_interval: 2s\n  udp_readers: 3\n  udp_receive_buffer: 32MiB\n  senders:\n    "10.1.2.4": { workload: details-v1, namespace: bookinfo, replicas: 2 }\n');
    const config = loadConfig({ file, env: {} });
    assert.deepEqual(config.statsd, { flushIntervalMs: 2000, maxSeries: 100000, udpReaders: 3, udpReceiveBufferBytes: 32 * 1024 * 1024, senders: { '10.1.2.4': { workload: 'details-v1', namespace: 'bookinfo', replicas: '2' } } });
    const fromEnv = loadConfig({ env: { MESHLENS_STATSD_SENDERS: '{"10.0.0.9":{"workload":"web"}}', MESHLENS_SERVER_STATSD_PORT: '18125' } });
    assert.deepEqual(fromEnv.statsd.senders, { '10.0.0.9': { workload: 'web' } });
    assert.equal(fromEnv.server.statsd_port, 18125);
  });

  it('refuses a reader count outside 1..64, with one line naming the key', () => {
    assertRefused(() => loadConfig({ env: { MESHLENS_STATSD_UDP_READERS: '0' } }), /^config: statsd\.udp_readers must be >= 1, got 0$/);
    assertRefused(() => loadConfig({ env: { MESHLENS_STATSD_UDP_READERS: '65' } }), /^config: statsd\.udp_readers must be <= 64, got 65$/);
    assertRefused(() => loadConfig({ env: { MESHLENS_STATSD_UDP_READERS: 'many' } }), /^config: MESHLENS_STATSD_UDP_READERS must be a number, got "many"$/);
  });

  it('refuses senders that are not a map of labels, with one line naming the key', () => {
    assertRefused(() => loadConfig({ env: { MESHLENS_STATSD_SENDERS: 'web=10.0.0.9' } }), /^config: MESHLENS_STATSD_SENDERS must be a JSON object, got "web=10\.0\.0\.9"$/);
    assertRefused(() => loadConfig({ file: yamlFile('statsd:\n  senders:\n    "10.0.0.9": web\n'), env: {} }), /^config: statsd\.senders\.10\.0\.0\.9 must be object, got "web"$/);
    assertRefused(() => loadConfig({ env: {}, overrides: { 'statsd.flush_interval': '1ms' } }), /^config: statsd\.flush_interval must be at least 10ms/);
  });
});

// The two runs start a process each (about a second to load): they run side by side.
describe('the meshlens command', { concurrency: true }, () => {
  const cli = fileURLToPath(new URL('../bin/meshlens.js', import.meta.url));
  // A clean environment, so no MESHLENS_* of the developer's shell leaks in.
  const run = (args: string[], env: Record<string, string> = {}) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [cli, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 }, (error, stdout, stderr) =>
        resolve({ status: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr }),
      );
    });

  it('refuses a bad flag with exit code 2 and one stderr line naming the key', async () => {
    const result = await run(['--set', 'server.query_port=99999']);
    assert.equal(result.status, 2, `exit code; stderr: ${result.stderr}`);
    const lines = result.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, `one line on stderr, got: ${result.stderr}`);
    assert.match(lines[0]!, /^meshlens: config: server\.query_port .*99999/);
    assert.equal(result.stdout, '', 'nothing started, nothing printed');
  });

  it('--print-config prints the resolved configuration as JSON', async () => {
    const result = await run(['--print-config', '--query-port', '1234', '--set', 'limits.max_body_bytes=4MiB', '--retention=14d'], {
      MESHLENS_DATA_DIR: '/from/env',
      MESHLENS_SERVER_OTLP_HTTP_PORT: '14318',
    });
    assert.equal(result.status, 0, `exit code; stderr: ${result.stderr}`);
    const printed = JSON.parse(result.stdout) as ReturnType<typeof loadConfig>;
    assert.equal(printed.server.query_port, 1234);
    assert.equal(printed.server.otlp_http_port, 14318);
    assert.equal(printed.server.otlp_grpc_port, 4317);
    assert.equal(printed.storage.dataDir, '/from/env');
    assert.equal(printed.storage.retentionDays, 14);
    assert.equal(printed.limits.maxBodyBytes, 4 * 1024 * 1024);
  });
});

describe('scrape: Prometheus targets and Kubernetes discovery', () => {
  it('defaults: 15s interval, 10s timeout, no targets, discovery auto', () => {
    const { scrape } = loadConfig({ env: {} });
    assert.deepEqual(scrape, {
      intervalMs: 15_000,
      timeoutMs: 10_000,
      targets: [],
      maxBodyBytes: 32 * 1024 * 1024,
      concurrency: 32,
      kubernetes: { enabled: 'auto', namespaces: [], refreshIntervalMs: 60_000, apiServer: '' },
    });
  });

  it('reads targets with free-form labels from the file, as interface.md shows them', () => {
    const file = yamlFile(
      [
        'scrape:',
        '  interval: 30s',
        '  targets:',
        '    - url: http://10.1.2.3:4191/metrics',
        '      labels: { workload: productpage-v1, namespace: bookinfo, mesh: linkerd, replica: 2 }',
        '    - url: http://10.1.2.4:15020/stats/prometheus',
        '  kubernetes: { enabled: false, namespaces: [bookinfo] }',
      ].join('\n'),
    );
    const { scrape } = loadConfig({ file, env: {} });
    assert.equal(scrape.intervalMs, 30_000);
    assert.deepEqual(scrape.targets, [
      { url: 'http://10.1.2.3:4191/metrics', labels: { workload: 'productpage-v1', namespace: 'bookinfo', mesh: 'linkerd', replica: '2' } },
      { url: 'http://10.1.2.4:15020/stats/prometheus', labels: {} },
    ]);
    assert.equal(scrape.kubernetes.enabled, false);
    assert.deepEqual(scrape.kubernetes.namespaces, ['bookinfo']);
  });

  it('reads targets as JSON and namespaces as a comma list from the environment; enabled true/false/auto', () => {
    const { scrape } = loadConfig({
      env: {
        MESHLENS_SCRAPE_TARGETS: '[{"url":"http://a:8080/metrics","labels":{"mesh":"traefik"}}]',
        MESHLENS_SCRAPE_KUBERNETES_NAMESPACES: 'bookinfo, kuma-demo',
        MESHLENS_SCRAPE_KUBERNETES_ENABLED: 'true',
      },
    });
    assert.deepEqual(scrape.targets, [{ url: 'http://a:8080/metrics', labels: { mesh: 'traefik' } }]);
    assert.deepEqual(scrape.kubernetes.namespaces, ['bookinfo', 'kuma-demo']);
    assert.equal(scrape.kubernetes.enabled, true);
    assert.equal(loadConfig({ env: { MESHLENS_SCRAPE_KUBERNETES_ENABLED: 'false' } }).scrape.kubernetes.enabled, false);
    assert.equal(loadConfig({ env: { MESHLENS_SCRAPE_KUBERNETES_ENABLED: 'auto' } }).scrape.kubernetes.enabled, 'auto');
  });

  it('refuses a timeout longer than the interval, a target with a misspelt key, a URL that is not http, bad JSON', () => {
    assertRefused(() => loadConfig({ env: {}, overrides: { 'scrape.interval': '5s', 'scrape.timeout': '10s' } }), /^config: scrape\.timeout must not exceed scrape\.interval \(5s\), got "10s"$/);
    assertRefused(() => loadConfig({ file: yamlFile('scrape:\n  targets:\n    - url: http://a/metrics\n      lables: {}\n'), env: {} }), /^config: unknown key "scrape\.targets\.0\.lables"$/);
    assertRefused(() => loadConfig({ file: yamlFile('scrape:\n  targets:\n    - url: 10.0.0.1:4191\n'), env: {} }), /^config: scrape\.targets\.0\.url .*"10\.0\.0\.1:4191"/);
    assertRefused(() => loadConfig({ env: { MESHLENS_SCRAPE_TARGETS: '[{"url":' } }), /^config: MESHLENS_SCRAPE_TARGETS must be a JSON list/);
    assertRefused(() => loadConfig({ env: { MESHLENS_SCRAPE_KUBERNETES_ENABLED: 'maybe' } }), /^config: scrape\.kubernetes\.enabled /);
  });
});
