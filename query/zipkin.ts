// Zipkin's v2 read API. So far: GET /api/v2/dependencies, answered from the service graph's edge rows;
// the other Zipkin reads (services, spans, traces) come with the Grafana issue.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ClickHouseStore } from '../collector/storage/store.ts';
import { dependencyLinks } from './service-graph.ts';

export const zipkinApi: FastifyPluginAsyncTypebox<{ store: ClickHouseStore }> = async (app, { store }) => {
  app.get(
    '/api/v2/dependencies',
    { schema: { querystring: Type.Object({ endTs: Type.Optional(Type.Integer({ minimum: 0 })), lookback: Type.Optional(Type.Integer({ minimum: 1 })) }) } },
    async (request) => dependencyLinks(store, request.query.endTs ?? Date.now(), request.query.lookback ?? 86_400_000),
  );
};
