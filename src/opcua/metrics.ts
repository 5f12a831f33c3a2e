import { Counter } from 'prom-client';
import { metricsRegistry } from '../metrics/registry.js';

/** OPC UA service responses the adapter sends, by service and outcome (good or bad service result). */
export const opcuaRequests = new Counter({
  name: 'calejo_opcua_requests_total',
  help: 'OPC UA service responses by service (ReadResponse, CallResponse, ...) and outcome',
  labelNames: ['service', 'outcome'] as const,
  registers: [metricsRegistry],
});

/**
 * Counts one response. Service names come from node-opcua's fixed set of response types, so the
 * label stays bounded; anything else is counted as "other".
 */
export function countOpcUaResponse(response: { schema?: { name?: string }; responseHeader?: { serviceResult?: { isGood(): boolean } } }): void {
  const name = response.schema?.name ?? 'other';
  const service = /^[A-Za-z]{1,64}Response$/.test(name) ? name : 'other';
  const outcome = response.responseHeader?.serviceResult?.isGood() === false ? 'bad' : 'good';
  opcuaRequests.inc({ service, outcome });
}
