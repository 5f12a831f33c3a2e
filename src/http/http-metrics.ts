import type { Context, Next } from 'koa';
import { Gauge, Histogram } from 'prom-client';
import { metricsRegistry } from '../metrics/registry.js';

const requestDuration = new Histogram({
  name: 'calejo_http_request_duration_seconds',
  help: 'REST request durations by method, route pattern and status code',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  registers: [metricsRegistry],
});

const requestsInFlight = new Gauge({
  name: 'calejo_http_requests_in_flight',
  help: 'REST requests received and not yet responded to',
  registers: [metricsRegistry],
});

/**
 * Times every request and counts those in flight. The label is the matched route pattern (`/api/v1/users/:id`), never the
 * raw path, so ids and probing clients cannot grow the number of series.
 */
export function measureRequests() {
  return async (context: Context, next: Next) => {
    const stop = requestDuration.startTimer();
    requestsInFlight.inc();
    try {
      await next();
    } finally {
      requestsInFlight.dec();
      const route = (context as Context & { _matchedRoute?: string | RegExp })._matchedRoute;
      stop({ method: context.method, route: typeof route === 'string' ? route : 'unmatched', status: String(context.status) });
    }
  };
}
