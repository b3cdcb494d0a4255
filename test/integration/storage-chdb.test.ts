// The storage contract against the embedded engine (ChdbStore), in a fresh data directory. The
// @clickhouse/client path runs the same contract in storage-clickhouse-client.test.ts: chDB allows
// one data directory per process, so each backend gets its own test file.
import { rmSync } from 'node:fs';
import { ChdbStore } from '../../collector/storage/chdb.ts';
import { tempDataDir } from '../helpers/meshlens.ts';
import { storageContract } from '../helpers/storage-contract.ts';

const dataDir = tempDataDir();

storageContract('embedded chDB (ChdbStore)', {
  open: async () => new ChdbStore(dataDir),
  cleanup: async () => rmSync(dataDir, { recursive: true, force: true }),
});
