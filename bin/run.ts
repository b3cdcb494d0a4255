// Starts and stops the parts of meshlens a command asks for: storage (+ schema), the collector,
// the query service. Used by the CLI and by tests, which start real instances on port 0.
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { Collector } from '../collector/collector.ts';
import type { MeshlensConfig } from '../collector/config.ts';
import { CollectorMetrics } from '../collector/metrics.ts';
import { openStore } from '../collector/storage/open.ts';
import { migrate } from '../collector/storage/schema.ts';
import type { ClickHouseStore } from '../collector/storage/store.ts';
import { createQueryServer } from '../query/server.ts';

export type Command = 'all-in-one' | 'collector' | 'query';

export interface RunningMeshlens {
  store: ClickHouseStore;
  metrics: CollectorMetrics;
  collector?: Collector;
  query?: FastifyInstance;
  ports: { otlpGrpc?: number; otlpHttp?: number; zipkin?: number; statsd?: number; query?: number };
  /** Stops taking data, writes everything taken, closes storage. Safe to call twice. */
  stop(): Promise<void>;
}

export function createLogger(level: string): FastifyBaseLogger {
  return pino({ level, base: { service: 'meshlens' } }) as unknown as FastifyBaseLogger;
}

export async function startMeshlens(command: Command, config: MeshlensConfig, log = createLogger(config.log.level)): Promise<RunningMeshlens> {
  if (command !== 'all-in-one' && !config.storage.clickhouse.url) {
    throw new Error(
      `meshlens ${command} needs a ClickHouse server: the embedded engine lets only one process use ./data. ` +
        'Set --clickhouse-url (or MESHLENS_CLICKHOUSE_URL), or run "meshlens all-in-one".',
    );
  }
  const store = openStore(config.storage);
  const metrics = new CollectorMetrics();
  let ready = false;
  let stopping: Promise<void> | undefined;
  const running: RunningMeshlens = {
    store,
    metrics,
    ports: {},
    stop: () =>
      (stopping ??= (async () => {
        ready = false;
        log.info('stopping: no new data is taken; writing what was taken');
        await running.collector?.stop();
        await running.query?.close();
        await store.close();
        log.info('stopped');
      })()),
  };
  try {
    log.info({ storage: store.mode, dataDir: store.mode === 'embedded' ? config.storage.dataDir : undefined }, 'applying schema');
    const { applied } = await migrate(store, { retentionDays: config.storage.retentionDays });
    if (applied.length > 0) log.info({ versions: applied }, 'schema migrations applied');
    if (command !== 'query') {
      running.collector = new Collector(store, config, metrics, log);
      await running.collector.start();
      running.ports.otlpGrpc = running.collector.grpc.port;
      running.ports.otlpHttp = running.collector.http.port;
      running.ports.zipkin = running.collector.zipkin.port;
      running.ports.statsd = running.collector.statsd.port;
    }
    // A collector-only process still answers /healthz, /readyz and /metrics on the query port.
    running.query = createQueryServer({ store, registry: metrics.registry, log, isReady: () => ready, traceApis: command !== 'collector' });
    await running.query.listen({ host: config.server.host, port: config.server.query_port }).catch((error: Error) => {
      throw new Error(`cannot listen for the query API on ${config.server.host}:${config.server.query_port}: ${error.message}`);
    });
    const address = running.query.server.address();
    running.ports.query = typeof address === 'object' && address ? address.port : config.server.query_port;
  } catch (error) {
    await running.stop().catch(() => undefined);
    throw error;
  }
  ready = true;
  log.info(
    { otlpGrpc: running.ports.otlpGrpc, otlpHttp: running.ports.otlpHttp, zipkin: running.ports.zipkin, statsd: running.ports.statsd, query: running.ports.query },
    `meshlens ${command} ready`,
  );
  return running;
}
