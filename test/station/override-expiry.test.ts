import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyStationDefaults, parseConfigText } from '../../src/config/load.js';
import type { Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { mirrorConfiguration } from '../../src/db/mirror-config.js';
import { isAdapterError } from '../../src/errors.js';
import { createPgliteDatabase, type TestDatabase } from '../helpers/databases.js';
import { ManualStation, startPgliteStation, type PgliteStation } from './manual-station.js';

const STATIONS = applyStationDefaults(
  parseConfigText(
    `stations:
  - id: s1
    unit_id: 1
    pumps:
      - { id: p1, control_variable: speed, unit: Hz, minimum: 10, maximum: 50, max_rate_per_second: 1000, failsafe_setpoint: 22, stop_setpoint: 10 }
`,
    'test',
  ).stations,
);

const ORIGIN = { source: 'rest', actor: 'alice', actorRole: 'engineer', sourceAddress: null, reason: 'expiry test', operator: null } as const;

/**
 * Overrides that run out, on a real PGlite database with an injected wall clock: the station ends
 * the stored row, so neither a wall clock set back nor a restart brings the override back.
 */
describe('override expiry', () => {
  let testDatabase: TestDatabase;
  let database: Database;
  let station: ManualStation;

  async function setOverride(value: number, seconds: number): Promise<string> {
    const stored = await station.actor.setOverride('p1', { value, expiresAt: new Date(station.wallMs + seconds * 1000) }, ORIGIN);
    await station.settle(1);
    expect(station.actor.getSnapshot().pumps[0]).toMatchObject({ mode: 'override', setpoint: value });
    return stored.overrideId;
  }

  async function storedOverride(overrideId: string): Promise<{ ended_at: Date | null; end_reason: string | null; expires_at: Date }> {
    const result = await database.query<{ ended_at: Date | null; end_reason: string | null; expires_at: Date }>(
      'SELECT ended_at, end_reason, expires_at FROM pump_overrides WHERE override_id = $1',
      [overrideId],
    );
    return result.rows[0]!;
  }

  async function auditTypes(overrideId: string): Promise<string[]> {
    const result = await database.query<{ event_type: string }>(
      `SELECT event_type FROM compliance_audit_log WHERE details->>'override_id' = $1 ORDER BY id`,
      [overrideId],
    );
    return result.rows.map((row) => row.event_type);
  }

  beforeAll(async () => {
    testDatabase = await createPgliteDatabase();
    database = await testDatabase.open();
    await migrate(database);
    await mirrorConfiguration(database, STATIONS);
    station = new ManualStation(STATIONS[0]!, () => database);
    await database.query(
      `INSERT INTO pump_plans (station_id, pump_id, interval_start, interval_end, target_value, created_at) VALUES ('s1', 'p1', $1, $2, 40, $3)`,
      [new Date(station.wallMs - 86_400_000), new Date(station.wallMs + 86_400_000), new Date(station.wallMs)],
    );
    await station.start();
    await station.settle(2);
    expect(station.actor.getSnapshot().pumps[0]).toMatchObject({ mode: 'plan', setpoint: 40 });
  });

  afterAll(async () => {
    await station?.stop();
    await database?.close();
    await testDatabase?.drop();
  });

  it('ends the stored row at its expiry', async () => {
    const overrideId = await setOverride(30, 60);
    const { expires_at: expiresAt } = await storedOverride(overrideId);
    await station.settle(60);
    expect(station.actor.getSnapshot().pumps[0]).toMatchObject({ mode: 'plan', setpoint: 40 });
    expect(await station.queue.flush(5000)).toBe(0);

    const stored = await storedOverride(overrideId);
    expect(stored.end_reason).toBe('expired');
    expect(stored.ended_at?.getTime()).toBe(expiresAt.getTime());
    expect(await auditTypes(overrideId)).toEqual(['OVERRIDE_SET', 'OVERRIDE_EXPIRED']);

    // With the wall clock set back before the expiry, neither this actor nor its successor applies it again.
    station.wallMs -= 120_000;
    await station.settle(1);
    expect(station.actor.getSnapshot().pumps[0]!.mode).toBe('plan');
    await station.restart();
    await station.settle(1);
    expect(station.actor.getSnapshot().pumps[0]!.mode).toBe('plan');
    expect(station.actor.getSnapshot().pumps[0]!.override).toBeNull();
    expect(await auditTypes(overrideId)).toEqual(['OVERRIDE_SET', 'OVERRIDE_EXPIRED']);
    station.wallMs += 120_000;
  });

  it('stays expired when it ran out while stopped', async () => {
    const overrideId = await setOverride(30, 60);
    await station.actor.activateEmergencyStop(ORIGIN);
    await station.settle(61);
    await station.actor.clearEmergencyStop(ORIGIN);
    await station.settle(1);
    await station.actor.resume(ORIGIN);
    await station.settle(3);
    expect(station.actor.state).toBe('operational');
    expect(station.actor.getSnapshot().pumps[0]).toMatchObject({ mode: 'plan', setpoint: 40 });
    expect(await station.queue.flush(5000)).toBe(0);
    expect((await storedOverride(overrideId)).end_reason).toBe('expired');
  });

  it('stays expired across a restart while held', async () => {
    const overrideId = await setOverride(30, 60);
    await station.actor.activateEmergencyStop(ORIGIN);
    await station.actor.clearEmergencyStop(ORIGIN);
    await station.settle(61);
    expect(station.actor.state).toBe('held');

    // The supervisor restarts the held station after the wall clock was set back before the expiry.
    station.wallMs -= 120_000;
    await station.restart();
    await station.settle(1);
    expect(station.actor.state).toBe('held');
    await station.actor.resume(ORIGIN);
    await station.settle(3);
    expect(station.actor.getSnapshot().pumps[0]).toMatchObject({ mode: 'plan', setpoint: 40 });
    expect(await auditTypes(overrideId)).toEqual(['OVERRIDE_SET', 'OVERRIDE_EXPIRED']);
    station.wallMs += 120_000;
  });

  it('clear after expiry returns not found', async () => {
    const overrideId = await setOverride(30, 60);
    await station.settle(61);
    expect(await station.queue.flush(5000)).toBe(0);

    const error = await station.actor.clearOverride('p1', ORIGIN).catch((caught: unknown) => caught);
    expect(isAdapterError(error, 'OVERRIDE_NOT_FOUND')).toBe(true);
    expect(String((error as Error).message)).toContain(`override ${overrideId} expired at`);
    expect(await auditTypes(overrideId)).toEqual(['OVERRIDE_SET', 'OVERRIDE_EXPIRED']);
  });

  it('clear racing the expiry records it once', async () => {
    const overrideId = await setOverride(30, 60);
    const { expires_at: expiresAt } = await storedOverride(overrideId);
    // The expiry passes, but the station has not evaluated it yet when the clear arrives.
    station.wallMs += 61_000;
    station.monotonicMs += 61_000;

    const error = await station.actor.clearOverride('p1', ORIGIN).catch((caught: unknown) => caught);
    expect(isAdapterError(error, 'OVERRIDE_NOT_FOUND')).toBe(true);
    expect(String((error as Error).message)).toContain(`override ${overrideId} expired at ${expiresAt.toISOString()}`);
    const stored = await storedOverride(overrideId);
    expect(stored.end_reason).toBe('expired');
    expect(stored.ended_at?.getTime()).toBe(expiresAt.getTime());

    await station.settle(2);
    expect(await station.queue.flush(5000)).toBe(0);
    expect(station.actor.getSnapshot().pumps[0]!.mode).toBe('plan');
    expect(await auditTypes(overrideId)).toEqual(['OVERRIDE_SET', 'OVERRIDE_EXPIRED']);
  });
});

/**
 * A station restarted while the database is away accepts a stop before it could read its stored
 * overrides. Once it reads them, a later resume must return the pump to its override, not to the plan.
 */
describe('override restored after an early stop', () => {
  let reachable = true;
  let fixture: PgliteStation;
  let station: ManualStation;

  beforeAll(async () => {
    fixture = await startPgliteStation(STATIONS[0]!, { pumpId: 'p1', value: 40 }, { reachable: () => reachable });
    station = fixture.station;
    await station.settle(2);
  });

  afterAll(async () => {
    reachable = true;
    await fixture?.close();
  });

  it('applies the stored override after resume', async () => {
    await station.actor.setOverride('p1', { value: 30, expiresAt: new Date(station.wallMs + 3_600_000) }, ORIGIN);
    await station.settle(1);
    expect(station.actor.getSnapshot().pumps[0]).toMatchObject({ mode: 'override', setpoint: 30 });

    reachable = false;
    await station.restart().catch(() => undefined); // the restore fails while the database is away
    expect(station.actor.state).toBe('restoring');
    void station.actor.activateEmergencyStop(ORIGIN);
    expect(station.actor.state).toBe('stopped');

    reachable = true;
    await station.actor.restore();
    expect(await station.queue.flush(5000)).toBe(0);
    await station.actor.clearEmergencyStop(ORIGIN);
    await station.actor.resume(ORIGIN);
    await station.settle(3);
    expect(station.actor.state).toBe('operational');
    expect(station.actor.getSnapshot().pumps[0]).toMatchObject({ mode: 'override', setpoint: 30 });
  });
});
