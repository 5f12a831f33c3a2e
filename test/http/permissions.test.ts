import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ROLE_PERMISSIONS, ROLES, type Role } from '../../src/auth/roles.js';
import { OPERATIONS, type OperationSpec } from '../../src/http/openapi.js';
import { adapterEnvironment, startAdapter, type RunningAdapter } from '../helpers/adapter-process.js';
import { createPostgresDatabase, type TestDatabase } from '../helpers/databases.js';
import { psql } from '../helpers/psql.js';
import { call, login } from '../helpers/rest.js';

interface Targets {
  role: Role;
  /** A user created for this role's run, which PATCH and DELETE act on. */
  userId: string;
  /** An API token created for this role's run, which DELETE revokes. */
  tokenId: string;
}

/** Builds a request the operation accepts from a permitted caller: path parameters filled in and a valid body. */
function sampleRequest(operation: OperationSpec, targets: Targets): { path: string; body?: unknown } {
  const key = `${operation.method.toUpperCase()} ${operation.path}`;
  const fill = (path: string) =>
    path.replace(':pumpId', 'pump1').replace(':id', key.includes('/users/') ? targets.userId : key.includes('/api-tokens/') ? targets.tokenId : 'station001');
  const inAnHour = new Date(Date.now() + 3_600_000).toISOString();
  const samples: Record<string, { path?: string; body?: unknown }> = {
    'POST /api/v1/auth/login': { body: { username: 'admin', password: 'test-admin-password-1' } },
    'POST /api/v1/pump-stations/:id/emergency-stop': { body: { reason: `permission test by ${targets.role}` } },
    'DELETE /api/v1/pump-stations/:id/emergency-stop': { body: { reason: 'permission test' } },
    'POST /api/v1/pump-stations/:id/resume': { body: { reason: 'permission test' } },
    'POST /api/v1/users': { body: { username: `made-by-${targets.role}`, role: 'viewer', password: 'a long enough password' } },
    'PATCH /api/v1/users/:id': { body: { full_name: `renamed by ${targets.role}` } },
    'PUT /api/v1/roles/:role': { path: '/api/v1/roles/viewer', body: { permissions: ['read_pump_status'] } },
    'POST /api/v1/api-tokens': { body: { name: `made by ${targets.role}`, user_id: targets.userId } },
    'POST /api/v1/emergency-stop': { body: { reason: `system-wide permission test by ${targets.role}` } },
    'DELETE /api/v1/emergency-stop': { body: { reason: 'permission test' } },
    'POST /api/v1/resume': { body: { reason: 'permission test' } },
    'PUT /api/v1/pump-stations/:id/pumps/:pumpId/override': { body: { value: 35, duration_seconds: 60, reason: 'permission test' } },
    'DELETE /api/v1/pump-stations/:id/pumps/:pumpId/override': { body: { reason: 'permission test' } },
    'POST /api/v1/plans': {
      body: { rows: [{ station_id: 'station001', pump_id: 'pump1', interval_start: new Date().toISOString(), interval_end: inAnHour, target_value: 30 }] },
    },
  };
  const sample = samples[key] ?? {};
  return { path: sample.path ?? fill(operation.path), body: sample.body };
}

describe('each role against each endpoint', () => {
  let database: TestDatabase;
  let adapter: RunningAdapter;
  let adminToken: string;
  const tokens = new Map<Role, string>();
  const targets = new Map<Role, Targets>();

  beforeAll(async () => {
    database = await createPostgresDatabase();
    adapter = await startAdapter(adapterEnvironment({ DATABASE_URL: database.url ?? undefined, CALEJO_DATA_DIR: database.dataDir }));
    adminToken = await login(adapter.baseUrl);
    for (const role of ROLES) {
      const password = `password for ${role} 1`;
      const user = await call(adapter.baseUrl, adminToken, 'POST', '/api/v1/users', { username: `the-${role}`, role, password });
      expect(user.status).toBe(201);
      tokens.set(role, await login(adapter.baseUrl, password, `the-${role}`));
      const victim = await call(adapter.baseUrl, adminToken, 'POST', '/api/v1/users', { username: `target-of-${role}`, role: 'viewer', password: 'target password 123' });
      const apiToken = await call(adapter.baseUrl, adminToken, 'POST', '/api/v1/api-tokens', { name: `target of ${role}`, user_id: victim.body.user_id });
      targets.set(role, { role, userId: victim.body.user_id as string, tokenId: apiToken.body.token_id as string });
    }
  });

  afterAll(async () => {
    await adapter?.stop();
    await database?.drop();
  });

  it('answers 2xx with the permission and 403 without it', async () => {
    const outcomes: string[] = [];
    const expected: string[] = [];
    // Deactivating the target user and revoking its token go last, so the other calls still find them.
    const removesTarget = (operation: OperationSpec) => operation.method === 'delete' && /\/(users|api-tokens)\/:id$/.test(operation.path);
    const protectedOperations = OPERATIONS.filter((each) => each.permission !== null);
    const ordered = [...protectedOperations.filter((each) => !removesTarget(each)), ...protectedOperations.filter(removesTarget)];
    for (const role of ROLES) {
      for (const operation of ordered) {
        const request = sampleRequest(operation, targets.get(role)!);
        const response = await call(adapter.baseUrl, tokens.get(role)!, operation.method.toUpperCase(), request.path, request.body);
        const permitted = DEFAULT_ROLE_PERMISSIONS[role].includes(operation.permission!);
        const line = `${role} ${operation.method.toUpperCase()} ${operation.path}`;
        outcomes.push(`${line} -> ${operation.success.includes(response.status) ? 'allowed' : response.status === 403 ? 'forbidden' : `unexpected ${response.status}: ${JSON.stringify(response.body).slice(0, 200)}`}`);
        expected.push(`${line} -> ${permitted ? 'allowed' : 'forbidden'}`);
      }
    }
    expect(outcomes).toEqual(expected);
  });

  it('audits every refusal', async () => {
    const denied = Number(await psql(database.url!, `SELECT count(*) FROM compliance_audit_log WHERE event_type = 'ACCESS_DENIED' AND actor = 'the-viewer'`));
    const viewerForbiddenCount = OPERATIONS.filter((operation) => operation.permission && !DEFAULT_ROLE_PERMISSIONS.viewer.includes(operation.permission)).length;
    expect(denied).toBe(viewerForbiddenCount);
  });

  it('serves the public endpoints without a token', async () => {
    for (const operation of OPERATIONS.filter((each) => each.permission === null)) {
      const request = sampleRequest(operation, targets.get('viewer')!);
      const response = await fetch(`${adapter.baseUrl}${request.path}`, {
        method: operation.method.toUpperCase(),
        headers: request.body ? { 'content-type': 'application/json' } : {},
        body: request.body ? JSON.stringify(request.body) : undefined,
      });
      expect({ path: request.path, status: response.status }).toEqual({ path: request.path, status: 200 });
    }
  });
});
