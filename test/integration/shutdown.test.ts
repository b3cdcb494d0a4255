// Clean shutdown and restart of the real CLI (`node bin/meshlens.js all-in-one`) as a child process:
// SIGTERM while senders on every transport are busy must exit 0 promptly; anything acknowledged
// before or during the shutdown is stored and comes back after a restart on the same data directory;
// requests that arrive once shutdown began are refused (never acknowledged and then lost); and the
// second start does not re-apply schema migrations.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { tempDataDir } from '../helpers/meshlens.ts';
import { JSON_TYPE, PROTOBUF, RawTraceClient, buildTrace, jsonBody, postTraces, protobufBody, storedSpans } from '../helpers/otlp-wire.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SPANS_PER_TRACE = 3;

interface LogLine {
  at: number;
  level: number;
  msg: string;
  versions?: number[];
}

interface Ports {
  query: number;
  otlpHttp: number;
  otlpGrpc: number;
}

class MeshlensProcess {
  readonly child: ChildProcess;
  readonly logs: LogLine[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  stderr = '';
  private pending = '';

  constructor(
    readonly dataDir: string,
    readonly ports: Ports,
  ) {
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('MESHLENS_')) env[key] = value;
    Object.assign(env, {
      MESHLENS_DATA_DIR: dataDir,
      MESHLENS_SERVER_HOST: '127.0.0.1',
      MESHLENS_SERVER_QUERY_PORT: String(ports.query),
      MESHLENS_SERVER_OTLP_HTTP_PORT: String(ports.otlpHttp),
      MESHLENS_SERVER_OTLP_GRPC_PORT: String(ports.otlpGrpc),
      MESHLENS_SERVER_ZIPKIN_PORT: '0',
      // info, to see when shutdown begins and whether migrations ran; meshlens logs no per-request lines.
      MESHLENS_LOG_LEVEL: 'info',
      // Requests wait up to half a second for their batch, so SIGTERM finds some waiting.
      MESHLENS_BATCH_MAX_DELAY: '500ms',
    });
    this.child = spawn(process.execPath, ['bin/meshlens.js', 'all-in-one'], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => this.takeStdout(chunk));
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })));
  }

  get queryUrl(): string {
    return `http://127.0.0.1:${this.ports.query}`;
  }
  get otlpHttpUrl(): string {
    return `http://127.0.0.1:${this.ports.otlpHttp}`;
  }
  get otlpGrpcAddress(): string {
    return `127.0.0.1:${this.ports.otlpGrpc}`;
  }

  private takeStdout(chunk: string): void {
    this.pending += chunk;
    const lines = this.pending.split('\n');
    this.pending = lines.pop()!;
    const at = Date.now();
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        this.logs.push({ at, ...(JSON.parse(line) as Omit<LogLine, 'at'>) });
      } catch {
        this.logs.push({ at, level: 0, msg: line });
      }
    }
  }

  firstLog(pattern: RegExp): LogLine | undefined {
    return this.logs.find((l) => pattern.test(l.msg));
  }

  async waitReady(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => (exited = true));
    while (Date.now() < deadline) {
      if (exited) throw new Error(`meshlens exited during start-up: ${this.stderr}${this.logs.map((l) => l.msg).join('\n')}`);
      try {
        const response = await fetch(`${this.queryUrl}/readyz`, { signal: AbortSignal.timeout(2_000) });
        await response.arrayBuffer();
        if (response.status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`meshlens was not ready within ${timeoutMs} ms`);
  }

  /** Resolves with the exit, or rejects after `timeoutMs`. */
  async waitExit(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`meshlens did not exit within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || !address) throw new Error('no port');
  return address.port;
}

async function freePorts(): Promise<Ports> {
  return { query: await freePort(), otlpHttp: await freePort(), otlpGrpc: await freePort() };
}

type Transport = 'http/protobuf' | 'http/json' | 'grpc';

interface Attempt {
  transport: Transport;
  traceId: string;
  startedAt: number;
  endedAt: number;
  /** 'ok' when acknowledged (HTTP 200 / gRPC OK); otherwise what came back. */
  outcome: string;
}

const REFUSALS = /^(http 503|grpc 14|connection (refused|reset|closed))/;

/** Sends one trace; `attempt` is filled in as it goes ('' outcome while in flight). */
async function sendOnce(target: MeshlensProcess, transport: Transport, client: RawTraceClient, into?: Attempt[]): Promise<Attempt> {
  const trace = buildTrace(SPANS_PER_TRACE, { name: `shutdown ${transport}` });
  const attempt: Attempt = { transport, traceId: trace.traceId, startedAt: Date.now(), endedAt: 0, outcome: '' };
  into?.push(attempt);
  if (transport === 'grpc') {
    const reply = await client.export(protobufBody(trace.spans), 5_000);
    attempt.outcome = reply.code === grpc.status.OK ? 'ok' : `grpc ${reply.code}: ${reply.details}`;
    attempt.endedAt = Date.now();
    return attempt;
  }
  const json = transport === 'http/json';
  try {
    const reply = await postTraces(target.otlpHttpUrl, json ? jsonBody(trace.spans) : protobufBody(trace.spans), {
      contentType: json ? JSON_TYPE : PROTOBUF,
      signal: AbortSignal.timeout(5_000),
    });
    attempt.outcome = reply.status === 200 ? 'ok' : `http ${reply.status}: ${reply.body.toString().slice(0, 200)}`;
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const code = cause?.code ?? '';
    if (code === 'ECONNREFUSED') attempt.outcome = 'connection refused';
    else if (code === 'ECONNRESET' || code === 'EPIPE') attempt.outcome = 'connection reset';
    else if (code === 'UND_ERR_SOCKET' || code === 'UND_ERR_CLOSED') attempt.outcome = 'connection closed';
    else attempt.outcome = `fetch failed: ${code} ${cause?.message ?? (error as Error).message}`;
  }
  attempt.endedAt = Date.now();
  return attempt;
}

/** Sends distinct traces back to back until `stop()` says so (bounded in count), pacing lightly. */
async function sender(target: MeshlensProcess, transport: Transport, stop: () => boolean, into: Attempt[]): Promise<void> {
  const client = new RawTraceClient(target.otlpGrpcAddress);
  try {
    for (let n = 0; n < 300 && !stop(); n++) {
      await sendOnce(target, transport, client, into);
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    client.close();
  }
}

/** Checks `ids` through the API, a few at a time; returns the ids whose trace lacks spans. */
async function missingTraces(queryUrl: string, ids: string[]): Promise<string[]> {
  const missing: string[] = [];
  for (let i = 0; i < ids.length; i += 8) {
    const batch = ids.slice(i, i + 8);
    const counts = await Promise.all(batch.map((id) => storedSpans(queryUrl, id).then((s) => s.length)));
    counts.forEach((n, j) => {
      if (n !== SPANS_PER_TRACE) missing.push(`${batch[j]} (${n} spans)`);
    });
  }
  return missing;
}

const dataDir = tempDataDir();
const started: MeshlensProcess[] = [];

after(() => {
  for (const p of started) p.kill();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('SIGTERM under load, then restart on the same data directory', () => {
  let first: MeshlensProcess;
  let second: MeshlensProcess;
  const attempts: Attempt[] = [];
  let exit: { code: number | null; signal: NodeJS.Signals | null; at: number };
  let sigtermAt = 0;
  const witness = buildTrace(SPANS_PER_TRACE, { name: 'written before the clean stop' });

  before(async () => {
    first = new MeshlensProcess(dataDir, await freePorts());
    started.push(first);
    await first.waitReady();
  });

  it('exits 0 promptly on SIGTERM while every transport is sending', async () => {
    const reply = await postTraces(first.otlpHttpUrl, protobufBody(witness.spans));
    assert.equal(reply.status, 200);

    let exited = false;
    // Each sender keeps going until the process is gone and it has tried twice more after that.
    const stopAfterExit = () => {
      let triesAfterExit = 0;
      return () => exited && ++triesAfterExit > 2;
    };
    const transports: Transport[] = ['http/protobuf', 'http/protobuf', 'http/json', 'grpc', 'grpc'];
    const senders = transports.map((t) => sender(first, t, stopAfterExit(), attempts));

    // Let the load run until every transport has been acknowledged a few times and has a request
    // waiting in meshlens' batch (sent a while ago, not answered yet): SIGTERM then lands mid-batch.
    const readyToStop = () =>
      (['http/protobuf', 'http/json', 'grpc'] as const).every(
        (t) =>
          attempts.filter((a) => a.transport === t && a.outcome === 'ok').length >= 3 &&
          attempts.some((a) => a.transport === t && a.outcome === '' && Date.now() - a.startedAt > 50),
      );
    const loadDeadline = Date.now() + 10_000;
    await new Promise((r) => setTimeout(r, 500));
    while (Date.now() < loadDeadline && !readyToStop()) await new Promise((r) => setTimeout(r, 10));
    sigtermAt = Date.now();
    first.child.kill('SIGTERM');
    try {
      exit = await first.waitExit(20_000);
    } finally {
      exited = true; // senders stop even when the exit never came (after() kills the process)
    }
    await Promise.all(senders);

    assert.equal(exit.signal, null, `killed by ${exit.signal}; stderr: ${first.stderr}`);
    assert.equal(exit.code, 0, `exit code; stderr: ${first.stderr}`);
    assert.ok(exit.at - sigtermAt < 15_000, `exited ${exit.at - sigtermAt} ms after SIGTERM`);
    assert.ok(first.firstLog(/^stopped$/), 'logged a completed stop');
  });

  it('acknowledged during the load on every transport, and refused cleanly once stopping', (t) => {
    const outcomes = new Map<string, number>();
    for (const a of attempts) outcomes.set(a.outcome.split(':')[0]!, (outcomes.get(a.outcome.split(':')[0]!) ?? 0) + 1);
    const inFlight = attempts.filter((a) => a.startedAt < sigtermAt && a.endedAt > sigtermAt);
    t.diagnostic(`${attempts.length} requests: ${JSON.stringify(Object.fromEntries(outcomes))}; exit ${exit.at - sigtermAt} ms after SIGTERM`);
    t.diagnostic(`in flight at SIGTERM: ${inFlight.length}, of which acknowledged: ${inFlight.filter((a) => a.outcome === 'ok').length}`);
    assert.ok(inFlight.some((a) => a.outcome === 'ok'), 'requests waiting in a batch at SIGTERM were written and acknowledged');
    for (const transport of ['http/protobuf', 'http/json', 'grpc'] as const) {
      const mine = attempts.filter((a) => a.transport === transport);
      assert.ok(mine.filter((a) => a.outcome === 'ok').length >= 3, `${transport}: acknowledged before SIGTERM`);
      assert.ok(mine.some((a) => a.startedAt > exit.at && a.outcome !== 'ok'), `${transport}: tried after exit`);
    }
    const other = attempts.filter((a) => a.outcome !== 'ok' && !REFUSALS.test(a.outcome));
    assert.deepEqual(other, [], 'every request is either acknowledged or refused with 503 / UNAVAILABLE / no connection');
    const stopping = first.firstLog(/^stopping/);
    assert.ok(stopping, 'logged the start of the stop');
    // Seen by us after meshlens logged it; anything sent after that must not be acknowledged.
    const lateAcks = attempts.filter((a) => a.startedAt > stopping.at && a.outcome === 'ok');
    assert.deepEqual(lateAcks, [], 'no request sent after shutdown began was acknowledged');
  });

  it('a restart on the same data directory starts without re-applying migrations', async () => {
    const applied = first.firstLog(/schema migrations applied/);
    assert.ok(applied && (applied.versions?.length ?? 0) > 0, 'the first start applied the schema');
    second = new MeshlensProcess(dataDir, await freePorts());
    started.push(second);
    await second.waitReady();
    assert.equal(second.firstLog(/schema migrations applied/), undefined, 'the second start applied nothing');
    assert.ok(second.firstLog(/ready/), 'the second start logged ready');
  });

  it('has every acknowledged trace, with all its spans, after the restart', async () => {
    const acknowledged = attempts.filter((a) => a.outcome === 'ok').map((a) => a.traceId);
    assert.ok(acknowledged.length >= 9);
    assert.deepEqual(await missingTraces(second.queryUrl, [witness.traceId, ...acknowledged]), []);
    // Refused requests were not half-taken either.
    const refused = attempts.filter((a) => a.outcome !== 'ok').slice(0, 40).map((a) => a.traceId);
    for (const id of refused) assert.equal((await storedSpans(second.queryUrl, id)).length, 0, `refused trace ${id}`);
  });

  it('the restarted process takes data and stops cleanly too', async () => {
    const client = new RawTraceClient(second.otlpGrpcAddress);
    try {
      const sent = await Promise.all((['http/protobuf', 'http/json', 'grpc'] as const).map((t) => sendOnce(second, t, client)));
      for (const attempt of sent) assert.equal(attempt.outcome, 'ok', attempt.transport);
      assert.deepEqual(await missingTraces(second.queryUrl, sent.map((a) => a.traceId)), []);
    } finally {
      client.close();
    }
    second.child.kill('SIGTERM');
    const secondExit = await second.waitExit(20_000);
    assert.equal(secondExit.code, 0, second.stderr);
  });
});
