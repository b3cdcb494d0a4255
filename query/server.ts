// The query service on 16686: a fastify app with one plugin per API family.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Registry } from 'prom-client';
import type { ClickHouseStore } from '../collector/storage/store.ts';
import { healthApi } from './health.ts';
import { jaegerApi } from './jaeger.ts';
import { jaegerV3Api } from './jaeger-v3.ts';
import { latencyApi } from './latency.ts';
import { prometheusApi } from './prometheus.ts';
import { serviceGraphApi } from './service-graph.ts';
import { tempoApi } from './tempo.ts';
import { zipkinApi } from './zipkin.ts';
import { TraceReader } from './trace-reader.ts';
import { uiPlugin } from './ui.ts';

export interface QueryServerOptions {
  store: ClickHouseStore;
  registry: Registry;
  log: FastifyBaseLogger;
  isReady: () => boolean;
  /** Off in a collector-only process, which serves just health and metrics. */
  traceApis: boolean;
}

export function createQueryServer(options: QueryServerOptions): FastifyInstance {
  const app = Fastify({ loggerInstance: options.log, logController: new LogController({ disableRequestLogging: true }) }).withTypeProvider<TypeBoxTypeProvider>();
  // Our own API answers errors as {"error": "<one line>"}; the Jaeger plugin uses Jaeger's envelope.
  app.setErrorHandler((error, _request, reply) => {
    const status = (error as { statusCode?: number }).statusCode ?? 500;
    if (status >= 500) reply.log.error({ err: error }, 'query failed');
    return reply.code(status).send({ error: String((error as Error).message).split('\n')[0] });
  });
  app.setNotFoundHandler((request, reply) => reply.code(404).send({ error: `no such endpoint: ${request.method} ${request.url.split('?')[0]}` }));
  app.register(healthApi, { store: options.store, registry: options.registry, isReady: options.isReady });
  if (options.traceApis) {
    const reader = new TraceReader(options.store);
    app.register(jaegerApi, { reader, store: options.store });
    app.register(jaegerV3Api, { reader });
    app.register(serviceGraphApi, { store: options.store });
    app.register(zipkinApi, { reader, store: options.store });
    app.register(latencyApi, { store: options.store });
    app.register(prometheusApi, { store: options.store });
    app.register(tempoApi, { reader, store: options.store });
    // The web UI at / (and every unknown non-API GET path, for deep links).
    app.register(uiPlugin, {});
  }
  return app;
}
