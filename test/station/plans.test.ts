import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresDatabase, type TestDatabase } from '../helpers/databases.js';
import { MAX_PLAN_ROWS } from '../../src/http/routes/plans.js';
import { readPlanState } from '../../src/station/plan-store.js';
import { removeDataDir, startInProcessAdapter, tokenForRole, waitUntil, type InProcessAdapter } from './adapter-fixture.js';

const CONFIG = `
stations:
  - id: s1
    unit_id: 1
    pumps:
      - { id: pump1, control_variable: speed, unit: Hz, minimum: 0, maximum: 50, max_rate_per_second: 1000, failsafe_setpoint: 25 }
      - { id: pump2, control_variable: speed, unit: Hz, minimum: 0, maximum: 50, max_rate_per_second: 1000, failsafe_setpoint: 25 }
  - id: s2
    unit_id: 2
    pumps:
      - { id: pump1, control_variable: flow, unit: l/s, minimum: 0, maximum: 100, max_rate_per_second: 1000, failsafe_setpoint: 10 }
`;

function row(overrides: Record<string, unknown> = {}) {
  return {
    station_id: 's1',
    pump_id: 'pump1',
    interval_start: new Date(Date.now() - 60_000).toISOString(),
    interval_end: new Date(Date.now() + 3_600_000).toISOString(),
    target_value: 30,
    ...overrides,
  };
}

describe('plan upload over REST', () => {
  let database: TestDatabase;
  let running: InProcessAdapter & { dataDir: string };

  beforeAll(async () => {
    database = await createPostgresDatabase();
    // A long heartbeat, so that only the NOTIFY trigger and the boundary timer apply new rows.
    running = await startInProcessAdapter(CONFIG, database.url!, { stationDependencies: () => ({ heartbeatIntervalMs: 600_000 }) });
  });

  afterAll(async () => {
    await running?.stop();
    removeDataDir(running?.dataDir ?? '');
    await database?.drop();
  });

  async function planRowCount(): Promise<number> {
    const result = await running.database().query<{ count: string }>('SELECT count(*) AS count FROM pump_plans');
    return Number(result.rows[0]!.count);
  }

  it('stores rows and applies them', async () => {
    const response = await running.request('POST', '/api/v1/plans', {
      plan_version: 'opt-7',
      rows: [row({ target_value: 31 }), row({ pump_id: 'pump2', target_value: 32 }), row({ station_id: 's2', target_value: 120 })],
    });
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({ plan_version: 'opt-7', rows: 3, stations: ['s1', 's2'] });
    expect(response.body.warnings).toEqual([expect.stringContaining('rows.2.target_value 120 is outside [0, 100]')]);

    const s1 = running.adapter.stations.get('s1')!;
    const applied = await waitUntil(() => s1.getSnapshot(), (snapshot) => snapshot.pumps[0]!.setpoint === 31 && snapshot.pumps[1]!.setpoint === 32, 5000);
    expect(applied.pumps.map((pump) => pump.mode)).toEqual(['plan', 'plan']);
    const s2 = await waitUntil(() => running.adapter.stations.get('s2')!.getSnapshot(), (snapshot) => snapshot.pumps[0]!.setpoint === 100, 5000);
    expect(s2.pumps[0]!.planValue).toBe(120);

    const audit = await running.database().query<{ actor: string; rows: string }>(
      `SELECT actor, details->>'rows' AS rows FROM compliance_audit_log WHERE event_type = 'PLAN_UPLOADED'`,
    );
    expect(audit.rows).toEqual([{ actor: 'admin', rows: '3' }]);
  });

  it.each([
    ['unknown station', { rows: [row({ station_id: 'nowhere' })] }, 'rows.0.station_id'],
    ['unknown pump', { rows: [row(), row({ pump_id: 'pump9' })] }, 'rows.1.pump_id'],
    ['end before start', { rows: [row({ interval_start: '2030-01-01T01:00:00Z', interval_end: '2030-01-01T00:00:00Z' })] }, 'rows.0.interval_end'],
    ['empty interval', { rows: [row({ interval_start: '2030-01-01T00:00:00Z', interval_end: '2030-01-01T00:00:00Z' })] }, 'rows.0.interval_end'],
    ['string value', { rows: [row({ target_value: '30' })] }, 'rows.0.target_value'],
    ['time without offset', { rows: [row({ interval_start: '2030-01-01T00:00:00' })] }, 'rows.0.interval_start'],
    ['no rows', { rows: [] }, 'rows'],
    ['unknown field', { rows: [row({ priority: 2 })] }, 'priority'],
    [
      'overlapping rows',
      { rows: [row({ interval_start: '2030-01-01T00:00:00Z', interval_end: '2030-01-01T02:00:00Z' }), row({ interval_start: '2030-01-01T01:00:00Z', interval_end: '2030-01-01T03:00:00Z' })] },
      'rows.1.interval_start',
    ],
  ])('rejects %s', async (_label, body, field) => {
    const before = await planRowCount();
    const response = await running.request('POST', '/api/v1/plans', body);
    expect(response.status).toBe(400);
    expect(response.body.title).toBe('VALIDATION_FAILED');
    expect(String(response.body.detail)).toContain(field);
    expect(await planRowCount()).toBe(before);
  });

  it('rejects an infinite value', async () => {
    const before = await planRowCount();
    const body = `{"rows":[${JSON.stringify(row()).replace('"target_value":30', '"target_value":1e999')}]}`;
    const response = await fetch(`${running.baseUrl}/api/v1/plans`, {
      method: 'POST',
      headers: { authorization: `Bearer ${running.token}`, 'content-type': 'application/json' },
      body,
    });
    expect(response.status).toBe(400);
    expect(await planRowCount()).toBe(before);
  });

  it('rejects more rows than the bound', async () => {
    const rows = Array.from({ length: MAX_PLAN_ROWS + 1 }, (_, index) =>
      row({ interval_start: new Date(Date.UTC(2031, 0, 1, 0, index)).toISOString(), interval_end: new Date(Date.UTC(2031, 0, 1, 0, index + 1)).toISOString() }),
    );
    const response = await running.request('POST', '/api/v1/plans', { rows });
    // The row bound, not the 64 KiB body limit, rejects it, so the client learns to split the plan.
    expect(response.status).toBe(400);
    expect(response.body.detail).toContain(`at most ${MAX_PLAN_ROWS} rows`);
  });

  it('accepts the most rows allowed', async () => {
    const rows = Array.from({ length: MAX_PLAN_ROWS }, (_, index) =>
      row({ interval_start: new Date(Date.UTC(2032, 0, 1, 0, index)).toISOString(), interval_end: new Date(Date.UTC(2032, 0, 1, 0, index + 1)).toISOString() }),
    );
    const response = await running.request('POST', '/api/v1/plans', { rows });
    expect(response.status).toBe(201);
  });

  it('requires manage_setpoints', async () => {
    const operator = await tokenForRole(running, 'plan-operator', 'operator');
    const response = await running.request('POST', '/api/v1/plans', { rows: [row()] }, operator);
    expect(response.status).toBe(403);
  });

  it('newest covering row wins', async () => {
    const db = running.database();
    await db.query(
      `INSERT INTO pump_plans (station_id, pump_id, interval_start, interval_end, target_value, plan_version, created_at)
       VALUES ('s2', 'pump1', now() - interval '2 hours', now() + interval '2 hours', 11, 'old', now() - interval '60 minutes'),
              ('s2', 'pump1', now() - interval '1 hour', now() + interval '1 hour', 12, 'newer', now() - interval '45 minutes'),
              ('s2', 'pump1', now() - interval '3 hours', now() + interval '3 hours', 13, 'oldest', now() - interval '170 minutes')`,
    );
    // Each read below lies after the created_at of the rows it compares. A row stamped after the
    // read time would count as stamped in the future and rank by insertion order instead.
    // The upload in the first test (created now) still covers s2/pump1 with 120.
    expect((await readPlanState(db, 's2', new Date())).values.get('pump1')).toBe(120);
    // Before that upload's interval began, the newest row covering that moment is 'newer'.
    expect((await readPlanState(db, 's2', new Date(Date.now() - 30 * 60_000))).values.get('pump1')).toBe(12);
    // Only 'oldest' covers two and a half hours ago.
    expect((await readPlanState(db, 's2', new Date(Date.now() - 150 * 60_000))).values.get('pump1')).toBe(13);
  });

  it('applies the next interval at its boundary', async () => {
    const s1 = running.adapter.stations.get('s1')!;
    const boundary = new Date(Date.now() + 1500);
    const response = await running.request('POST', '/api/v1/plans', {
      rows: [row({ pump_id: 'pump2', interval_start: boundary.toISOString(), interval_end: new Date(boundary.getTime() + 3_600_000).toISOString(), target_value: 44 })],
    });
    expect(response.status).toBe(201);
    await waitUntil(() => s1.getSnapshot(), (snapshot) => snapshot.pumps[1]!.planValue === 44, 5000);
    // The heartbeat is ten minutes here, so only the boundary timer can have applied the row on time.
    expect(Date.now()).toBeGreaterThanOrEqual(boundary.getTime());
    expect(Date.now() - boundary.getTime()).toBeLessThan(500);
  });
});
