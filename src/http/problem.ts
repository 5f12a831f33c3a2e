import type { Context, Next } from 'koa';
import { AdapterError, isAdapterError } from '../errors.js';
import type { AdapterLogger } from '../log.js';
import { describeDatabaseFailure, isDatabaseConnectionFailure } from '../db/connection-errors.js';
import { bodyTooLargeMessage } from './body-limit.js';

/**
 * Turns every error into an RFC 9457 problem document. Client mistakes (4xx) are logged at info
 * and faults at error; the stack never reaches the client.
 */
export function problemResponses(logger: AdapterLogger) {
  return async (context: Context, next: Next) => {
    try {
      await next();
      if (context.status === 404 && context.body === undefined) {
        throw new AdapterError('ROUTE_NOT_FOUND', `no route for ${context.method} ${context.path}; GET /api/v1/openapi.json lists the endpoints`);
      }
      // The router responds to a wrong method with an empty 405 (or 501) and the Allow header, which
      // stays set while the body becomes a problem document.
      if ((context.status === 405 || context.status === 501) && context.body === undefined) {
        throw new AdapterError('METHOD_NOT_ALLOWED', `method ${context.method} not allowed on ${context.path}; allowed: ${context.response.get('Allow') || 'none'}`);
      }
    } catch (caught) {
      const error = normalize(caught, context);
      const requestLog = (context.state.log as AdapterLogger | undefined) ?? logger;
      if (error.status >= 500) {
        requestLog.error({ err: caught, code: error.code }, 'request failed');
      } else {
        requestLog.info({ code: error.code, detail: error.message }, 'request rejected');
      }
      context.status = error.status;
      const retryAfter = error.details.retry_after_seconds;
      if (typeof retryAfter === 'number') context.set('Retry-After', String(retryAfter));
      context.type = 'application/problem+json';
      context.body = {
        type: `urn:calejo:error:${error.code.toLowerCase()}`,
        title: error.code,
        status: error.status,
        detail: error.message,
        instance: context.path,
        request_id: context.state.requestId,
        ...error.details,
      };
    }
  };
}

/** Maps errors thrown by Koa's body parser and others onto the catalog. */
function normalize(caught: unknown, context: Context): AdapterError {
  if (isAdapterError(caught)) return caught;
  const error = caught as { status?: number; type?: string; message?: string; expose?: boolean };
  if (error?.status === 413 || error?.type === 'entity.too.large') {
    return new AdapterError('PAYLOAD_TOO_LARGE', bodyTooLargeMessage(context.method, context.path), { cause: caught });
  }
  if (error?.status === 400 || error?.type === 'entity.parse.failed') {
    return new AdapterError('MALFORMED_REQUEST', `request body is not valid JSON: ${error.message ?? 'parse error'}`, { cause: caught });
  }
  if (error?.status === 405 || error?.status === 501) {
    return new AdapterError('METHOD_NOT_ALLOWED', `method not allowed on this path: ${error.message ?? ''}`, { cause: caught });
  }
  if (error?.status === 415) {
    return new AdapterError('MALFORMED_REQUEST', 'unsupported content type; send Content-Type: application/json', { cause: caught });
  }
  if (isDatabaseConnectionFailure(caught)) {
    return new AdapterError('DATABASE_UNAVAILABLE', `the database did not respond (${describeDatabaseFailure(caught)}), so the request may not have been applied; check its result and retry once /api/v1/health reports the database up`, { cause: caught });
  }
  return new AdapterError('INTERNAL', 'internal error; the adapter logged the details with this request id', { cause: caught });
}
