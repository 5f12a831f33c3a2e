import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyStationDefaults, parseConfigText } from '../../src/config/load.js';
import type { Database, Queryable } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { mirrorConfiguration } from '../../src/db/mirror-config.js';
import { FeedbackRecorder, type FeedbackRow } from '../../src/modbus/feedback-recorder.js';
import { RejectedWriteAuditor } from '../../src/modbus/rejected-write-audit.js';
import { DATABASE_KINDS, type TestDatabase } from '../helpers/databases.js';
import { createCapturingLogger, waitUntil } from './raw-client.js';

const CONFIG = `
stations:
  - id: s1
    unit_id: 1
    pumps:
      - { id: p1, control_variable: speed, unit: Hz, minimum: 0, maximum: 50, max_rate_per_second: 1, failsafe_setpoint: 10 }
`;

function row(value: number, overrides: Partial<FeedbackRow> = {}): FeedbackRow {
  return {
    stationId: 's1',
    pumpId: 'p1',
    variable: 'measured_speed',
    value,
    receivedAt: new Date('2026-01-01T00:00:00Z'),
    sourceAddress: '127.0.0.1',
    register: 'holding 100',
    ...overrides,
  };
}

async function storedValues(database: Queryable): Promise<number[]> {
  const result = await database.query<{ value: number }>('SELECT value FROM pump_feedback ORDER BY feedback_id');
  return result.rows.map((stored) => Number(stored.value));
}

describe.each(DATABASE_KINDS)('FeedbackRecorder on $kind', ({ create }) => {
  let testDatabase: TestDatabase;
  let database: Database;

  beforeAll(async () => {
    testDatabase = await create();
    database = await testDatabase.open();
    await migrate(database);
    const file = parseConfigText(CONFIG, 'feedback.yaml');
    await mirrorConfiguration(database, applyStationDefaults(file.stations));
  });

  afterAll(async () => {
    await database.close();
    await testDatabase.drop();
  });

  it('inserts buffered rows at the interval', async () => {
    await database.query('DELETE FROM pump_feedback');
    const recorder = new FeedbackRecorder({ getDatabase: () => database, logger: createCapturingLogger().logger, flushIntervalMs: 50, batchRows: 500, maxBufferedRows: 1000 });
    recorder.start();
    recorder.record([row(1), row(2)]);
    recorder.record([row(3, { pumpId: null, variable: 'level', register: 'holding 110' })]);
    expect(await storedValues(database)).toEqual([]);

    await waitUntil(() => recorder.bufferedCount === 0, 'the rows to be inserted');
    await recorder.stop();
    expect(await storedValues(database)).toEqual([1, 2, 3]);
    const stored = await database.query<{ pump_id: string | null; variable: string; source: string; source_address: string; register: string }>(
      'SELECT pump_id, variable, source, source_address, register FROM pump_feedback ORDER BY feedback_id DESC LIMIT 1',
    );
    expect(stored.rows[0]).toEqual({ pump_id: null, variable: 'level', source: 'modbus', source_address: '127.0.0.1', register: 'holding 110' });
  });

  it('inserts a full batch without waiting for the interval', async () => {
    await database.query('DELETE FROM pump_feedback');
    const recorder = new FeedbackRecorder({ getDatabase: () => database, logger: createCapturingLogger().logger, flushIntervalMs: 60_000, batchRows: 3, maxBufferedRows: 1000 });
    recorder.start();
    recorder.record([row(1), row(2), row(3), row(4)]);
    await waitUntil(() => recorder.bufferedCount === 1, 'the full batch to be inserted');
    expect(await storedValues(database)).toEqual([1, 2, 3]);
    await recorder.stop();
    expect(await storedValues(database)).toEqual([1, 2, 3, 4]);
  });

  it('keeps rows through an outage and drops the oldest beyond the limit', async () => {
    await database.query('DELETE FROM pump_feedback');
    const { logger, lines } = createCapturingLogger();
    let available: Database | null = null;
    const recorder = new FeedbackRecorder({ getDatabase: () => available, logger, flushIntervalMs: 20, batchRows: 500, maxBufferedRows: 5 });
    recorder.start();

    for (let value = 1; value <= 8; value += 1) recorder.record([row(value)]);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(recorder.bufferedCount).toBe(5);
    expect(recorder.droppedCount).toBe(3);
    const warning = lines.find((line) => line.msg.startsWith('feedback buffer full'));
    expect(warning?.level).toBe('WARNING');
    expect(warning?.dropped_rows).toBe(1);
    expect(lines.some((line) => line.level === 'ERROR' && line.msg.startsWith('storing feedback rows failed'))).toBe(true);

    available = database;
    await recorder.stop();
    expect(await storedValues(database)).toEqual([4, 5, 6, 7, 8]);
  });

  it('drops a batch the database rejects and stores the next', async () => {
    await database.query('DELETE FROM pump_feedback');
    const { logger, lines } = createCapturingLogger();
    const recorder = new FeedbackRecorder({ getDatabase: () => database, logger, flushIntervalMs: 20, batchRows: 1, maxBufferedRows: 100 });
    recorder.record([row(1, { pumpId: 'no-such-pump' }), row(2)]);
    await recorder.stop();
    expect(await storedValues(database)).toEqual([2]);
    expect(recorder.droppedCount).toBe(1);
    expect(lines.find((line) => line.msg.startsWith('feedback rows dropped because the database rejected them'))?.rows).toBe(1);
  });
});

describe.each(DATABASE_KINDS)('RejectedWriteAuditor on $kind', ({ create }) => {
  let testDatabase: TestDatabase;
  let database: Database;

  beforeAll(async () => {
    testDatabase = await create();
    database = await testDatabase.open();
    await migrate(database);
  });

  afterAll(async () => {
    await database.close();
    await testDatabase.drop();
  });

  const event = (remoteAddress: string, clearsEmergencyStop = false) => ({
    unitId: 1,
    remoteAddress,
    functionCode: clearsEmergencyStop ? 5 : 6,
    exceptionCode: clearsEmergencyStop ? 3 : 2,
    reason: 'holding register 0 is read-only',
    table: clearsEmergencyStop ? ('coil' as const) : ('holding' as const),
    address: 0,
    count: 1,
    clearsEmergencyStop,
  });

  it('writes one row per address and interval, then the suppressed count', async () => {
    let now = 0;
    const { logger, lines } = createCapturingLogger();
    const auditor = new RejectedWriteAuditor({ getDatabase: () => database, logger, intervalMs: 1000, stationIdOf: () => 's1', now: () => now });

    for (let attempt = 0; attempt < 50; attempt += 1) auditor.report(event('10.0.0.1'));
    auditor.report(event('10.0.0.2'));
    auditor.report(event('10.0.0.1', true));
    now = 1000;
    auditor.report(event('10.0.0.1'));
    await auditor.settle();

    const rows = await database.query<{ severity: string; source: string; source_address: string; station_id: string; details: Record<string, unknown> }>(
      `SELECT severity, source, source_address, station_id, details FROM compliance_audit_log WHERE event_type = 'MODBUS_WRITE_REJECTED' ORDER BY id`,
    );
    expect(rows.rows.map((audit) => [audit.source_address, audit.severity, audit.details.suppressed_since_last])).toEqual([
      ['10.0.0.1', 'MEDIUM', 0],
      ['10.0.0.2', 'MEDIUM', 0],
      ['10.0.0.1', 'HIGH', 0],
      ['10.0.0.1', 'MEDIUM', 49],
    ]);
    expect(rows.rows[0]).toMatchObject({ source: 'modbus', station_id: 's1' });
    expect(rows.rows[0]?.details).toMatchObject({ unit_id: 1, function_code: 6, exception_code: 2, table: 'holding', address: 0 });
    expect(rows.rows[2]?.details.clears_emergency_stop).toBe(true);
    expect(lines.find((line) => line.msg.startsWith('rejected Modbus writes left out'))?.suppressed_rejections).toBe(49);
  });

  it('logs the row when the database is down', async () => {
    const { logger, lines } = createCapturingLogger();
    const auditor = new RejectedWriteAuditor({ getDatabase: () => null, logger, intervalMs: 1000, stationIdOf: () => null });
    auditor.report(event('10.0.0.3'));
    const error = lines.find((line) => line.level === 'ERROR');
    expect(error?.msg).toMatch(/not stored because the database is not connected/);
    expect(error?.audit).toMatchObject({ eventType: 'MODBUS_WRITE_REJECTED', sourceAddress: '10.0.0.3' });
  });
});
