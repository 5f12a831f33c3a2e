import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { migrate, readMigrations } from '../../src/db/migrate.js';
import { mirrorConfiguration } from '../../src/db/mirror-config.js';
import { readActivePlanValues } from '../../src/station/plan-store.js';
import { persistStopCommand, readStopState, type CommandOrigin } from '../../src/station/stop-store.js';
import { applyStationDefaults, parseConfigText } from '../../src/config/load.js';
import { DATABASE_KINDS, type TestDatabase } from '../helpers/databases.js';

const STATIONS = applyStationDefaults(
  parseConfigText(
    `stations:
  - id: s1
    unit_id: 1
    pumps:
      - { id: p1, control_variable: speed, unit: Hz, minimum: 0, maximum: 50, max_rate_per_second: 1, failsafe_setpoint: 30 }
      - { id: p2, control_variable: speed, unit: Hz, minimum: 0, maximum: 50, max_rate_per_second: 1, failsafe_setpoint: 30 }
`,
    'test',
  ).stations,
);

const ORIGIN: CommandOrigin = { source: 'rest', actor: 'alice', actorRole: 'operator', sourceAddress: '127.0.0.1', reason: 'test', operator: null };

describe.each(DATABASE_KINDS)('schema on $kind', ({ create }) => {
  let testDatabase: TestDatabase;
  let database: Database;

  beforeAll(async () => {
    testDatabase = await create();
    database = await testDatabase.open();
    await migrate(database);
    await mirrorConfiguration(database, STATIONS);
  });

  afterAll(async () => {
    await database?.close();
    await testDatabase?.drop();
  });

  it('migrations apply once', async () => {
    expect(await migrate(database)).toEqual([]);
    const versions = await database.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    expect(versions.rows.map((row) => row.version)).toEqual(readMigrations().map((migration) => migration.version));
    expect(versions.rows[0]?.version).toBe(1);
  });

  it('plan insert sends NOTIFY with station id', async () => {
    const received: string[] = [];
    const unsubscribe = await database.listen('pump_plans_changed', (payload) => received.push(payload));
    await database.query(
      `INSERT INTO pump_plans (station_id, pump_id, interval_start, interval_end, target_value) VALUES ('s1', 'p1', now(), now() + interval '1 hour', 12)`,
    );
    const deadline = Date.now() + 2000;
    while (received.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    await unsubscribe();
    expect(received).toContain('s1');
  });

  it('newest covering plan row wins', async () => {
    const at = new Date('2030-01-01T12:30:00Z');
    await database.query(
      `INSERT INTO pump_plans (station_id, pump_id, interval_start, interval_end, target_value, created_at) VALUES
         ('s1', 'p2', '2030-01-01T12:00Z', '2030-01-01T13:00Z', 10, '2029-12-31T00:00Z'),
         ('s1', 'p2', '2030-01-01T12:00Z', '2030-01-01T13:00Z', 20, '2029-12-31T06:00Z'),
         ('s1', 'p2', '2030-01-01T11:00Z', '2030-01-01T12:30Z', 99, '2029-12-31T09:00Z')`,
    );
    const values = await readActivePlanValues(database, 's1', at);
    expect(values.get('p2')).toBe(20);
    const atEnd = await readActivePlanValues(database, 's1', new Date('2030-01-01T13:00:00Z'));
    expect(atEnd.has('p2')).toBe(false);
  });

  it('plan rows with bad values are rejected', async () => {
    await expect(
      database.query(`INSERT INTO pump_plans (station_id, pump_id, interval_start, interval_end, target_value) VALUES ('s1', 'p1', now(), now() - interval '1 hour', 1)`),
    ).rejects.toThrow(/pump_plans_interval_order/);
    await expect(
      database.query(`INSERT INTO pump_plans (station_id, pump_id, interval_start, interval_end, target_value) VALUES ('s1', 'p1', now(), now() + interval '1 hour', 'NaN')`),
    ).rejects.toThrow(/pump_plans_target_finite/);
    await expect(
      database.query(`INSERT INTO pump_plans (station_id, pump_id, interval_start, interval_end, target_value) VALUES ('s1', 'nope', now(), now() + interval '1 hour', 1)`),
    ).rejects.toThrow(/foreign key/);
  });

  it('stop episodes follow stop, clear, resume', async () => {
    const command = (kind: 'activate' | 'clear' | 'resume') => persistStopCommand(database, { kind, stationId: 's1', origin: ORIGIN, acceptedAt: new Date() });

    expect(await readStopState(database, 's1')).toBe('operational');
    await command('activate');
    expect(await readStopState(database, 's1')).toBe('stopped');
    await command('activate');
    const episodes = await database.query('SELECT stop_id FROM emergency_stops WHERE station_id = $1', ['s1']);
    expect(episodes.rowCount).toBe(1);
    await command('clear');
    expect(await readStopState(database, 's1')).toBe('held');
    await command('activate');
    expect(await readStopState(database, 's1')).toBe('stopped');
    await command('clear');
    await command('resume');
    expect(await readStopState(database, 's1')).toBe('operational');

    const ended = await database.query<{ end_reason: string }>('SELECT end_reason FROM emergency_stops ORDER BY stop_id');
    expect(ended.rows.map((row) => row.end_reason)).toEqual(['stopped_again', 'resumed']);
    const audit = await database.query<{ event_type: string }>(`SELECT event_type FROM compliance_audit_log WHERE station_id = 's1' ORDER BY id`);
    expect(audit.rows.map((row) => row.event_type)).toEqual([
      'EMERGENCY_STOP_ACTIVATED',
      'EMERGENCY_STOP_ACTIVATED',
      'EMERGENCY_STOP_CLEARED',
      'EMERGENCY_STOP_ACTIVATED',
      'EMERGENCY_STOP_CLEARED',
      'EMERGENCY_STOP_RESUMED',
    ]);
    const details = await database.query<{ details: Record<string, unknown>; actor: string; severity: string; source_address: string }>(
      `SELECT details, actor, severity, source_address FROM compliance_audit_log WHERE station_id = 's1' ORDER BY id`,
    );
    const [firstStop, repeatedStop] = details.rows;
    const stopIds = (await database.query<{ stop_id: string | number }>('SELECT stop_id FROM emergency_stops ORDER BY stop_id')).rows.map((row) => String(row.stop_id));
    expect(firstStop).toEqual({ details: { reason: 'test', operator: null, stop_id: stopIds[0] }, actor: 'alice', severity: 'CRITICAL', source_address: '127.0.0.1' });
    expect(repeatedStop?.details).toEqual({ reason: 'test', operator: null, stop_id: stopIds[0], already_active: true });
    expect(details.rows.at(-1)?.details).toEqual({ reason: 'test', operator: null, stop_id: stopIds[1] });
  });

  it('refuses a stop command of unknown kind and writes nothing', async () => {
    const before = await database.query<{ count: string | number }>('SELECT count(*) AS count FROM compliance_audit_log');
    await expect(database.query(`SELECT record_stop_command('pause', 's1', now(), 'alice', 'operator', 'rest', NULL, NULL, NULL)`)).rejects.toThrow(/unknown stop command kind "pause"/);
    const after = await database.query<{ count: string | number }>('SELECT count(*) AS count FROM compliance_audit_log');
    expect(Number(after.rows[0]?.count)).toBe(Number(before.rows[0]?.count));
  });

  it('stop commands persist after clock set back', async () => {
    const at = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000);
    const command = (kind: 'activate' | 'clear' | 'resume', acceptedAt: Date) => persistStopCommand(database, { kind, stationId: 's1', origin: ORIGIN, acceptedAt });

    // Each command is accepted after the previous one, but by a wall clock that was set back in between.
    await command('activate', at(0));
    await command('clear', at(5));
    await command('activate', at(10));
    await command('clear', at(15));
    await command('resume', at(20));
    expect(await readStopState(database, 's1')).toBe('operational');

    const stops = await database.query<{ activated_at: Date; cleared_at: Date; ended_at: Date; end_reason: string }>(
      `SELECT activated_at, cleared_at, ended_at, end_reason FROM emergency_stops WHERE station_id = 's1' ORDER BY stop_id DESC LIMIT 2`,
    );
    expect(stops.rows.map((row) => row.end_reason)).toEqual(['resumed', 'stopped_again']);
    for (const row of stops.rows) {
      expect(row.cleared_at.getTime()).toBeGreaterThanOrEqual(row.activated_at.getTime());
      expect(row.ended_at.getTime()).toBeGreaterThanOrEqual(row.cleared_at.getTime());
    }
  });

  it('audit log is append-only', async () => {
    await expect(database.query(`UPDATE compliance_audit_log SET severity = 'LOW'`)).rejects.toThrow(/append-only/);
    await expect(database.query('DELETE FROM compliance_audit_log')).rejects.toThrow(/append-only/);
    await expect(database.query('TRUNCATE compliance_audit_log')).rejects.toThrow(/append-only/);
  });
});
