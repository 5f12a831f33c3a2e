import { Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { DatabaseConnector, type DatabaseConnectorOptions, type DatabaseOutage } from '../../src/db/connector.js';
import { AdapterError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';

const TARGET = 'postgres 10.0.0.5:5432/calejo';

/** A database whose connection loss the test triggers. */
interface FakeDatabase extends Database {
  closed: boolean;
  loseConnection(error: Error): void;
}

function fakeDatabase(): FakeDatabase {
  const lostHandlers: Array<(error: Error) => void> = [];
  const database: FakeDatabase = {
    kind: 'postgres',
    description: TARGET,
    closed: false,
    query: async <Row>() => ({ rows: [] as Row[], rowCount: 0 }),
    exec: async () => undefined,
    transaction: (work) => work(database),
    listen: async () => async () => undefined,
    onConnectionLost: (handler) => lostHandlers.push(handler),
    async close() {
      database.closed = true;
    },
    loseConnection: (error) => lostHandlers.forEach((handler) => handler(error)),
  };
  return database;
}

function refused(): Error {
  return Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:5432'), { code: 'ECONNREFUSED' });
}

const REJECTED = new AdapterError('DATABASE_REJECTED', 'postgres 10.0.0.5:5432/calejo rejected the login from DATABASE_URL');

/** Creates a connector whose `open` runs the scripted outcomes in order, then keeps connecting. */
function connectorWith(outcomes: Array<Error | 'hang'>, overrides: Partial<DatabaseConnectorOptions> = {}) {
  const logLines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logLines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      callback();
    },
  });
  const opened: FakeDatabase[] = [];
  const connections: Array<{ database: Database; outage: DatabaseOutage | null }> = [];
  let disconnections = 0;
  let openCalls = 0;
  const connector = new DatabaseConnector({
    target: TARGET,
    logger: createLogger({ level: 'info', destination }),
    initialDelayMs: 20,
    maxDelayMs: 50,
    open: async () => {
      const outcome = outcomes[openCalls];
      openCalls += 1;
      if (outcome === 'hang') await delay(300);
      else if (outcome) throw outcome;
      const database = fakeDatabase();
      opened.push(database);
      return database;
    },
    prepare: async () => undefined,
    classify: (error) => (error === REJECTED ? REJECTED : null),
    onConnected: (database, outage) => connections.push({ database, outage }),
    onDisconnected: () => (disconnections += 1),
    ...overrides,
  });
  return {
    connector,
    logLines,
    opened,
    connections,
    openCalls: () => openCalls,
    disconnections: () => disconnections,
  };
}

describe('database connector', () => {
  let stopLater: DatabaseConnector | undefined;

  afterEach(async () => {
    await stopLater?.stop();
    stopLater = undefined;
  });

  it('starts without waiting for connection', async () => {
    const { connector, connections } = connectorWith([refused(), refused(), refused()]);
    stopLater = connector;
    await connector.start(10_000);
    expect(connections).toHaveLength(0);
    expect(connector.describe()).toMatchObject({ connected: false, failedAttempts: 1, lastError: 'connect ECONNREFUSED 10.0.0.5:5432' });
    expect(connector.describe().nextAttemptAt).toBeInstanceOf(Date);
  });

  it('retries with capped backoff', async () => {
    const { connector, connections, logLines } = connectorWith([refused(), refused(), refused(), refused()]);
    stopLater = connector;
    await connector.start(10_000);
    await vi.waitFor(() => expect(connections).toHaveLength(1), { timeout: 2000, interval: 10 });

    const failures = logLines.filter((line) => line.attempt !== undefined);
    expect(failures.map((line) => line.attempt)).toEqual([1, 2, 3, 4]);
    expect(failures.map((line) => line.next_attempt_in_ms)).toEqual([20, 40, 50, 50]);
    for (const line of failures) {
      expect(line.level).toBe('ERROR');
      expect(line.database).toBe(TARGET);
      expect(line.msg).toContain(`connecting to ${TARGET} failed`);
      expect(line.msg).toContain('connect ECONNREFUSED 10.0.0.5:5432');
    }
  });

  it('reports the outage it ends', async () => {
    const { connector, connections, logLines } = connectorWith([refused(), refused()]);
    stopLater = connector;
    const startedAt = Date.now();
    await connector.start(10_000);
    await vi.waitFor(() => expect(connections).toHaveLength(1), { timeout: 2000, interval: 10 });

    const outage = connections[0]!.outage!;
    expect(outage.beganWith).toBe('start');
    expect(outage.failedAttempts).toBe(2);
    expect(outage.lastError).toBe('connect ECONNREFUSED 10.0.0.5:5432');
    expect(outage.since.getTime()).toBeGreaterThanOrEqual(startedAt - 50);
    expect(outage.durationMs).toBeGreaterThanOrEqual(55);
    expect(connector.describe()).toMatchObject({ connected: true, failedAttempts: 0, lastError: null, downSince: null });
    expect(logLines.some((line) => line.failed_attempts === 2 && String(line.msg).includes('reachable again'))).toBe(true);
  });

  it('reports no outage on first-try connection', async () => {
    const { connector, connections } = connectorWith([]);
    stopLater = connector;
    await connector.start(10_000);
    expect(connections).toHaveLength(1);
    expect(connections[0]!.outage).toBeNull();
  });

  it('rejects start on permanent failure', async () => {
    const { connector, openCalls } = connectorWith([REJECTED]);
    await expect(connector.start(10_000)).rejects.toBe(REJECTED);
    await delay(100);
    expect(openCalls()).toBe(1);
  });

  it('reports later permanent failure', async () => {
    const { connector, openCalls } = connectorWith([refused(), REJECTED]);
    stopLater = connector;
    await connector.start(10_000);
    const failures: Error[] = [];
    connector.onFailure((error) => failures.push(error));
    await vi.waitFor(() => expect(failures).toEqual([REJECTED]), { timeout: 2000, interval: 10 });
    await delay(150);
    expect(openCalls()).toBe(2);
    expect(connector.describe()).toMatchObject({ connected: false, lastError: REJECTED.message });
  });

  it('waits at most waitMs at start', async () => {
    const { connector, connections } = connectorWith(['hang']);
    stopLater = connector;
    const started = Date.now();
    await connector.start(50);
    expect(Date.now() - started).toBeLessThan(250);
    expect(connections).toHaveLength(0);
    await vi.waitFor(() => expect(connections).toHaveLength(1), { timeout: 2000, interval: 10 });
  });

  it('reconnects after lost connection', async () => {
    const { connector, connections, opened, disconnections, logLines } = connectorWith([]);
    stopLater = connector;
    await connector.start(10_000);
    expect(connections).toHaveLength(1);

    opened[0]!.loseConnection(new Error('the PostgreSQL LISTEN connection closed'));
    expect(disconnections()).toBe(1);
    expect(connector.describe()).toMatchObject({ connected: false, lastError: 'the PostgreSQL LISTEN connection closed' });
    await vi.waitFor(() => expect(connections).toHaveLength(2), { timeout: 2000, interval: 10 });

    expect(opened[0]!.closed).toBe(true);
    expect(connections[1]!.database).toBe(opened[1]);
    expect(connections[1]!.outage).toMatchObject({ beganWith: 'connection_lost', failedAttempts: 0, lastError: 'the PostgreSQL LISTEN connection closed' });
    expect(logLines.some((line) => String(line.msg).includes(`connection to ${TARGET} lost`))).toBe(true);
  });

  it('ignores loss of replaced connection', async () => {
    const { connector, connections, opened, disconnections } = connectorWith([]);
    stopLater = connector;
    await connector.start(10_000);
    opened[0]!.loseConnection(new Error('first loss'));
    await vi.waitFor(() => expect(connections).toHaveLength(2), { timeout: 2000, interval: 10 });

    opened[0]!.loseConnection(new Error('late second report of the first loss'));
    expect(disconnections()).toBe(1);
    expect(connector.describe().connected).toBe(true);
  });

  it('closes connection whose preparation fails', async () => {
    let preparations = 0;
    const { connector, connections, opened } = connectorWith([], {
      prepare: async () => {
        preparations += 1;
        if (preparations === 1) throw new Error('Connection terminated unexpectedly');
      },
    });
    stopLater = connector;
    await connector.start(10_000);
    await vi.waitFor(() => expect(connections).toHaveLength(1), { timeout: 2000, interval: 10 });
    expect(opened).toHaveLength(2);
    expect(opened[0]!.closed).toBe(true);
    expect(opened[1]!.closed).toBe(false);
  });

  it('fails attempt lost during preparation', async () => {
    let preparations = 0;
    const { connector, connections, opened } = connectorWith([], {
      prepare: async (database) => {
        preparations += 1;
        if (preparations === 1) (database as FakeDatabase).loseConnection(new Error('the PostgreSQL LISTEN connection closed'));
      },
    });
    stopLater = connector;
    await connector.start(10_000);
    await vi.waitFor(() => expect(connections).toHaveLength(1), { timeout: 2000, interval: 10 });
    expect(connections[0]!.database).toBe(opened[1]);
    expect(connections[0]!.outage).toMatchObject({ failedAttempts: 1, lastError: 'the PostgreSQL LISTEN connection closed' });
    expect(opened[0]!.closed).toBe(true);
  });

  it('stop ends the retries', async () => {
    const { connector, openCalls } = connectorWith(Array.from({ length: 100 }, refused));
    await connector.start(10_000);
    await connector.stop();
    const callsAtStop = openCalls();
    await delay(150);
    expect(openCalls()).toBe(callsAtStop);
  });

  it('stop closes connection', async () => {
    const { connector, opened, disconnections } = connectorWith([]);
    await connector.start(10_000);
    await connector.stop();
    expect(opened[0]!.closed).toBe(true);
    expect(disconnections()).toBe(1);
  });
});
