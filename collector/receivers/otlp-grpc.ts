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
function grpcError(code: number, message: string, retryAfterSeconds?: number): Partial<grpc.StatusObject> {
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
