import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyStationDefaults, parseConfigText } from '../../src/config/load.js';
import type { Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { mirrorConfiguration } from '../../src/db/mirror-config.js';
import { openPostgres } from '../../src/db/postgres.js';
import { createPostgresDatabase, type TestDatabase } from '../helpers/databases.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { ManualStation } from './manual-station.js';

// p1 has a plan and p2 never has one, so p2 stays in its own no_plan episode throughout.
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

const GRACE_MS = 5000;
const STALENESS_MS = 10 * 60_000;

/**
 * The FAILSAFE_* rows of the audit log over a real PostgreSQL outage (a TCP proxy cut) and over
 * actor restarts, with injected clocks: one ACTIVATED and one CLEARED row per real episode.
 */
describe('failsafe episode rows', () => {
  let testDatabase: TestDatabase;
  let direct: Database;
  let proxied: Database;
  let proxy: TcpProxy;
  /** While false, the write queue finds no database, so episode rows stay queued. */
  let queueOnline = true;
  let station: ManualStation;

  /** Returns the station's FAILSAFE_* rows as `type:pump:reason`, after the queue has written them. */
  async function failsafeRows(): Promise<string[]> {
    expect(await station.queue.flush(10_000)).toBe(0);
    const result = await direct.query<{ event_type: string; pump_id: string | null; reason: string }>(
      `SELECT event_type, details->>'pump_id' AS pump_id, details->>'reason' AS reason
         FROM compliance_audit_log WHERE station_id = 's1' AND event_type LIKE 'FAILSAFE_%' ORDER BY id`,
    );
    return result.rows.map((row) => `${row.event_type.replace('FAILSAFE_', '')}:${row.pump_id ?? 'station'}:${row.reason}`);
  }

  async function insertPlan(pumpId: string, value: number, intervalStart: Date): Promise<void> {
    await direct.query(
      `INSERT INTO pump_plans (station_id, pump_id, interval_start, interval_end, target_value, created_at) VALUES ('s1', $1, $2, $3, $4, $5)`,
      [pumpId, intervalStart, new Date(station.wallMs + 86_400_000), value, new Date(station.wallMs)],
    );
  }

  beforeAll(async () => {
    testDatabase = await createPostgresDatabase();
    direct = await testDatabase.open();
    await migrate(direct);
    await mirrorConfiguration(direct, STATIONS);

    const target = new URL(testDatabase.url!);
    proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
    const viaProxy = new URL(testDatabase.url!);
    viaProxy.port = String(await proxy.start());
    proxied = await openPostgres(viaProxy.toString());
    station = new ManualStation(STATIONS[0]!, () => proxied, { databaseGraceMs: GRACE_MS, planStalenessMs: STALENESS_MS }, () => (queueOnline ? proxied : null));

    await insertPlan('p1', 40, new Date(station.wallMs - 86_400_000));
    await station.start();
    await station.settle(2);
  });

  afterAll(async () => {
    queueOnline = true;
    await station?.stop();
    await proxied?.close().catch(() => undefined);
    await direct?.close();
    await testDatabase?.drop();
  });

  it('outage keeps pump episode open', async () => {
    expect(await failsafeRows()).toEqual(['ACTIVATED:p2:no_plan']);

    await proxy.cut();
    await station.settle(GRACE_MS / 1000 + 2);
    expect(station.actor.getSnapshot().watchdog).toBe('database_unreachable');
    await proxy.restore();
    await station.settle(2);
    expect(station.actor.getSnapshot().watchdog).toBeNull();
    expect(station.actor.getSnapshot().pumps.map((pump) => pump.mode)).toEqual(['plan', 'failsafe']);

    // The outage is its own episode. p2's missing plan neither ended nor started again because of it.
    expect(await failsafeRows()).toEqual(['ACTIVATED:p2:no_plan', 'ACTIVATED:station:database_unreachable', 'CLEARED:station:database_unreachable']);
  });

  it('restart does not reopen episode', async () => {
    const before = await failsafeRows();
    await station.restart();
    await station.settle(2);
    expect(station.actor.getSnapshot().pumps[1]!.mode).toBe('failsafe');
    expect(await failsafeRows()).toEqual(before);
  });

  it('restart sees queued episode rows', async () => {
    // The outage episode starts while its rows cannot be written, and the actor restarts before they are.
    queueOnline = false;
    await proxy.cut();
    await station.settle(GRACE_MS / 1000 + 2);
    expect(station.actor.getSnapshot().watchdog).toBe('database_unreachable');
    await proxy.restore();
    await station.restart();
    await station.settle(2);
    queueOnline = true;

    expect(await failsafeRows()).toEqual([
      'ACTIVATED:p2:no_plan',
      'ACTIVATED:station:database_unreachable',
      'CLEARED:station:database_unreachable',
      'ACTIVATED:station:database_unreachable',
      'CLEARED:station:database_unreachable',
    ]);
  });

  it('stale plan keeps pump episode open', async () => {
    const before = await failsafeRows();
    await station.settle(STALENESS_MS / 1000);
    expect(station.actor.getSnapshot().watchdog).toBe('plan_stale');
    await insertPlan('p1', 40, new Date(station.wallMs - 60_000));
    await station.settle(1);
    expect(station.actor.getSnapshot().watchdog).toBeNull();

    expect((await failsafeRows()).slice(before.length)).toEqual(['ACTIVATED:station:plan_stale', 'CLEARED:station:plan_stale']);
  });

  it('plan for pump ends its episode', async () => {
    const before = await failsafeRows();
    await insertPlan('p2', 40, new Date(station.wallMs - 60_000));
    await station.settle(1);
    expect(station.actor.getSnapshot().pumps.map((pump) => pump.mode)).toEqual(['plan', 'plan']);
    expect((await failsafeRows()).slice(before.length)).toEqual(['CLEARED:p2:no_plan']);
  });

  it('restart keeps clamp episode', async () => {
    await insertPlan('p1', 70, new Date(station.wallMs - 60_000));
    await station.settle(1);
    expect(station.actor.getSnapshot().pumps[0]).toMatchObject({ mode: 'plan', setpoint: 50 });
    await station.restart();
    await station.settle(2);
    expect(station.actor.getSnapshot().pumps[0]).toMatchObject({ mode: 'plan', setpoint: 50 });

    expect(await station.queue.flush(10_000)).toBe(0);
    const clampRows = await direct.query<{ event_type: string }>(`SELECT event_type FROM compliance_audit_log WHERE station_id = 's1' AND event_type LIKE 'SETPOINT_%' ORDER BY id`);
    expect(clampRows.rows.map((row) => row.event_type)).toEqual(['SETPOINT_CLAMPED']);
  });
});
