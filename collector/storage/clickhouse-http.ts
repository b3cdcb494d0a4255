// A ClickHouse server (or cluster) over HTTP through the official client. The same class also runs
// over chDB's `chdb/connection` adapter, which is how tests exercise this path without a server.
import { Readable } from 'node:stream';
import { createClient, type ClickHouseClient, type ClickHouseClientConfigOptions } from '@clickhouse/client';
import type { ClickHouseStore } from './store.ts';

export interface ClickHouseServerOptions {
  url: string;
  username?: string;
  password?: string;
  database?: string;
  /** Parallel inserts: each runs on its own HTTP connection. */
  insertConcurrency?: number;
}

export class ClickHouseHttpStore implements ClickHouseStore {
  readonly mode = 'server' as const;
  readonly insertConcurrency: number;

  constructor(
    private readonly client: ClickHouseClient,
    insertConcurrency = 2,
  ) {
    this.insertConcurrency = insertConcurrency;
  }

  static connect(options: ClickHouseServerOptions): ClickHouseHttpStore {
    const config: ClickHouseClientConfigOptions = {
      url: options.url,
      max_open_connections: (options.insertConcurrency ?? 2) + 4,
      clickhouse_settings: { output_format_json_quote_64bit_integers: 1 },
    };
    if (options.username !== undefined) config.username = options.username;
    if (options.password !== undefined) config.password = options.password;
    if (options.database !== undefined) config.database = options.database;
    return new ClickHouseHttpStore(createClient(config), options.insertConcurrency ?? 2);
  }

  async exec(sql: string): Promise<void> {
    await this.client.command({ query: sql });
  }

  async query<Row>(sql: string): Promise<Row[]> {
    const result = await this.client.query({
      query: sql,
      format: 'JSON',
      clickhouse_settings: { output_format_json_quote_64bit_integers: 1 },
    });
    const body = await result.json<Row>();
    return body.data;
  }

  async queryEach(sql: string, onRow: (columns: unknown[]) => void): Promise<void> {
    const result = await this.client.query({
      query: sql,
      format: 'JSONCompactEachRow',
      clickhouse_settings: { output_format_json_quote_64bit_integers: 1 },
    });
    // Streamed: the server's answer is handed on as it arrives, never held whole.
    for await (const rows of result.stream<unknown[]>()) for (const row of rows) onRow(row.json<unknown[]>());
  }

  async insert(table: string, columns: readonly string[], body: Buffer): Promise<void> {
    const result = await this.client.exec({
      query: `INSERT INTO ${table} (${columns.join(', ')}) FORMAT JSONCompactEachRow`,
      values: Readable.from([body]),
    });
    // exec hands back the response stream; drain it so the connection returns to the pool.
    result.stream.resume();
    await new Promise<void>((resolve, reject) => {
      result.stream.on('end', resolve).on('error', reject);
    });
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
