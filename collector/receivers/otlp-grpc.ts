// OTLP traces over gRPC: opentelemetry.proto.collector.trace.v1.TraceService/Export, registered on
// the shared gRPC endpoint (grpc-server.ts). Requests arrive as raw bytes (our own deserializer is the
// identity) and are read by our wire reader, so an undecodable message gets INVALID_ARGUMENT from us
// rather than grpc-js' default INTERNAL. gzip is inflated by grpc-js.
import type * as grpc from '@grpc/grpc-js';
import type { FastifyBaseLogger } from 'fastify';
import { OverloadError, ShuttingDownError } from '../batcher.ts';
import type { CollectorMetrics } from '../metrics.ts';
import { convertTraceProto } from '../otlp/traces-proto.ts';
import { BadRequestError, type TraceLimits, encodeTraceResponseProto } from '../otlp/traces.ts';
import type { TraceIntake } from '../trace-intake.ts';
import { type GrpcServer, outcomeToGrpc } from './grpc-server.ts';

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

export function registerOtlpTraces(server: GrpcServer, intake: TraceIntake, metrics: CollectorMetrics, log: FastifyBaseLogger, limits: TraceLimits): void {
  const exportTraces: grpc.handleUnaryCall<Buffer, Buffer> = (call, callback) => {
    let converted;
    try {
      converted = convertTraceProto(call.request, limits);
    } catch (error) {
      callback(outcomeToGrpc(error, metrics, 'otlp-grpc'));
      return;
    }
    intake.accept('otlp-grpc', converted).then(
      ({ rejected, errorMessage }) => callback(null, Buffer.from(encodeTraceResponseProto(rejected, errorMessage))),
      (error: unknown) => {
        if (!(error instanceof BadRequestError || error instanceof OverloadError || error instanceof ShuttingDownError)) {
          log.error({ err: error }, 'span insert failed');
        }
        callback(outcomeToGrpc(error, metrics, 'otlp-grpc'));
      },
    );
  };
  server.addService('otlp-grpc', TraceServiceDefinition, { Export: exportTraces });
}
