// Embedded ClickHouse (chDB) in this process. One Session serialises its calls, so we keep a small
// pool: writer sessions for inserts and reader sessions for queries, all on the same data directory,
// so a long query never holds up an insert. Only the async calls are used: the sync ones block the
// event loop for the whole query.
import { mkdirSync } from 'node:fs';
import { Session } from 'chdb';
import type { ClickHouseStore } from './store.ts';

const SESSION_ARGS = ['--output_format_json_quote_64bit_integers=1'];

/** Round-robin over sessions, preferring one with nothing in flight. */
class SessionPool {
  private readonly busy: number[];
  private next = 0;
  constructor(private readonly sessions: Session[]) {
    this.busy = sessions.map(() => 0);
  }
  async use<T>(work: (session: Session) => Promise<T>): Promise<T> {
    let index = this.busy.findIndex((n) => n === 0);
    if (index < 0) index = this.next++ % this.sessions.length;
    this.busy[index]!++;
    try {
      return await work(this.sessions[index]!);
    } finally {
      this.busy[index]!--;
    }
  }
  close(): void {
    for (const session of this.sessions) session.close();
  }
}

export class ChdbStore implements ClickHouseStore {
  readonly mode = 'embedded' as const;
  readonly insertConcurrency: number;
  private readonly writers: SessionPool;
  private readonly readers: SessionPool;

  constructor(dataDir: string, options: { writerSessions?: number; readerSessions?: number } = {}) {
    mkdirSync(dataDir, { recursive: true });
    const open = (n: number) => Array.from({ length: n }, () => new Session(dataDir, { connectionArgs: SESSION_ARGS }));
    let writers: Session[];
    try {
      writers = open(options.writerSessions ?? 2);
    } catch (error) {
      throw new Error(
        `cannot open the embedded ClickHouse data directory ${dataDir}: ${firstLine(error)} ` +
          '(is another meshlens process using it? stop it, or set MESHLENS_DATA_DIR to another directory)',
      );
    }
    const readers = open(options.readerSessions ?? 2);
    this.writers = new SessionPool(writers);
    this.readers = new SessionPool(readers);
    this.insertConcurrency = writers.length;
  }

  async exec(sql: string): Promise<void> {
    await this.readers.use((s) => s.queryAsync(sql));
  }

  async query<Row>(sql: string): Promise<Row[]> {
    const result = await this.readers.use((s) => s.queryAsync(sql, { format: 'JSON' }));
    return result.json<{ data: Row[] }>().data;
  }

  async queryEach(sql: string, onRow: (columns: unknown[]) => void): Promise<void> {
    const text = (await this.readers.use((s) => s.queryAsync(sql, { format: 'JSONCompactEachRow' }))).text();
    for (let start = 0; start < text.length; ) {
      let end = text.indexOf('\n', start);
      if (end === -1) end = text.length;
      if (end > start) onRow(JSON.parse(text.slice(start, end)) as unknown[]);
      start = end + 1;
    }
  }

  async insert(table: string, columns: readonly string[], body: Buffer): Promise<void> {
    await this.writers.use((s) => s.insert({ table, columns, values: body, format: 'JSONCompactEachRow' }));
  }

  async close(): Promise<void> {
    this.writers.close();
    this.readers.close();
  }
}

function firstLine(error: unknown): string {
  return String(error instanceof Error ? error.message : error).split('\n')[0] ?? '';
}
