import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresDatabase, type TestDatabase } from '../helpers/databases.js';
import { float32At, readHoldingRegisters } from '../helpers/mbpoll.js';
import { removeDataDir, startInProcessAdapter, tokenForRole, waitUntil, type InProcessAdapter } from './adapter-fixture.js';

// pump1 moves at 20 Hz/s, so a return to the plan is slow enough to sample; pump2 is on/off.
const CONFIG = `
stations:
  - id: s1
    unit_id: 1
    pumps:
      - { id: pump1, control_variable: speed, unit: Hz, minimum: 10, maximum: 50, max_rate_per_second: 20, failsafe_setpoint: 25, stop_setpoint: 10 }
      - { id: pump2, control_variable: on_off, unit: on/off, minimum: 0, maximum: 1, max_rate_per_second: 1, failsafe_setpoint: 0 }
`;

const OVERRIDE_PATH = '/api/v1/pump-stations/s1/pumps/pump1/override';

// The default 1 s heartbeat: a clear that arrives between beats must still ramp from the first step.
const ADAPTER_OPTIONS = {};

interface PumpBody {
  pump_id: string;
  setpoint: number;
  mode: string;
  override: { value: number; expires_at: string; reason: string | null; set_by: string | null } | null;
}

async function pump1(running: InProcessAdapter): Promise<PumpBody> {
  const station = await running.request('GET', '/api/v1/pump-stations/s1');
  return (station.body.pumps as PumpBody[])[0]!;
}

describe('manual overrides over REST', () => {
  let database: TestDatabase;
  let running: InProcessAdapter & { dataDir: string };

  beforeAll(async () => {
    database = await createPostgresDatabase();
    running = await startInProcessAdapter(CONFIG, database.url!, ADAPTER_OPTIONS);
    await running.database().query(
      `INSERT INTO pump_plans (station_id, pump_id, interval_start, interval_end, target_value)
       VALUES ('s1', 'pump1', now() - interval '1 hour', now() + interval '1 day', 40),
              ('s1', 'pump2', now() - interval '1 hour', now() + interval '1 day', 1)`,
    );
    await running.adapter.stations.get('s1')!.refreshPlans();
    await waitUntil(() => pump1(running), (pump) => pump.mode === 'plan' && pump.setpoint === 40, 10_000);
  });

  afterAll(async () => {
    await running?.stop();
    removeDataDir(running?.dataDir ?? '');
    await database?.drop();
  });

  it('sets override as mode 1', async () => {
    const response = await running.request('PUT', OVERRIDE_PATH, { value: 30, duration_seconds: 600, reason: 'pump test' });
    expect(response.status).toBe(200);
    expect(response.body.override).toMatchObject({ value: 30, reason: 'pump test', set_by: 'admin' });

    const pump = await waitUntil(() => pump1(running), (each) => each.setpoint === 30, 5000);
    expect(pump.mode).toBe('override');
    expect(pump.override).toMatchObject({ value: 30, reason: 'pump test', set_by: 'admin' });
    const registers = await readHoldingRegisters(running.modbusPort, 1, 1, 20);
    expect(float32At(registers, 10)).toBe(30);
    expect(registers[12]).toBe(1);

    const audit = await running.database().query<{ actor: string; value: string }>(
      `SELECT actor, details->>'value' AS value FROM compliance_audit_log WHERE event_type = 'OVERRIDE_SET' AND station_id = 's1'`,
    );
    expect(audit.rows).toEqual([{ actor: 'admin', value: '30' }]);
  });

  it('rejects value outside limits', async () => {
    const response = await running.request('PUT', OVERRIDE_PATH, { value: 55, duration_seconds: 60 });
    expect(response.status).toBe(422);
    expect(response.body.title).toBe('SETPOINT_OUT_OF_RANGE');
    expect(response.body).toMatchObject({ minimum: 10, maximum: 50, value: 55 });
    expect(String(response.body.detail)).toContain('[10, 50]');
    expect((await pump1(running)).setpoint).toBe(30);
  });

  it('rejects on/off value other than 0 or 1', async () => {
    const response = await running.request('PUT', '/api/v1/pump-stations/s1/pumps/pump2/override', { value: 0.5, duration_seconds: 60 });
    expect(response.status).toBe(422);
    expect(response.body.title).toBe('SETPOINT_OUT_OF_RANGE');
  });

  it.each([
    ['both expiry fields', { value: 20, duration_seconds: 60, expires_at: '2099-01-01T00:00:00Z' }],
    ['no expiry field', { value: 20 }],
    ['expiry in the past', { value: 20, expires_at: '2001-01-01T00:00:00Z' }],
    ['expiry beyond maximum', { value: 20, duration_seconds: 30 * 86_400 }],
    ['non-numeric value', { value: '20', duration_seconds: 60 }],
    ['unknown field', { value: 20, duration_seconds: 60, priority: 1 }],
  ])('rejects %s', async (_label, body) => {
    const response = await running.request('PUT', OVERRIDE_PATH, body);
    expect(response.status).toBe(400);
    expect(response.body.title).toBe('VALIDATION_FAILED');
  });

  it('rejects unknown pump', async () => {
    const response = await running.request('PUT', '/api/v1/pump-stations/s1/pumps/pump9/override', { value: 20, duration_seconds: 60 });
    expect(response.status).toBe(404);
    expect(response.body.title).toBe('PUMP_NOT_FOUND');
  });

  it('requires manage_setpoints', async () => {
    const operator = await tokenForRole(running, 'override-operator', 'operator');
    const put = await running.request('PUT', OVERRIDE_PATH, { value: 20, duration_seconds: 60 }, operator);
    expect(put.status).toBe(403);
    const remove = await running.request('DELETE', OVERRIDE_PATH, undefined, operator);
    expect(remove.status).toBe(403);
    expect((await pump1(running)).mode).toBe('override');
  });

  it('survives a restart', async () => {
    await running.stop();
    running = await startInProcessAdapter(CONFIG, database.url!, ADAPTER_OPTIONS, running.dataDir);
    const pump = await waitUntil(() => pump1(running), (each) => each.mode === 'override' && each.setpoint === 30, 10_000);
    expect(pump.setpoint).toBe(30);
  });

  it('clear returns to plan at rate', async () => {
    // Sampling starts before the request, because on a loaded machine the ramp can finish before the response arrives.
    const actor = running.adapter.stations.get('s1')!;
    const samples: Array<{ at: number; setpoint: number }> = [];
    const unsubscribe = actor.subscribe((snapshot) => samples.push({ at: performance.now(), setpoint: snapshot.pumps[0]!.setpoint }));
    const response = await running.request('DELETE', OVERRIDE_PATH, { reason: 'test done' });
    expect(response.status).toBe(200);
    await waitUntil(() => actor.getSnapshot().pumps[0]!, (pump) => pump.setpoint === 40 && pump.mode === 'plan', 5000);
    unsubscribe();
    // 30 → 40 Hz at 20 Hz/s takes 0.5 s, so the value passes through intermediate steps.
    expect(samples.some((sample) => sample.setpoint > 30 && sample.setpoint < 40)).toBe(true);
    for (let index = 1; index < samples.length; index += 1) {
      const step = Math.abs(samples[index]!.setpoint - samples[index - 1]!.setpoint);
      expect(step).toBeLessThanOrEqual(20 * ((samples[index]!.at - samples[index - 1]!.at) / 1000) + 0.5);
    }

    const again = await running.request('DELETE', OVERRIDE_PATH);
    expect(again.status).toBe(404);
    expect(again.body.title).toBe('OVERRIDE_NOT_FOUND');
  });

  it('expired override returns to plan', async () => {
    const response = await running.request('PUT', OVERRIDE_PATH, { value: 36, duration_seconds: 1 });
    expect(response.status).toBe(200);
    await waitUntil(() => pump1(running), (pump) => pump.mode === 'override' && pump.setpoint === 36, 5000);
    const expired = await waitUntil(() => pump1(running), (pump) => pump.mode === 'plan', 5000);
    expect(expired.setpoint).toBeGreaterThanOrEqual(36);
    await waitUntil(() => pump1(running), (pump) => pump.setpoint === 40, 5000);

    const audit = await waitUntil(
      () => running.database().query(`SELECT 1 FROM compliance_audit_log WHERE event_type = 'OVERRIDE_EXPIRED' AND station_id = 's1'`),
      (result) => result.rowCount === 1,
      5000,
    );
    expect(audit.rowCount).toBe(1);
    const overrideId = String((response.body.override as { override_id: string }).override_id);
    const stored = await waitUntil(
      () => running.database().query<{ end_reason: string | null }>('SELECT end_reason FROM pump_overrides WHERE override_id = $1', [overrideId]),
      (result) => result.rows[0]?.end_reason === 'expired',
      5000,
    );
    expect(stored.rows[0]!.end_reason).toBe('expired');

    const cleared = await running.request('DELETE', OVERRIDE_PATH);
    expect(cleared.status).toBe(404);
    expect(cleared.body.title).toBe('OVERRIDE_NOT_FOUND');
    expect(String(cleared.body.detail)).toContain(`override ${overrideId} expired at`);
    expect(cleared.body.last_override).toMatchObject({ override_id: overrideId, end_reason: 'expired' });
  });
});
