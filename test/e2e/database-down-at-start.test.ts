import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenService } from '../../src/auth/tokens.js';
import { applyStationDefaults, parseConfigText } from '../../src/config/load.js';
import { migrate, readMigrations } from '../../src/db/migrate.js';
import { mirrorConfiguration } from '../../src/db/mirror-config.js';
import { persistStopCommand } from '../../src/station/stop-store.js';
import { adapterEnvironment, startAdapter, type RunningAdapter } from '../helpers/adapter-process.js';
import { createPostgresDatabase, type TestDatabase } from '../helpers/databases.js';
import { float32At, readHoldingRegisters } from '../helpers/mbpoll.js';
import { psql } from '../helpers/psql.js';
import { call, login } from '../helpers/rest.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { waitUntil } from '../station/adapter-fixture.js';

// Fast ramps keep the recovery short; the seeded demo plan gives every pump a value of 20 to 40 Hz.
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
  - id: station003
    unit_id: 3
    pumps:
      - { id: pump1, control_variable: speed, unit: Hz, minimum: 0, maximum: 50, max_rate_per_second: 1000, failsafe_setpoint: 30, stop_setpoint: 5 }
`;
const STATIONS = applyStationDefaults(parseConfigText(CONFIG, 'test').stations);
const UNIT_IDS = [1, 2, 3];

const STATUS_EMERGENCY_STOP = 1 << 0;
const STATUS_DATABASE_UNREACHABLE = 1 << 4;
const MODE_PLAN = 0;
const MODE_STOPPED = 3;

const JWT_SECRET = 'database-down-test-secret-0123456789abcdef';
/** Trust authentication ignores it, so it only shows whether a log line leaks the password. */
const PASSWORD = 'never-logged-e2e-password';

interface StationRegisters {
  status: number;
  setpoint: number;
  mode: number;
}

/** Reads the status word and pump1's setpoint and mode of one unit with mbpoll. */
async function readStation(port: number, unitId: number): Promise<StationRegisters> {
  const registers = await readHoldingRegisters(port, unitId, 1, 13);
  return { status: registers[0]!, setpoint: float32At(registers, 10), mode: registers[12]! };
}

type StationSummary = { station_id: string; state: string };

async function stationStates(baseUrl: string): Promise<Record<string, string>> {
  const status = await call(baseUrl, null, 'GET', '/api/v1/status');
  return Object.fromEntries((status.body.stations as StationSummary[]).map((station) => [station.station_id, station.state]));
}

/** A test database behind a proxy that starts cut, and an adapter started against the proxy. */
class DatabaseBehindProxy {
  database!: TestDatabase;
  proxy!: TcpProxy;
  adapter: RunningAdapter | undefined;
  configDir = mkdtempSync(join(tmpdir(), 'calejo-dbdown-'));
  startedInMs = 0;

  async create(): Promise<void> {
    this.database = await createPostgresDatabase();
    const target = new URL(this.database.url!);
    this.proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
    await this.proxy.start();
  }

  async startAdapterWhileCut(): Promise<RunningAdapter> {
    await this.proxy.cut();
    const viaProxy = new URL(this.database.url!);
    viaProxy.port = String(this.proxy.port);
    viaProxy.password = PASSWORD;
    const configPath = join(this.configDir, 'calejo.yaml');
    writeFileSync(configPath, CONFIG);
    const started = Date.now();
    this.adapter = await startAdapter(
      adapterEnvironment({ CALEJO_CONFIG: configPath, DATABASE_URL: viaProxy.toString(), CALEJO_DATA_DIR: this.database.dataDir, JWT_SECRET }),
    );
    this.startedInMs = Date.now() - started;
    return this.adapter;
  }

  async cleanUp(): Promise<void> {
    await this.adapter?.stop();
    await this.proxy?.cut();
    await this.database?.drop();
    rmSync(this.configDir, { recursive: true, force: true });
  }
}

describe('PostgreSQL down at start, fresh database', () => {
  const setup = new DatabaseBehindProxy();
  let adapter: RunningAdapter;

  beforeAll(async () => {
    await setup.create();
    adapter = await setup.startAdapterWhileCut();
  });

  afterAll(() => setup.cleanUp());

  it('serves every surface while down', async () => {
    // Under a loaded test machine the start takes a few seconds; it used to end with exit code 1 after about 16 s.
    expect(setup.startedInMs).toBeLessThan(20_000);

    for (const unitId of UNIT_IDS) {
      const station = await waitUntil(() => readStation(adapter.modbusPort, unitId), (each) => (each.status & STATUS_DATABASE_UNREACHABLE) !== 0, 5000);
      expect(station.status & STATUS_EMERGENCY_STOP).toBe(STATUS_EMERGENCY_STOP);
      expect(station.setpoint).toBe(5);
      expect(station.mode).toBe(MODE_STOPPED);
    }

    const health = await call(adapter.baseUrl, null, 'GET', '/api/v1/health');
    expect(health.status).toBe(503);
    expect(health.body.status).toBe('unhealthy');
    const databaseCheck = (health.body.checks as { database: { status: string; error: string } }).database;
    expect(databaseCheck.status).toBe('down');
    expect(databaseCheck.error).toContain(`127.0.0.1:${setup.proxy.port}`);
    expect(databaseCheck.error).toContain('ECONNREFUSED');

    const detailed = await call(adapter.baseUrl, null, 'GET', '/api/v1/health/detailed');
    expect(detailed.status).toBe(503);
    const database = detailed.body.database as { status: string; kind: string; description: string; failed_attempts: number };
    expect(database.status).toBe('down');
    expect(database.kind).toBe('postgres');
    expect(database.description).toContain(`127.0.0.1:${setup.proxy.port}`);
    expect(database.failed_attempts).toBeGreaterThanOrEqual(1);

    const status = await call(adapter.baseUrl, null, 'GET', '/api/v1/status');
    expect(status.status).toBe(200);
    expect(await stationStates(adapter.baseUrl)).toEqual({ station001: 'restoring', station002: 'restoring', station003: 'restoring' });
  });

  it('logs each attempt without the password', () => {
    const attempts = adapter.logs.filter((line) => line.component === 'database' && typeof line.attempt === 'number');
    expect(attempts.length).toBeGreaterThanOrEqual(1);
    for (const line of attempts) {
      expect(line.level).toBe('ERROR');
      expect(line.msg).toContain(`127.0.0.1:${setup.proxy.port}`);
      expect(typeof line.next_attempt_in_ms).toBe('number');
    }
    expect(JSON.stringify(adapter.logs)).not.toContain(PASSWORD);
    expect(adapter.stderr()).not.toContain(PASSWORD);
  });

  it('accepts REST stop while down', async () => {
    // No user can log in while the database is down; a token issued before the outage authorizes from its claims.
    const { token } = await new TokenService(JWT_SECRET, 3600).issue({ userId: 'operator-during-outage', role: 'operator' });
    const stop = await call(adapter.baseUrl, token, 'POST', '/api/v1/pump-stations/station002/emergency-stop', { reason: 'stopped while the database was down' });
    expect(stop.status).toBe(202);
    expect(stop.body.persistence).toBe('pending');
    expect(stop.body.state).toBe('stopped');
    expect((await readStation(adapter.modbusPort, 2)).status & STATUS_EMERGENCY_STOP).toBe(STATUS_EMERGENCY_STOP);
  });

  it('recovers when PostgreSQL returns', async () => {
    await setup.proxy.restore();
    const health = await waitUntil(() => call(adapter.baseUrl, null, 'GET', '/api/v1/health'), (response) => response.status === 200, 20_000);
    expect((health.body.checks as { database: { status: string } }).database.status).toBe('up');

    // Migrations ran on the fresh database, without a restart of the process.
    const migrated = adapter.logs.find((line) => line.msg === 'database connected and migrated');
    expect(migrated?.migrations_applied).toEqual(readMigrations().map((migration) => migration.version));
    expect(adapter.logs.filter((line) => line.msg === 'Calejo Control Adapter starting')).toHaveLength(1);
    expect(adapter.process.exitCode).toBeNull();
    const reconnected = adapter.logs.find((line) => typeof line.failed_attempts === 'number');
    expect(reconnected?.failed_attempts).toBeGreaterThanOrEqual(1);

    // The stop accepted during the outage is stored.
    const url = setup.database.url!;
    await waitUntil(() => psql(url, "SELECT count(*) FROM emergency_stops WHERE station_id = 'station002'"), (count) => count === '1', 10_000);
    expect(await psql(url, "SELECT activated_by || '|' || activation_source || '|' || (ended_at IS NULL) FROM emergency_stops WHERE station_id = 'station002'")).toBe(
      'operator-during-outage|rest|true',
    );
    expect(await psql(url, "SELECT count(*) FROM compliance_audit_log WHERE event_type = 'EMERGENCY_STOP_ACTIVATED' AND station_id = 'station002'")).toBe('1');

    // Stations stored as operational recover to their plan; the stopped one stays stopped.
    for (const unitId of [1, 3]) {
      const station = await waitUntil(() => readStation(adapter.modbusPort, unitId), (each) => each.mode === MODE_PLAN, 10_000);
      expect(station.status & STATUS_EMERGENCY_STOP).toBe(0);
      expect(station.status & STATUS_DATABASE_UNREACHABLE).toBe(0);
      expect(station.setpoint).toBeGreaterThanOrEqual(20);
      expect(station.setpoint).toBeLessThanOrEqual(40);
    }
    const stopped = await readStation(adapter.modbusPort, 2);
    expect(stopped.status & STATUS_EMERGENCY_STOP).toBe(STATUS_EMERGENCY_STOP);
    expect(stopped.mode).toBe(MODE_STOPPED);
    expect(await stationStates(adapter.baseUrl)).toEqual({ station001: 'operational', station002: 'stopped', station003: 'operational' });

    // The first administrator was created on the late connection.
    await expect(login(adapter.baseUrl)).resolves.toMatch(/\./);

    // One audit row sums up the outage; the connection attempts are not audited one by one.
    const outage = await waitUntil(
      () => psql(url, "SELECT (details->>'began_with') || '|' || (details->>'failed_attempts') FROM compliance_audit_log WHERE event_type = 'DATABASE_OUTAGE_ENDED'"),
      (output) => output !== '',
      5000,
    );
    expect(outage).toBe(`start|${String(reconnected?.failed_attempts)}`);
    expect(await psql(url, "SELECT count(*) FROM compliance_audit_log WHERE event_type LIKE 'SUPERVISOR_%'")).toBe('0');
  });
});

describe('PostgreSQL down at start, stop latched earlier', () => {
  const setup = new DatabaseBehindProxy();
  let adapter: RunningAdapter;

  beforeAll(async () => {
    await setup.create();
    // An earlier run stored a latched stop of station001.
    const direct = await setup.database.open();
    try {
      await migrate(direct);
      await mirrorConfiguration(direct, STATIONS);
      await persistStopCommand(direct, {
        kind: 'activate',
        stationId: 'station001',
        origin: { source: 'rest', actor: 'operator-earlier-run', actorRole: 'operator', sourceAddress: null, reason: 'latched before the restart', operator: null },
        acceptedAt: new Date(),
      });
    } finally {
      await direct.close();
    }
    adapter = await setup.startAdapterWhileCut();
  });

  afterAll(() => setup.cleanUp());

  it('keeps the stop after late connection', async () => {
    for (const unitId of UNIT_IDS) {
      const station = await readStation(adapter.modbusPort, unitId);
      expect(station.status & STATUS_EMERGENCY_STOP).toBe(STATUS_EMERGENCY_STOP);
      expect(station.mode).toBe(MODE_STOPPED);
    }

    await setup.proxy.restore();
    await waitUntil(() => call(adapter.baseUrl, null, 'GET', '/api/v1/health'), (response) => response.status === 200, 20_000);

    // station003 recovering to its plan shows that the stored states have been read.
    await waitUntil(() => readStation(adapter.modbusPort, 3), (each) => each.mode === MODE_PLAN, 10_000);
    const latched = await readStation(adapter.modbusPort, 1);
    expect(latched.status & STATUS_EMERGENCY_STOP).toBe(STATUS_EMERGENCY_STOP);
    expect(latched.setpoint).toBe(5);
    expect(latched.mode).toBe(MODE_STOPPED);
    expect((await stationStates(adapter.baseUrl)).station001).toBe('stopped');
    expect(await psql(setup.database.url!, "SELECT count(*) FROM emergency_stops WHERE station_id = 'station001' AND ended_at IS NULL AND cleared_at IS NULL")).toBe('1');
  });
});
