import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PENDING_COMMANDS_FILE } from '../../src/runtime/stations-child.js';
import { adapterEnvironment, startAdapter, type RunningAdapter } from '../helpers/adapter-process.js';
import { createPostgresDatabase, type TestDatabase } from '../helpers/databases.js';
import { psql } from '../helpers/psql.js';
import { call, login } from '../helpers/rest.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { waitUntil } from '../station/adapter-fixture.js';

const CONFIG = `
demo:
  seed_plans: true
stations:
  - id: station001
    unit_id: 1
    pumps:
      - { id: pump1, control_variable: speed, unit: Hz, minimum: 0, maximum: 50, max_rate_per_second: 1000, failsafe_setpoint: 30, stop_setpoint: 5 }
  - id: station002
    unit_id: 2
    pumps:
      - { id: pump1, control_variable: speed, unit: Hz, minimum: 0, maximum: 50, max_rate_per_second: 1000, failsafe_setpoint: 30, stop_setpoint: 5 }
`;

async function stationState(baseUrl: string, stationId: string): Promise<string> {
  const status = await call(baseUrl, null, 'GET', '/api/v1/status');
  const stations = status.body.stations as Array<{ station_id: string; state: string }>;
  return stations.find((station) => station.station_id === stationId)?.state ?? 'missing';
}

// A stop accepted while PostgreSQL is unreachable lives only in the adapter until the database
// returns. These tests end the adapter in that window and check that the next run keeps the stop.
describe('stop accepted during an outage, then a restart', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let adapter: RunningAdapter | undefined;
  const configDir = mkdtempSync(join(tmpdir(), 'calejo-journal-'));
  let environment: NodeJS.ProcessEnv;

  async function startRunning(): Promise<RunningAdapter> {
    adapter = await startAdapter(environment);
    return adapter;
  }

  beforeAll(async () => {
    database = await createPostgresDatabase();
    const target = new URL(database.url!);
    proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
    const viaProxy = new URL(database.url!);
    viaProxy.port = String(await proxy.start());
    writeFileSync(join(configDir, 'calejo.yaml'), CONFIG);
    environment = adapterEnvironment({ CALEJO_CONFIG: join(configDir, 'calejo.yaml'), DATABASE_URL: viaProxy.toString(), CALEJO_DATA_DIR: database.dataDir });
  });

  afterAll(async () => {
    await adapter?.stop();
    await proxy?.cut();
    await database?.drop();
    rmSync(configDir, { recursive: true, force: true });
  });

  async function stopWhileDown(stationId: string, end: (running: RunningAdapter) => Promise<unknown>): Promise<void> {
    await proxy.restore();
    const running = await startRunning();
    await waitUntil(() => stationState(running.baseUrl, stationId), (state) => state === 'operational' || state === 'recovering', 15_000);
    const token = await login(running.baseUrl);

    await proxy.cut();
    const stop = await call(running.baseUrl, token, 'POST', `/api/v1/pump-stations/${stationId}/emergency-stop`, { reason: 'outage drill' });
    expect(stop.status).toBe(202);
    expect(stop.body.persistence).toBe('pending');
    // The journal is written once the first write attempt fails, well within a second.
    const journalPath = join(database.dataDir, PENDING_COMMANDS_FILE);
    await waitUntil(async () => existsSync(journalPath), (exists) => exists, 3000);
    const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { commands: Array<{ stationId: string; kind: string }> };
    expect(journal.commands).toContainEqual(expect.objectContaining({ stationId, kind: 'activate' }));

    await end(running);
    adapter = undefined;
  }

  async function expectStopKept(stationId: string): Promise<void> {
    await proxy.restore();
    const running = await startRunning();
    expect(await stationState(running.baseUrl, stationId)).not.toMatch(/operational|recovering/);
    await waitUntil(() => stationState(running.baseUrl, stationId), (state) => state === 'stopped', 15_000);
    const open = await waitUntil(
      () => psql(database.url!, `SELECT count(*) FROM emergency_stops WHERE station_id = '${stationId}' AND ended_at IS NULL AND cleared_at IS NULL`),
      (count) => count === '1',
      10_000,
    );
    expect(open).toBe('1');
    const reason = await psql(database.url!, `SELECT details->>'reason' FROM compliance_audit_log WHERE station_id = '${stationId}' AND event_type = 'EMERGENCY_STOP_ACTIVATED' ORDER BY id DESC LIMIT 1`);
    expect(reason).toBe('outage drill');
    await waitUntil(async () => existsSync(join(database.dataDir, PENDING_COMMANDS_FILE)), (exists) => !exists, 10_000);
    await running.stop();
    adapter = undefined;
  }

  it('keeps the stop across a clean shutdown', async () => {
    await stopWhileDown('station001', (running) => running.stop());
    await expectStopKept('station001');
  }, 90_000);

  it('keeps the stop across kill -9', async () => {
    await stopWhileDown('station002', (running) => running.kill());
    await expectStopKept('station002');
  }, 90_000);
});
