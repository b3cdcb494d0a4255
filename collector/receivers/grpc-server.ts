// The one gRPC endpoint (4317) every proxy is pointed at: OTLP's services and Envoy's streaming
// services are registered on it by their receivers. This file owns what they share: the listener,
// the message size limit, and turning grpc-js' own refusals (bad gzip, oversized messages) and our
// errors into the contract's statuses (an undecodable message is INVALID_ARGUMENT, overload is
// RESOURCE_EXHAUSTED with RetryInfo), each counted against the receiver it was meant for.
import * as grpc from '@grpc/grpc-js';
import { OverloadError, ShuttingDownError } from '../batcher.ts';
import type { CollectorMetrics, Receiver } from '../metrics.ts';
import { GrpcCode, encodeStatus } from '../otlp/status.ts';
import { BadRequestError } from '../otlp/traces.ts';

/** A status as a server call sends it (grpc-js does not export the type by name). */
type StatusReply = Parameters<grpc.ServerInterceptingCallInterface['sendStatus']>[0];

export interface GrpcServerOptions {
  host: string;
  port: number;
  maxBodyBytes: number;
}

/** A gRPC error whose details carry google.rpc.Status (and RetryInfo when a retry can succeed). */
export function grpcError(code: number, message: string, retryAfterSeconds?: number): { code: number; details: string; metadata: grpc.Metadata } {
  const metadata = new grpc.Metadata();
  metadata.set('grpc-status-details-bin', Buffer.from(encodeStatus(code, message, retryAfterSeconds)));
  return { code, details: message, metadata };
}

/** The status for an error a receiver's work ended in; bad requests are counted against `receiver`. */
export function outcomeToGrpc(error: unknown, metrics: CollectorMetrics, receiver: Receiver): Partial<grpc.StatusObject> {
  if (error instanceof BadRequestError) {
    metrics.badRequests.inc({ receiver, reason: error.reason });
    return grpcError(error.reason === 'too_large' ? GrpcCode.RESOURCE_EXHAUSTED : GrpcCode.INVALID_ARGUMENT, error.message);
  }
  if (error instanceof OverloadError) return grpcError(GrpcCode.RESOURCE_EXHAUSTED, error.message, error.retryAfterSeconds);
  if (error instanceof ShuttingDownError) return grpcError(GrpcCode.UNAVAILABLE, error.message, 5);
  return grpcError(GrpcCode.UNAVAILABLE, `storage refused the write, retry later: ${firstLine(error)}`, 5);
}

export function firstLine(error: unknown): string {
  return String(error instanceof Error ? error.message : error).split('\n')[0] ?? '';
}

export class GrpcServer {
  private readonly server: grpc.Server;
  /** Which receiver a method path belongs to, for counting the refusals grpc-js makes on its behalf. */
  private readonly receivers = new Map<string, Receiver>();
  private readonly stopHooks: Array<() => void> = [];
  port = 0;

  constructor(
    private readonly metrics: CollectorMetrics,
    private readonly options: GrpcServerOptions,
  ) {
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': options.maxBodyBytes,
      'grpc.max_send_message_length': 4 * 1024 * 1024,
      interceptors: [this.libraryRefusals()],
    });
  }

  addService(receiver: Receiver, definition: grpc.ServiceDefinition, handlers: grpc.UntypedServiceImplementation): void {
    for (const method of Object.values(definition)) this.receivers.set(method.path, receiver);
    this.server.addService(definition, handlers);
  }

  async start(): Promise<void> {
    this.port = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(`${this.options.host}:${this.options.port}`, grpc.ServerCredentials.createInsecure(), (error, port) =>
        error ? reject(new Error(`cannot listen for gRPC (OTLP, Envoy) on ${this.options.host}:${this.options.port}: ${error.message}`)) : resolve(port),
      );
    });
  }

  /**
   * `finish` runs at stop, once no new call is taken: for client streams that only their sender ends
   * (Envoy keeps its access-log and metrics streams open for good), which would otherwise hold stop forever.
   */
  onStop(finish: () => void): void {
    this.stopHooks.push(finish);
  }

  /** Stops taking new calls and waits for the ones in progress (each waits for its insert). */
  async stop(): Promise<void> {
    const stopped = new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    for (const finish of this.stopHooks) finish();
    await stopped;
  }

  /**
   * grpc-js inflates and size-checks each message before any handler runs, and answers failures
   * itself: INTERNAL for a body that is not valid gzip, RESOURCE_EXHAUSTED for one over
   * `grpc.max_receive_message_length`. Those answers leave through the call's `sendStatus`; wrapping
   * it lets them follow our contract and be counted like every other bad request. Statuses the
   * handlers send pass through unchanged.
   */
  private libraryRefusals(): grpc.ServerInterceptor {
    return (method, call) => {
      const receiver = this.receivers.get(method.path) ?? 'otlp-grpc';
      const send = call.sendStatus.bind(call);
      call.sendStatus = (status) => send(this.libraryStatus(status, receiver));
      return new grpc.ServerInterceptingCall(call);
    };
  }

  private libraryStatus(status: StatusReply, receiver: Receiver): StatusReply {
    const details = status.details ?? '';
    if (status.code === grpc.status.INTERNAL && details === 'Failed to decompress message') {
      this.metrics.badRequests.inc({ receiver, reason: 'decode' });
      return grpcError(GrpcCode.INVALID_ARGUMENT, 'the message is not valid gzip (grpc-encoding: gzip); send it compressed correctly or uncompressed');
    }
    if (status.code === grpc.status.RESOURCE_EXHAUSTED && /^Received message (larger than max|that decompresses to a size larger than)/.test(details)) {
      this.metrics.badRequests.inc({ receiver, reason: 'too_large' });
      return grpcError(GrpcCode.RESOURCE_EXHAUSTED, `message over limits.max_body_bytes (after decompression): ${details}`);
    }
    return status;
  }
}
