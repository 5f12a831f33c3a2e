import { execFile } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { adapterEnvironment, startAdapter, type RunningAdapter } from '../helpers/adapter-process.js';
import { createPostgresDatabase, type TestDatabase } from '../helpers/databases.js';

function healthCheck(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(join(PACKAGE_ROOT, 'scripts', 'health-check.sh'), args, { cwd: PACKAGE_ROOT, timeout: 30_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

/** Returns a port with nothing listening: bound, then closed again. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('scripts/health-check.sh', () => {
  let database: TestDatabase;
  let healthy: RunningAdapter;
  let withoutDatabase: RunningAdapter;

  beforeAll(async () => {
    database = await createPostgresDatabase();
    const unreachable = new URL(database.url!);
    unreachable.port = String(await closedPort());
    [healthy, withoutDatabase] = await Promise.all([
      startAdapter(adapterEnvironment({ DATABASE_URL: database.url!, CALEJO_DATA_DIR: database.dataDir })),
      startAdapter(adapterEnvironment({ DATABASE_URL: unreachable.toString(), CALEJO_DATA_DIR: join(database.dataDir, 'second') })),
    ]);
  });

  afterAll(async () => {
    await Promise.all([healthy?.stop(), withoutDatabase?.stop()]);
    await database?.drop();
  });

  it('reports a healthy adapter with exit 0', async () => {
    const result = await healthCheck(['--url', healthy.baseUrl]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^OK: adapter \S+ at http:\/\/127\.0\.0\.1:\d+ is healthy$/m);
    expect(result.stdout).toMatch(/^database: up \(postgres /m);
    expect(result.stdout).toMatch(/^modbus: listening on 127\.0\.0\.1:\d+$/m);
    expect(result.stdout).toMatch(/^station station001: (operational|recovering)/m);
    expect(result.stdout).toMatch(/^opcua certificate: expires in \d+ days$/m);
  });

  it('prints the health document with --json', async () => {
    const result = await healthCheck(['--url', healthy.baseUrl, '--json']);
    expect(result.code).toBe(0);
    const document = JSON.parse(result.stdout) as { status: string; stations: unknown[] };
    expect(document.status).toBe('healthy');
    expect(document.stations).toHaveLength(3);
  });

  it('reports an unreachable database as critical', async () => {
    const result = await healthCheck(['--url', withoutDatabase.baseUrl]);
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/^CRITICAL: .* is unhealthy$/m);
    expect(result.stdout).toMatch(/^database: down .*ECONNREFUSED/m);
  });

  it('reports an unreachable adapter as unknown', async () => {
    const port = await closedPort();
    const result = await healthCheck(['--url', `http://127.0.0.1:${port}`]);
    expect(result.code).toBe(3);
    expect(result.stdout).toContain(`UNKNOWN: cannot reach the adapter at http://127.0.0.1:${port}: ECONNREFUSED`);
  });

  it('rejects invalid arguments', async () => {
    expect((await healthCheck(['--url', 'not a url'])).code).toBe(3);
    const timeout = await healthCheck(['--timeout', 'soon']);
    expect(timeout.code).toBe(3);
    expect(timeout.stderr).toContain('invalid --timeout "soon"');
  });
});
