// A real grpc-js client for Envoy's streaming services, built from Envoy's own protos (@grpc/grpc-js-xds
// deps/, loaded here independently of meshlens' receivers): streams as a proxy sends them, and raw-byte
// streams as a broken sender would.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

export interface EnvoyStreamClient {
  /** One stream of messages (the identifier rides on the first); resolves when the server answers OK. */
  stream(messages: object[]): Promise<void>;
  /** One stream of raw messages; resolves with the server's error, or null. */
  rawStream(messages: Buffer[]): Promise<grpc.ServiceError | null>;
  /** A stream left open, as Envoy keeps its own: write to it; its 'status' event tells how it ended. */
  openStream(): grpc.ClientWritableStream<object>;
  /** A stream of pre-encoded messages left open (a load generator's); `done` gets the server's answer. */
  openRawStream(done: (error: grpc.ServiceError | null) => void): grpc.ClientWritableStream<Buffer>;
  /** A message as the real client puts it on the wire. */
  encode(message: object): Buffer;
  close(): void;
}

const identity = (b: Buffer) => b;

/** `channelOptions`: e.g. `grpc.use_local_subchannel_pool` for a connection of its own, as each proxy has. */
export function envoyStreamClient(address: string, protoFile: string, service: string, method: string, extraIncludeDirs: string[] = [], channelOptions: grpc.ChannelOptions = {}): EnvoyStreamClient {
  const deps = join(dirname(createRequire(import.meta.url).resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  const definition = loadSync(protoFile, {
    includeDirs: [...['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((dir) => join(deps, dir)), ...extraIncludeDirs],
    keepCase: true,
    enums: String,
    oneofs: true,
  });
  const rpc = (definition[service] as grpc.ServiceDefinition)[method]!;
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), channelOptions);
  const send = <T>(serialize: (value: T) => Buffer, messages: T[]) =>
    new Promise<grpc.ServiceError | null>((resolve) => {
      const call = client.makeClientStreamRequest<T, Buffer>(rpc.path, serialize, identity, (error) => resolve(error));
      for (const message of messages) call.write(message);
      call.end();
    });
  return {
    stream: async (messages) => {
      const error = await send((message: object) => rpc.requestSerialize(message) as Buffer, messages);
      if (error) throw error;
    },
    rawStream: (messages) => send(identity, messages),
    openStream: () => client.makeClientStreamRequest<object, Buffer>(rpc.path, (message) => rpc.requestSerialize(message) as Buffer, identity, () => undefined),
    openRawStream: (done) => client.makeClientStreamRequest<Buffer, Buffer>(rpc.path, identity, identity, (error) => done(error)),
    encode: (message) => rpc.requestSerialize(message) as Buffer,
    close: () => client.close(),
  };
}
