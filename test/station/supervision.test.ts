import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { StationSnapshot } from '../../src/station/snapshot.js';
import { createPostgresDatabase, type TestDatabase } from '../helpers/databases.js';
import { call } from '../helpers/rest.js';
import { readHoldingRegisters } from '../helpers/mbpoll.js';
import { removeDataDir, startInProcessAdapter, waitUntil, type InProcessAdapter } from './adapter-fixture.js';

const CONFIG = `
stations:
  - id: s1
    unit_id: 1
    pumps:
      - { id: pump1, control_variable: speed, unit: Hz, minimum: 0, maximum: 50, max_rate_per_second: 1000, failsafe_setpoint: 25, stop_setpoint: 5 }
  - id: s2
    unit_id: 2
    pumps:
      - { id: pump1, control_variable: speed, unit: Hz, minimum: 0, maximum: 50, max_rate_per_second: 1000, failsafe_setpoint: 25 }
`;

/** Backoffs of 100, 200, 400, 800 ms; the fifth failure within a minute escalates. */
const STATION_POLICY = { intensity: 4, periodMs: 60_000, backoffInitialMs: 100, backoffMaxMs: 800 };

interface SupervisedChild {
  status: string;
  restarts: number;
  lastError: string | null;
}

describe('station actor that keeps throwing', () => {
  let database: TestDatabase;
  let running: InProcessAdapter & { dataDir: string };
  /** While true, station s1's wall clock throws. */
  let clockBroken = false;
  const s1Snapshots: StationSnapshot[] = [];

  beforeAll(async () => {
    // xstate's development build warns when a supervisor that escalated is stopped.
    vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    database = await createPostgresDatabase();
    const faultyClock = () => {
      if (clockBroken) {
        throw new Error('clock fault injected by the supervision test');
      }
      return new Date();
    };
    running = await startInProcessAdapter(CONFIG, database.url!, {
      stationPolicy: STATION_POLICY,
      policy: { intensity: 5, periodMs: 60_000, backoffInitialMs: 300, backoffMaxMs: 300 },
      stationDependencies: (stationId) => (stationId === 's1' ? { now: faultyClock, heartbeatIntervalMs: 50 } : { heartbeatIntervalMs: 50 }),
    });
    running.adapter.stations.subscribe((snapshot) => {
      if (snapshot.stationId === 's1') s1Snapshots.push(snapshot);
    });
  });

  afterAll(async () => {
    clockBroken = false;
    await running?.stop();
    removeDataDir(running?.dataDir ?? '');
    await database?.drop();
    vi.restoreAllMocks();
  });

  async function status(): Promise<Record<string, SupervisedChild>> {
    const response = await running.request('GET', '/api/v1/status');
    return (response.body.supervisor as { children: Record<string, SupervisedChild> }).children;
  }

  it('restarts with backoff into the stored stop', async () => {
    const stop = await running.request('POST', '/api/v1/pump-stations/s1/emergency-stop', { reason: 'before the fault' });
    expect(stop.status).toBe(200);
    s1Snapshots.length = 0;

    const faultAt = Date.now();
    clockBroken = true;
    // The fault fails the running actor, then its first replacement's start; then the clock heals.
    await waitUntil(status, (each) => (each['stations/s1']?.restarts ?? 0) >= 2, 10_000);
    clockBroken = false;
    const children = await waitUntil(status, (each) => each['stations/s1']?.status === 'running', 10_000);
    expect(children['stations/s1']!.restarts).toBeGreaterThanOrEqual(2);
    expect(children['stations/s1']!.restarts).toBeLessThanOrEqual(3);
    expect(children['stations/s1']!.lastError).toContain('clock fault injected');
    const actor = await waitUntil(() => running.adapter.stations.get('s1')!, (each) => each.state === 'stopped', 5000);
    // At least the backoffs of 100 and 200 ms lie between the fault and the running replacement.
    expect(Date.now() - faultAt).toBeGreaterThanOrEqual(300);
    expect(actor.getSnapshot().pumps[0]!.setpoint).toBe(5);

    // Every snapshot published for s1 meanwhile was the stop image.
    expect(s1Snapshots.length).toBeGreaterThan(0);
    expect(s1Snapshots.every((snapshot) => snapshot.emergencyStopActive && snapshot.pumps[0]!.setpoint === 5)).toBe(true);
    const registers = await readHoldingRegisters(running.modbusPort, 1, 1, 1);
    expect(registers[0]! & 1).toBe(1);

    // The other station ran on untouched.
    expect((await status())['stations/s2']).toMatchObject({ status: 'running', restarts: 0 });
  });

  it('escalates past the intensity limit and shows in health', async () => {
    const healthyBefore = await call(running.baseUrl, null, 'GET', '/api/v1/health');
    expect(healthyBefore.body.checks).toMatchObject({ last_escalation: null });

    clockBroken = true;
    const health = await waitUntil(
      () => call(running.baseUrl, null, 'GET', '/api/v1/health'),
      (response) => (response.body.checks as { last_escalation: unknown }).last_escalation !== null,
      10_000,
    );
    expect(health.body.status).toBe('degraded');
    expect((health.body.checks as { last_escalation: Record<string, string> }).last_escalation).toMatchObject({ supervisor: 'stations', child: 's1' });
    expect((health.body.checks as { last_escalation: Record<string, string> }).last_escalation.reason).toContain('clock fault injected');

    // The root supervisor restarts the whole stations subtree; let it succeed.
    const rootRecord = await waitUntil(status, (children) => (children.stations?.restarts ?? 0) >= 1, 10_000);
    expect(rootRecord.stations!.lastError).toContain('gave up on child s1');
    clockBroken = false;

    const actor = await waitUntil(() => running.adapter.stations.get('s1')!, (each) => each.state === 'stopped', 15_000);
    expect(actor.getSnapshot().emergencyStopActive).toBe(true);
    const after = await waitUntil(status, (children) => children.stations?.status === 'running' && children['stations/s1']?.status === 'running', 10_000);
    expect(after['stations/s1']!.restarts).toBe(0);
    const healthAfter = await call(running.baseUrl, null, 'GET', '/api/v1/health');
    expect(healthAfter.status).toBe(200);
    expect(healthAfter.body.status).toBe('degraded');
  });

  it('audits each restart and escalation', async () => {
    interface SupervisionRow {
      event_type: string;
      severity: string;
      station_id: string | null;
      details: { supervisor: string; child: string; restarts?: number; delay_ms?: number; failures?: number; reason: string };
    }
    const readRows = async () =>
      (
        await running
          .database()
          .query<SupervisionRow>(
            `SELECT event_type, severity, station_id, details FROM compliance_audit_log WHERE event_type IN ('SUPERVISOR_RESTART', 'SUPERVISOR_ESCALATION') ORDER BY id`,
          )
      ).rows;
    const rows = await waitUntil(readRows, (each) => each.some((row) => row.details.supervisor === 'root'), 5000);

    // Restarts of s1 by the stations supervisor, from both tests above.
    const stationRestarts = rows.filter((row) => row.event_type === 'SUPERVISOR_RESTART' && row.details.supervisor === 'stations');
    expect(stationRestarts.length).toBeGreaterThanOrEqual(3);
    for (const row of stationRestarts) {
      expect(row.severity).toBe('MEDIUM');
      expect(row.station_id).toBe('s1');
      expect(row.details.child).toBe('s1');
      expect(row.details.reason).toContain('clock fault injected');
      expect(row.details.delay_ms).toBe(Math.min(800, 100 * 2 ** (row.details.restarts! - 1)));
    }

    const escalations = rows.filter((row) => row.event_type === 'SUPERVISOR_ESCALATION');
    expect(escalations).toHaveLength(1);
    expect(escalations[0]).toMatchObject({ severity: 'HIGH', station_id: 's1', details: { supervisor: 'stations', child: 's1' } });
    expect(escalations[0]!.details.failures).toBeGreaterThan(STATION_POLICY.intensity);
    expect(escalations[0]!.details.reason).toContain('clock fault injected');

    // The root restarted the stations subtree once, after the escalation.
    const rootRows = rows.filter((row) => row.details.supervisor === 'root');
    expect(rootRows).toHaveLength(1);
    expect(rootRows[0]).toMatchObject({ event_type: 'SUPERVISOR_RESTART', severity: 'MEDIUM', station_id: null, details: { child: 'stations', restarts: 1, delay_ms: 300 } });
    expect(rootRows[0]!.details.reason).toContain('gave up on child s1');
    expect(rows.indexOf(escalations[0]!)).toBeLessThan(rows.indexOf(rootRows[0]!));

    // s2 never failed.
    expect(rows.some((row) => row.station_id === 's2')).toBe(false);
  });
});
