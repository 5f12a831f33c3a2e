import { randomUUID } from 'node:crypto';
import Koa from 'koa';
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { HttpDependencies } from './dependencies.js';
import { problemResponses } from './problem.js';
import { AdapterError } from '../errors.js';
import { authenticate } from './authenticate.js';
import { registerHealthRoutes, registerStatusRoute } from './routes/health.js';
import { registerLoginRoute } from './routes/login.js';
import { registerStationRoutes } from './routes/stations.js';
import { registerUserRoutes } from './routes/users.js';
import { registerRoleRoutes } from './routes/roles.js';
import { registerApiTokenRoutes } from './routes/api-tokens.js';
import { registerAuditLogRoutes } from './routes/audit-log.js';
import { measureRequests } from './http-metrics.js';
import { registerOverrideRoutes } from './routes/overrides.js';
import { registerPlanRoutes } from './routes/plans.js';
import { registerSystemStopRoutes } from './routes/system-stop.js';
import { JSON_BODY_LIMIT_BYTES } from './body-limit.js';

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** Assembles the Koa application; every route but health and login needs a bearer token. */
export function createHttpApp(dependencies: HttpDependencies): Koa {
  const app = new Koa({ proxy: false });
  const logger = dependencies.logger.child({ component: 'http' });

  app.use(async (context, next) => {
    const offered = context.get('x-request-id');
    const requestId = REQUEST_ID_PATTERN.test(offered) ? offered : randomUUID();
    context.state.requestId = requestId;
    context.state.log = logger.child({ request_id: requestId });
    context.set('X-Request-Id', requestId);
    const started = performance.now();
    await next();
    (context.state.log as typeof logger).debug(
      { method: context.method, path: context.path, status: context.status, duration_ms: Math.round((performance.now() - started) * 10) / 10 },
      'request handled',
    );
  });
  app.use(measureRequests());
  app.use(problemResponses(logger));
  app.use(async (context, next) => {
    // A body in another format would be ignored silently, losing the reason of a stop. A chunked
    // body has no Content-Length, so Transfer-Encoding counts as a body too.
    const hasBody = Boolean(context.request.length) || context.get('transfer-encoding') !== '';
    if (hasBody && !context.is('application/json')) {
      throw new AdapterError('UNSUPPORTED_MEDIA_TYPE', `unsupported content type "${context.get('content-type')}"; send Content-Type: application/json`);
    }
    // PostgreSQL text cannot hold NUL, so an id with one is rejected here rather than failing in a query.
    let decodedPath: string;
    try {
      decodedPath = decodeURIComponent(context.path);
    } catch {
      throw new AdapterError('MALFORMED_REQUEST', `invalid percent-encoding in path ${context.path}`);
    }
    if (decodedPath.includes('\u0000')) {
      throw new AdapterError('MALFORMED_REQUEST', 'the path contains a NUL character (%00); remove it');
    }
    await next();
  });
  app.use(bodyParser({ enableTypes: ['json'], jsonLimit: JSON_BODY_LIMIT_BYTES, encoding: 'utf-8' }));

  const publicRoutes = new Router();
  registerHealthRoutes(publicRoutes, dependencies);
  registerLoginRoute(publicRoutes, dependencies);
  registerStatusRoute(publicRoutes, dependencies);
  app.use(publicRoutes.routes());
  app.use(publicRoutes.allowedMethods());

  const protectedRoutes = new Router();
  protectedRoutes.use(authenticate(dependencies));
  registerStationRoutes(protectedRoutes, dependencies);
  registerUserRoutes(protectedRoutes, dependencies);
  registerRoleRoutes(protectedRoutes, dependencies);
  registerApiTokenRoutes(protectedRoutes, dependencies);
  registerAuditLogRoutes(protectedRoutes, dependencies);
  registerOverrideRoutes(protectedRoutes, dependencies);
  registerPlanRoutes(protectedRoutes, dependencies);
  registerSystemStopRoutes(protectedRoutes, dependencies);
  app.use(protectedRoutes.routes());
  app.use(protectedRoutes.allowedMethods());

  return app;
}
