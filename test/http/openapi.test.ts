import { describe, expect, it } from 'vitest';
import type Router from '@koa/router';
import { createHttpApp } from '../../src/http/app.js';
import type { HttpDependencies } from '../../src/http/dependencies.js';
import { buildOpenApiDocument, OPERATIONS } from '../../src/http/openapi.js';
import { createLogger } from '../../src/log.js';

/** Lists the routes the Koa routers really serve, as "METHOD /path" lines. */
function servedRoutes(): string[] {
  // Routes are only registered here; no request runs, so the services are never called.
  const app = createHttpApp({ logger: createLogger({ level: 'silent' }) } as HttpDependencies);
  const routes = new Set<string>();
  for (const middleware of app.middleware) {
    const router = (middleware as { router?: Router }).router;
    for (const layer of router?.stack ?? []) {
      for (const method of layer.methods) {
        if (method !== 'HEAD') routes.add(`${method} ${String(layer.path)}`);
      }
    }
  }
  return [...routes].sort();
}

describe('OpenAPI document', () => {
  it('lists exactly the served routes', () => {
    const documented = OPERATIONS.map((operation) => `${operation.method.toUpperCase()} ${operation.path}`).sort();
    expect(servedRoutes()).toEqual(documented);
  });

  it('is OpenAPI 3.1 with a permission on every protected operation', () => {
    const document = buildOpenApiDocument('1.2.3') as { openapi: string; paths: Record<string, Record<string, { security: unknown[]; 'x-permission'?: string }>> };
    expect(document.openapi).toBe('3.1.0');
    const operations = Object.values(document.paths).flatMap((methods) => Object.values(methods));
    expect(operations).toHaveLength(OPERATIONS.length);
    for (const operation of operations) {
      expect(operation.security.length === 0 || typeof operation['x-permission'] === 'string').toBe(true);
    }
    expect(Object.keys(document.paths)).toContain('/api/v1/users/{id}');
  });

  it('describes request bodies from the validators', () => {
    const document = buildOpenApiDocument('1.2.3') as {
      paths: Record<string, Record<string, { requestBody?: { content: { 'application/json': { schema: { properties: Record<string, unknown>; additionalProperties: boolean } } } } }>>;
    };
    const schema = document.paths['/api/v1/users']!.post!.requestBody!.content['application/json'].schema;
    expect(Object.keys(schema.properties)).toEqual(['username', 'role', 'email', 'full_name', 'password']);
    expect(schema.additionalProperties).toBe(false);
  });
});
