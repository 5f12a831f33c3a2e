/**
 * The one interface the adapter uses for SQL, implemented over node-postgres for production and
 * over PGlite (PostgreSQL compiled to WebAssembly, in-process) for the embedded default. Both speak
 * the same SQL, so migrations and queries are written once.
 */
export interface QueryResult<Row> {
  rows: Row[];
  rowCount: number;
}

export interface Queryable {
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<Row>>;
  /** Runs several statements without parameters, as migrations need. */
  exec(sql: string): Promise<void>;
}

export interface Database extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** Location of the data, without credentials, so it is safe to log. */
  readonly description: string;
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Subscribes to NOTIFY on a channel; the returned function unsubscribes. */
  listen(channel: string, onNotification: (payload: string) => void): Promise<() => Promise<void>>;
  /**
   * Registers a handler for a lost connection that the database cannot recover by itself (the
   * LISTEN connection of node-postgres). The supervisor restarts the database child on it.
   */
  onConnectionLost(handler: (error: Error) => void): void;
  close(): Promise<void>;
}
