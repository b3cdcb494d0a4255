// One narrow interface over the two ways meshlens talks to ClickHouse: the embedded engine (chDB) and
// a ClickHouse server over HTTP. Everything above this line speaks SQL text and JSONCompactEachRow.

export interface ClickHouseStore {
  /** 'embedded' (chDB in this process) or 'server' (ClickHouse over HTTP). */
  readonly mode: 'embedded' | 'server';
  /** Runs a statement that returns nothing of interest (DDL, ALTER, OPTIMIZE). */
  exec(sql: string): Promise<void>;
  /** Runs a SELECT and returns its rows; 64-bit integers come back as strings. */
  query<Row>(sql: string): Promise<Row[]>;
  /**
   * Runs a SELECT and hands its rows to `onRow` one at a time, each as the array of its columns, without
   * building them all first: for large answers read once in order (each row dies young, so the garbage
   * collector never copies the whole answer). 64-bit integers come back as strings.
   */
  queryEach(sql: string, onRow: (columns: unknown[]) => void): Promise<void>;
  /** Inserts rows given as JSONCompactEachRow text (one JSON array per line) in the column order. */
  insert(table: string, columns: readonly string[], body: Buffer): Promise<void>;
  /** How many inserts may usefully run at once (separate engine sessions or HTTP connections). */
  readonly insertConcurrency: number;
  close(): Promise<void>;
}

/** A ClickHouse string literal. Everything user-supplied that reaches SQL text goes through here. */
export function sqlString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** An integer literal; refuses anything that is not one, so no text can slip into SQL through it. */
export function sqlInt(value: number | bigint): string {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) throw new Error(`not an integer: ${value}`);
  return String(value);
}

/** A 32-character hex trace id as a FixedString(16) literal. */
export function sqlTraceId(hex: string): string {
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new Error(`not a 32-character hex trace id: ${hex}`);
  return `unhex('${hex}')`;
}
