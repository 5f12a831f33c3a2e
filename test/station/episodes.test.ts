import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StationActor } from '../../src/actors/station.js';
import { applyStationDefaults, parseConfigText } from '../../src/config/load.js';
import type { Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { mirrorConfiguration } from '../../src/db/mirror-config.js';
import { createLogger } from '../../src/log.js';
import { AlertEvents, type AlertEvent } from '../../src/station/alert-events.js';
import { createPgliteDatabase, type TestDatabase } from '../helpers/databases.js';
import { waitUntil } from './adapter-fixture.js';

const STATIONS = applyStationDefaults(
  parseConfigText(
    `stations:
  - id: s1
    unit_id: 1
    pumps:
      - { id: p1, control_variable: speed, unit: Hz, minimum: 10, maximum: 50, max_rate_per_second: 1000, failsafe_setpoint: 22 }
      - { id: p2, control_variable: speed, unit: Hz, minimum: 10, maximum: 50, max_rate_per_second: 1000, failsafe_setpoint: 33 }
`,
    'test',
  ).stations,
);

describe('clamp and failsafe episodes', () => {
  let testDatabase: TestDatabase;
  let database: Database;
  let actor: StationActor;
  const alerts: AlertEvent[] = [];
  let wallMs = Date.UTC(2030, 5, 1, 8);
  let monotonicMs = 0;

  /** Returns the station's clamp and failsafe audit rows, once at least `count` are written. */
  async function auditRows(count: number): Promise<string[]> {
    const rows = await waitUntil(readAuditRows, (each) => each.length >= count, 5000);
    return rows;
  }

  async function readAuditRows(): Promise<string[]> {
    const result = await database.query<{ event_type: string; pump_id: string | null; reason: string | null }>(
      `SELECT event_type, details->>'pump_id' AS pump_id, details->>'reason' AS reason FROM compliance_audit_log WHERE station_id = 's1' AND event_type LIKE ANY (ARRAY['SETPOINT_%', 'FAILSAFE_%']) ORDER BY id`,
    );
    return result.rows.map((row) => `${row.event_type}:${row.pump_id ?? '-'}:${row.reason ?? '-'}`);
  }

  async function settle(ticks: number): Promise<void> {
    for (let tick = 0; tick < ticks; tick += 1) {
      wallMs += 1000;
      monotonicMs += 1000;
      await actor.refreshPlans();
      actor.tick();
    }
  }

  beforeAll(async () => {
    testDatabase = await createPgliteDatabase();
    database = await testDatabase.open();
    await migrate(database);
    await mirrorConfiguration(database, STATIONS);
    const alertEvents = new AlertEvents();
    alertEvents.subscribe((event) => alerts.push(event));
    actor = new StationActor(STATIONS[0]!, {
      getDatabase: () => database,
      logger: createLogger({ level: 'silent' }),
      now: () => new Date(wallMs),
      monotonicNow: () => monotonicMs,
      alerts: alertEvents,
      manualTicks: true,
    });
    actor.start();
    await actor.restore();
  });

  afterAll(async () => {
    await actor?.stop(1000);
    await database?.close();
    await testDatabase?.drop();
  });

  it('audits a missing plan once per pump', async () => {
    await settle(5);
    expect(actor.getSnapshot().pumps.map((pump) => [pump.mode, pump.setpoint])).toEqual([
      ['failsafe', 22],
      ['failsafe', 33],
    ]);
    expect(await auditRows(2)).toEqual(['FAILSAFE_ACTIVATED:p1:no_plan', 'FAILSAFE_ACTIVATED:p2:no_plan']);
    expect(alerts.map((alert) => `${alert.type}:${alert.pumpId}`)).toEqual(['FAILSAFE_ACTIVATED:p1', 'FAILSAFE_ACTIVATED:p2']);
  });

  it('audits a clamp once per episode', async () => {
    alerts.length = 0;
    await database.query(
      `INSERT INTO pump_plans (station_id, pump_id, interval_start, interval_end, target_value, created_at)
       VALUES ('s1', 'p1', $1, $2, 70, $3), ('s1', 'p2', $1, $2, 40, $3)`,
      [new Date(wallMs - 60_000), new Date(wallMs + 60_000), new Date(wallMs)],
    );
    await settle(20);
    expect(actor.getSnapshot().pumps.map((pump) => [pump.mode, pump.setpoint])).toEqual([
      ['plan', 50],
      ['plan', 40],
    ]);
    expect(await auditRows(5)).toEqual([
      'FAILSAFE_ACTIVATED:p1:no_plan',
      'FAILSAFE_ACTIVATED:p2:no_plan',
      'SETPOINT_CLAMPED:p1:-',
      'FAILSAFE_CLEARED:p1:no_plan',
      'FAILSAFE_CLEARED:p2:no_plan',
    ]);
    const clamped = alerts.filter((alert) => alert.type === 'SETPOINT_CLAMPED');
    expect(clamped).toHaveLength(1);
    expect(clamped[0]!.details).toMatchObject({ pump_id: 'p1', requested: 70, minimum: 10, maximum: 50 });
    expect(clamped[0]!.message).toContain('70');
  });

  it('ends episodes when the interval ends', async () => {
    alerts.length = 0;
    await settle(61);
    const rows = await auditRows(8);
    expect(rows.slice(5)).toEqual(['SETPOINT_CLAMP_CLEARED:p1:-', 'FAILSAFE_ACTIVATED:p1:no_plan', 'FAILSAFE_ACTIVATED:p2:no_plan']);
    expect(alerts.map((alert) => alert.type)).toEqual(['SETPOINT_CLAMP_CLEARED', 'FAILSAFE_ACTIVATED', 'FAILSAFE_ACTIVATED']);
  });
});
