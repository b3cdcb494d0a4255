// Zipkin over HTTP on 9411: POST /api/v2/spans (JSON or proto3) and POST /api/v1/spans (v1 JSON),
// optionally gzip-compressed; what Envoy's Zipkin tracer (Istio, Kuma, Consul, App Mesh), Traefik and
// Zipkin's own libraries send. Replies are Zipkin's: `202 Accepted` once the spans are stored, else a
// status and one line of text/plain.
//
// A batch with some bad spans: the good ones are stored and the reply is still 202 (naming what was
// refused in its body). Zipkin has no partial-success reply, and a 4xx after storing would make a
// sender that retries on any non-2xx (the OpenTelemetry Collector's zipkin exporter does) store the
// good spans again; Envoy counts every reply but 202 as a dropped report. Only a batch whose every
// span is bad gets a 400. Either way the refused spans are counted in meshlens_rejected_spans_total.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { OverloadError, ShuttingDownError } from '../batcher.ts';
import type { CollectorMetrics } from '../metrics.ts';
import { BadRequestError, type ConvertedTraces, type TraceLimits } from '../otlp/traces.ts';
import type { IntakeResult, TraceIntake } from '../trace-intake.ts';
import { convertZipkinProto } from '../zipkin/proto.ts';
import { convertZipkinV1Json } from '../zipkin/v1-json.ts';
import { convertZipkinV2Json } from '../zipkin/v2-json.ts';
import { bodyProblem, decompressBody, firstLine } from './http-body.ts';

export interface ZipkinReceiverOptions {
  host: string;
  port: number;
  maxBodyBytes: number;
  limits: TraceLimits;
}

const RECEIVER = 'zipkin';
const JSON_TYPE = 'application/json';
const PROTOBUF = 'application/x-protobuf';

type ApiVersion = 'v1' | 'v2';
type BodyFormat = 'json' | 'proto';

/** A content type this endpoint does not read: 415, before the body is read. */
class UnsupportedMediaTypeError extends Error {}

export class ZipkinHttpReceiver {
  readonly app: FastifyInstance;
  port = 0;

  constructor(
    private readonly intake: TraceIntake,
    private readonly metrics: CollectorMetrics,
    log: FastifyBaseLogger,
    private readonly options: ZipkinReceiverOptions,
  ) {
    this.app = Fastify({ loggerInstance: log, bodyLimit: options.maxBodyBytes, logController: new LogController({ disableRequestLogging: true }) });
    this.app.addHook('preParsing', async (request, _reply, payload) => {
      bodyFormat(request);
      return decompressBody(request.headers['content-encoding'], payload);
    });
    this.app.removeAllContentTypeParsers();
    // Every media type reaches the route as bytes; bodyFormat() already refused the ones it cannot read.
    this.app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    this.app.setErrorHandler((error, request, reply) => this.fail(reply, bodyProblem(error, request.headers['content-encoding'], this.options.maxBodyBytes) ?? error));
    this.app.post('/api/v2/spans', (request, reply) => this.take(request, reply));
    this.app.post('/api/v1/spans', (request, reply) => this.take(request, reply));
  }

  private async take(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const { accepted, outcome } = this.submit(request);
    const { rejected, errorMessage } = await outcome;
    if (rejected > 0 && accepted === 0) {
      this.metrics.badRequests.inc({ receiver: RECEIVER, reason: 'invalid' });
      return this.reply(reply, 400, `no span stored: ${rejected} invalid; the first: ${errorMessage}`);
    }
    if (rejected > 0) return this.reply(reply, 202, `stored ${accepted} spans; refused ${rejected} invalid; the first: ${errorMessage}`);
    return reply.code(202).send();
  }

  /**
   * Converts the body and hands the spans to the intake. Synchronous on purpose: neither the body nor
   * the converted spans are kept while the reply waits for storage (they are garbage once encoded),
   * so many requests in flight cost their encoded rows, not their bodies and span objects as well.
   */
  private submit(request: FastifyRequest): { accepted: number; outcome: Promise<IntakeResult> } {
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    // The request object lives until the reply; its body (up to limits.max_body_bytes) need not.
    request.body = undefined;
    const { limits } = this.options;
    const converted: ConvertedTraces =
      bodyFormat(request) === 'proto' ? convertZipkinProto(body, limits) : apiVersion(request) === 'v1' ? convertZipkinV1Json(body, limits) : convertZipkinV2Json(body, limits);
    return { accepted: converted.spans.length, outcome: this.intake.accept(RECEIVER, converted) };
  }

  private fail(reply: FastifyReply, error: unknown): FastifyReply {
    if (error instanceof UnsupportedMediaTypeError) {
      this.metrics.badRequests.inc({ receiver: RECEIVER, reason: 'media_type' });
      return this.reply(reply, 415, error.message);
    }
    if (error instanceof BadRequestError) {
      this.metrics.badRequests.inc({ receiver: RECEIVER, reason: error.reason });
      return this.reply(reply, error.reason === 'too_large' ? 413 : 400, error.message);
    }
    if (error instanceof OverloadError) {
      reply.header('retry-after', String(error.retryAfterSeconds));
      return this.reply(reply, 429, error.message);
    }
    if (error instanceof ShuttingDownError) {
      reply.header('retry-after', '5');
      return this.reply(reply, 503, error.message);
    }
    reply.log.error({ err: error }, 'span insert failed');
    reply.header('retry-after', '5');
    return this.reply(reply, 503, `storage refused the write, retry later: ${firstLine(error instanceof Error ? error.message : String(error))}`);
  }

  private reply(reply: FastifyReply, status: number, message: string): FastifyReply {
    return reply.code(status).type('text/plain; charset=utf-8').send(`${firstLine(message)}\n`);
  }

  async start(): Promise<void> {
    try {
      await this.app.listen({ host: this.options.host, port: this.options.port });
    } catch (error) {
      throw new Error(`cannot listen for Zipkin on ${this.options.host}:${this.options.port}: ${(error as Error).message}`);
    }
    const address = this.app.server.address();
    this.port = typeof address === 'object' && address ? address.port : this.options.port;
  }

  /** Stops taking requests and waits for those in progress. */
  async stop(): Promise<void> {
    await this.app.close();
  }
}

function apiVersion(request: FastifyRequest): ApiVersion {
  return request.routeOptions.url === '/api/v1/spans' ? 'v1' : 'v2';
}

/**
 * How to read the body, from its media type (case-insensitive, parameters ignored). No content type
 * is read as JSON, as Zipkin's own server does; v1 is JSON only (its Thrift encoding is not supported).
 */
function bodyFormat(request: FastifyRequest): BodyFormat {
  const header = request.headers['content-type'];
  const mediaType = (header ?? '').split(';')[0]!.trim().toLowerCase();
  if (mediaType === '' || mediaType === JSON_TYPE) return 'json';
  const version = apiVersion(request);
  if (mediaType === PROTOBUF && version === 'v2') return 'proto';
  const accepted = version === 'v2' ? `${JSON_TYPE} or ${PROTOBUF}` : JSON_TYPE;
  throw new UnsupportedMediaTypeError(`unsupported content type ${JSON.stringify(header)} for /api/${version}/spans; send ${accepted}`);
}
