// OTLP logs and metrics over gRPC: opentelemetry.proto.collector.logs.v1.LogsService/Export and
// …metrics.v1.MetricsService/Export on the shared gRPC endpoint. As for traces, requests arrive as raw
// bytes and are decoded by us, so an undecodable message gets INVALID_ARGUMENT rather than INTERNAL.
import type * as grpc from '@grpc/grpc-js';
import type { FastifyBaseLogger } from 'fastify';
import { OverloadError, ShuttingDownError } from '../batcher.ts';
import type { CollectorMetrics } from '../metrics.ts';
import { type LogRecordRow, convertLogsProto } from '../otlp/logs.ts';
import { type MetricPoint, convertMetricsProto } from '../otlp/metrics.ts';
import { encodeLogsResponseProto, encodeMetricsResponseProto } from '../otlp/signals.ts';
import { BadRequestError, type TraceLimits } from '../otlp/traces.ts';
import type { SignalIntake } from '../otlp-intake.ts';
import type { IntakeResult } from '../trace-intake.ts';
import { type GrpcServer, outcomeToGrpc } from './grpc-server.ts';

const identity = (b: Buffer) => b;

function exportDefinition(path: string): grpc.ServiceDefinition {
  return {
    Export: {
      path,
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    },
  };
}

function exportHandler(
  metrics: CollectorMetrics,
  log: FastifyBaseLogger,
  take: (request: Buffer) => Promise<IntakeResult>,
  reply: (result: IntakeResult) => Uint8Array,
): grpc.handleUnaryCall<Buffer, Buffer> {
  return (call, callback) => {
    let taken: Promise<IntakeResult>;
    try {
      taken = take(call.request);
    } catch (error) {
      callback(outcomeToGrpc(error, metrics, 'otlp-grpc'));
      return;
    }
    taken.then(
      (result) => callback(null, Buffer.from(reply(result))),
      (error: unknown) => {
        if (!(error instanceof BadRequestError || error instanceof OverloadError || error instanceof ShuttingDownError)) {
          log.error({ err: error }, 'insert failed');
        }
        callback(outcomeToGrpc(error, metrics, 'otlp-grpc'));
      },
    );
  };
}

export function registerOtlpLogs(server: GrpcServer, intake: SignalIntake<LogRecordRow>, metrics: CollectorMetrics, log: FastifyBaseLogger, limits: TraceLimits): void {
  const handler = exportHandler(
    metrics,
    log,
    (request) => {
      const converted = convertLogsProto(request, limits);
      return intake.accept('otlp-grpc', { ...converted, items: converted.records });
    },
    ({ rejected, errorMessage }) => encodeLogsResponseProto(rejected, errorMessage),
  );
  server.addService('otlp-grpc', exportDefinition('/opentelemetry.proto.collector.logs.v1.LogsService/Export'), { Export: handler });
}

export function registerOtlpMetrics(server: GrpcServer, intake: SignalIntake<MetricPoint>, metrics: CollectorMetrics, log: FastifyBaseLogger, limits: TraceLimits): void {
  const handler = exportHandler(
    metrics,
    log,
    (request) => {
      const converted = convertMetricsProto(request, limits);
      return intake.accept('otlp-grpc', { ...converted, items: converted.points });
    },
    ({ rejected, errorMessage }) => encodeMetricsResponseProto(rejected, errorMessage),
  );
  server.addService('otlp-grpc', exportDefinition('/opentelemetry.proto.collector.metrics.v1.MetricsService/Export'), { Export: handler });
}
