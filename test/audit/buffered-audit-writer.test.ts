import { Writable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BufferedAuditWriter } from '../../src/audit/buffered-audit-writer.js';
import type { AuditEvent } from '../../src/audit/audit-log.js';
import type { Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { createLogger } from '../../src/log.js';
import { createPostgresDatabase, type TestDatabase } from '../helpers/databases.js';

/** Builds a restart row of station `stationId`. Each test uses its own station, so the tests can share one table. */
function restartEvent(stationId: string, restarts: number, at: Date): AuditEvent {
  return {
    eventType: 'SUPERVISOR_RESTART',
    severity: 'MEDIUM',
    source: 'system',
    stationId,
    occurredAt: at,
    details: { supervisor: 'stations', child: stationId, restarts, delay_ms: 100 * restarts, reason: 'crash injected by the backlog test' },
  };
}

describe('buffered audit writer', () => {
  let testDatabase: TestDatabase;
  let database: Database;
  let connected: Database | null;
  let logLines: Array<Record<string, unknown>>;
  const logger = createLogger({
    level: 'info',
    destination: new Writable({
      write(chunk: Buffer, _encoding, callback) {
        logLines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        callback();
      },
    }),
  });

  async function storedRestarts(stationId: string): Promise<Array<{ restarts: number; timestamp: Date }>> {
    const result = await database.query<{ restarts: number; timestamp: Date }>(
      "SELECT (details->>'restarts')::int AS restarts, timestamp FROM compliance_audit_log WHERE event_type = 'SUPERVISOR_RESTART' AND station_id = $1 ORDER BY id",
      [stationId],
    );
    return result.rows;
  }

  beforeAll(async () => {
    testDatabase = await createPostgresDatabase();
    database = await testDatabase.open();
    await migrate(database);
  });

  beforeEach(() => {
    logLines = [];
    connected = null;
  });

  afterAll(async () => {
    await database?.close();
    await testDatabase?.drop();
  });

  it('holds rows while database is down', async () => {
    const writer = new BufferedAuditWriter({ getDatabase: () => connected, logger });
    const times = [new Date('2026-03-01T10:00:00Z'), new Date('2026-03-01T10:00:01Z'), new Date('2026-03-01T10:00:03Z')];
    times.forEach((at, index) => writer.record(restartEvent('held', index + 1, at)));
    await writer.writeBacklog();
    expect(writer.pendingCount).toBe(3);
    expect(await storedRestarts('held')).toEqual([]);

    connected = database;
    await writer.writeBacklog();
    expect(writer.pendingCount).toBe(0);
    const rows = await storedRestarts('held');
    expect(rows.map((row) => row.restarts)).toEqual([1, 2, 3]);
    expect(rows.map((row) => row.timestamp.toISOString())).toEqual(times.map((at) => at.toISOString()));
  });

  it('drops oldest past the bound', async () => {
    const writer = new BufferedAuditWriter({ getDatabase: () => connected, logger, maxBacklog: 2 });
    for (let restarts = 1; restarts <= 5; restarts += 1) writer.record(restartEvent('bounded', restarts, new Date()));
    expect(writer.pendingCount).toBe(2);
    expect(logLines.filter((line) => line.level === 'WARNING' && line.max_backlog === 2)).toHaveLength(1);

    connected = database;
    await writer.writeBacklog();
    expect((await storedRestarts('bounded')).map((row) => row.restarts)).toEqual([4, 5]);
    expect(logLines.some((line) => line.dropped === 3)).toBe(true);
  });

  it('keeps row the database rejects', async () => {
    const writer = new BufferedAuditWriter({ getDatabase: () => connected, logger });
    connected = {
      ...database,
      query: () => Promise.reject(new Error('permission denied for table compliance_audit_log')),
    };
    writer.record(restartEvent('rejected', 1, new Date()));
    expect(await writer.flush(1000)).toBe(1);
    expect(logLines.filter((line) => line.level === 'ERROR' && line.event_type === 'SUPERVISOR_RESTART').length).toBeGreaterThanOrEqual(1);

    connected = database;
    expect(await writer.flush(1000)).toBe(0);
    expect((await storedRestarts('rejected')).map((row) => row.restarts)).toEqual([1]);
  });
});
