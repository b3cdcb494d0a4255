// Picks the storage backend from the configuration: a ClickHouse server when a URL is set,
// otherwise the embedded engine in the data directory.
import type { MeshlensConfig } from '../config.ts';
import { ChdbStore } from './chdb.ts';
import { ClickHouseHttpStore } from './clickhouse-http.ts';
import type { ClickHouseStore } from './store.ts';

export function openStore(storage: MeshlensConfig['storage']): ClickHouseStore {
  const { url, username, password, database } = storage.clickhouse;
  if (url) return ClickHouseHttpStore.connect({ url, username, password, database });
  return new ChdbStore(storage.dataDir);
}
