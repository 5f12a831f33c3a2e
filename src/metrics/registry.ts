import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * The one registry that `GET /api/v1/metrics` exports. Each surface (Modbus, OPC UA, HTTP, the
 * station actors) defines its own metrics in its own folder and registers them here, so the
 * endpoint needs no knowledge of who counts what.
 */
export const metricsRegistry = new Registry();

let defaultsCollected = false;

/** Adds process and event-loop metrics once per process; a second adapter in the same test process reuses them. */
export function collectProcessMetrics(): void {
  if (defaultsCollected) return;
  defaultsCollected = true;
  collectDefaultMetrics({ register: metricsRegistry, prefix: 'calejo_' });
}
