// Overload against a real meshlens with a tiny ingest queue: concurrent senders outrun storage, and
// the collector must push back (HTTP 429 + Retry-After, gRPC RESOURCE_EXHAUSTED + RetryInfo) instead
// of growing; its queue gauge stays within limits.queue_bytes; every request it acknowledged is
// stored; it stays ready throughout and takes data again once the queue drained.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { startTestMeshlens, type TestMeshlens } from '../helpers/meshlens.ts';
import {
  JSON_TYPE,
  PROTOBUF,
  RawTraceClient,
  buildTrace,
  decodeRpcStatus,
  jsonBody,
  postTraces,
  protobufBody,
  retryDelaySeconds,
  scrapeMetrics,
  storedSpans,
} from '../helpers/otlp-wire.ts';

const QUEUE_BYTES = 256 * 1024;
/** Spans per request: each request is about a seventh of the queue once encoded (~36 KB). */
const SPANS_PER_REQUEST = 100;
const LOAD_MS = 4_000;
const MAX_REQUESTS_PER_SENDER = 200;

let meshlens: TestMeshlens;
before(async () => {
  meshlens = await startTestMeshlens({
    overrides: { 'limits.queue_bytes': '256KiB', 'batch.max_delay': '2s', 'batch.max_rows': '1000000' },
  });
});
after(async () => {
  await meshlens?.destroy();
});

type Transport = 'http/protobuf' | 'http/json' | 'grpc';

interface Attempt {
  transport: Transport;
  traceId: string;
  spans: number;
  /** 'ok', 'overloaded', or what else came back. */
  outcome: 'ok' | 'overloaded' | string;
  retryAfterSeconds?: number;
  /** The reply's google.rpc.Status code, for refusals. */
  statusCode?: number;
}

async function sendOnce(transport: Transport, grpcClient: RawTraceClient | undefined): Promise<Attempt> {
  const trace = buildTrace(SPANS_PER_REQUEST, { name: `load ${transport}`, attributes: { 'load.note': 'x'.repeat(40) } });
  const attempt: Attempt = { transport, traceId: trace.traceId, spans: trace.spans.length, outcome: '' };
  if (transport === 'grpc') {
    const reply = await grpcClient!.export(protobufBody(trace.spans));
    if (reply.code === grpc.status.OK) attempt.outcome = 'ok';
    else if (reply.code === grpc.status.RESOURCE_EXHAUSTED) {
      attempt.outcome = 'overloaded';
      const [details] = reply.metadata?.get('grpc-status-details-bin') ?? [];
      if (Buffer.isBuffer(details)) {
        const status = decodeRpcStatus(details);
        attempt.statusCode = status.code;
        attempt.retryAfterSeconds = retryDelaySeconds(status);
      }
    } else attempt.outcome = `grpc ${reply.code}: ${reply.details}`;
    return attempt;
  }
  const json = transport === 'http/json';
  const reply = await postTraces(meshlens.otlpHttpUrl, json ? jsonBody(trace.spans) : protobufBody(trace.spans), { contentType: json ? JSON_TYPE : PROTOBUF });
  if (reply.status === 200) attempt.outcome = 'ok';
  else if (reply.status === 429) {
    attempt.outcome = 'overloaded';
    const header = reply.headers.get('retry-after');
    attempt.retryAfterSeconds = header === null ? undefined : Number(header);
    attempt.statusCode = json ? (JSON.parse(reply.body.toString()) as { code: number }).code : decodeRpcStatus(reply.body).code;
  } else attempt.outcome = `http ${reply.status}: ${reply.body.toString().slice(0, 200)}`;
  return attempt;
}

/** Sends back to back until the load window closes; on a refusal waits only a moment (no real backoff). */
async function sender(transport: Transport, until: number): Promise<Attempt[]> {
  const client = transport === 'grpc' ? new RawTraceClient(meshlens.otlpGrpcAddress) : undefined;
  const attempts: Attempt[] = [];
  try {
    while (Date.now() < until && attempts.length < MAX_REQUESTS_PER_SENDER) {
      const attempt = await sendOnce(transport, client);
      attempts.push(attempt);
      if (attempt.outcome !== 'ok') await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    client?.close();
  }
  return attempts;
}

interface Sample {
  queueBytes: number;
  ready: number;
}

async function sampler(until: number): Promise<Sample[]> {
  const samples: Sample[] = [];
  while (Date.now() < until && samples.length < 2_000) {
    const [metrics, ready] = await Promise.all([scrapeMetrics(meshlens.queryUrl), fetch(`${meshlens.queryUrl}/readyz`)]);
    await ready.arrayBuffer();
    samples.push({ queueBytes: metrics.value('meshlens_queue_bytes'), ready: ready.status });
    await new Promise((r) => setTimeout(r, 25));
  }
  return samples;
}

describe('overload with a 256 KiB queue', () => {
  let attempts: Attempt[] = [];
  let samples: Sample[] = [];

  before(async () => {
    const until = Date.now() + LOAD_MS;
    // Twelve senders with a request each in flight want about 430 KB queued: more than the bound.
    const transports = (['http/protobuf', 'http/protobuf', 'http/json', 'grpc'] as const).flatMap((t) => [t, t, t]);
    const [sampled, ...perSender] = await Promise.all([sampler(until), ...transports.map((t) => sender(t, until))]);
    samples = sampled;
    attempts = perSender.flat();
  });

  it('pushes back with 429 + Retry-After and RESOURCE_EXHAUSTED + RetryInfo, and nothing else', (t) => {
    const count = (outcome: string) => attempts.filter((a) => a.outcome === outcome).length;
    t.diagnostic(`${attempts.length} requests: ${count('ok')} acknowledged, ${count('overloaded')} refused as overloaded`);
    const unexpected = attempts.filter((a) => a.outcome !== 'ok' && a.outcome !== 'overloaded');
    // (Which transport wins the free slots is a race; each one's acknowledgements are checked after draining.)
    assert.ok(count('ok') > 0, 'some requests were acknowledged while loaded');
    assert.deepEqual(unexpected, [], 'only acknowledgements and overload refusals');
    for (const transport of ['http/protobuf', 'http/json', 'grpc'] as const) {
      const mine = attempts.filter((a) => a.transport === transport);
      const refused = mine.filter((a) => a.outcome === 'overloaded');
      assert.ok(refused.length > 0, `${transport}: the queue bound was reached (${mine.length} attempts)`);
      for (const r of refused) {
        assert.equal(r.statusCode, grpc.status.RESOURCE_EXHAUSTED, `${transport}: refusal carries a google.rpc.Status`);
        assert.ok(r.retryAfterSeconds !== undefined && Number.isInteger(r.retryAfterSeconds) && r.retryAfterSeconds >= 1, `${transport}: retry delay ${r.retryAfterSeconds}`);
        assert.ok(r.retryAfterSeconds <= 30);
      }
    }
  });

  it('keeps the queue within limits.queue_bytes and stays ready while loaded', (t) => {
    assert.ok(samples.length >= 5, `sampled ${samples.length} times`);
    const most = Math.max(...samples.map((s) => s.queueBytes));
    t.diagnostic(`${samples.length} samples; queue gauge at most ${most} of ${QUEUE_BYTES} bytes`);
    assert.ok(most > QUEUE_BYTES / 2, `the load filled the queue (at most ${most} bytes seen)`);
    assert.ok(most <= QUEUE_BYTES, `queue gauge ${most} over the bound ${QUEUE_BYTES}`);
    assert.deepEqual(
      samples.filter((s) => s.ready !== 200),
      [],
      '/readyz answered 200 throughout',
    );
  });

  it('stores every acknowledged request in full', async () => {
    const acknowledged = attempts.filter((a) => a.outcome === 'ok');
    assert.ok(acknowledged.length >= 3);
    for (const a of acknowledged) {
      const stored = await storedSpans(meshlens.queryUrl, a.traceId);
      assert.equal(stored.length, a.spans, `${a.transport} trace ${a.traceId}`);
    }
    // Refused ones were not half-taken.
    for (const a of attempts.filter((x) => x.outcome === 'overloaded').slice(0, 20)) {
      assert.equal((await storedSpans(meshlens.queryUrl, a.traceId)).length, 0, `refused trace ${a.traceId} is not stored`);
    }
    const metrics = await scrapeMetrics(meshlens.queryUrl);
    const refusedSpans = attempts.filter((a) => a.outcome === 'overloaded').length * SPANS_PER_REQUEST;
    assert.equal(metrics.value('meshlens_refused_spans_total', { reason: 'overload' }), refusedSpans);
    assert.equal(metrics.value('meshlens_accepted_spans_total'), acknowledged.length * SPANS_PER_REQUEST);
  });

  it('drains, stays ready, and takes data again on every transport', async () => {
    const deadline = Date.now() + 15_000;
    while ((await scrapeMetrics(meshlens.queryUrl)).value('meshlens_queue_bytes') > 0) {
      assert.ok(Date.now() < deadline, 'the queue drained');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await fetch(`${meshlens.queryUrl}/readyz`)).status, 200);
    const grpcClient = new RawTraceClient(meshlens.otlpGrpcAddress);
    try {
      const again = await Promise.all((['http/protobuf', 'http/json', 'grpc'] as const).map((t) => sendOnce(t, grpcClient)));
      for (const attempt of again) {
        assert.equal(attempt.outcome, 'ok', `${attempt.transport} after draining`);
        assert.equal((await storedSpans(meshlens.queryUrl, attempt.traceId)).length, SPANS_PER_REQUEST);
      }
    } finally {
      grpcClient.close();
    }
  });
});
