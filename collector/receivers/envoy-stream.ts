// What Envoy's two streaming services (access logs, metrics) share on the gRPC endpoint: client streams
// whose first message names the proxy (identifier.node), that Envoy keeps open for as long as it runs,
// and whose reply (empty) it never reads. Messages arrive as raw bytes and are decoded here — by our own
// wire reader (access logs: envoy/access-log-proto.ts) or by the deserializer proto-loader built from
// Envoy's own protos (metrics) — so a message that does not decode ends the stream with INVALID_ARGUMENT
// from us (counted) rather than grpc-js' INTERNAL, and what the messages before it delivered is kept. At
// stop, open streams are answered OK so that the server can close; Envoy opens a new stream, to wherever
// meshlens is next.
import type * as grpc from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import type { FastifyBaseLogger } from 'fastify';
import type { EnvoyNode } from '../envoy/access-log.ts';
import type { CollectorMetrics, Receiver } from '../metrics.ts';
import { BadRequestError } from '../otlp/traces.ts';
import { type GrpcServer, firstLine, outcomeToGrpc } from './grpc-server.ts';

/** How a message's bytes are read: our own reader, or proto-loader's deserializer for `service`'s method. Both throw on bytes that are not a message. */
type MessageDecoding<Message> = { decode(bytes: Buffer): Message; definition?: undefined } | { definition: PackageDefinition; decode?: undefined };

export type EnvoyStreamService<Message, Stream> = EnvoyStream<Message, Stream> & MessageDecoding<Message>;

interface EnvoyStream<Message, Stream> {
  receiver: Receiver;
  /** e.g. envoy.service.accesslog.v3.AccessLogService */
  service: string;
  /** e.g. StreamAccessLogs */
  method: string;
  /** The message type, for error messages. */
  messageType: string;
  nodeOf(message: Message): EnvoyNode | null | undefined;
  /** What a stream keeps from the proxy that opened it. */
  open(node: EnvoyNode): Stream;
  /** Takes one message; throws to end the stream with INVALID_ARGUMENT (what was taken before stays). */
  take(message: Message, stream: Stream): void;
}

const identity = (b: Buffer) => b;

export function registerEnvoyStream<Message, Stream>(server: GrpcServer, metrics: CollectorMetrics, log: FastifyBaseLogger, spec: EnvoyStreamService<Message, Stream>): void {
  let decode: (bytes: Buffer) => Message;
  if (spec.decode !== undefined) decode = spec.decode;
  else {
    const method = (spec.definition[spec.service] as grpc.ServiceDefinition)[spec.method]!;
    decode = (bytes) => method.requestDeserialize(bytes) as Message;
  }
  const raw: grpc.ServiceDefinition = {
    [spec.method]: {
      path: `/${spec.service}/${spec.method}`,
      requestStream: true,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    },
  };
  const open = new Set<() => void>();
  server.onStop(() => {
    for (const finish of [...open]) finish();
  });

  const handle: grpc.handleClientStreamingCall<Buffer, Buffer> = (call, callback) => {
    let stream: Stream | undefined;
    let messages = 0;
    let answered = false;
    const close = () => {
      answered = true;
      open.delete(finish);
    };
    const answer = (error: Partial<grpc.StatusObject> | null) => {
      if (answered) return;
      close();
      if (error) callback(error);
      else callback(null, Buffer.alloc(0));
    };
    const finish = () => answer(null);
    open.add(finish);
    const refuse = (message: string) => answer(outcomeToGrpc(new BadRequestError(message, 'decode'), metrics, spec.receiver));
    call.on('data', (bytes: Buffer) => {
      if (answered) return;
      messages++;
      let message: Message;
      try {
        message = decode(bytes);
      } catch (error) {
        refuse(`message ${messages} of the stream is not a valid ${spec.messageType}: ${firstLine(error)}; what the ${messages - 1} message(s) before it carried was kept`);
        return;
      }
      if (stream === undefined) {
        const node = spec.nodeOf(message);
        if (!node) {
          refuse(`the first message of a ${spec.method} stream must carry identifier.node (the proxy that sends it)`);
          return;
        }
        stream = spec.open(node);
      }
      try {
        spec.take(message, stream);
      } catch (error) {
        refuse(`message ${messages} of the stream cannot be read: ${firstLine(error)}`);
      }
    });
    call.on('end', () => answer(null));
    call.on('cancelled', close);
    call.on('error', (error) => {
      // The proxy went away (cancelled, connection lost): there is no one to answer.
      close();
      log.debug({ err: error, receiver: spec.receiver }, 'Envoy stream ended with an error');
    });
  };
  server.addService(spec.receiver, raw, { [spec.method]: handle });
}
