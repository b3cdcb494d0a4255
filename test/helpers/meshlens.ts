// Starts a real meshlens all-in-one for a test: embedded ClickHouse in a fresh temporary directory,
// every listener on 127.0.0.1 port 0, so test files can run side by side.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type MeshlensConfig } from '../../collector/config.ts';
import { type Command, type RunningMeshlens, startMeshlens } from '../../bin/run.ts';
import type { GraphEdge } from '../../query/service-graph.ts';

export interface TestMeshlens {
  running: RunningMeshlens;
  config: MeshlensConfig;
  dataDir: string;
  /** http://127.0.0.1:<query port> */
  queryUrl: string;
  /** http://127.0.0.1:<otlp http port> */
  otlpHttpUrl: string;
  /** http://127.0.0.1:<zipkin port>: POST /api/v2/spans, /api/v1/spans */
  zipkinUrl: string;
  /** 127.0.0.1:<otlp grpc port> */
  otlpGrpcAddress: string;
  /** StatsD / DogStatsD port on 127.0.0.1, UDP and TCP. */
  statsdPort: number;
  /** Stops meshlens (flushing) and keeps the data directory. */
  stop(): Promise<void>;
  /** Stops meshlens and removes the data directory. */
  destroy(): Promise<void>;
}

export function tempDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'meshlens-test-'));
}

/** A configuration for a test: every listener on 127.0.0.1 port 0, data in `dataDir`, quiet logs. */
export function testConfig(dataDir: string, overrides: Record<string, string> = {}): MeshlensConfig {
  return loadConfig({
    env: {},
    overrides: {
      'server.host': '127.0.0.1',
      'server.otlp_grpc_port': '0',
      'server.otlp_http_port': '0',
      'server.zipkin_port': '0',
      'server.statsd_port': '0',
      'server.query_port': '0',
      'storage.data_dir': dataDir,
      'log.level': process.env.MESHLENS_TEST_LOG_LEVEL ?? 'warn',
      ...overrides,
    },
  });
}

/** `overrides` are configuration keys as dotted paths, as `--set` takes them. */
export async function startTestMeshlens(
  options: { overrides?: Record<string, string>; dataDir?: string; command?: Command } = {},
): Promise<TestMeshlens> {
  const dataDir = options.dataDir ?? tempDataDir();
  const config = testConfig(dataDir, options.overrides);
  const running = await startMeshlens(options.command ?? 'all-in-one', config);
  return {
    running,
    config,
    dataDir,
    queryUrl: `http://127.0.0.1:${running.ports.query}`,
    otlpHttpUrl: `http://127.0.0.1:${running.ports.otlpHttp}`,
    zipkinUrl: `http://127.0.0.1:${running.ports.zipkin}`,
    otlpGrpcAddress: `127.0.0.1:${running.ports.otlpGrpc}`,
    statsdPort: running.ports.statsd ?? 0,
    stop: () => running.stop(),
    destroy: async () => {
      await running.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function getJson<T = unknown>(url: string): Promise<{ status: number; body: T }> {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as T };
}

/** All requests over the edges: what a test waits for before comparing. */
export const totalRequests = (edges: readonly GraphEdge[]) => edges.reduce((sum, e) => sum + e.requests, 0);

/** The counted figures of each edge, for exact comparison. */
export const edgeCounts = (edges: readonly GraphEdge[]) => edges.map((e) => ({ id: e.id, requests: e.requests, errors: e.errors, mtls: e.mtls, signals: e.signals }));

/**
 * Polls /api/v1/service-graph for one signal and namespace (the last 10 minutes) until `until` holds or
 * about 12 s pass; returns the last edges seen. Edge rows are written every graph.flush_interval.
 */
export async function graphEdgesUntil(queryUrl: string, signal: string, namespace: string, until: (edges: GraphEdge[]) => boolean): Promise<GraphEdge[]> {
  let edges: GraphEdge[] = [];
  for (let i = 0; i < 60; i++) {
    edges = (await getJson<{ edges: GraphEdge[] }>(`${queryUrl}/api/v1/service-graph?signal=${signal}&namespace=${namespace}&start=${Date.now() - 600_000}`)).body.edges;
    if (until(edges)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return edges;
}

/** meshlens' own metric `name` from /metrics: label set (as printed) → value. */
export async function ownMetric(queryUrl: string, name: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${queryUrl}/metrics`)).text();
  const found = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`)) found.set(line.slice(name.length, line.lastIndexOf(' ')), Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return found;
}
