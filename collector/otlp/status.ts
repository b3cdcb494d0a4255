// Error replies in the shapes OTLP exporters understand: google.rpc.Status bodies for OTLP/HTTP,
// and Status-with-RetryInfo trailers for gRPC.
import protobuf from 'protobufjs';
import { OTLP_PROTO_DIR } from './traces.ts';

const root = protobuf.loadSync(OTLP_PROTO_DIR + 'google/rpc/status.proto');
const Status = root.lookupType('google.rpc.Status');
const RetryInfo = root.lookupType('google.rpc.RetryInfo');

/** gRPC status codes we answer with. */
export const GrpcCode = { OK: 0, INVALID_ARGUMENT: 3, RESOURCE_EXHAUSTED: 8, INTERNAL: 13, UNAVAILABLE: 14 } as const;

export function encodeStatus(code: number, message: string, retryAfterSeconds?: number): Uint8Array {
  const details =
    retryAfterSeconds === undefined
      ? []
      : [
          {
            typeUrl: 'type.googleapis.com/google.rpc.RetryInfo',
            value: RetryInfo.encode(RetryInfo.create({ retryDelay: { seconds: retryAfterSeconds, nanos: 0 } })).finish(),
          },
        ];
  return Status.encode(Status.create({ code, message, details })).finish();
}

export function statusJson(code: number, message: string): { code: number; message: string } {
  return { code, message };
}
