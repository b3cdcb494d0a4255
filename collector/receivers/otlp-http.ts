// OTLP over HTTP on 4318: POST /v1/traces with a protobuf or JSON body, optionally gzip-compressed.
// Replies follow OTLP/HTTP: 200 with an ExportTraceServiceResponse (partial success when some spans
// were rejected) in the request's encoding; errors carry a google.rpc.Status in the same encoding.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import { OverloadError, ShuttingDownError } from '../batcher.ts';
import type { CollectorMetrics } from '../metrics.ts';
import { GrpcCode, encodeStatus, statusJson } from '../otlp/status.ts';
import { convertTraceJson } from '../otlp/traces-json.ts';
import { convertTraceProto } from '../otlp/traces-proto.ts';
import { BadRequestError, type TraceLimits, encodeTraceResponseProto, traceResponseJson } from '../otlp/traces.ts';
import { type LogRecordRow, convertLogsJson, convertLogsProto } from '../otlp/logs.ts';
import { type MetricPoint, convertMetricsJson, convertMetricsProto } from '../otlp/metrics.ts';
import { encodeLogsResponseProto, encodeMetricsResponseProto, logsResponseJson, metricsResponseJson } from '../otlp/signals.ts';
import type { SignalIntake } from '../otlp-intake.ts';
import type { TraceIntake } from '../trace-intake.ts';
import { bodyProblem, decompressBody, firstLine } from './http-body.ts';
import { REMOTE_WRITE_PATH } from './remote-write.ts';

export interface HttpReceiverOptions {
  host: string;
  port: number;
  maxBodyBytes: number;
  limits: TraceLimits;
  /** POST /v1/logs and /v1/metrics are served when given. */
  logs?: SignalIntake<LogRecordRow>;
  metrics?: SignalIntake<MetricPoint>;
}

const PROTOBUF = 'application/x-protobuf';

export class OtlpHttpReceiver {
  readonly app: FastifyInstance;
  port = 0;

  constructor(
    private readonly intake: TraceIntake,
    private readonly metrics: CollectorMetrics,
    log: FastifyBaseLogger,
    private readonly options: HttpReceiverOptions,
  ) {
    this.app = Fastify({ loggerInstance: log, bodyLimit: options.maxBodyBytes, logController: new LogController({ disableRequestLogging: true }) });
    // Remote-write bodies are snappy blocks that their own route inflates (remote-write.ts).
    this.app.addHook('preParsing', async (request, _reply, payload) =>
      request.routeOptions.url === REMOTE_WRITE_PATH ? payload : decompressBody(request.headers['content-encoding'], payload),
    );
    this.app.removeAllContentTypeParsers();
    this.app.addContentTypeParser(PROTOBUF, { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    this.app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    this.app.addContentTypeParser('*', { parseAs: 'buffer' }, (req, _body, done) =>
      done(new BadRequestError(`unsupported content type "${req.headers['content-type'] ?? ''}"; send ${PROTOBUF} or application/json`, 'decode'), undefined),
    );
    this.app.setErrorHandler((error, request, reply) => {
      // Media types are case-insensitive (fastify parsed "Application/X-Protobuf" as protobuf).
      const json = !String(request.headers['content-type'] ?? '').toLowerCase().startsWith(PROTOBUF);
      return this.fail(reply, json, bodyProblem(error, request.headers['content-encoding'], this.options.maxBodyBytes) ?? error);
    });
    this.app.post('/v1/traces', async (request, reply) => {
      const json = typeof request.body === 'string';
      const { limits } = this.options;
      const converted = json ? convertTraceJson(request.body as string, limits) : convertTraceProto(request.body as Buffer, limits);
      const { rejected, errorMessage } = await this.intake.accept('otlp-http', converted);
      if (json) return reply.code(200).type('application/json').send(traceResponseJson(rejected, errorMessage));
      return reply.code(200).type(PROTOBUF).send(Buffer.from(encodeTraceResponseProto(rejected, errorMessage)));
    });
    const { logs, metrics: metricIntake } = options;
    if (logs) {
      this.app.post('/v1/logs', async (request, reply) => {
        const json = typeof request.body === 'string';
        const converted = json ? convertLogsJson(request.body as string, options.limits) : convertLogsProto(request.body as Buffer, options.limits);
        const { rejected, errorMessage } = await logs.accept('otlp-http', { ...converted, items: converted.records });
        if (json) return reply.code(200).type('application/json').send(logsResponseJson(rejected, errorMessage));
        return reply.code(200).type(PROTOBUF).send(Buffer.from(encodeLogsResponseProto(rejected, errorMessage)));
      });
    }
    if (metricIntake) {
      this.app.post('/v1/metrics', async (request, reply) => {
        const json = typeof request.body === 'string';
        const converted = json ? convertMetricsJson(request.body as string, options.limits) : convertMetricsProto(request.body as Buffer, options.limits);
        const { rejected, errorMessage } = await metricIntake.accept('otlp-http', { ...converted, items: converted.points });
        if (json) return reply.code(200).type('application/json').send(metricsResponseJson(rejected, errorMessage));
        return reply.code(200).type(PROTOBUF).send(Buffer.from(encodeMetricsResponseProto(rejected, errorMessage)));
      });
    }
  }

  private fail(reply: FastifyReply, json: boolean, error: unknown): FastifyReply {
    let status: number;
    let code: number;
    let retryAfter: number | undefined;
    if (error instanceof BadRequestError) {
      this.metrics.badRequests.inc({ receiver: 'otlp-http', reason: error.reason });
      status = error.reason === 'too_large' ? 413 : 400;
      code = error.reason === 'too_large' ? GrpcCode.RESOURCE_EXHAUSTED : GrpcCode.INVALID_ARGUMENT;
    } else if (error instanceof OverloadError) {
      [status, code, retryAfter] = [429, GrpcCode.RESOURCE_EXHAUSTED, error.retryAfterSeconds];
    } else if (error instanceof ShuttingDownError) {
      [status, code, retryAfter] = [503, GrpcCode.UNAVAILABLE, 5];
    } else {
      reply.log.error({ err: error }, 'insert failed');
      [status, code, retryAfter] = [503, GrpcCode.UNAVAILABLE, 5];
    }
    const message =
      error instanceof BadRequestError || error instanceof OverloadError || error instanceof ShuttingDownError
        ? error.message
        : `storage refused the write, retry later: ${firstLine(error instanceof Error ? error.message : String(error))}`;
    if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
    reply.code(status);
    return json ? reply.type('application/json').send(statusJson(code, message)) : reply.type(PROTOBUF).send(Buffer.from(encodeStatus(code, message)));
  }

  async start(): Promise<void> {
    try {
      await this.app.listen({ host: this.options.host, port: this.options.port });
    } catch (error) {
      throw new Error(`cannot listen for OTLP/HTTP on ${this.options.host}:${this.options.port}: ${(error as Error).message}`);
    }
    const address = this.app.server.address();
    this.port = typeof address === 'object' && address ? address.port : this.options.port;
  }

  /** Stops taking requests and waits for those in progress. */
  async stop(): Promise<void> {
    await this.app.close();
  }
}
