// The service graph over the rollups equals the minute count through ClickHouseHttpStore (the
// @clickhouse/client path to a ClickHouse server: no embedded-only settings), over chDB's `chdb/connection`
// adapter (see the helper).
import { createClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import { ClickHouseHttpStore } from '../../collector/storage/clickhouse-http.ts';
import { serviceGraphRollupSuite } from '../helpers/graph-rollups.ts';

type ClientConnection = NonNullable<NonNullable<Parameters<typeof createClient>[0]>['connection']>;

serviceGraphRollupSuite('@clickhouse/client over chdb/connection', (dir) => {
  // chdb types its adapter against @clickhouse/client-common, the client bundles its own copy of those types;
  // the shapes match at run time (reference/clickhouse.md §6.6).
  const connection = createChdbConnection({ path: dir }) as unknown as ClientConnection;
  return new ClickHouseHttpStore(createClient({ connection }));
});
