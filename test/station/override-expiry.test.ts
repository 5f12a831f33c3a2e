import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StationActor } from '../../src/actors/station.js';
import { applyStationDefaults, parseConfigText } from '../../src/config/load.js';
import type { Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { mirrorConfiguration } from '../../src/db/mirror-config.js';
import { isAdapterError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { PersistenceQueue } from '../../src/station/persistence-queue.js';
import { createPgliteDatabase, type TestDatabase } from '../helpers/databases.js';

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
  let queue: PersistenceQueue;
  let actor: StationActor;
  let wallMs = Date.UTC(2030, 5, 1, 8);
  let monotonicMs = 0;

  /** Starts a station actor on the shared write queue, as the stations supervisor restarts one. */
  async function startActor(): Promise<StationActor> {
    const started = new StationActor(STATIONS[0]!, {
      getDatabase: () => database,
      logger: createLogger({ level: 'silent' }),
      now: () => new Date(wallMs),
      monotonicNow: () => monotonicMs,
      queue,
      manualTicks: true,
    });
    started.start();
    await started.restore();
    return started;
  }

  async function restartActor(): Promise<void> {
    await actor.stop(1000);
    actor = await startActor();
    await settle(1);
  }

  async function settle(seconds: number): Promise<void> {
    for (let second = 0; second < seconds; second += 1) {
      wallMs += 1000;
      monotonicMs += 1000;
      await actor.refreshPlans();
      actor.tick();
    }
  }

  async function setOverride(value: number, seconds: number): Promise<string> {
    const stored = await actor.setOverride('p1', { value, expiresAt: new Date(wallMs + seconds * 1000) }, ORIGIN);
    await settle(1);
    expect(actor.getSnapshot().pumps[0]).toMatchObject({ mode: 'override', setpoint: value });
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
    await database.query(
      `INSERT INTO pump_plans (station_id, pump_id, interval_start, interval_end, target_value, created_at) VALUES ('s1', 'p1', $1, $2, 40, $3)`,
      [new Date(wallMs - 86_400_000), new Date(wallMs + 86_400_000), new Date(wallMs)],
    );
    queue = new PersistenceQueue({ stationId: 's1', getDatabase: () => database, logger: createLogger({ level: 'silent' }) });
    actor = await startActor();
    await settle(2);
    expect(actor.getSnapshot().pumps[0]).toMatchObject({ mode: 'plan', setpoint: 40 });
  });

  afterAll(async () => {
    await actor?.stop(1000);
    await queue?.drain(1000);
    await database?.close();
    await testDatabase?.drop();
  });

  it('ends the stored row at its expiry', async () => {
    const overrideId = await setOverride(30, 60);
    const { expires_at: expiresAt } = await storedOverride(overrideId);
    await settle(60);
    expect(actor.getSnapshot().pumps[0]).toMatchObject({ mode: 'plan', setpoint: 40 });
    expect(await queue.flush(5000)).toBe(0);

    const stored = await storedOverride(overrideId);
    expect(stored.end_reason).toBe('expired');
    expect(stored.ended_at?.getTime()).toBe(expiresAt.getTime());
    expect(await auditTypes(overrideId)).toEqual(['OVERRIDE_SET', 'OVERRIDE_EXPIRED']);

    // With the wall clock set back before the expiry, neither this actor nor its successor applies it again.
    wallMs -= 120_000;
    await settle(1);
    expect(actor.getSnapshot().pumps[0]!.mode).toBe('plan');
    await restartActor();
    expect(actor.getSnapshot().pumps[0]!.mode).toBe('plan');
    expect(actor.getSnapshot().pumps[0]!.override).toBeNull();
    expect(await auditTypes(overrideId)).toEqual(['OVERRIDE_SET', 'OVERRIDE_EXPIRED']);
    wallMs += 120_000;
  });

  it('stays expired when it ran out while stopped', async () => {
    const overrideId = await setOverride(30, 60);
    await actor.activateEmergencyStop(ORIGIN);
    await settle(61);
    await actor.clearEmergencyStop(ORIGIN);
    await settle(1);
    await actor.resume(ORIGIN);
    await settle(3);
    expect(actor.state).toBe('operational');
    expect(actor.getSnapshot().pumps[0]).toMatchObject({ mode: 'plan', setpoint: 40 });
    expect(await queue.flush(5000)).toBe(0);
    expect((await storedOverride(overrideId)).end_reason).toBe('expired');
  });

  it('stays expired across a restart while held', async () => {
    const overrideId = await setOverride(30, 60);
    await actor.activateEmergencyStop(ORIGIN);
    await actor.clearEmergencyStop(ORIGIN);
    await settle(61);
    expect(actor.state).toBe('held');

    // The supervisor restarts the held station after the wall clock was set back before the expiry.
    wallMs -= 120_000;
    await restartActor();
    expect(actor.state).toBe('held');
    await actor.resume(ORIGIN);
    await settle(3);
    expect(actor.getSnapshot().pumps[0]).toMatchObject({ mode: 'plan', setpoint: 40 });
    expect(await auditTypes(overrideId)).toEqual(['OVERRIDE_SET', 'OVERRIDE_EXPIRED']);
    wallMs += 120_000;
  });

  it('clear after expiry returns not found', async () => {
    const overrideId = await setOverride(30, 60);
    await settle(61);
    expect(await queue.flush(5000)).toBe(0);

    const error = await actor.clearOverride('p1', ORIGIN).catch((caught: unknown) => caught);
    expect(isAdapterError(error, 'OVERRIDE_NOT_FOUND')).toBe(true);
    expect(String((error as Error).message)).toContain(`override ${overrideId} expired at`);
    expect(await auditTypes(overrideId)).toEqual(['OVERRIDE_SET', 'OVERRIDE_EXPIRED']);
  });

  it('clear racing the expiry records it once', async () => {
    const overrideId = await setOverride(30, 60);
    const { expires_at: expiresAt } = await storedOverride(overrideId);
    // The expiry passes, but the station has not evaluated it yet when the clear arrives.
    wallMs += 61_000;
    monotonicMs += 61_000;

    const error = await actor.clearOverride('p1', ORIGIN).catch((caught: unknown) => caught);
    expect(isAdapterError(error, 'OVERRIDE_NOT_FOUND')).toBe(true);
    expect(String((error as Error).message)).toContain(`override ${overrideId} expired at ${expiresAt.toISOString()}`);
    const stored = await storedOverride(overrideId);
    expect(stored.end_reason).toBe('expired');
    expect(stored.ended_at?.getTime()).toBe(expiresAt.getTime());

    await settle(2);
    expect(await queue.flush(5000)).toBe(0);
    expect(actor.getSnapshot().pumps[0]!.mode).toBe('plan');
    expect(await auditTypes(overrideId)).toEqual(['OVERRIDE_SET', 'OVERRIDE_EXPIRED']);
  });
});
