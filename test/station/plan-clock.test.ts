import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyStationDefaults, parseConfigText } from '../../src/config/load.js';
import type { Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { mirrorConfiguration } from '../../src/db/mirror-config.js';
import { AlertEvents, type AlertEvent } from '../../src/station/alert-events.js';
import { createPgliteDatabase, type TestDatabase } from '../helpers/databases.js';
import { ManualStation } from './manual-station.js';

const STATIONS = applyStationDefaults(
  parseConfigText(
    `stations:
  - id: s1
    unit_id: 1
    pumps:
      - { id: p1, control_variable: speed, unit: Hz, minimum: 10, maximum: 50, max_rate_per_second: 1000, failsafe_setpoint: 22 }
`,
    'test',
  ).stations,
);

const HOUR = 3_600_000;
const STALENESS_MS = 10 * 60_000;
const TOLERANCE_MS = 60_000;

/**
 * Plan rows whose created_at lies ahead of the adapter's clock, from an optimizer host with a
 * wrong clock or after the adapter's clock was set back, on PGlite with an injected wall clock.
 */
describe('plan rows stamped in the future', () => {
  let testDatabase: TestDatabase;
  let database: Database;
  let station: ManualStation;
  const alerts: AlertEvent[] = [];
  /** Ids of the rows inserted with a normal created_at, in insertion order. */
  const normallyStamped: string[] = [];

  /** Inserts a row for p1 covering the next day, as an optimizer would, with its own created_at. */
  async function insertPlan(value: number, createdAt: Date): Promise<string> {
    const result = await database.query<{ plan_id: string | number }>(
      `INSERT INTO pump_plans (station_id, pump_id, interval_start, interval_end, target_value, created_at)
       VALUES ('s1', 'p1', $1, $2, $3, $4) RETURNING plan_id`,
      [new Date(station.wallMs - 4 * HOUR), new Date(station.wallMs + 24 * HOUR), value, createdAt],
    );
    const planId = String(result.rows[0]!.plan_id);
    if (createdAt.getTime() <= station.wallMs + TOLERANCE_MS) normallyStamped.push(planId);
    return planId;
  }

  async function futureTimestampRows(): Promise<Array<{ plan_ids: string[]; rows: number }>> {
    const result = await database.query<{ details: { plan_ids: string[]; rows: number } }>(
      `SELECT details FROM compliance_audit_log WHERE station_id = 's1' AND event_type = 'PLAN_FUTURE_TIMESTAMP_DETECTED' ORDER BY id`,
    );
    return result.rows.map((row) => ({ plan_ids: row.details.plan_ids, rows: row.details.rows }));
  }

  function pump() {
    return station.actor.getSnapshot().pumps[0]!;
  }

  beforeAll(async () => {
    testDatabase = await createPgliteDatabase();
    database = await testDatabase.open();
    await migrate(database);
    await mirrorConfiguration(database, STATIONS);
    const alertEvents = new AlertEvents();
    alertEvents.subscribe((event) => alerts.push(event));
    station = new ManualStation(STATIONS[0]!, () => database, { planStalenessMs: STALENESS_MS, planClockToleranceMs: TOLERANCE_MS, alerts: alertEvents });
    await station.start();
  });

  afterAll(async () => {
    await station?.stop();
    await database?.close();
    await testDatabase?.drop();
  });

  it('later upload wins over future row', async () => {
    const ahead = await insertPlan(30, new Date(station.wallMs + HOUR));
    await station.settle(1);
    expect(pump()).toMatchObject({ mode: 'plan', planValue: 30 });

    await insertPlan(40, new Date(station.wallMs));
    await station.settle(1);
    expect(pump()).toMatchObject({ mode: 'plan', planValue: 40 });

    // One audit row and one alert name the row, however often the plan is read.
    await station.settle(3);
    expect(await futureTimestampRows()).toEqual([{ plan_ids: [ahead], rows: 1 }]);
    expect(alerts.filter((alert) => alert.type === 'PLAN_FUTURE_TIMESTAMP_DETECTED')).toHaveLength(1);
  });

  it('future row does not keep plan fresh', async () => {
    await station.settle(STALENESS_MS / 1000 + 1);
    expect(station.actor.getSnapshot().watchdog).toBe('plan_stale');
    expect(pump().mode).toBe('failsafe');
  });

  it('flag outlives restart and clock', async () => {
    await station.restart();
    // An hour on, the future row's created_at has passed, but it still ranks by when it arrived.
    await station.settle(HOUR / 1000);
    expect(pump().planValue).toBe(40);
    expect(station.actor.getSnapshot().watchdog).toBe('plan_stale');
    expect(await futureTimestampRows()).toHaveLength(1);

    await insertPlan(45, new Date(station.wallMs));
    await station.settle(1);
    expect(station.actor.getSnapshot().watchdog).toBeNull();
    expect(pump()).toMatchObject({ mode: 'plan', planValue: 45 });
  });

  it('row within tolerance ranks by created_at', async () => {
    const before = (await futureTimestampRows()).length;
    await insertPlan(35, new Date(station.wallMs + TOLERANCE_MS / 2));
    await insertPlan(25, new Date(station.wallMs));
    await station.settle(1);
    expect(pump().planValue).toBe(35);
    expect(await futureTimestampRows()).toHaveLength(before);
  });

  it('clock set back flags earlier rows', async () => {
    const before = (await futureTimestampRows()).length;
    const earlier = [...normallyStamped];

    // The adapter's clock steps back two hours; rows written in those two hours are now ahead of it.
    station.wallMs -= 2 * HOUR;
    await insertPlan(20, new Date(station.wallMs));
    await station.settle(1);
    expect(pump()).toMatchObject({ mode: 'plan', planValue: 20 });
    const flagged = (await futureTimestampRows()).slice(before);
    expect(flagged).toHaveLength(1);
    expect(flagged[0]!.plan_ids).toEqual(earlier);

    // They count as written when first read, so the plan goes stale on the adapter's own clock.
    await station.settle(STALENESS_MS / 1000 + 1);
    expect(station.actor.getSnapshot().watchdog).toBe('plan_stale');
  });
});
