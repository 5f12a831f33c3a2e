import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { Adapter, type AdapterOptions } from '../../src/runtime/adapter.js';
import { hashPassword } from '../../src/auth/passwords.js';
import type { Database } from '../../src/db/database.js';
import { call, login } from '../helpers/rest.js';

export const ADMIN_PASSWORD = 'station-test-admin-1';

/** An adapter started in this process on ephemeral loopback ports, for tests that inject options. */
export interface InProcessAdapter {
  adapter: Adapter;
  baseUrl: string;
  modbusPort: number;
  token: string;
  database: () => Database;
  request: (method: string, path: string, body?: unknown, token?: string | null) => ReturnType<typeof call>;
  stop(): Promise<void>;
}

/**
 * Writes `yaml` to a temporary configuration file and starts an Adapter on `databaseUrl`. The
 * same `dataDir` may be passed again to start a second adapter on the same data, as after a crash.
 */
export async function startInProcessAdapter(
  yaml: string,
  databaseUrl: string,
  options: AdapterOptions = {},
  dataDir = mkdtempSync(join(tmpdir(), 'calejo-station-')),
  beforeStart?: (adapter: Adapter) => void,
): Promise<InProcessAdapter & { dataDir: string }> {
  const configPath = join(dataDir, 'calejo.yaml');
  writeFileSync(configPath, yaml);
  const config = loadConfig({
    CALEJO_CONFIG: configPath,
    DATABASE_URL: databaseUrl,
    CALEJO_DATA_DIR: dataDir,
    HTTP_PORT: '0',
    MODBUS_PORT: '0',
    // Ephemeral like the others: a fixed 4840 collides with a parallel test file or a running adapter.
    OPCUA_PORT: '0',
    CERTS_DIR: join(dataDir, 'certs'),
    BIND_ADDRESS: '127.0.0.1',
    CALEJO_ADMIN_PASSWORD: ADMIN_PASSWORD,
    JWT_SECRET: 'station-test-jwt-secret-0123456789abcdef',
  });
  const adapter = new Adapter(config, createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), options);
  beforeStart?.(adapter);
  await adapter.start();
  const baseUrl = `http://127.0.0.1:${adapter.ports.http}`;
  const token = await login(baseUrl, ADMIN_PASSWORD);
  return {
    adapter,
    dataDir,
    baseUrl,
    modbusPort: adapter.ports.modbus ?? 0,
    token,
    database() {
      const database = adapter.getDatabase();
      if (!database) throw new Error('the adapter has no database connection');
      return database;
    },
    request: (method, path, body, asToken = token) => call(baseUrl, asToken, method, path, body),
    async stop() {
      await adapter.stop();
    },
  };
}

export function removeDataDir(dataDir: string): void {
  rmSync(dataDir, { recursive: true, force: true });
}

/** Creates a user with `role` and returns a token for it. */
export async function tokenForRole(running: InProcessAdapter, username: string, role: string): Promise<string> {
  const password = `${username}-password-1`;
  await running.database().query('INSERT INTO users (user_id, username, role, password_hash) VALUES ($1, $1, $2, $3)', [username, role, await hashPassword(password)]);
  return login(running.baseUrl, password, username);
}

/** Polls `probe` every 20 ms until `accept` returns true, or throws with the last value. */
export async function waitUntil<T>(probe: () => T | Promise<T>, accept: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await probe();
  while (!accept(last)) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last value ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
    last = await probe();
  }
  return last;
}
