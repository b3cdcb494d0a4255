// Liveness, readiness and meshlens' own metrics: GET /healthz, /readyz, /metrics.
import type { FastifyPluginAsync } from 'fastify';
import type { Registry } from 'prom-client';
import type { ClickHouseStore } from '../collector/storage/store.ts';

export interface HealthOptions {
  store: ClickHouseStore;
  registry: Registry;
  /** False until start-up finished, and again once shutdown began. */
  isReady: () => boolean;
}

export const healthApi: FastifyPluginAsync<HealthOptions> = async (app, { store, registry, isReady }) => {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    if (!isReady()) return reply.code(503).send({ status: 'not ready', error: 'meshlens is starting or shutting down' });
    try {
      await store.query('SELECT 1');
    } catch (error) {
      const reason = String((error as Error).message).split('\n')[0];
      return reply.code(503).send({ status: 'not ready', error: `storage is not answering: ${reason}` });
    }
    return { status: 'ready', storage: store.mode };
  });

  app.get('/metrics', async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()));
};
