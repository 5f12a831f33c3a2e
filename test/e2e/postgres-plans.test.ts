import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adapterEnvironment, startAdapter, type RunningAdapter } from '../helpers/adapter-process.js';
import { createPostgresDatabase, type TestDatabase } from '../helpers/databases.js';
import { call, login } from '../helpers/rest.js';
import { psql } from '../helpers/psql.js';
import { float32At, readHoldingRegisters } from '../helpers/mbpoll.js';


/** Polls the first 30 registers of `unitId` until `accept` returns true. */
async function waitForRegisters(port: number, unitId: number, accept: (registers: number[]) => boolean, timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let registers = await readHoldingRegisters(port, unitId, 1, 30);
  while (!accept(registers)) {
    if (Date.now() > deadline) throw new Error(`registers of unit ${unitId} did not match within ${timeoutMs} ms: ${registers.join(' ')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    registers = await readHoldingRegisters(port, unitId, 1, 30);
  }
  return registers;
}

describe('demo configuration on PostgreSQL', () => {
  let database: TestDatabase;
  let adapter: RunningAdapter;

  beforeAll(async () => {
    database = await createPostgresDatabase();
    adapter = await startAdapter(adapterEnvironment({ DATABASE_URL: database.url ?? undefined, CALEJO_DATA_DIR: database.dataDir }));
  });

  afterAll(async () => {
    await adapter?.stop();
    await database?.drop();
  });

  it('Modbus registers match the REST station view', { timeout: 60_000 }, async () => {
    const token = await login(adapter.baseUrl);
    // After start the pumps ramp from the stop image to the plan at 2 Hz/s; wait until they are there.
    await waitForRegisters(adapter.modbusPort, 1, (registers) => registers[0] === 0, 40_000);
    const station = await call(adapter.baseUrl, token, 'GET', '/api/v1/pump-stations/station001');
    const registers = await readHoldingRegisters(adapter.modbusPort, 1, 1, 20);
    const pumps = station.body.pumps as Array<{ setpoint: number; mode: string; minimum: number; maximum: number }>;

    expect(registers[0]).toBe(0);
    expect(registers[2]).toBe(pumps.length);
    expect(float32At(registers, 10)).toBeCloseTo(pumps[0]!.setpoint, 4);
    expect(registers[12]).toBe(0);
    expect(float32At(registers, 13)).toBe(pumps[0]!.minimum);
    expect(float32At(registers, 15)).toBe(pumps[0]!.maximum);
    expect(registers[17]).toBe(Math.round(pumps[0]!.setpoint * 10));
  });

  it('a plan row from psql applies within one second and ramps', { timeout: 60_000 }, async () => {
    const token = await login(adapter.baseUrl);
    const before = float32At(await readHoldingRegisters(adapter.modbusPort, 1, 1, 30), 20);
    await psql(
      database.url!,
      `INSERT INTO pump_plans (station_id, pump_id, interval_start, interval_end, target_value, plan_version)
       VALUES ('station001', 'pump2', now() - interval '1 minute', now() + interval '1 hour', 41.5, 7)`,
    );
    const inserted = Date.now();
    let planValue: unknown = null;
    while (planValue !== 41.5 && Date.now() - inserted < 1000) {
      const station = await call(adapter.baseUrl, token, 'GET', '/api/v1/pump-stations/station001');
      planValue = (station.body.pumps as Array<{ plan_value: number }>)[1]!.plan_value;
    }
    expect(planValue).toBe(41.5);
    expect(Date.now() - inserted).toBeLessThan(1000);

    // The setpoint follows at the pump's rate limit of 2 Hz/s, never in one jump.
    const seconds = Math.abs(41.5 - before) / 2;
    const reached = await waitForRegisters(adapter.modbusPort, 1, (registers) => float32At(registers, 20) === 41.5, seconds * 1000 + 10_000);
    expect(float32At(reached, 20)).toBe(41.5);
    expect(Date.now() - inserted).toBeGreaterThanOrEqual(seconds * 1000 - 1000);
  });

  it('a plan value above maximum publishes the maximum', { timeout: 60_000 }, async () => {
    await psql(
      database.url!,
      `INSERT INTO pump_plans (station_id, pump_id, interval_start, interval_end, target_value)
       VALUES ('station001', 'pump1', now() - interval '1 minute', now() + interval '1 hour', 95)`,
    );
    const registers = await waitForRegisters(adapter.modbusPort, 1, (values) => float32At(values, 10) === 50, 40_000);
    expect(float32At(registers, 10)).toBe(50);
    expect(registers[17]).toBe(500);
    const token = await login(adapter.baseUrl);
    const station = await call(adapter.baseUrl, token, 'GET', '/api/v1/pump-stations/station001');
    expect((station.body.pumps as Array<{ plan_value: number; setpoint: number }>)[0]).toMatchObject({ plan_value: 95, setpoint: 50 });
  });

  it('stop via REST writes the audit row', async () => {
    const token = await login(adapter.baseUrl);
    const stop = await call(adapter.baseUrl, token, 'POST', '/api/v1/pump-stations/station002/emergency-stop', {
      reason: 'Emergency maintenance',
      operator: 'operator001',
    });
    expect(stop.status).toBe(200);
    const registers = await readHoldingRegisters(adapter.modbusPort, 2, 1, 1);
    expect(registers[0]! & 1).toBe(1);

    const rows = await psql(
      database.url!,
      `SELECT event_type || '|' || severity || '|' || station_id || '|' || source || '|' || (details->>'operator')
         FROM compliance_audit_log WHERE event_type = 'EMERGENCY_STOP_ACTIVATED'`,
    );
    expect(rows).toBe('EMERGENCY_STOP_ACTIVATED|CRITICAL|station002|rest|operator001');
  });

  it('failed logins are audited as INVALID_AUTHENTICATION', async () => {
    const response = await call(adapter.baseUrl, null, 'POST', '/api/v1/auth/login', { username: 'admin', password: 'wrong-password' });
    expect(response.status).toBe(401);
    const count = await psql(
      database.url!,
      `SELECT COUNT(*) FROM compliance_audit_log WHERE event_type='INVALID_AUTHENTICATION' AND timestamp > NOW() - INTERVAL '1 hour';`,
    );
    expect(Number(count)).toBe(1);
  });

  it('audit log rejects UPDATE and DELETE', async () => {
    await expect(psql(database.url!, `UPDATE compliance_audit_log SET severity = 'LOW'`)).rejects.toThrow(/append-only/);
    await expect(psql(database.url!, `DELETE FROM compliance_audit_log`)).rejects.toThrow(/append-only/);
    await expect(psql(database.url!, `TRUNCATE compliance_audit_log`)).rejects.toThrow(/append-only/);
  });
});
