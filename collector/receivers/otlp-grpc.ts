// OTLP over gRPC on 4317: opentelemetry.proto.collector.trace.v1.TraceService/Export.
// Requests arrive as raw bytes (our own deserializer is the identity), so an undecodable message
// gets INVALID_ARGUMENT from us rather than grpc-js' default INTERNAL. gzip is inflated by grpc-js.
import * as grpc from '@grpc/grpc-js';
import type { FastifyBaseLogger } from 'fastify';
import { OverloadError, ShuttingDownError } from '../batcher.ts';
import type { CollectorMetrics } from '../metrics.ts';
import { GrpcCode, encodeStatus } from '../otlp/status.ts';
import { convertTraceProto } from '../otlp/traces-proto.ts';
import { BadRequestError, type TraceLimits, encodeTraceResponseProto } from '../otlp/traces.ts';
import type { TraceIntake } from '../trace-intake.ts';

const identity = (b: Buffer) => b;

/** A status as a server call sends it (grpc-js does not export the type by name). */
type StatusReply = Parameters<grpc.ServerInterceptingCallInterface['sendStatus']>[0];

const TraceServiceDefinition: grpc.ServiceDefinition = {
  Export: {
    path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

export interface GrpcReceiverOptions {
  host: string;
  port: number;
  maxBodyBytes: number;
  limits: TraceLimits;
}

/** A gRPC error whose details carry google.rpc.Status (and RetryInfo when a retry can succeed). */
function grpcError(code: number, message: string, retryAfterSeconds?: number): { code: number; details: string; metadata: grpc.Metadata } {
  const metadata = new grpc.Metadata();
  metadata.set('grpc-status-details-bin', Buffer.from(encodeStatus(code, message, retryAfterSeconds)));
  return { code, details: message, metadata };
}

export function outcomeToGrpc(error: unknown, metrics: CollectorMetrics): Partial<grpc.StatusObject> {
  if (error instanceof BadRequestError) {
    metrics.badRequests.inc({ receiver: 'otlp-grpc', reason: error.reason });
    return grpcError(error.reason === 'too_large' ? GrpcCode.RESOURCE_EXHAUSTED : GrpcCode.INVALID_ARGUMENT, error.message);
  }
  if (error instanceof OverloadError) return grpcError(GrpcCode.RESOURCE_EXHAUSTED, error.message, error.retryAfterSeconds);
  if (error instanceof ShuttingDownError) return grpcError(GrpcCode.UNAVAILABLE, error.message, 5);
  return grpcError(GrpcCode.UNAVAILABLE, `storage refused the write, retry later: ${firstLine(error)}`, 5);
}

/**
 * grpc-js inflates and size-checks each message before any handler runs, and answers failures
 * itself: INTERNAL for a body that is not valid gzip, RESOURCE_EXHAUSTED for one over
 * `grpc.max_receive_message_length`. Those answers leave through the call's `sendStatus`; wrapping
 * it lets them follow our contract (an undecodable message is INVALID_ARGUMENT) and be counted like
 * every other bad request. Statuses our own handler sends pass through unchanged.
 */
function libraryRefusals(metrics: CollectorMetrics): grpc.ServerInterceptor {
  return (_method, call) => {
    const send = call.sendStatus.bind(call);
    call.sendStatus = (status) => send(libraryStatus(status, metrics));
    return new grpc.ServerInterceptingCall(call);
  };
}

function libraryStatus(status: StatusReply, metrics: CollectorMetrics): StatusReply {
  const details = status.details ?? '';
  if (status.code === grpc.status.INTERNAL && details === 'Failed to decompress message') {
    metrics.badRequests.inc({ receiver: 'otlp-grpc', reason: 'decode' });
    return grpcError(GrpcCode.INVALID_ARGUMENT, 'the message is not valid gzip (grpc-encoding: gzip); send it compressed correctly or uncompressed');
  }
  if (status.code === grpc.status.RESOURCE_EXHAUSTED && /^Received message (larger than max|that decompresses to a size larger than)/.test(details)) {
    metrics.badRequests.inc({ receiver: 'otlp-grpc', reason: 'too_large' });
    return grpcError(GrpcCode.RESOURCE_EXHAUSTED, `message over limits.max_body_bytes (after decompression): ${details}`);
  }
  return status;
}

export class OtlpGrpcReceiver {
  private readonly server: grpc.Server;
  port = 0;

  constructor(
    private readonly intake: TraceIntake,
    private readonly metrics: CollectorMetrics,
    private readonly log: FastifyBaseLogger,
    private readonly options: GrpcReceiverOptions,
  ) {
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': options.maxBodyBytes,
      'grpc.max_send_message_length': 4 * 1024 * 1024,
      interceptors: [libraryRefusals(metrics)],
    });
    this.server.addService(TraceServiceDefinition, { Export: this.export });
  }

  private readonly export: grpc.handleUnaryCall<Buffer, Buffer> = (call, callback) => {
    let converted;
    try {
      converted = convertTraceProto(call.request, this.options.limits);
    } catch (error) {
      callback(outcomeToGrpc(error, this.metrics));
      return;
    }
    this.intake.accept('otlp-grpc', converted).then(
      ({ rejected, errorMessage }) => callback(null, Buffer.from(encodeTraceResponseProto(rejected, errorMessage))),
      (error: unknown) => {
        if (!(error instanceof BadRequestError || error instanceof OverloadError || error instanceof ShuttingDownError)) {
          this.log.error({ err: error }, 'span insert failed');
        }
        callback(outcomeToGrpc(error, this.metrics));
      },
    );
  };

  async start(): Promise<void> {
    this.port = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(`${this.options.host}:${this.options.port}`, grpc.ServerCredentials.createInsecure(), (error, port) =>
        error ? reject(new Error(`cannot listen for OTLP/gRPC on ${this.options.host}:${this.options.port}: ${error.message}`)) : resolve(port),
      );
    });
  }

  /** Stops taking new calls and waits for the ones in progress (each waits for its insert). */
  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
  }
}

function firstLine(error: unknown): string {
  return String(error instanceof Error ? error.message : error).split('\n')[0] ?? '';
}
