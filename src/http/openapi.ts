import { z } from 'zod';
import type { Permission } from '../auth/roles.js';
import { createTokenSchema } from './routes/api-tokens.js';
import { exportSchema, pageSchema } from './routes/audit-log.js';
import { loginSchema } from './routes/login.js';
import { rolePermissionsSchema } from './routes/roles.js';
import { commandSchema } from './routes/stations.js';
import { planUploadSchema } from './routes/plans.js';
import { clearOverrideSchema, setOverrideSchema } from './routes/overrides.js';
import { createUserSchema, updateUserSchema } from './routes/users.js';

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** One REST operation as clients see it. `permission: null` marks a route that needs no token. */
export interface OperationSpec {
  method: Method;
  /** Koa path with `:name` parameters, exactly as the router registers it. */
  path: string;
  permission: Permission | null;
  summary: string;
  tag: string;
  body?: z.ZodType;
  query?: z.ZodType;
  /** Status codes of success, beside the problem responses every operation can return. */
  success: number[];
}

/**
 * Every route the adapter serves. The route test compares this list with the routers, and the
 * permission test calls each entry with each role, so the document cannot drift from the code.
 */
export const OPERATIONS: OperationSpec[] = [
  { method: 'get', path: '/api/v1/health', permission: null, tag: 'health', summary: 'Overall health: 200 healthy or degraded, 503 unhealthy', success: [200] },
  { method: 'get', path: '/api/v1/health/detailed', permission: null, tag: 'health', summary: 'Database latency, listeners, supervised children and certificate expiry', success: [200] },
  { method: 'get', path: '/api/v1/metrics', permission: null, tag: 'health', summary: 'Prometheus text-format metrics', success: [200] },
  { method: 'get', path: '/api/v1/openapi.json', permission: null, tag: 'health', summary: 'This OpenAPI 3.1 document', success: [200] },
  { method: 'post', path: '/api/v1/auth/login', permission: null, tag: 'auth', summary: 'Exchange a username and password for a bearer token', body: loginSchema, success: [200] },
  { method: 'get', path: '/api/v1/status', permission: null, tag: 'health', summary: 'Runtime status of the supervisor, protocols and stations', success: [200] },
  { method: 'get', path: '/api/v1/pump-stations', permission: 'read_pump_status', tag: 'stations', summary: 'List stations with their pumps and effective setpoints', success: [200] },
  { method: 'get', path: '/api/v1/pump-stations/:id', permission: 'read_pump_status', tag: 'stations', summary: "One station with each pump's effective setpoint and mode", success: [200] },
  {
    method: 'get',
    path: '/api/v1/pump-stations/:id/emergency-stop-status',
    permission: 'read_pump_status',
    tag: 'emergency stop',
    summary: "The station's emergency-stop state",
    success: [200],
  },
  {
    method: 'post',
    path: '/api/v1/pump-stations/:id/emergency-stop',
    permission: 'emergency_stop',
    tag: 'emergency stop',
    summary: 'Stop the station: pumps go to their stop setpoints and stay there until cleared and resumed',
    body: commandSchema,
    success: [200, 202],
  },
  {
    method: 'delete',
    path: '/api/v1/pump-stations/:id/emergency-stop',
    permission: 'clear_emergency_stop',
    tag: 'emergency stop',
    summary: 'Release the latch; the station is held at the stop setpoints until resumed',
    body: commandSchema,
    success: [200, 202],
  },
  {
    method: 'post',
    path: '/api/v1/pump-stations/:id/resume',
    permission: 'clear_emergency_stop',
    tag: 'emergency stop',
    summary: 'End the held state: pumps ramp back to the plan at their rate limits',
    body: commandSchema,
    success: [200, 202],
  },
  {
    method: 'post',
    path: '/api/v1/emergency-stop',
    permission: 'emergency_stop',
    tag: 'emergency stop',
    summary: 'Stop every station in the same instant; the response lists each station',
    body: commandSchema,
    success: [200, 202],
  },
  {
    method: 'delete',
    path: '/api/v1/emergency-stop',
    permission: 'clear_emergency_stop',
    tag: 'emergency stop',
    summary: 'Release the latch of every stopped station; they stay held until resumed',
    body: commandSchema,
    success: [200, 202],
  },
  {
    method: 'post',
    path: '/api/v1/resume',
    permission: 'clear_emergency_stop',
    tag: 'emergency stop',
    summary: 'Resume every held station',
    body: commandSchema,
    success: [200, 202],
  },
  {
    method: 'put',
    path: '/api/v1/pump-stations/:id/pumps/:pumpId/override',
    permission: 'manage_setpoints',
    tag: 'setpoints',
    summary: "Override a pump's setpoint until it expires; a value outside the pump's limits is rejected",
    body: setOverrideSchema,
    success: [200],
  },
  {
    method: 'delete',
    path: '/api/v1/pump-stations/:id/pumps/:pumpId/override',
    permission: 'manage_setpoints',
    tag: 'setpoints',
    summary: 'End an override; the pump returns to the plan at its rate limit',
    body: clearOverrideSchema,
    success: [200],
  },
  { method: 'post', path: '/api/v1/plans', permission: 'manage_setpoints', tag: 'setpoints', summary: 'Upload plan rows in one transaction', body: planUploadSchema, success: [201] },
  { method: 'get', path: '/api/v1/users', permission: 'manage_users', tag: 'users', summary: 'List users', success: [200] },
  {
    method: 'post',
    path: '/api/v1/users',
    permission: 'manage_users',
    tag: 'users',
    summary: 'Create a user; without a password, a generated one is returned once',
    body: createUserSchema,
    success: [201],
  },
  { method: 'get', path: '/api/v1/users/:id', permission: 'manage_users', tag: 'users', summary: 'One user', success: [200] },
  { method: 'patch', path: '/api/v1/users/:id', permission: 'manage_users', tag: 'users', summary: 'Change role, contact, password; reactivate or unlock', body: updateUserSchema, success: [200] },
  { method: 'delete', path: '/api/v1/users/:id', permission: 'manage_users', tag: 'users', summary: 'Deactivate a user; their tokens stop working at once', success: [200] },
  { method: 'get', path: '/api/v1/roles', permission: 'manage_roles', tag: 'roles', summary: 'Roles with their permissions, and every valid permission', success: [200] },
  { method: 'put', path: '/api/v1/roles/:role', permission: 'manage_roles', tag: 'roles', summary: "Replace a role's permissions", body: rolePermissionsSchema, success: [200] },
  { method: 'get', path: '/api/v1/api-tokens', permission: 'manage_users', tag: 'users', summary: 'List API tokens (never the secrets)', success: [200] },
  { method: 'post', path: '/api/v1/api-tokens', permission: 'manage_users', tag: 'users', summary: 'Create an API token for a user; the secret is returned once', body: createTokenSchema, success: [201] },
  { method: 'delete', path: '/api/v1/api-tokens/:id', permission: 'manage_users', tag: 'users', summary: 'Revoke an API token', success: [200] },
  { method: 'get', path: '/api/v1/audit-log', permission: 'view_audit_log', tag: 'audit', summary: 'Query the audit log with filters and cursor paging', query: pageSchema, success: [200] },
  { method: 'get', path: '/api/v1/audit-log/export', permission: 'view_audit_log', tag: 'audit', summary: 'Export the audit log as CSV or JSON lines', query: exportSchema, success: [200] },
  { method: 'get', path: '/api/v1/audit-log/verify', permission: 'view_audit_log', tag: 'audit', summary: 'Check the hash chain and name the first broken row', success: [200] },
];

function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  // The document declares its dialect once; a $schema in each embedded schema would repeat it.
  const converted = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  delete converted.$schema;
  return converted;
}

const problemResponse = {
  description: 'Problem details (RFC 9457) naming the invalid field or the reason',
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
};

/** Builds the OpenAPI 3.1 document served at /api/v1/openapi.json. */
export function buildOpenApiDocument(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const operation of OPERATIONS) {
    const openApiPath = operation.path.replaceAll(/:(\w+)/g, '{$1}');
    const pathParameters = [...operation.path.matchAll(/:(\w+)/g)].map((match) => ({ name: match[1], in: 'path', required: true, schema: { type: 'string' } }));
    const queryProperties = operation.query ? ((jsonSchema(operation.query).properties ?? {}) as Record<string, unknown>) : {};
    const queryParameters = Object.entries(queryProperties).map(([name, schema]) => ({ name, in: 'query', required: false, schema }));
    const responses: Record<string, unknown> = {};
    for (const status of operation.success) responses[String(status)] = { description: status === 202 ? 'Accepted; the database write is still pending' : 'Success' };
    responses['4XX'] = problemResponse;
    responses['5XX'] = problemResponse;

    paths[openApiPath] ??= {};
    paths[openApiPath][operation.method] = {
      summary: operation.summary,
      tags: [operation.tag],
      operationId: `${operation.method}${openApiPath.replaceAll(/[^A-Za-z0-9]+(\w)?/g, (_match, next: string | undefined) => (next ?? '').toUpperCase())}`,
      ...(operation.permission ? { security: [{ bearer: [] }], 'x-permission': operation.permission } : { security: [] }),
      parameters: [...pathParameters, ...queryParameters],
      ...(operation.body ? { requestBody: { required: false, content: { 'application/json': { schema: jsonSchema(operation.body) } } } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Calejo Control Adapter API', version },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A token from POST /api/v1/auth/login, or an API token' } },
      schemas: {
        Problem: {
          type: 'object',
          properties: {
            type: { type: 'string' },
            title: { type: 'string' },
            status: { type: 'integer' },
            detail: { type: 'string' },
            instance: { type: 'string' },
            request_id: { type: 'string' },
          },
          required: ['type', 'title', 'status', 'detail'],
        },
      },
    },
    paths,
  };
}
