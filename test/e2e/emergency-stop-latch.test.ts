import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPglite } from '../../src/db/pglite.js';
import { adapterEnvironment, startAdapter, type RunningAdapter } from '../helpers/adapter-process.js';
import { call, login } from '../helpers/rest.js';
import { float32At, readHoldingRegisters } from '../helpers/mbpoll.js';

// Fast ramps keep the recovery short; the plan row gives pump1 a value above its maximum.
const CONFIG = `
demo:
  seed_plans: false
stations:
  - id: station001
    unit_id: 1
    pumps:
      - { id: pump1, control_variable: speed, unit: Hz, minimum: 10, maximum: 50, max_rate_per_second: 100, failsafe_setpoint: 20, stop_setpoint: 10 }
      - { id: pump2, control_variable: speed, unit: Hz, minimum: 0, maximum: 50, max_rate_per_second: 100, failsafe_setpoint: 25 }
`;

const STATUS_EMERGENCY_STOP = 0b1;
const STATUS_RECOVERING = 0b10;

async function waitFor<T>(probe: () => Promise<T>, accept: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await probe();
  while (!accept(last)) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last value ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    last = await probe();
  }
  return last;
}

describe('emergency stop on the embedded database', () => {
  let dataDir: string;
  let environment: NodeJS.ProcessEnv;
  let adapter: RunningAdapter | undefined;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'calejo-e2e-'));
    const configPath = join(dataDir, 'calejo.yaml');
    writeFileSync(configPath, CONFIG);
    environment = adapterEnvironment({ CALEJO_CONFIG: configPath, CALEJO_DATA_DIR: dataDir });

    // Seed a plan before the first start: pump1's plan requests 70 Hz (above its 50 Hz maximum).
    adapter = await startAdapter(environment);
    await adapter.stop();
    const database = await openPglite(dataDir);
    await database.query(
      `INSERT INTO pump_plans (station_id, pump_id, interval_start, interval_end, target_value, plan_version)
       VALUES ('station001', 'pump1', now() - interval '1 hour', now() + interval '1 day', 70, 'e2e'),
              ('station001', 'pump2', now() - interval '1 hour', now() + interval '1 day', 30, 'e2e')`,
    );
    await database.close();
    adapter = await startAdapter(environment);
  });

  afterAll(async () => {
    await adapter?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('publishes clamped plan values before any stop', async () => {
    // After start the pumps ramp from the stop image to the plan; at 100 Hz/s that takes 0.4 s.
    // A read may time out right after start on a busy machine, so a failed read is retried.
    const polled = await waitFor(
      () => readHoldingRegisters(adapter!.modbusPort, 1, 1, 30).catch(() => null),
      (values) => values !== null && (values[0]! & STATUS_RECOVERING) === 0,
      10_000,
    );
    const registers = polled!;
    expect(registers[0]! & STATUS_EMERGENCY_STOP).toBe(0);
    expect(registers[2]).toBe(2);
    expect(float32At(registers, 10)).toBe(50);
    expect(registers[12]).toBe(0);
    expect(float32At(registers, 20)).toBe(30);
  });

  it('stop reaches Modbus, survives kill -9, clears to held, resumes', async () => {
    const token = await login(adapter!.baseUrl);

    const stop = await call(adapter!.baseUrl, token, 'POST', '/api/v1/pump-stations/station001/emergency-stop', {
      reason: 'Emergency maintenance',
      operator: 'operator001',
    });
    expect(stop.status).toBe(200);
    expect(stop.body.active).toBe(true);

    const stopped = await readHoldingRegisters(adapter!.modbusPort, 1, 1, 30);
    expect(stopped[0]! & STATUS_EMERGENCY_STOP).toBe(STATUS_EMERGENCY_STOP);
    expect(float32At(stopped, 10)).toBe(10);
    expect(stopped[12]).toBe(3);
    expect(float32At(stopped, 20)).toBe(0);

    const status = await call(adapter!.baseUrl, token, 'GET', '/api/v1/pump-stations/station001/emergency-stop-status');
    expect(status.body).toMatchObject({ station_id: 'station001', active: true, state: 'stopped' });

    // A crash must not lose the latch.
    await adapter!.kill();
    const database = await openPglite(dataDir);
    const audit = await database.query<{ event_type: string; severity: string; actor: string; source: string }>(
      `SELECT event_type, severity, actor, source FROM compliance_audit_log WHERE event_type = 'EMERGENCY_STOP_ACTIVATED'`,
    );
    await database.close();
    expect(audit.rows).toEqual([{ event_type: 'EMERGENCY_STOP_ACTIVATED', severity: 'CRITICAL', actor: 'admin', source: 'rest' }]);

    adapter = await startAdapter(environment);
    // The first read after a start may time out on a busy machine, so it is retried.
    const restarted = (await waitFor(() => readHoldingRegisters(adapter!.modbusPort, 1, 1, 30).catch(() => null), (values) => values !== null, 10_000))!;
    expect(restarted[0]! & STATUS_EMERGENCY_STOP).toBe(STATUS_EMERGENCY_STOP);
    const newToken = await login(adapter.baseUrl);
    const afterRestart = await call(adapter.baseUrl, newToken, 'GET', '/api/v1/pump-stations/station001/emergency-stop-status');
    expect(afterRestart.body).toMatchObject({ active: true, state: 'stopped' });

    // Clearing releases the latch but keeps the pumps at their stop setpoints.
    const clear = await call(adapter.baseUrl, newToken, 'DELETE', '/api/v1/pump-stations/station001/emergency-stop');
    expect(clear.status).toBe(200);
    expect(clear.body).toMatchObject({ active: false, state: 'held' });
    const held = await readHoldingRegisters(adapter.modbusPort, 1, 1, 30);
    expect(held[0]! & STATUS_EMERGENCY_STOP).toBe(0);
    expect(float32At(held, 10)).toBe(10);
    expect(held[12]).toBe(3);

    // Held survives a restart too.
    await adapter.kill();
    adapter = await startAdapter(environment);
    const heldToken = await login(adapter.baseUrl);
    const heldAfterRestart = await call(adapter.baseUrl, heldToken, 'GET', '/api/v1/pump-stations/station001');
    expect(heldAfterRestart.body.state).toBe('held');

    const resume = await call(adapter.baseUrl, heldToken, 'POST', '/api/v1/pump-stations/station001/resume', { reason: 'maintenance done' });
    expect(resume.status).toBe(200);
    expect(['recovering', 'operational']).toContain(resume.body.state);

    const recovered = await waitFor(
      () => readHoldingRegisters(adapter!.modbusPort, 1, 1, 30),
      (registers) => (registers[0]! & (STATUS_EMERGENCY_STOP | STATUS_RECOVERING)) === 0 && registers[12] === 0,
      10_000,
    );
    expect(float32At(recovered, 10)).toBe(50);
    expect(float32At(recovered, 20)).toBe(30);
  }, 120_000);

  it('rejects clear and resume in the wrong state', async () => {
    const token = await login(adapter!.baseUrl);
    const clear = await call(adapter!.baseUrl, token, 'DELETE', '/api/v1/pump-stations/station001/emergency-stop');
    expect(clear.status).toBe(409);
    expect(clear.headers.get('content-type')).toContain('application/problem+json');
    expect(clear.body.title).toBe('INVALID_STATE_TRANSITION');
    const resume = await call(adapter!.baseUrl, token, 'POST', '/api/v1/pump-stations/station001/resume');
    expect(resume.status).toBe(409);
  });

  it('rejects non-JSON bodies, NUL text and wrong methods', async () => {
    const token = await login(adapter!.baseUrl);
    const plain = await fetch(`${adapter!.baseUrl}/api/v1/pump-stations/station001/emergency-stop`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' },
      body: '{"reason":"x"}',
    });
    expect(plain.status).toBe(415);
    expect(plain.headers.get('content-type')).toContain('application/problem+json');

    const nul = await call(adapter!.baseUrl, token, 'POST', '/api/v1/pump-stations/station001/emergency-stop', { reason: 'a \u0000 b' });
    expect(nul.status).toBe(400);
    expect(String(nul.body.detail)).toContain('reason');

    const nulLogin = await call(adapter!.baseUrl, null, 'POST', '/api/v1/auth/login', { username: 'ad\u0000min', password: 'x' });
    expect(nulLogin.status).toBe(400);

    const put = await call(adapter!.baseUrl, token, 'PUT', '/api/v1/pump-stations/station001/emergency-stop');
    expect(put.status).toBe(405);
    expect(put.headers.get('content-type')).toContain('application/problem+json');

    const status = await call(adapter!.baseUrl, token, 'GET', '/api/v1/pump-stations/station001/emergency-stop-status');
    expect(status.body.active).toBe(false);
  });

  it('requires a bearer token except for health and status', async () => {
    const health = await call(adapter!.baseUrl, null, 'GET', '/api/v1/health');
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('healthy');
    const stop = await call(adapter!.baseUrl, null, 'POST', '/api/v1/pump-stations/station001/emergency-stop', { reason: 'x' });
    expect(stop.status).toBe(401);
    const badToken = await call(adapter!.baseUrl, 'not-a-token', 'GET', '/api/v1/pump-stations');
    expect(badToken.status).toBe(401);
  });
});
