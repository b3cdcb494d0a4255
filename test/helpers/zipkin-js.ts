// zipkin-js, the real Zipkin client, recording one small trace through its Tracer and HttpLogger: the
// receiver's and the read API's tests send the same shape.
import type { EventEmitter } from 'node:events';
import { Annotation, BatchRecorder, ExplicitContext, InetAddress, Tracer, type JsonEncoder } from 'zipkin';
import { HttpLogger } from 'zipkin-transport-http';

/**
 * `service` serves GET /home: calls `callee` (CLIENT, remote endpoint from ServerAddr), renders locally,
 * annotates, answers — three spans, ended in one synchronous block, so HttpLogger posts them together, once.
 * Returns the trace id and the statuses of HttpLogger's posts, filled in as it reports them (a failed post
 * as the status its error names, or -1).
 */
export function recordHomeTrace(options: { endpoint: string; encoder: JsonEncoder; service: string; callee: string }): { traceId: string; statuses: number[] } {
  const { endpoint, encoder, service, callee } = options;
  const statuses: number[] = [];
  const logger = new HttpLogger({ endpoint, jsonEncoder: encoder, httpInterval: 20 });
  // HttpLogger is an EventEmitter (its typings leave that out): it reports each post's response.
  (logger as unknown as EventEmitter).on('success', (response: Response) => statuses.push(response.status));
  (logger as unknown as EventEmitter).on('error', (error: Error) => statuses.push(Number(/status:(\d+)/.exec(error.message)?.[1] ?? -1)));
  const tracer = new Tracer({ ctxImpl: new ExplicitContext(), recorder: new BatchRecorder({ logger }), localServiceName: service, traceId128Bit: true });
  let traceId = '';
  tracer.scoped(() => {
    const root = tracer.createRootId();
    traceId = root.traceId;
    tracer.setId(root);
    tracer.recordServiceName(service);
    tracer.recordRpc('GET /home');
    tracer.recordAnnotation(new Annotation.ServerRecv());
    tracer.recordBinary('http.path', '/home');
    tracer.recordAnnotation(new Annotation.ClientAddr({ host: new InetAddress('10.0.0.9'), port: 51000 }));
    tracer.setId(tracer.createChildId());
    tracer.recordServiceName(service);
    tracer.recordRpc('GET /api/items');
    tracer.recordAnnotation(new Annotation.ClientSend());
    tracer.recordAnnotation(new Annotation.ServerAddr({ serviceName: callee, host: new InetAddress('10.0.0.2'), port: 9000 }));
    tracer.recordBinary('http.status_code', '200');
    tracer.recordAnnotation(new Annotation.ClientRecv());
    tracer.setId(root);
    tracer.local('render', () => tracer.recordBinary('template', 'home'));
    tracer.recordMessage('rendered');
    tracer.recordAnnotation(new Annotation.ServerSend());
  });
  return { traceId, statuses };
}
