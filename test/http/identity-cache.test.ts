import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { adapterEnvironment, startAdapter, type RunningAdapter } from '../helpers/adapter-process.js';
import { createPostgresDatabase, type TestDatabase } from '../helpers/databases.js';
import { psql } from '../helpers/psql.js';
import { call, login } from '../helpers/rest.js';

const STATION = '/api/v1/pump-stations/station001';

/** Calls `request` until it returns `status`, for at most `withinMs`; returns the last status seen. */
async function statusWithin(request: () => Promise<{ status: number }>, status: number, withinMs: number): Promise<number> {
  const deadline = Date.now() + withinMs;
  let last = (await request()).status;
  while (last !== status && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    last = (await request()).status;
  }
  return last;
}

/** Waits until `condition` holds, for at most `withinMs`. */
async function waitFor(condition: () => boolean, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
}

/** Listens on identity_changed and collects each notification's payload, the table's name. */
async function listenForIdentityChanges(url: string): Promise<{ listener: pg.Client; notifications: string[] }> {
  const listener = new pg.Client({ connectionString: url });
  await listener.connect();
  const notifications: string[] = [];
  listener.on('notification', (message) => notifications.push(message.payload ?? ''));
  await listener.query('LISTEN identity_changed');
  return { listener, notifications };
}

// The adapter caches who a token stands for. These tests change users, roles and API tokens with
// psql, outside the adapter's routes, and check that each change still takes effect at once.
describe('the identity cache', () => {
  let database: TestDatabase;
  let adapter: RunningAdapter;
  let admin: string;
  let operator: string;
  let operatorId: string;

  beforeAll(async () => {
    database = await createPostgresDatabase();
    adapter = await startAdapter(adapterEnvironment({ DATABASE_URL: database.url!, CALEJO_DATA_DIR: database.dataDir }));
    admin = await login(adapter.baseUrl);
    const created = await call(adapter.baseUrl, admin, 'POST', '/api/v1/users', { username: 'shift-operator', role: 'operator', password: 'a long operator secret' });
    expect(created.status).toBe(201);
    operatorId = created.body.user_id as string;
    operator = await login(adapter.baseUrl, 'a long operator secret', 'shift-operator');
  });

  afterAll(async () => {
    await adapter?.stop();
    await database?.drop();
  });

  it('authorizes a stop from the cache', async () => {
    expect((await call(adapter.baseUrl, operator, 'GET', STATION)).status).toBe(200);
    // Holding an exclusive lock makes any read of users or roles wait, and the identity read's
    // 500 ms deadline would show in the response time.
    const locker = new pg.Client({ connectionString: database.url! });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE users, roles IN ACCESS EXCLUSIVE MODE');
      const sent = performance.now();
      const stop = await call(adapter.baseUrl, operator, 'POST', `${STATION}/emergency-stop`, { reason: 'identity cache test' });
      const elapsedMs = performance.now() - sent;
      expect(stop.status).toBe(200);
      expect(elapsedMs).toBeLessThan(400);
      expect(adapter.logs.some((line) => String(line.msg).includes('authorizing from what was last known'))).toBe(false);
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }
    expect((await call(adapter.baseUrl, operator, 'DELETE', `${STATION}/emergency-stop`, { reason: 'identity cache test' })).status).toBe(200);
  });

  it('ends sessions on deactivation by psql', async () => {
    const created = await call(adapter.baseUrl, admin, 'POST', '/api/v1/api-tokens', { name: 'shift report', user_id: operatorId, expires_in_days: 1 });
    expect(created.status).toBe(201);
    const apiToken = created.body.token as string;
    const loginToken = operator;
    const readWithLogin = () => call(adapter.baseUrl, loginToken, 'GET', STATION);
    const readWithApiToken = () => call(adapter.baseUrl, apiToken, 'GET', STATION);
    expect((await readWithLogin()).status).toBe(200);
    expect((await readWithApiToken()).status).toBe(200);

    const { listener, notifications } = await listenForIdentityChanges(database.url!);
    try {
      await psql(database.url!, "UPDATE users SET active = false WHERE username = 'shift-operator'");
      expect(await statusWithin(readWithLogin, 401, 2000)).toBe(401);
      expect(await statusWithin(readWithApiToken, 401, 2000)).toBe(401);
      // The trigger's revocation announces itself like any other write to api_tokens.
      await waitFor(() => notifications.includes('api_tokens'), 2000);
      expect(notifications).toEqual(expect.arrayContaining(['users', 'api_tokens']));
    } finally {
      await listener.end();
    }
    expect(await psql(database.url!, `SELECT revoked_at IS NOT NULL FROM api_tokens WHERE token_id = '${created.body.token_id as string}'`)).toBe('t');

    // Reactivation brings neither token back, but the user can log in again.
    await psql(database.url!, "UPDATE users SET active = true WHERE username = 'shift-operator'");
    operator = await login(adapter.baseUrl, 'a long operator secret', 'shift-operator');
    expect((await call(adapter.baseUrl, operator, 'GET', STATION)).status).toBe(200);
    expect(await statusWithin(readWithLogin, 200, 1000)).toBe(401);
    expect(await statusWithin(readWithApiToken, 200, 1000)).toBe(401);
  });

  it('ends login tokens on password change by psql', async () => {
    const before = operator;
    const read = () => call(adapter.baseUrl, before, 'GET', STATION);
    expect((await read()).status).toBe(200);
    // The administrator's hash is a valid scrypt hash of the test's administrator password.
    await psql(database.url!, "UPDATE users SET password_hash = (SELECT password_hash FROM users WHERE username = 'admin') WHERE username = 'shift-operator'");
    expect(await statusWithin(read, 401, 2000)).toBe(401);

    operator = await login(adapter.baseUrl, 'test-admin-password-1', 'shift-operator');
    expect((await call(adapter.baseUrl, operator, 'GET', STATION)).status).toBe(200);
  });

  it('keeps sessions on other user changes by psql', async () => {
    const read = () => call(adapter.baseUrl, operator, 'GET', STATION);
    await psql(database.url!, "UPDATE users SET email = 'shift@example.org', password_hash = password_hash, active = true WHERE username = 'shift-operator'");
    expect(await statusWithin(read, 401, 1000)).toBe(200);
  });

  it('applies a role change by psql', async () => {
    const stop = () => call(adapter.baseUrl, operator, 'POST', `${STATION}/emergency-stop`, { reason: 'identity cache test' });
    await psql(database.url!, "UPDATE roles SET permissions = array_remove(permissions, 'emergency_stop') WHERE role = 'operator'");
    try {
      expect(await statusWithin(stop, 403, 2000)).toBe(403);
    } finally {
      await psql(database.url!, "UPDATE roles SET permissions = array_append(permissions, 'emergency_stop') WHERE role = 'operator'");
    }
    expect(await statusWithin(stop, 200, 2000)).toBe(200);
    expect((await call(adapter.baseUrl, operator, 'DELETE', `${STATION}/emergency-stop`, { reason: 'identity cache test' })).status).toBe(200);
  });

  it('rejects an API token revoked by psql', async () => {
    const created = await call(adapter.baseUrl, admin, 'POST', '/api/v1/api-tokens', { name: 'scada bridge', user_id: 'admin', expires_in_days: 1 });
    expect(created.status).toBe(201);
    const apiToken = created.body.token as string;
    const read = () => call(adapter.baseUrl, apiToken, 'GET', STATION);
    expect((await read()).status).toBe(200);
    expect((await read()).status).toBe(200);
    await psql(database.url!, `UPDATE api_tokens SET revoked_at = now() WHERE token_id = '${created.body.token_id as string}'`);
    expect(await statusWithin(read, 401, 2000)).toBe(401);
  });

  it('notifies only identity columns', async () => {
    const { listener, notifications } = await listenForIdentityChanges(database.url!);
    try {
      await login(adapter.baseUrl, 'test-admin-password-1', 'shift-operator');
      await psql(database.url!, "UPDATE users SET email = 'ops@example.org' WHERE username = 'shift-operator'");
      await psql(database.url!, "UPDATE users SET role = 'operator' WHERE username = 'shift-operator'");
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(notifications).toEqual(['users']);
    } finally {
      await listener.end();
    }
  });
});
