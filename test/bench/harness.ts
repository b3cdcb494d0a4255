// What the benchmarks share: a real meshlens process on free ports, the chDB worker steps in their own
// processes, /proc figures, and timing an HTTP call.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { TraceLimits } from '../../collector/otlp/traces.ts';

export const ROOT = new URL('../../', import.meta.url).pathname;

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export function worker(step: string, dir: string, ...args: string[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/bench/chdb-worker.ts'), step, dir, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`chdb-worker ${step} exited ${code}`))));
  });
}

/** Conversion limits that refuse nothing: for building the rows a baseline inserts. */
export const NO_TRACE_LIMITS: TraceLimits = { spansPerRequest: 1e9, attributesPerSpan: 128, attributeValueLength: 16384 };

export interface Meshlens {
  child: ChildProcess;
  grpcPort: number;
  zipkinPort: number;
  queryPort: number;
}

/**
 * `env`: more MESHLENS_* settings for this process (e.g. MESHLENS_GRAPH_FLUSH_INTERVAL); `root`: the checkout
 * to run meshlens from (bench:graph --against starts a worktree of another revision).
 */
export async function startMeshlens(
  dataDir: string,
  options: { graph?: boolean; profileDir?: string | undefined; env?: Record<string, string>; root?: string } = {},
): Promise<Meshlens> {
  const { graph = true, profileDir, root = ROOT } = options;
  const [grpcPort, httpPort, zipkinPort, queryPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const child = spawn(process.execPath, [...profile, join(root, 'bin/meshlens.js'), 'all-in-one'], {
    env: {
      ...process.env,
      MESHLENS_DATA_DIR: dataDir,
      MESHLENS_SERVER_HOST: '127.0.0.1',
      MESHLENS_SERVER_OTLP_GRPC_PORT: String(grpcPort),
      MESHLENS_SERVER_OTLP_HTTP_PORT: String(httpPort),
      MESHLENS_SERVER_QUERY_PORT: String(queryPort),
      MESHLENS_SERVER_ZIPKIN_PORT: String(zipkinPort),
      MESHLENS_SERVER_STATSD_PORT: '0',
      MESHLENS_LOG_LEVEL: 'warn',
      MESHLENS_GRAPH_ENABLED: String(graph),
      ...options.env,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  for (let i = 0; i < 300; i++) {
    const ok = await fetch(`http://127.0.0.1:${queryPort}/readyz`).then((r) => r.ok, () => false);
    if (ok) return { child, grpcPort, zipkinPort, queryPort };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error('meshlens did not become ready');
}

export async function stopMeshlens(m: Meshlens): Promise<void> {
  const exited = new Promise((r) => m.child.on('exit', r));
  m.child.kill('SIGTERM');
  await exited;
}

/** `meshlens sql` on a stopped meshlens' data directory: the rows, one JSON object each. */
export function meshlensSql<Row>(dataDir: string, sql: string): Promise<Row[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/meshlens.js'), 'sql', sql], {
      env: { ...process.env, MESHLENS_DATA_DIR: dataDir, MESHLENS_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.on('exit', (code) =>
      code === 0 ? resolve(out.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Row)) : reject(new Error(`meshlens sql exited ${code}`)),
    );
  });
}

export interface Measured<T> {
  result: T;
  seconds: number;
  /** The meshlens process' CPU (all threads) over the call. */
  cpuSeconds: number;
  /** Its peak RSS since it started. */
  peakRssMiB: number;
  /** This (the load-generating) process' own CPU over the call, main thread and workers. */
  clientCpuSeconds: number;
}

/** Times `send` and takes the meshlens process' CPU and peak RSS around it. */
export async function measure<T>(m: Meshlens, send: () => Promise<T>): Promise<Measured<T>> {
  const before = processStats(m.child.pid!);
  const clientBefore = process.cpuUsage();
  const started = performance.now();
  const result = await send();
  const seconds = (performance.now() - started) / 1000;
  const client = process.cpuUsage(clientBefore);
  const after = processStats(m.child.pid!);
  return { result, seconds, cpuSeconds: after.cpuSeconds - before.cpuSeconds, peakRssMiB: after.peakRssMiB, clientCpuSeconds: (client.user + client.system) / 1e6 };
}

/**
 * CPU seconds (user + system) and peak RSS of a process and its child processes (statsd.udp_readers), from
 * /proc: children's CPU while they run and, once they have exited, as the parent's reaped-children time;
 * peak RSS as the sum of each one's own peak.
 */
export function processStats(pid: number): { cpuSeconds: number; peakRssMiB: number } {
  const one = (id: number, withReaped: boolean) => {
    const stat = readFileSync(`/proc/${id}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]) + (withReaped ? Number(fields[13]) + Number(fields[14]) : 0);
    const status = readFileSync(`/proc/${id}/status`, 'utf8');
    const hwm = Number(/VmHWM:\s+([0-9]+) kB/.exec(status)?.[1] ?? 0);
    return { cpuSeconds: ticks / 100, peakRssMiB: hwm / 1024 };
  };
  const total = one(pid, true);
  for (const child of childPids(pid)) {
    try {
      const c = one(child, false);
      total.cpuSeconds += c.cpuSeconds;
      total.peakRssMiB += c.peakRssMiB;
    } catch {
      // It exited meanwhile: its time is in the parent's reaped-children figures.
    }
  }
  return total;
}

function childPids(pid: number): number[] {
  const pids: number[] = [];
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      for (const child of readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(' ')) if (child) pids.push(Number(child));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return pids;
}

export async function timed(url: string, runs: number): Promise<{ minMs: number; medianMs: number; p95Ms: number }> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const response = await fetch(url);
    await response.arrayBuffer();
    if (!response.ok) throw new Error(`${url} answered ${response.status}`);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => Math.round(times[Math.min(times.length - 1, Math.floor(q * times.length))]! * 10) / 10;
  return { minMs: at(0), medianMs: at(0.5), p95Ms: at(0.95) };
}

