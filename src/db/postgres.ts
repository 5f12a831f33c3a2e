import pg from 'pg';
import type { Database, QueryResult, Queryable } from './database.js';

/** Time allowed for a connection to open, log in and become ready; a host that does not respond fails after it. */
const CONNECTION_TIMEOUT_MS = 5000;

/** Connects node-postgres. Timestamps come back as Date and double precision as number. */
export async function openPostgres(connectionString: string, options: { poolSize?: number } = {}): Promise<Database> {
  const pool = new pg.Pool({
    connectionString,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: CONNECTION_TIMEOUT_MS,
    // A server that stops responding without closing the connection would otherwise keep a pooled
    // client forever. After this time the query fails and the client is discarded.
    query_timeout: 30_000,
    keepAlive: true,
    application_name: 'calejo-control-adapter',
  });
  const lostHandlers: Array<(error: Error) => void> = [];
  const reportLost = (error: Error) => lostHandlers.forEach((handler) => handler(error));

  // An idle pooled client that errors is discarded by pg-pool; without a listener, the error event
  // would crash the process.
  pool.on('error', () => undefined);

  const probe = await pool.connect().catch((error: unknown) => {
    void pool.end();
    throw error;
  });
  probe.release();

  const listener = new pg.Client({ connectionString, connectionTimeoutMillis: CONNECTION_TIMEOUT_MS, application_name: 'calejo-control-adapter-listen' });
  let closing = false;
  listener.on('error', (error) => {
    if (!closing) reportLost(error);
  });
  listener.on('end', () => {
    if (!closing) reportLost(new Error('the PostgreSQL LISTEN connection closed'));
  });
  try {
    await listener.connect();
  } catch (error) {
    closing = true;
    await pool.end().catch(() => undefined); // the connect error is the one to report
    throw error;
  }
  const channelHandlers = new Map<string, Set<(payload: string) => void>>();
  listener.on('notification', (message) => {
    channelHandlers.get(message.channel)?.forEach((handler) => handler(message.payload ?? ''));
  });

  return {
    kind: 'postgres',
    description: describeUrl(connectionString),
    query: (sql, params) => runQuery(pool, sql, params),
    exec: async (sql) => {
      await pool.query(sql);
    },
    async transaction(work) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const tx: Queryable = {
          query: (sql, params) => runQuery(client, sql, params),
          exec: async (sql) => {
            await client.query(sql);
          },
        };
        const result = await work(tx);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined); // the original error matters more
        throw error;
      } finally {
        client.release();
      }
    },
    async listen(channel, onNotification) {
      let handlers = channelHandlers.get(channel);
      if (!handlers) {
        handlers = new Set();
        channelHandlers.set(channel, handlers);
        await listener.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      }
      handlers.add(onNotification);
      return async () => {
        handlers.delete(onNotification);
      };
    },
    onConnectionLost(handler) {
      lostHandlers.push(handler);
    },
    async close() {
      closing = true;
      await listener.end().catch(() => undefined); // already broken connections need no goodbye
      await pool.end();
    },
  };
}

async function runQuery<Row>(client: pg.Pool | pg.PoolClient, sql: string, params?: unknown[]): Promise<QueryResult<Row>> {
  const result = await client.query(sql, params as unknown[]);
  return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
}

/** Drops the password from a connection string so it can be logged. */
export function describeUrl(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    url.password = '';
    return `postgres ${url.host}${url.pathname}`;
  } catch {
    return 'postgres (connection string not a URL)';
  }
}
