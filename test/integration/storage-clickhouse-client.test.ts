// The storage contract against ClickHouseHttpStore, the @clickhouse/client code path that talks to a
// ClickHouse server. Without a server it runs over chDB's `chdb/connection` adapter (same client, same
// SQL, embedded engine underneath). With MESHLENS_TEST_CLICKHOUSE_URL set it also runs against that
// real server, in a database created for this run and dropped afterwards.
import { rmSync } from 'node:fs';
import { createClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import { ClickHouseHttpStore } from '../../collector/storage/clickhouse-http.ts';
import { tempDataDir } from '../helpers/meshlens.ts';
import { storageContract } from '../helpers/storage-contract.ts';

type ClientConnection = NonNullable<NonNullable<Parameters<typeof createClient>[0]>['connection']>;

const dataDir = tempDataDir();

storageContract('@clickhouse/client over chdb/connection (ClickHouseHttpStore)', {
  open: async () => {
    // chdb types its adapter against @clickhouse/client-common, the client bundles its own copy of those
    // types; the shapes match at run time (reference/clickhouse.md §6.6).
    const connection = createChdbConnection({ path: dataDir }) as unknown as ClientConnection;
    return new ClickHouseHttpStore(createClient({ connection }));
  },
  cleanup: async () => rmSync(dataDir, { recursive: true, force: true }),
});

const serverUrl = process.env.MESHLENS_TEST_CLICKHOUSE_URL;

if (!serverUrl) {
  storageContract('@clickhouse/client against a real ClickHouse server', {
    skip: 'MESHLENS_TEST_CLICKHOUSE_URL is not set (e.g. http://default:@127.0.0.1:8123); set it to run the contract against a real server',
  });
} else {
  // The URL may name a database; the contract gets its own, so strip it and pass ours explicitly.
  const base = new URL(serverUrl);
  base.pathname = '/';
  const database = `meshlens_contract_${process.pid}_${Date.now()}`;
  const admin = createClient({ url: base.toString() });
  storageContract(`@clickhouse/client against ${base.host} (database ${database})`, {
    open: async () => {
      await admin.command({ query: `CREATE DATABASE ${database}` });
      return ClickHouseHttpStore.connect({ url: base.toString(), database });
    },
    cleanup: async () => {
      await admin.command({ query: `DROP DATABASE IF EXISTS ${database} SYNC` });
      await admin.close();
    },
  });
}
