import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adapterEnvironment, startAdapter, type RunningAdapter } from '../helpers/adapter-process.js';
import { createPostgresDatabase, type TestDatabase } from '../helpers/databases.js';
import { call, login } from '../helpers/rest.js';
import { psql } from '../helpers/psql.js';

const run = promisify(execFile);

/** Runs a shell command with TOKEN set, as an operator pastes it from the operations guide. */
async function shell(command: string, token: string): Promise<string> {
  const { stdout } = await run('bash', ['-c', command], { env: { PATH: process.env.PATH, TOKEN: token }, timeout: 10_000 });
  return stdout;
}


/** Reads calejo_http_requests_in_flight, which counts the metrics request itself too. */
async function requestsInFlight(baseUrl: string): Promise<number> {
  const metrics = await call(baseUrl, null, 'GET', '/api/v1/metrics');
  const match = /^calejo_http_requests_in_flight (\d+)/m.exec(String(metrics.body.raw));
  return Number(match?.[1] ?? 0);
}

describe('users and roles over REST', () => {
  let database: TestDatabase;
  let adapter: RunningAdapter;
  let token: string;
  let url: string;

  beforeAll(async () => {
    database = await createPostgresDatabase();
    adapter = await startAdapter(adapterEnvironment({ DATABASE_URL: database.url ?? undefined, CALEJO_DATA_DIR: database.dataDir }));
    token = await login(adapter.baseUrl);
    url = database.url!;
  });

  afterAll(async () => {
    await adapter?.stop();
    await database?.drop();
  });

  it('runs the operations guide commands as written', async () => {
    // The guide's commands with only the port changed from 8080 to the test adapter's.
    const base = `http://localhost:${adapter.httpPort}`;
    const listed = JSON.parse(await shell(`curl -s -H "Authorization: Bearer \${TOKEN}" ${base}/api/v1/users`, token)) as { users: Array<{ username: string }> };
    expect(listed.users.map((user) => user.username)).toContain('admin');

    const created = JSON.parse(
      await shell(
        `curl -s -X POST -H "Authorization: Bearer \${TOKEN}" -H "Content-Type: application/json" \\
  -d '{"username":"newuser","role":"operator","email":"user@example.com"}' \\
  ${base}/api/v1/users`,
        token,
      ),
    ) as { user_id: string; role: string; email: string; initial_password: string };
    expect(created).toMatchObject({ role: 'operator', email: 'user@example.com' });
    expect(created.initial_password.length).toBeGreaterThanOrEqual(12);
    const newUserToken = await login(adapter.baseUrl, created.initial_password, 'newuser');

    const roles = JSON.parse(await shell(`curl -s -H "Authorization: Bearer \${TOKEN}" ${base}/api/v1/roles`, token)) as {
      roles: Array<{ role: string; permissions: string[] }>;
    };
    expect(roles.roles.map((role) => role.role)).toEqual(['viewer', 'operator', 'engineer', 'administrator']);

    const updated = JSON.parse(
      await shell(
        `curl -X PUT -s -H "Authorization: Bearer \${TOKEN}" -H "Content-Type: application/json" \\
  -d '{"permissions":["read_pump_status","emergency_stop"]}' \\
  ${base}/api/v1/roles/operator`,
        token,
      ),
    ) as { permissions: string[] };
    expect(updated.permissions).toEqual(['read_pump_status', 'emergency_stop']);
    // The change applies to tokens already issued: the operator may no longer clear a stop.
    const clear = await call(adapter.baseUrl, newUserToken, 'DELETE', '/api/v1/pump-stations/station001/emergency-stop', {});
    expect(clear.status).toBe(403);

    const deactivated = JSON.parse(await shell(`curl -s -X DELETE -H "Authorization: Bearer \${TOKEN}" \\
  ${base}/api/v1/users/${created.user_id}`, token)) as { active: boolean };
    expect(deactivated.active).toBe(false);
    // A deactivated user's token stops working on the next request.
    const afterDeactivation = await call(adapter.baseUrl, newUserToken, 'GET', '/api/v1/pump-stations');
    expect(afterDeactivation.status).toBe(401);

    const audit = await psql(url, `SELECT string_agg(event_type, ',' ORDER BY chain_position) FROM compliance_audit_log WHERE event_type IN ('USER_CREATED','ROLE_PERMISSIONS_CHANGED','USER_DEACTIVATED') AND actor = 'admin'`);
    expect(audit).toBe('USER_CREATED,ROLE_PERMISSIONS_CHANGED,USER_DEACTIVATED');
    await call(adapter.baseUrl, token, 'PUT', '/api/v1/roles/operator', { permissions: ['read_pump_status', 'emergency_stop', 'clear_emergency_stop'] });
  });

  it('rejects unknown permissions and roles with the valid names', async () => {
    const unknownPermission = await call(adapter.baseUrl, token, 'PUT', '/api/v1/roles/viewer', { permissions: ['read_pump_status', 'launch_rockets'] });
    expect(unknownPermission.status).toBe(400);
    expect(unknownPermission.body.detail).toContain('launch_rockets');
    expect(unknownPermission.body.valid_permissions).toContain('manage_users');

    const unknownRole = await call(adapter.baseUrl, token, 'PUT', '/api/v1/roles/superuser', { permissions: [] });
    expect(unknownRole.status).toBe(404);
    expect(unknownRole.body.detail).toContain('viewer, operator, engineer, administrator');

    const strippedAdministrator = await call(adapter.baseUrl, token, 'PUT', '/api/v1/roles/administrator', { permissions: ['read_pump_status'] });
    expect(strippedAdministrator.status).toBe(409);
  });

  it('never leaves the adapter without an active administrator', async () => {
    const demoted = await call(adapter.baseUrl, token, 'PATCH', '/api/v1/users/admin', { role: 'viewer' });
    expect(demoted.status).toBe(409);
    const removed = await call(adapter.baseUrl, token, 'DELETE', '/api/v1/users/admin');
    expect(removed.status).toBe(409);
    expect(await psql(url, `SELECT role || ':' || active FROM users WHERE user_id = 'admin'`)).toBe('administrator:true');

    const second = await call(adapter.baseUrl, token, 'POST', '/api/v1/users', { username: 'second-admin', role: 'administrator', password: 'another long secret' });
    expect(second.status).toBe(201);
    const demotedNow = await call(adapter.baseUrl, token, 'PATCH', `/api/v1/users/${second.body.user_id as string}`, { role: 'engineer' });
    expect(demotedNow.status).toBe(200);
    expect(demotedNow.body.role).toBe('engineer');
  });

  it('enforces the password policy', async () => {
    const short = await call(adapter.baseUrl, token, 'POST', '/api/v1/users', { username: 'shorty', role: 'viewer', password: 'abc123' });
    expect(short.status).toBe(400);
    expect(short.body.detail).toContain('password');
    expect(short.body.detail).toContain('12 characters');
    const containsName = await call(adapter.baseUrl, token, 'POST', '/api/v1/users', { username: 'pumpman', role: 'viewer', password: 'my-pumpman-password' });
    expect(containsName.status).toBe(400);
    expect(await psql(url, `SELECT count(*) FROM users WHERE username IN ('shorty', 'pumpman')`)).toBe('0');
  });

  it('locks an account after five wrong passwords and audits each', async () => {
    const created = await call(adapter.baseUrl, token, 'POST', '/api/v1/users', { username: 'lockme', role: 'viewer', password: 'correct horse battery' });
    expect(created.status).toBe(201);
    const before = Number(
      await psql(url, `SELECT COUNT(*) FROM compliance_audit_log WHERE event_type='INVALID_AUTHENTICATION' AND timestamp > NOW() - INTERVAL '1 hour';`),
    );

    for (let attempt = 0; attempt < 5; attempt += 1) {
      const wrong = await call(adapter.baseUrl, null, 'POST', '/api/v1/auth/login', { username: 'lockme', password: `wrong password ${attempt}` });
      expect(wrong.status).toBe(401);
    }
    // The correct password no longer works while the account is locked.
    const locked = await call(adapter.baseUrl, null, 'POST', '/api/v1/auth/login', { username: 'lockme', password: 'correct horse battery' });
    expect(locked.status).toBe(401);

    // The guide's failed-login query, unchanged.
    const after = Number(
      await psql(url, `SELECT COUNT(*) FROM compliance_audit_log WHERE event_type='INVALID_AUTHENTICATION' AND timestamp > NOW() - INTERVAL '1 hour';`),
    );
    expect(after - before).toBe(6);
    expect(await psql(url, `SELECT count(*) FROM compliance_audit_log WHERE event_type = 'ACCOUNT_LOCKED' AND actor = 'lockme'`)).toBe('1');
    expect(await psql(url, `SELECT details->>'reason' FROM compliance_audit_log WHERE event_type = 'INVALID_AUTHENTICATION' AND actor = 'lockme' ORDER BY chain_position DESC LIMIT 1`)).toBe(
      'account_locked',
    );

    const unlocked = await call(adapter.baseUrl, token, 'PATCH', `/api/v1/users/${created.body.user_id as string}`, { unlock: true });
    expect(unlocked.status).toBe(200);
    expect(unlocked.body.locked_until).toBeNull();
    await expect(login(adapter.baseUrl, 'correct horse battery', 'lockme')).resolves.toMatch(/\./);
  });

  it('locks against wrong passwords sent in parallel', async () => {
    const created = await call(adapter.baseUrl, token, 'POST', '/api/v1/users', { username: 'parallel-target', role: 'viewer', password: 'the right password 1' });
    expect(created.status).toBe(201);
    const wrong = Array.from({ length: 8 }, (_, index) => call(adapter.baseUrl, null, 'POST', '/api/v1/auth/login', { username: 'parallel-target', password: `wrong ${index} password` }));
    // The right password is sent once the server has all wrong ones in hand, so that its hash
    // queues behind theirs: a fixed delay is not enough on a loaded machine.
    const deadline = Date.now() + 10_000;
    while ((await requestsInFlight(adapter.baseUrl)) < 8 + 1 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const right = call(adapter.baseUrl, null, 'POST', '/api/v1/auth/login', { username: 'parallel-target', password: 'the right password 1' });
    const statuses = await Promise.all([...wrong, right]);
    expect(statuses.map((response) => response.status)).toEqual(Array.from({ length: 9 }, () => 401));
    expect(await psql(url, `SELECT locked_until > now() FROM users WHERE username = 'parallel-target'`)).toBe('t');
  });

  it('ends old sessions when the password changes', async () => {
    const created = await call(adapter.baseUrl, token, 'POST', '/api/v1/users', { username: 'rotating', role: 'viewer', password: 'first password 123' });
    const oldToken = await login(adapter.baseUrl, 'first password 123', 'rotating');
    expect((await call(adapter.baseUrl, oldToken, 'GET', '/api/v1/pump-stations')).status).toBe(200);
    const changed = await call(adapter.baseUrl, token, 'PATCH', `/api/v1/users/${created.body.user_id as string}`, { password: 'second password 456' });
    expect(changed.status).toBe(200);
    expect((await call(adapter.baseUrl, oldToken, 'GET', '/api/v1/pump-stations')).status).toBe(401);
    const newToken = await login(adapter.baseUrl, 'second password 456', 'rotating');
    expect((await call(adapter.baseUrl, newToken, 'GET', '/api/v1/pump-stations')).status).toBe(200);

    // Deactivating and reactivating does not bring the old session back either.
    await call(adapter.baseUrl, token, 'DELETE', `/api/v1/users/${created.body.user_id as string}`);
    await call(adapter.baseUrl, token, 'PATCH', `/api/v1/users/${created.body.user_id as string}`, { active: true });
    expect((await call(adapter.baseUrl, newToken, 'GET', '/api/v1/pump-stations')).status).toBe(401);
  });

  it('rejects a username that differs only in case', async () => {
    const clash = await call(adapter.baseUrl, token, 'POST', '/api/v1/users', { username: 'ADMIN', role: 'viewer', password: 'some long password' });
    expect(clash.status).toBe(409);
  });

  it('API tokens act as their user until revoked', async () => {
    const created = await call(adapter.baseUrl, token, 'POST', '/api/v1/api-tokens', { name: 'nightly report', user_id: 'admin', expires_in_days: 30 });
    expect(created.status).toBe(201);
    const secret = created.body.token as string;
    expect(secret).toMatch(/^calejo_/);
    // Only a digest is stored.
    expect(await psql(url, `SELECT count(*) FROM api_tokens WHERE token_hash = '${secret}'`)).toBe('0');

    expect((await call(adapter.baseUrl, secret, 'GET', '/api/v1/users')).status).toBe(200);
    const listed = await call(adapter.baseUrl, token, 'GET', '/api/v1/api-tokens');
    expect(JSON.stringify(listed.body)).not.toContain(secret);

    const revoked = await call(adapter.baseUrl, token, 'DELETE', `/api/v1/api-tokens/${created.body.token_id as string}`);
    expect(revoked.status).toBe(200);
    expect((await call(adapter.baseUrl, secret, 'GET', '/api/v1/users')).status).toBe(401);
    expect((await call(adapter.baseUrl, 'calejo_made-up-token', 'GET', '/api/v1/users')).status).toBe(401);
  });

  it('deactivation over REST revokes API tokens', async () => {
    const user = await call(adapter.baseUrl, token, 'POST', '/api/v1/users', { username: 'script-owner', role: 'viewer', password: 'script owner secret 1' });
    const userId = user.body.user_id as string;
    const created = await call(adapter.baseUrl, token, 'POST', '/api/v1/api-tokens', { name: 'telemetry export', user_id: userId, expires_in_days: 30 });
    const secret = created.body.token as string;
    expect((await call(adapter.baseUrl, secret, 'GET', '/api/v1/pump-stations')).status).toBe(200);
    const auditRowsBefore = Number(await psql(url, 'SELECT count(*) FROM compliance_audit_log'));

    expect((await call(adapter.baseUrl, token, 'DELETE', `/api/v1/users/${userId}`)).status).toBe(200);
    expect((await call(adapter.baseUrl, token, 'PATCH', `/api/v1/users/${userId}`, { active: true })).status).toBe(200);
    expect((await call(adapter.baseUrl, secret, 'GET', '/api/v1/pump-stations')).status).toBe(401);
    expect(await psql(url, `SELECT revoked_at IS NOT NULL FROM api_tokens WHERE token_id = '${created.body.token_id as string}'`)).toBe('t');
    // One audit row per request: the triggers that revoke write none.
    const added = await psql(url, `SELECT string_agg(event_type, ',' ORDER BY chain_position) FROM compliance_audit_log WHERE chain_position > ${auditRowsBefore}`);
    expect(added).toBe('USER_DEACTIVATED,USER_UPDATED');
  });

  it('rate-limits logins per address', async () => {
    // The default allows 30 a minute; earlier tests used some, so 40 more must hit the limit.
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 40; attempt += 1) {
      statuses.push((await call(adapter.baseUrl, null, 'POST', '/api/v1/auth/login', { username: `nobody${attempt}`, password: 'irrelevant-password' })).status);
    }
    expect(statuses).toContain(429);
    const limited = await call(adapter.baseUrl, null, 'POST', '/api/v1/auth/login', { username: 'admin', password: 'test-admin-password-1' });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
