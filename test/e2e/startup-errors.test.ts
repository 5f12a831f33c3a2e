import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adapterEnvironment, runAdapterToExit } from '../helpers/adapter-process.js';
import { ADMIN_DATABASE_URL, createPostgresDatabase } from '../helpers/databases.js';

describe('start-up errors', () => {
  let folder: string;

  beforeAll(() => {
    folder = mkdtempSync(join(tmpdir(), 'calejo-start-'));
    chmodSync(folder, 0o777);
  });

  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  it('bad configuration exits with one line', async () => {
    const configPath = join(folder, 'bad.yaml');
    writeFileSync(
      configPath,
      `stations:
  - id: station001
    unit_id: 1
    pumps:
      - { id: pump1, control_variable: speed, unit: Hz, minimum: 60, maximum: 50, max_rate_per_second: 1, failsafe_setpoint: 30 }
`,
    );
    const result = await runAdapterToExit(adapterEnvironment({ CALEJO_CONFIG: configPath, CALEJO_DATA_DIR: join(folder, 'data-bad') }));
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('stations[0].pumps[0].minimum');
    expect(lines[0]).toContain('lower minimum or raise maximum');
  });

  it('unknown key exits naming the key', async () => {
    const configPath = join(folder, 'unknown.yaml');
    writeFileSync(configPath, 'modbus:\n  prot: 502\nstations: []\n');
    const result = await runAdapterToExit(adapterEnvironment({ CALEJO_CONFIG: configPath }));
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('modbus: unknown key "prot"');
  });

  it('invalid DATABASE_URL exits with one line', async () => {
    const result = await runAdapterToExit(adapterEnvironment({ DATABASE_URL: 'localhost:5432/calejo', CALEJO_DATA_DIR: join(folder, 'data-url') }));
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('invalid DATABASE_URL "localhost:5432/calejo"');
    expect(lines[0]).toContain('set it to postgres://USER:PASSWORD@HOST:5432/DATABASE');
  });

  it('missing database exits naming it', async () => {
    const url = new URL(ADMIN_DATABASE_URL);
    url.pathname = `/calejo_missing_${process.pid}`;
    const started = Date.now();
    const result = await runAdapterToExit(adapterEnvironment({ DATABASE_URL: url.toString(), CALEJO_DATA_DIR: join(folder, 'data-missing') }));
    expect(result.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(15_000);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`database "calejo_missing_${process.pid}" does not exist`);
    expect(lines[0]).toContain('create the database, or correct the database name in DATABASE_URL');
  });

  it('TLS the server lacks exits with the fix', async () => {
    const database = await createPostgresDatabase();
    const url = new URL(database.url!);
    // verify-full, because node-postgres warns on stderr about the meaning of require.
    url.searchParams.set('sslmode', 'verify-full');
    const result = await runAdapterToExit(adapterEnvironment({ DATABASE_URL: url.toString(), CALEJO_DATA_DIR: join(folder, 'data-tls') })).finally(() =>
      database.drop(),
    );
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('The server does not support SSL connections');
    expect(lines[0]).toContain('correct sslmode');
  });

  it('locked embedded database exits with the fix', async () => {
    const dataDir = join(folder, 'data-locked');
    mkdirSync(dataDir);
    // This test process counts as the running adapter that has locked the directory.
    writeFileSync(join(dataDir, 'adapter.lock'), `${process.pid}\n`);
    const result = await runAdapterToExit(adapterEnvironment({ CALEJO_DATA_DIR: dataDir }));
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`in use by adapter process ${process.pid}`);
    expect(lines[0]).toContain('set CALEJO_DATA_DIR to another directory');
  });

  it('non-root start on port 502 exits with the fix', async () => {
    if (process.getuid?.() !== 0) {
      throw new Error('this test switches to the nobody user and must run as root, as CI does');
    }
    const dataDir = join(folder, 'data-nobody');
    // PostgreSQL rather than the embedded database, whose start-up under load can take longer than
    // the rest of this test. The listen error is the same either way.
    const database = await createPostgresDatabase();
    const result = await runAdapterToExit(adapterEnvironment({ MODBUS_PORT: '502', CALEJO_DATA_DIR: dataDir, HOME: folder, DATABASE_URL: database.url ?? undefined }), {
      uid: 65534,
      gid: 65534,
    }).finally(() => database.drop());
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('502');
    expect(lines[0]).toContain('set MODBUS_PORT');
  }, 60_000);
});
