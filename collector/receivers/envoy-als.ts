// Envoy's access-log service: envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs on the
// shared gRPC endpoint (grpc-server.ts). Client streaming: the first message names the proxy
// (identifier.node), every message carries HTTP or TCP entries, and the reply (empty) is sent once the
// proxy ends the stream — Envoy never reads it. Each message becomes edges as it arrives
// (envoy/access-log.ts), so a stream that breaks later keeps what it already delivered.
//
// Messages are read straight from the wire by envoy/access-log-proto.ts; the stream handling (errors,
// stop) is envoy-stream.ts.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import type { EdgeSink } from '../edge-sink.ts';
import { type AccessLogsMessage, type ConvertedEntries, type ReportingProxy, convertAccessLogs, reportingProxy } from '../envoy/access-log.ts';
import { decodeStreamAccessLogsMessage } from '../envoy/access-log-proto.ts';
import type { CollectorMetrics } from '../metrics.ts';
import { registerEnvoyStream } from './envoy-stream.ts';
import type { GrpcServer } from './grpc-server.ts';

const SERVICE = 'envoy.service.accesslog.v3.AccessLogService';

/** The include directories of Envoy's protos as @grpc/grpc-js-xds ships them (the metrics service loads them). */
export function envoyProtoIncludeDirs(): string[] {
  const require = createRequire(import.meta.url);
  const deps = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  return ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((dir) => join(deps, dir));
}

export function registerEnvoyAccessLogs(server: GrpcServer, edges: EdgeSink, metrics: CollectorMetrics, log: FastifyBaseLogger): void {
  registerEnvoyStream<AccessLogsMessage, ReportingProxy>(server, metrics, log, {
    receiver: 'envoy-als',
    service: SERVICE,
    method: 'StreamAccessLogs',
    messageType: 'envoy.service.accesslog.v3.StreamAccessLogsMessage',
    decode: decodeStreamAccessLogsMessage,
    nodeOf: (message) => message.node,
    open: reportingProxy,
    // Each message becomes edges as it arrives, so a stream that breaks later keeps what it delivered.
    take: (message, proxy) => {
      const converted = convertAccessLogs(message, proxy, BigInt(Date.now()) * 1_000_000n);
      if (converted.samples.length > 0) edges.addSamples(converted.samples, 'envoy-als');
      if (converted.increments.length > 0) edges.addIncrements(converted.increments, 'envoy-als');
      for (const type of ['http', 'tcp'] as const) {
        if (converted.received[type] > 0) metrics.envoyAccessLogEntries.inc({ type, result: 'received', reason: '' }, converted.received[type]);
        if (converted.used[type] > 0) metrics.envoyAccessLogEntries.inc({ type, result: 'used', reason: '' }, converted.used[type]);
      }
      // Skips tallied first: one counter update per type and reason, not one per entry.
      const skipped = new Map<ConvertedEntries['skipped'][number], number>();
      for (const skip of converted.skipped) skipped.set(skip, (skipped.get(skip) ?? 0) + 1);
      for (const [{ type, reason }, count] of skipped) metrics.envoyAccessLogEntries.inc({ type, result: 'skipped', reason }, count);
      for (const [flag, count] of converted.responseFlags) metrics.envoyResponseFlags.inc({ flag }, count);
    },
  });
}
