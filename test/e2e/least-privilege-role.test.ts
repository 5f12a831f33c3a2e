import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModbusRTU as ModbusClient } from 'modbus-serial/ModbusRTU.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { adapterEnvironment, runAdapterToExit, startAdapter, type RunningAdapter } from '../helpers/adapter-process.js';
import { ADMIN_DATABASE_URL, createPostgresDatabase, type TestDatabase } from '../helpers/databases.js';
import { psql } from '../helpers/psql.js';
import { call, login } from '../helpers/rest.js';
import { waitUntil } from '../station/adapter-fixture.js';

const ModbusRTU = createRequire(import.meta.url)('modbus-serial') as typeof ModbusClient;

// One station with a feedback coil, so that the test also writes pump_feedback.
const CONFIG = `
demo:
  seed_plans: true
stations:
  - id: station001
    unit_id: 1
    pumps:
      - { id: pump1, control_variable: speed, unit: Hz, minimum: 0, maximum: 50, max_rate_per_second: 1000, failsafe_setpoint: 30, stop_setpoint: 5 }
    register_map:
      registers:
        - { name: pump1 running, kind: coil, address: 10, pump: pump1, value: running }
`;

const PRIVILEGES_HEADING = '### Running as a least-privilege role';

/** Returns the SQL block under the least-privilege heading of docs/security.md, for role `role`. */
function documentedGrants(role: string): string {
  const text = readFileSync(join(PACKAGE_ROOT, 'docs', 'security.md'), 'utf8');
  const section = text.slice(text.indexOf(PRIVILEGES_HEADING));
  const block = /```sql\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error(`docs/security.md has no sql block under "${PRIVILEGES_HEADING}"`);
  return block.replaceAll('calejo_app', role);
}

/** Returns the connection string `url` with `role` as the user. */
function urlAs(url: string, role: string): string {
  const changed = new URL(url);
  changed.username = role;
  return changed.toString();
}

// A production database where the adapter does not own the tables. PUBLIC loses its default
// rights on the schema and the functions, so the test shows that the documented GRANTs suffice
// on a hardened server too.
describe('adapter as a least-privilege role', () => {
  const role = `calejo_app_${randomBytes(4).toString('hex')}`;
  const bareRole = `calejo_bare_${randomBytes(4).toString('hex')}`;
  const configDir = mkdtempSync(join(tmpdir(), 'calejo-least-privilege-'));
  const configPath = join(configDir, 'calejo.yaml');
  let database: TestDatabase;
  let unmigrated: TestDatabase;
  let adapter: RunningAdapter | undefined;

  beforeAll(async () => {
    writeFileSync(configPath, CONFIG);
    database = await createPostgresDatabase();
    unmigrated = await createPostgresDatabase();
    const owner = await database.open();
    try {
      await migrate(owner);
    } finally {
      await owner.close();
    }
    await psql(database.url!, 'REVOKE ALL ON SCHEMA public FROM PUBLIC; REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC');
    await psql(database.url!, documentedGrants(role));
    await psql(ADMIN_DATABASE_URL, `CREATE ROLE ${bareRole} LOGIN`);
  });

  afterAll(async () => {
    await adapter?.stop();
    await database?.drop();
    await unmigrated?.drop();
    // Dropping the databases removed the roles' privileges, so nothing else depends on them.
    await psql(ADMIN_DATABASE_URL, `DROP ROLE IF EXISTS ${role}`);
    await psql(ADMIN_DATABASE_URL, `DROP ROLE IF EXISTS ${bareRole}`);
    rmSync(configDir, { recursive: true, force: true });
  });

  it('runs with the documented grants', async () => {
    adapter = await startAdapter(adapterEnvironment({ CALEJO_CONFIG: configPath, DATABASE_URL: urlAs(database.url!, role), CALEJO_DATA_DIR: database.dataDir }));
    const health = await waitUntil(() => call(adapter!.baseUrl, null, 'GET', '/api/v1/health'), (response) => response.status === 200, 15_000);
    expect(health.status).toBe(200);
    expect(await psql(database.url!, "SELECT count(*) > 0 FROM pump_plans WHERE station_id = 'station001'")).toBe('t');
  });

  it('commits a REST stop', async () => {
    const token = await login(adapter!.baseUrl);
    const stop = await call(adapter!.baseUrl, token, 'POST', '/api/v1/pump-stations/station001/emergency-stop', { reason: 'least-privilege test' });
    expect(stop.status).toBe(200);
    expect(await psql(database.url!, "SELECT activation_reason FROM emergency_stops WHERE station_id = 'station001' AND ended_at IS NULL")).toBe('least-privilege test');
    expect(await psql(database.url!, "SELECT count(*) FROM compliance_audit_log WHERE event_type = 'EMERGENCY_STOP_ACTIVATED'")).toBe('1');
    expect((await call(adapter!.baseUrl, token, 'DELETE', '/api/v1/pump-stations/station001/emergency-stop', { reason: 'least-privilege test' })).status).toBe(200);
    expect((await call(adapter!.baseUrl, token, 'POST', '/api/v1/pump-stations/station001/resume', { reason: 'least-privilege test' })).status).toBe(200);
    expect(await psql(database.url!, "SELECT end_reason FROM emergency_stops WHERE station_id = 'station001'")).toBe('resumed');
  });

  it('writes every table it uses', async () => {
    const token = await login(adapter!.baseUrl);
    const pumpPath = '/api/v1/pump-stations/station001/pumps/pump1/override';
    expect((await call(adapter!.baseUrl, token, 'PUT', pumpPath, { value: 12, duration_seconds: 600, reason: 'least-privilege test' })).status).toBe(200);
    expect((await call(adapter!.baseUrl, token, 'DELETE', pumpPath, { reason: 'least-privilege test' })).status).toBe(200);
    expect(await psql(database.url!, 'SELECT end_reason FROM pump_overrides')).toBe('cleared');

    const start = new Date(Date.UTC(2040, 0, 1));
    const plan = await call(adapter!.baseUrl, token, 'POST', '/api/v1/plans', {
      rows: [{ station_id: 'station001', pump_id: 'pump1', interval_start: start.toISOString(), interval_end: new Date(start.getTime() + 900_000).toISOString(), target_value: 20 }],
    });
    expect(plan.status).toBe(201);

    const user = await call(adapter!.baseUrl, token, 'POST', '/api/v1/users', { username: 'night-shift', role: 'operator', password: 'night shift secret 1' });
    expect(user.status).toBe(201);
    const apiToken = await call(adapter!.baseUrl, token, 'POST', '/api/v1/api-tokens', { name: 'night report', user_id: user.body.user_id, expires_in_days: 1 });
    expect(apiToken.status).toBe(201);
    expect((await call(adapter!.baseUrl, apiToken.body.token as string, 'GET', '/api/v1/pump-stations')).status).toBe(200);
    // The deactivation triggers update users and api_tokens with the adapter's role.
    expect((await call(adapter!.baseUrl, token, 'DELETE', `/api/v1/users/${user.body.user_id as string}`)).status).toBe(200);
    expect((await call(adapter!.baseUrl, apiToken.body.token as string, 'GET', '/api/v1/pump-stations')).status).toBe(401);
    const roles = await call(adapter!.baseUrl, token, 'PUT', '/api/v1/roles/viewer', { permissions: ['read_pump_status'] });
    expect(roles.status).toBe(200);

    const client = new ModbusRTU();
    await client.connectTCP('127.0.0.1', { port: adapter!.modbusPort });
    try {
      client.setID(1);
      await client.writeCoil(10, true);
    } finally {
      client.close(() => undefined);
    }
    const feedback = await waitUntil(() => psql(database.url!, "SELECT count(*) FROM pump_feedback WHERE variable = 'running'"), (count) => count === '1', 5000);
    expect(feedback).toBe('1');

    const verified = await call(adapter!.baseUrl, token, 'GET', '/api/v1/audit-log/verify');
    expect(verified.status).toBe(200);
    expect(verified.body.ok).toBe(true);
    const denied = adapter!.logs.filter((line) => JSON.stringify(line).includes('permission denied'));
    expect(denied).toEqual([]);
  });

  it('names the grants when one is missing', async () => {
    const environment = adapterEnvironment({ CALEJO_CONFIG: configPath, DATABASE_URL: urlAs(database.url!, bareRole), CALEJO_DATA_DIR: join(configDir, 'bare-data') });
    const withoutSchema = await runAdapterToExit(environment);
    expect(withoutSchema.code).toBe(1);
    expect(withoutSchema.stderr).toContain('cannot read the table schema_migrations');
    expect(withoutSchema.stderr).toContain('"Running as a least-privilege role" in docs/security.md');

    await psql(database.url!, `GRANT USAGE ON SCHEMA public TO ${bareRole}`);
    const withoutTables = await runAdapterToExit(environment);
    expect(withoutTables.code).toBe(1);
    expect(withoutTables.stderr).toContain('permission denied for table schema_migrations');
    expect(withoutTables.stderr).toContain('"Running as a least-privilege role" in docs/security.md');
  });

  it('asks for the owner on pending migrations', async () => {
    const exit = await runAdapterToExit(adapterEnvironment({ CALEJO_CONFIG: configPath, DATABASE_URL: urlAs(unmigrated.url!, bareRole), CALEJO_DATA_DIR: join(configDir, 'unmigrated-data') }));
    expect(exit.code).toBe(1);
    expect(exit.stderr).toContain('0001_initial');
    expect(exit.stderr).toContain("DATABASE_URL of the tables' owner");
  });
});
