// Bad input over OTLP/HTTP and OTLP/gRPC against a real meshlens: each kind of broken request gets a
// clear, one-line refusal with the status the contract names, is counted in meshlens' own metrics,
// and harms nothing else (the next good request is stored, and data stored earlier stays).
// Partial success, attribute limits and unknown enum values are checked on every transport.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { startTestMeshlens, type TestMeshlens } from '../helpers/meshlens.ts';
import {
  EXPORT_PATH,
  JSON_TYPE,
  PROTOBUF,
  RawTraceClient,
  alterSpan,
  buildTrace,
  decodeRpcStatus,
  jsonBody,
  partialSuccess,
  postTraces,
  protobufBody,
  scrapeMetrics,
  storedSpans,
  type BuiltTrace,
  type PartialSuccess,
  type StoredSpan,
} from '../helpers/otlp-wire.ts';

const LIMITS = {
  maxBodyBytes: 64 * 1024,
  spansPerRequest: 50,
  attributesPerSpan: 8,
  attributeValueLength: 100,
};

let meshlens: TestMeshlens;
let grpcClient: RawTraceClient;
let gzipGrpcClient: RawTraceClient;
let witness: BuiltTrace;

before(async () => {
  meshlens = await startTestMeshlens({
    overrides: {
      'limits.max_body_bytes': '64KiB',
      'limits.spans_per_request': String(LIMITS.spansPerRequest),
      'limits.attributes_per_span': String(LIMITS.attributesPerSpan),
      'limits.attribute_value_length': String(LIMITS.attributeValueLength),
      'batch.max_delay': '50ms',
    },
  });
  grpcClient = new RawTraceClient(meshlens.otlpGrpcAddress);
  gzipGrpcClient = new RawTraceClient(meshlens.otlpGrpcAddress, { gzip: true });
  // Stored before any bad input; checked again at the end.
  witness = buildTrace(3, { name: 'witness' });
  const reply = await postTraces(meshlens.otlpHttpUrl, protobufBody(witness.spans));
  assert.equal(reply.status, 200);
});

after(async () => {
  grpcClient?.close();
  gzipGrpcClient?.close();
  await meshlens?.destroy();
});

type Transport = 'http/protobuf' | 'http/json' | 'grpc';
const TRANSPORTS: Transport[] = ['http/protobuf', 'http/json', 'grpc'];

interface ExportOutcome {
  ok: boolean;
  /** HTTP status, or the gRPC status code. */
  status: number;
  partial: PartialSuccess;
}

async function exportSpans(transport: Transport, spans: ReadableSpan[]): Promise<ExportOutcome> {
  if (transport === 'grpc') {
    const reply = await grpcClient.export(protobufBody(spans));
    const partial = reply.response ? partialSuccess(reply.response, 'protobuf') : { rejectedSpans: 0, errorMessage: '' };
    return { ok: reply.code === grpc.status.OK, status: reply.code, partial };
  }
  const json = transport === 'http/json';
  const reply = await postTraces(meshlens.otlpHttpUrl, json ? jsonBody(spans) : protobufBody(spans), { contentType: json ? JSON_TYPE : PROTOBUF });
  const partial = reply.status === 200 ? partialSuccess(reply.body, json ? 'json' : 'protobuf') : { rejectedSpans: 0, errorMessage: '' };
  return { ok: reply.status === 200, status: reply.status, partial };
}

/** "Harms nothing else": a good request right after a bad one is taken in full and stored. */
async function assertStillAccepting(transport: Transport): Promise<void> {
  const good = buildTrace(2, { name: `good after bad (${transport})` });
  const outcome = await exportSpans(transport, good.spans);
  assert.equal(outcome.ok, true, `a good ${transport} request after a bad one was refused with ${outcome.status}`);
  assert.equal(outcome.partial.rejectedSpans, 0);
  assert.equal((await storedSpans(meshlens.queryUrl, good.traceId)).length, 2);
}

function assertOneLine(message: string, mentions: RegExp): void {
  assert.ok(message.length > 0, 'the reason is not empty');
  assert.ok(!message.includes('\n'), `the reason is one line: ${JSON.stringify(message)}`);
  assert.match(message, mentions);
}

/** Runs `send` and returns how much each listed counter moved meanwhile. */
async function countersMovedBy(
  counters: Array<[name: string, labels: Record<string, string>]>,
  send: () => Promise<void>,
): Promise<number[]> {
  const before = await scrapeMetrics(meshlens.queryUrl);
  await send();
  const after = await scrapeMetrics(meshlens.queryUrl);
  return counters.map(([name, labels]) => after.value(name, labels) - before.value(name, labels));
}

const badRequests = (receiver: 'otlp-http' | 'otlp-grpc', reason: string): [string, Record<string, string>] => [
  'meshlens_bad_requests_total',
  { receiver, reason },
];

/** A body over limits.max_body_bytes that is otherwise a valid request (30 spans, long attributes). */
function oversizedTrace(): BuiltTrace {
  const attributes: Record<string, string> = {};
  for (let i = 0; i < 6; i++) attributes[`filler.${i}`] = 'f'.repeat(600);
  return buildTrace(30, { name: 'oversized', attributes });
}

/** A valid request of a few hundred bytes gzipped that inflates past limits.max_body_bytes. */
function inflatingTrace(): BuiltTrace {
  return buildTrace(1, { name: 'gzip bomb', attributes: { 'bomb.payload': 'a'.repeat(LIMITS.maxBodyBytes * 3) } });
}

describe('OTLP/HTTP bad input', () => {
  it('truncated protobuf: 400 with a google.rpc.Status INVALID_ARGUMENT and a one-line reason', async () => {
    const body = protobufBody(buildTrace(3).spans);
    const truncated = body.subarray(0, Math.floor(body.length / 2));
    const [counted] = await countersMovedBy([badRequests('otlp-http', 'decode')], async () => {
      const reply = await postTraces(meshlens.otlpHttpUrl, truncated);
      assert.equal(reply.status, 400);
      assert.equal(reply.headers.get('content-type'), PROTOBUF);
      const status = decodeRpcStatus(reply.body);
      assert.equal(status.code, grpc.status.INVALID_ARGUMENT);
      assertOneLine(status.message, /protobuf/i);
    });
    assert.equal(counted, 1);
    await assertStillAccepting('http/protobuf');
  });

  it('the error reply is protobuf for a protobuf request whatever the case of its media type', async () => {
    // Media types are case-insensitive: meshlens parses "Application/X-Protobuf" as protobuf, so its
    // refusal must be protobuf too, or the sender's OTLP client cannot read it.
    const truncated = protobufBody(buildTrace(2).spans).subarray(0, 20);
    const reply = await postTraces(meshlens.otlpHttpUrl, truncated, { contentType: 'Application/X-Protobuf' });
    assert.equal(reply.status, 400);
    assert.equal(reply.headers.get('content-type'), PROTOBUF);
    assert.equal(decodeRpcStatus(reply.body).code, grpc.status.INVALID_ARGUMENT);
  });

  it('invalid JSON: 400 with a JSON status and a one-line reason', async () => {
    const [counted] = await countersMovedBy([badRequests('otlp-http', 'decode')], async () => {
      const reply = await postTraces(meshlens.otlpHttpUrl, Buffer.from('{"resourceSpans": [ {'), { contentType: JSON_TYPE });
      assert.equal(reply.status, 400);
      const status = JSON.parse(reply.body.toString()) as { code: number; message: string };
      assert.equal(status.code, grpc.status.INVALID_ARGUMENT);
      assertOneLine(status.message, /JSON/);
    });
    assert.equal(counted, 1);
    await assertStillAccepting('http/json');
  });

  it('JSON that is not an object: 400', async () => {
    const bodies = ['[]', '"resourceSpans"', '42', 'null', '{"resourceSpans": {}}'];
    const [counted] = await countersMovedBy([badRequests('otlp-http', 'decode')], async () => {
      for (const text of bodies) {
        const reply = await postTraces(meshlens.otlpHttpUrl, Buffer.from(text), { contentType: JSON_TYPE });
        assert.equal(reply.status, 400, `body ${text}`);
        const status = JSON.parse(reply.body.toString()) as { code: number; message: string };
        assertOneLine(status.message, /OTLP\/JSON/);
      }
    });
    assert.equal(counted, bodies.length);
    await assertStillAccepting('http/json');
  });

  it('a content type other than protobuf or JSON: 400 naming the accepted types', async () => {
    const body = protobufBody(buildTrace(1).spans);
    const [counted] = await countersMovedBy([badRequests('otlp-http', 'decode')], async () => {
      for (const contentType of ['text/plain', 'application/octet-stream']) {
        const reply = await postTraces(meshlens.otlpHttpUrl, body, { contentType });
        assert.equal(reply.status, 400, contentType);
        const status = JSON.parse(reply.body.toString()) as { code: number; message: string };
        assertOneLine(status.message, /application\/x-protobuf/);
        assert.match(status.message, /application\/json/);
        assert.match(status.message, new RegExp(contentType.replace('/', '\\/')));
      }
    });
    assert.equal(counted, 2);
    await assertStillAccepting('http/protobuf');
  });

  it('no content type at all: 400 naming the accepted types', async () => {
    const [counted] = await countersMovedBy([badRequests('otlp-http', 'decode')], async () => {
      const response = await fetch(`${meshlens.otlpHttpUrl}/v1/traces`, { method: 'POST', body: protobufBody(buildTrace(1).spans) });
      assert.equal(response.status, 400);
      assertOneLine(((await response.json()) as { message: string }).message, /application\/x-protobuf or application\/json/);
    });
    assert.equal(counted, 1);
    await assertStillAccepting('http/protobuf');
  });

  it('an unsupported content-encoding: 400 naming gzip', async () => {
    const [counted] = await countersMovedBy([badRequests('otlp-http', 'decode')], async () => {
      const reply = await postTraces(meshlens.otlpHttpUrl, protobufBody(buildTrace(1).spans), { contentEncoding: 'br' });
      assert.equal(reply.status, 400);
      assertOneLine(decodeRpcStatus(reply.body).message, /gzip/);
    });
    assert.equal(counted, 1);
    await assertStillAccepting('http/protobuf');
  });

  it('a corrupt gzip body: 400', async () => {
    const gzipped = gzipSync(protobufBody(buildTrace(3).spans));
    const corrupt = [
      Buffer.from('this is not gzip at all'),
      gzipped.subarray(0, gzipped.length - 12), // cut short
      Buffer.concat([gzipped.subarray(0, 20), Buffer.alloc(16, 0xab), gzipped.subarray(36)]), // damaged in the middle
    ];
    const [counted] = await countersMovedBy([badRequests('otlp-http', 'decode')], async () => {
      for (const [i, body] of corrupt.entries()) {
        const reply = await postTraces(meshlens.otlpHttpUrl, body, { contentEncoding: 'gzip' });
        assert.equal(reply.status, 400, `corrupt body #${i}`);
        assertOneLine(decodeRpcStatus(reply.body).message, /gzip|protobuf/);
      }
    });
    assert.equal(counted, corrupt.length);
    await assertStillAccepting('http/protobuf');
  });

  it('a valid gzip body sent with an explicit Content-Length: 200 and stored (protobuf and JSON)', async () => {
    for (const json of [false, true]) {
      const sent = buildTrace(4, { name: `gzip with content-length ${json ? 'json' : 'protobuf'}` });
      const body = gzipSync(json ? jsonBody(sent.spans) : protobufBody(sent.spans));
      // fetch sends a Buffer body with Content-Length: the compressed size.
      const reply = await postTraces(meshlens.otlpHttpUrl, body, { contentType: json ? JSON_TYPE : PROTOBUF, contentEncoding: 'gzip' });
      assert.equal(reply.status, 200, reply.body.toString());
      assert.equal((await storedSpans(meshlens.queryUrl, sent.traceId)).length, 4);
    }
  });

  it('a body over limits.max_body_bytes: 413 with RESOURCE_EXHAUSTED, with or without Content-Length', async () => {
    const sent = oversizedTrace();
    const body = protobufBody(sent.spans);
    assert.ok(body.length > LIMITS.maxBodyBytes, `test body is ${body.length} bytes`);
    const [counted] = await countersMovedBy([badRequests('otlp-http', 'too_large')], async () => {
      const reply = await postTraces(meshlens.otlpHttpUrl, body);
      assert.equal(reply.status, 413);
      const status = decodeRpcStatus(reply.body);
      assert.equal(status.code, grpc.status.RESOURCE_EXHAUSTED);
      assertOneLine(status.message, /max_body_bytes/);

      // Streamed (chunked, no Content-Length): the limit is enforced on the bytes as they arrive.
      const streamed = await fetch(`${meshlens.otlpHttpUrl}/v1/traces`, {
        method: 'POST',
        headers: { 'content-type': JSON_TYPE },
        body: new Blob([jsonBody(sent.spans)]).stream(),
        duplex: 'half',
      } as RequestInit);
      assert.equal(streamed.status, 413);
      assertOneLine(((await streamed.json()) as { message: string }).message, /max_body_bytes/);
    });
    assert.equal(counted, 2);
    assert.equal((await storedSpans(meshlens.queryUrl, sent.traceId)).length, 0, 'nothing of a refused request is stored');
    await assertStillAccepting('http/protobuf');
  });

  it('a small gzip body that inflates past limits.max_body_bytes: 413', async () => {
    const sent = inflatingTrace();
    const body = gzipSync(protobufBody(sent.spans));
    assert.ok(body.length < 4096, `gzipped body is ${body.length} bytes`);
    const [counted] = await countersMovedBy([badRequests('otlp-http', 'too_large')], async () => {
      const reply = await postTraces(meshlens.otlpHttpUrl, body, { contentEncoding: 'gzip' });
      assert.equal(reply.status, 413);
      assertOneLine(decodeRpcStatus(reply.body).message, /max_body_bytes/);
    });
    assert.equal(counted, 1);
    assert.equal((await storedSpans(meshlens.queryUrl, sent.traceId)).length, 0);
    await assertStillAccepting('http/protobuf');
  });

  it('more spans than limits.spans_per_request: 413 naming the limit', async () => {
    const sent = buildTrace(LIMITS.spansPerRequest + 10, { name: 'too many spans' });
    const [counted] = await countersMovedBy([badRequests('otlp-http', 'too_large')], async () => {
      for (const json of [false, true]) {
        const reply = await postTraces(meshlens.otlpHttpUrl, json ? jsonBody(sent.spans) : protobufBody(sent.spans), {
          contentType: json ? JSON_TYPE : PROTOBUF,
        });
        assert.equal(reply.status, 413);
        const message = json ? (JSON.parse(reply.body.toString()) as { message: string }).message : decodeRpcStatus(reply.body).message;
        assertOneLine(message, /spans_per_request/);
      }
    });
    assert.equal(counted, 2);
    assert.equal((await storedSpans(meshlens.queryUrl, sent.traceId)).length, 0);
    await assertStillAccepting('http/json');
  });
});

/** Sends one gRPC message by hand over HTTP/2, to send what grpc-js clients never would. */
function rawGrpcCall(address: string, frame: Buffer, headers: Record<string, string>): Promise<{ code: number; message: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${address}`);
    session.on('error', reject);
    const stream = session.request({
      ':method': 'POST',
      ':path': EXPORT_PATH,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...headers,
    });
    let code: number | undefined;
    let message = '';
    const take = (h: http2.IncomingHttpHeaders) => {
      if (h['grpc-status'] !== undefined) {
        code = Number(h['grpc-status']);
        message = decodeURIComponent(String(h['grpc-message'] ?? ''));
      }
    };
    stream.on('response', take);
    stream.on('trailers', take);
    stream.on('data', () => undefined);
    stream.on('close', () => {
      session.close();
      if (code === undefined) reject(new Error('no grpc-status'));
      else resolve({ code, message });
    });
    stream.end(frame);
  });
}

function grpcFrame(message: Buffer, compressed: boolean): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt8(compressed ? 1 : 0, 0);
  header.writeUInt32BE(message.length, 1);
  return Buffer.concat([header, message]);
}

describe('OTLP/gRPC bad input', () => {
  it('truncated protobuf: INVALID_ARGUMENT (not INTERNAL) with a one-line reason and a Status detail', async () => {
    const body = protobufBody(buildTrace(3).spans);
    const [counted] = await countersMovedBy([badRequests('otlp-grpc', 'decode')], async () => {
      for (const broken of [body.subarray(0, Math.floor(body.length / 2)), body.subarray(0, body.length - 1), Buffer.from([0xff, 0xff, 0xff, 0xff])]) {
        const reply = await grpcClient.export(broken);
        assert.equal(reply.code, grpc.status.INVALID_ARGUMENT, `${broken.length} bytes: ${reply.details}`);
        assertOneLine(reply.details, /protobuf/i);
        const [details] = reply.metadata!.get('grpc-status-details-bin');
        assert.ok(Buffer.isBuffer(details), 'grpc-status-details-bin is sent');
        assert.equal(decodeRpcStatus(details).code, grpc.status.INVALID_ARGUMENT);
      }
    });
    assert.equal(counted, 3);
    await assertStillAccepting('grpc');
  });

  it('a message over limits.max_body_bytes: RESOURCE_EXHAUSTED', async () => {
    const sent = oversizedTrace();
    const reply = await grpcClient.export(protobufBody(sent.spans));
    assert.equal(reply.code, grpc.status.RESOURCE_EXHAUSTED, reply.details);
    assertOneLine(reply.details, /larger than/);
    assert.equal((await storedSpans(meshlens.queryUrl, sent.traceId)).length, 0);
    await assertStillAccepting('grpc');
  });

  it('a small gzip message that inflates past limits.max_body_bytes: RESOURCE_EXHAUSTED', async () => {
    const sent = inflatingTrace();
    const reply = await gzipGrpcClient.export(protobufBody(sent.spans));
    assert.equal(reply.code, grpc.status.RESOURCE_EXHAUSTED, reply.details);
    assert.equal((await storedSpans(meshlens.queryUrl, sent.traceId)).length, 0);
    // The same client still works for a request under the limit.
    const good = buildTrace(2, { name: 'gzip grpc under the limit' });
    assert.equal((await gzipGrpcClient.export(protobufBody(good.spans))).code, grpc.status.OK);
    assert.equal((await storedSpans(meshlens.queryUrl, good.traceId)).length, 2);
  });

  it('more spans than limits.spans_per_request: RESOURCE_EXHAUSTED naming the limit, counted', async () => {
    const sent = buildTrace(LIMITS.spansPerRequest + 10, { name: 'too many spans grpc' });
    const [counted] = await countersMovedBy([badRequests('otlp-grpc', 'too_large')], async () => {
      const reply = await grpcClient.export(protobufBody(sent.spans));
      assert.equal(reply.code, grpc.status.RESOURCE_EXHAUSTED);
      assertOneLine(reply.details, /spans_per_request/);
    });
    assert.equal(counted, 1);
    assert.equal((await storedSpans(meshlens.queryUrl, sent.traceId)).length, 0);
    await assertStillAccepting('grpc');
  });

  it('a corrupt gzip message: refused, and the server keeps serving', async () => {
    const reply = await rawGrpcCall(meshlens.otlpGrpcAddress, grpcFrame(Buffer.from('not gzip at all'), true), { 'grpc-encoding': 'gzip' });
    assert.notEqual(reply.code, grpc.status.OK);
    await assertStillAccepting('grpc');
  });

  // grpc-js inflates and size-checks messages before meshlens' handler runs; the receiver's
  // interceptor brings those refusals under the contract.
  it('a corrupt gzip message gets INVALID_ARGUMENT, counted', async () => {
    const [counted] = await countersMovedBy([badRequests('otlp-grpc', 'decode')], async () => {
      const reply = await rawGrpcCall(meshlens.otlpGrpcAddress, grpcFrame(Buffer.from('not gzip at all'), true), { 'grpc-encoding': 'gzip' });
      assert.equal(reply.code, grpc.status.INVALID_ARGUMENT, reply.message);
    });
    assert.equal(counted, 1);
  });

  it('a message over limits.max_body_bytes is counted as too_large', async () => {
    const [counted] = await countersMovedBy([badRequests('otlp-grpc', 'too_large')], async () => {
      assert.equal((await grpcClient.export(protobufBody(oversizedTrace().spans))).code, grpc.status.RESOURCE_EXHAUSTED);
    });
    assert.equal(counted, 1);
  });
});

const SYNTHETIC_TAGS = new Set(['span.kind', 'otel.status_code', 'otel.status_description', 'error', 'otel.scope.name', 'otel.scope.version', 'w3c.tracestate']);
const ownTags = (span: StoredSpan) => span.tags.filter((t) => !SYNTHETIC_TAGS.has(t.key));

for (const transport of TRANSPORTS) {
  const receiver = transport === 'grpc' ? 'otlp-grpc' : 'otlp-http';

  describe(`partial success, limits and enums over ${transport}`, () => {
    it('spans with bad ids are rejected (partial success), the rest of the request is stored', async () => {
      const good = buildTrace(3, { name: `partial ${transport}` });
      const extra = buildTrace(3, { name: 'to be broken' }).spans;
      const bad = [
        // 17 bytes: would land in the good trace if the collector cut ids to length.
        alterSpan(extra[0]!, { traceId: good.traceId + 'ff', name: 'bad trace id (17 bytes)' }),
        alterSpan(extra[1]!, { traceId: good.traceId, spanId: '0000000000000000', name: 'bad span id (all zero)' }),
        alterSpan(extra[2]!, { traceId: good.traceId, spanId: 'abcdef', name: 'bad span id (3 bytes)' }),
      ];
      const [rejectedCount] = await countersMovedBy([['meshlens_rejected_spans_total', { receiver }]], async () => {
        const outcome = await exportSpans(transport, [good.spans[0]!, bad[0]!, good.spans[1]!, bad[1]!, bad[2]!, good.spans[2]!]);
        assert.equal(outcome.ok, true, `status ${outcome.status}`);
        assert.equal(outcome.partial.rejectedSpans, 3);
        assertOneLine(outcome.partial.errorMessage, /trace_id|span_id/);
      });
      assert.equal(rejectedCount, 3);
      const stored = await storedSpans(meshlens.queryUrl, good.traceId);
      assert.deepEqual(stored.map((s) => s.spanID).sort(), good.spans.map((s) => s.spanContext().spanId).sort());
      assert.ok(!stored.some((s) => s.operationName.startsWith('bad ')), 'no bad span is stored');
      await assertStillAccepting(transport);
    });

    it('attribute values past limits.attribute_value_length are cut; attributes past limits.attributes_per_span are dropped', async () => {
      const attributes: Record<string, string> = { 'attr.long': 'L'.repeat(LIMITS.attributeValueLength * 5) };
      for (let i = 1; i < LIMITS.attributesPerSpan + 4; i++) attributes[`attr.${String(i).padStart(2, '0')}`] = `value ${i}`;
      // + span.index from buildTrace: 13 attributes on the span, 8 may stay.
      const sent = buildTrace(1, { name: `limits ${transport}`, attributes });
      const [truncated, dropped] = await countersMovedBy(
        [
          ['meshlens_truncated_attributes_total', {}],
          ['meshlens_dropped_attributes_total', {}],
        ],
        async () => {
          const outcome = await exportSpans(transport, sent.spans);
          assert.equal(outcome.ok, true);
          assert.equal(outcome.partial.rejectedSpans, 0);
        },
      );
      const [span] = await storedSpans(meshlens.queryUrl, sent.traceId);
      assert.ok(span);
      const kept = ownTags(span);
      assert.equal(kept.length, LIMITS.attributesPerSpan);
      // The first ones sent are the ones kept.
      assert.deepEqual(
        kept.map((t) => t.key),
        Object.keys(attributes).slice(0, LIMITS.attributesPerSpan),
      );
      const long = kept.find((t) => t.key === 'attr.long');
      assert.equal(long?.value, 'L'.repeat(LIMITS.attributeValueLength));
      assert.equal(kept.find((t) => t.key === 'attr.07')?.value, 'value 7');
      assert.equal(truncated, 1);
      assert.equal(dropped, 13 - LIMITS.attributesPerSpan);
    });

    it('unknown enum values (kind 99, status code 7) are taken as UNSPECIFIED / UNSET', async () => {
      const sent = buildTrace(2, { name: `enums ${transport}` });
      const [child, root] = sent.spans;
      const odd = alterSpan(root!, { kind: 99, statusCode: 7 });
      const outcome = await exportSpans(transport, [child!, odd]);
      assert.equal(outcome.ok, true, `status ${outcome.status}`);
      assert.equal(outcome.partial.rejectedSpans, 0);
      const stored = await storedSpans(meshlens.queryUrl, sent.traceId);
      assert.equal(stored.length, 2);
      const storedRoot = stored.find((s) => s.spanID === root!.spanContext().spanId)!;
      const storedChild = stored.find((s) => s.spanID === child!.spanContext().spanId)!;
      const tag = (s: StoredSpan, key: string) => s.tags.find((t) => t.key === key)?.value;
      assert.equal(tag(storedRoot, 'span.kind'), undefined, 'kind 99 is stored as unspecified');
      assert.equal(tag(storedRoot, 'otel.status_code'), undefined, 'status 7 is stored as unset');
      assert.equal(tag(storedRoot, 'error'), undefined);
      // The known values next to them still come through.
      assert.equal(tag(storedChild, 'span.kind'), 'client');
    });
  });
}

describe('after all the bad input', () => {
  it('data stored before it is intact and the collector still takes every transport', async () => {
    const stored = await storedSpans(meshlens.queryUrl, witness.traceId);
    assert.deepEqual(stored.map((s) => s.spanID).sort(), witness.spans.map((s) => s.spanContext().spanId).sort());
    for (const transport of TRANSPORTS) await assertStillAccepting(transport);
    const ready = await fetch(`${meshlens.queryUrl}/readyz`);
    assert.equal(ready.status, 200);
  });
});
