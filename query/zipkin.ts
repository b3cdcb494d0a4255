// Zipkin's v2 read API. So far: GET /api/v2/dependencies, answered from the service graph's edge rows;
// the other Zipkin reads (services, spans, traces) come with the Grafana issue.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ClickHouseStore } from '../collector/storage/store.ts';
import { readServiceGraph } from './service-graph.ts';

export const zipkinApi: FastifyPluginAsyncTypebox<{ store: ClickHouseStore }> = async (app, { store }) => {
  app.get(
    '/api/v2/dependencies',
    { schema: { querystring: Type.Object({ endTs: Type.Optional(Type.Integer({ minimum: 0 })), lookback: Type.Optional(Type.Integer({ minimum: 1 })) }) } },
    async (request) => {
      const endMs = request.query.endTs ?? Date.now();
      const graph = await readServiceGraph(store, { startMs: endMs - (request.query.lookback ?? 86_400_000), endMs, signal: 'all' });
      const names = new Map(graph.nodes.map((n) => [n.id, n.name]));
      return graph.edges.map((e) => ({
        parent: names.get(e.source) ?? e.source,
        child: names.get(e.target) ?? e.target,
        callCount: Math.round(e.requests),
        errorCount: Math.round(e.errors),
      }));
    },
  );
};
