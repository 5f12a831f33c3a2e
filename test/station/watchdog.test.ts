import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StationActor } from '../../src/actors/station.js';
import { applyStationDefaults, parseConfigText } from '../../src/config/load.js';
import type { Database } from '../../src/db/database.js';
import { openPostgres } from '../../src/db/postgres.js';
import { migrate } from '../../src/db/migrate.js';
import { mirrorConfiguration } from '../../src/db/mirror-config.js';
import { createLogger } from '../../src/log.js';
import { encodeStationRegisters, STATUS_BITS } from '../../src/modbus/register-layout.js';
import type { StationSnapshot } from '../../src/station/snapshot.js';
import { createPostgresDatabase, type TestDatabase } from '../helpers/databases.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

const STATIONS = applyStationDefaults(
  parseConfigText(
    `stations:
  - id: s1
    unit_id: 1
    pumps:
      - { id: p1, control_variable: speed, unit: Hz, minimum: 0, maximum: 50, max_rate_per_second: 1000, failsafe_setpoint: 22 }
`,
    'test',
  ).stations,
);

async function waitForSnapshot(actor: StationActor, accept: (snapshot: StationSnapshot) => boolean, timeoutMs: number): Promise<StationSnapshot> {
  const deadline = Date.now() + timeoutMs;
  while (!accept(actor.getSnapshot())) {
    if (Date.now() > deadline) throw new Error(`snapshot condition not met within ${timeoutMs} ms: ${JSON.stringify(actor.getSnapshot())}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return actor.getSnapshot();
}

describe('watchdog with a real PostgreSQL outage', () => {
  let testDatabase: TestDatabase;
  let direct: Database;
  let proxied: Database;
  let proxy: TcpProxy;
  let actor: StationActor;

  beforeAll(async () => {
    testDatabase = await createPostgresDatabase();
    direct = await testDatabase.open();
    await migrate(direct);
    await mirrorConfiguration(direct, STATIONS);
    await direct.query(
      `INSERT INTO pump_plans (station_id, pump_id, interval_start, interval_end, target_value) VALUES ('s1', 'p1', now() - interval '1 hour', now() + interval '1 hour', 40)`,
    );

    const target = new URL(testDatabase.url!);
    proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
    const port = await proxy.start();
    const viaProxy = new URL(testDatabase.url!);
    viaProxy.port = String(port);
    proxied = await openPostgres(viaProxy.toString());

    actor = new StationActor(STATIONS[0]!, {
      getDatabase: () => proxied,
      logger: createLogger({ level: 'silent' }),
      heartbeatIntervalMs: 50,
      databaseGraceMs: 400,
    });
    actor.start();
    await actor.restore();
  });

  afterAll(async () => {
    await actor?.stop(500);
    await proxied?.close().catch(() => undefined);
    await direct?.close();
    await testDatabase?.drop();
  });

  it('goes to failsafe after the grace period and back', async () => {
    // A station stored as operational restores through the recovery ramp.
    await waitForSnapshot(actor, (snapshot) => snapshot.stopState === 'operational', 2000);
    expect(actor.getSnapshot().pumps[0]).toMatchObject({ setpoint: 40, mode: 'plan' });

    // Every snapshot is recorded, so a slow poll on a busy machine cannot skip the grace period.
    const seen: Array<{ at: number; unreachable: boolean; mode: string }> = [];
    const unsubscribe = actor.subscribe((snapshot) => seen.push({ at: Date.now(), unreachable: snapshot.databaseUnreachable, mode: snapshot.pumps[0]!.mode }));
    await proxy.cut();
    await waitForSnapshot(actor, (snapshot) => snapshot.databaseUnreachable, 5000);
    const failsafe = await waitForSnapshot(actor, (snapshot) => snapshot.pumps[0]!.mode === 'failsafe', 5000);
    unsubscribe();
    // During the grace period the pump keeps its plan although the database is unreachable.
    const firstUnreachable = seen.find((each) => each.unreachable);
    const firstFailsafe = seen.find((each) => each.mode === 'failsafe');
    expect(firstUnreachable?.mode).toBe('plan');
    expect(firstFailsafe!.at).toBeGreaterThan(firstUnreachable!.at);
    expect(failsafe.pumps[0]!.setpoint).toBe(22);
    expect(failsafe.failsafeActive).toBe(true);
    expect(failsafe.databaseUnreachable).toBe(true);
    const statusWord = encodeStationRegisters(failsafe).readUInt16BE(0);
    expect(statusWord & STATUS_BITS.failsafeActive).toBe(STATUS_BITS.failsafeActive);
    expect(statusWord & STATUS_BITS.databaseUnreachable).toBe(STATUS_BITS.databaseUnreachable);

    await proxy.restore();
    const recovered = await waitForSnapshot(actor, (snapshot) => snapshot.pumps[0]!.mode === 'plan' && snapshot.pumps[0]!.setpoint === 40, 10_000);
    const recoveredAt = Date.now();
    expect(recovered.pumps[0]!.setpoint).toBe(40);
    expect(recovered.failsafeActive).toBe(false);
    expect(encodeStationRegisters(recovered).readUInt16BE(0) & STATUS_BITS.failsafeActive).toBe(0);
    expect(recovered.databaseUnreachable).toBe(false);

    // The episode started while the database was cut off; both rows arrive once it is back.
    const deadline = Date.now() + 10_000;
    let events: string[] = [];
    while (Date.now() < deadline) {
      const audit = await direct.query<{ event_type: string; reason: string }>(
        `SELECT event_type, details->>'reason' AS reason FROM compliance_audit_log WHERE station_id = 's1' AND event_type LIKE 'FAILSAFE_%' ORDER BY id`,
      );
      events = audit.rows.map((row) => `${row.event_type}:${row.reason}`);
      if (events.length >= 2) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(events).toEqual(['FAILSAFE_ACTIVATED:database_unreachable', 'FAILSAFE_CLEARED:database_unreachable']);
    const activated = await direct.query<{ at: Date }>(`SELECT timestamp AS at FROM compliance_audit_log WHERE event_type = 'FAILSAFE_ACTIVATED'`);
    // Stamped when the episode began, not when the queued row was finally written.
    expect(activated.rows[0]!.at.getTime()).toBeLessThan(recoveredAt);
  });

  it('a stop during the outage holds and persists later', async () => {
    await proxy.cut();
    await waitForSnapshot(actor, (snapshot) => snapshot.databaseUnreachable, 2000);

    const result = await Promise.race([
      actor.activateEmergencyStop({ source: 'rest', actor: 'alice', actorRole: 'operator', sourceAddress: null, reason: 'outage test', operator: null }),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('stop did not answer within 5 s')), 5000)),
    ]);
    expect(actor.getSnapshot().emergencyStopActive).toBe(true);
    expect(actor.getSnapshot().pumps[0]!.setpoint).toBe(0);
    expect(result.persisted).toBe(false);

    await proxy.restore();
    const deadline = Date.now() + 10_000;
    let stored = 0;
    while (stored === 0 && Date.now() < deadline) {
      stored = (await direct.query(`SELECT 1 FROM emergency_stops WHERE station_id = 's1' AND ended_at IS NULL`)).rowCount;
      if (stored === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(stored).toBe(1);
    expect(actor.getSnapshot().emergencyStopActive).toBe(true);
  });
});

describe('watchdog for stale plans', () => {
  let testDatabase: TestDatabase;
  let database: Database;
  let actor: StationActor;

  beforeAll(async () => {
    testDatabase = await createPostgresDatabase();
    database = await testDatabase.open();
    await migrate(database);
    await mirrorConfiguration(database, STATIONS);
    // The row covers now, but the optimizer wrote it an hour ago.
    await database.query(
      `INSERT INTO pump_plans (station_id, pump_id, interval_start, interval_end, target_value, created_at)
       VALUES ('s1', 'p1', now() - interval '1 hour', now() + interval '1 hour', 40, now() - interval '1 hour')`,
    );
    actor = new StationActor(STATIONS[0]!, {
      getDatabase: () => database,
      logger: createLogger({ level: 'silent' }),
      heartbeatIntervalMs: 50,
      planStalenessMs: 30 * 60 * 1000,
    });
    actor.start();
    await actor.restore();
  });

  afterAll(async () => {
    await actor?.stop(500);
    await database?.close();
    await testDatabase?.drop();
  });

  it('old plan gives failsafe until a new row', async () => {
    const stale = await waitForSnapshot(actor, (snapshot) => snapshot.pumps[0]!.mode === 'failsafe', 2000);
    expect(stale.pumps[0]!.setpoint).toBe(22);
    expect(stale.planStale).toBe(true);

    await database.query(
      `INSERT INTO pump_plans (station_id, pump_id, interval_start, interval_end, target_value) VALUES ('s1', 'p1', now() - interval '1 minute', now() + interval '1 hour', 35)`,
    );
    const fresh = await waitForSnapshot(actor, (snapshot) => snapshot.pumps[0]!.mode === 'plan' && snapshot.pumps[0]!.setpoint === 35, 2000);
    expect(fresh.pumps[0]!.setpoint).toBe(35);
    expect(fresh.planStale).toBe(false);
  });
});
