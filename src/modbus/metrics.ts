import { Counter, Gauge } from 'prom-client';
import { metricsRegistry } from '../metrics/registry.js';
import { EXCEPTION_CODES, FUNCTION_CODES } from './pdu-codes.js';

/**
 * Modbus server metrics on the shared registry. Every label has a closed set of values: function
 * codes outside the supported set count as "other", and unit ids without a station as "unknown",
 * so a client sending random bytes cannot create new time series.
 *
 * Requests are counted in a typed array on the request path and moved into the prom-client
 * counter when the registry is collected. prom-client hashes the label object on every inc()
 * call, which costs more than the rest of a register read.
 */

export type RequestOutcome = 'ok' | 'exception_01' | 'exception_02' | 'exception_03' | 'exception_04' | 'exception_0b' | 'rejected' | 'no_response';

const OUTCOMES: readonly RequestOutcome[] = ['ok', 'exception_01', 'exception_02', 'exception_03', 'exception_04', 'exception_0b', 'rejected', 'no_response'];
const OUTCOME_INDEX = Object.fromEntries(OUTCOMES.map((outcome, index) => [outcome, index])) as Record<RequestOutcome, number>;

const FUNCTION_CODE_LABELS = [...Object.values(FUNCTION_CODES).map(String), 'other'];
/** Label index of each of the 256 function code values, so the request path needs no Map lookup. */
const FUNCTION_CODE_INDEX = new Uint8Array(256).fill(FUNCTION_CODE_LABELS.length - 1);
Object.values(FUNCTION_CODES).forEach((code, index) => (FUNCTION_CODE_INDEX[code] = index));

/** Unit ids 0 to 255, then "unknown". */
const UNIT_LABEL_COUNT = 257;
const UNKNOWN_UNIT_INDEX = 256;

export type ConnectionCloseReason = 'client' | 'idle_timeout' | 'first_frame_timeout' | 'framing_error' | 'evicted' | 'server_closed' | 'socket_error';
export type ConnectionRejectReason = 'max_connections' | 'max_connections_per_address';

const requestCounts = new Float64Array(FUNCTION_CODE_LABELS.length * UNIT_LABEL_COUNT * OUTCOMES.length);
const collectedCounts = new Float64Array(requestCounts.length);

/** Exported for tests; the request path counts through countRequest. */
export const requestCounter = new Counter({
  name: 'calejo_modbus_requests_total',
  help: 'Modbus requests by function code, unit id ("unknown" for a unit without a station) and outcome (ok, exception_NN, rejected for a write the map forbids, no_response)',
  labelNames: ['function_code', 'unit_id', 'outcome'] as const,
  registers: [metricsRegistry],
  collect() {
    for (let index = 0; index < requestCounts.length; index += 1) {
      const delta = (requestCounts[index] ?? 0) - (collectedCounts[index] ?? 0);
      if (delta === 0) continue;
      collectedCounts[index] = requestCounts[index] ?? 0;
      this.inc(labelsOf(index), delta);
    }
  },
});

const connectionsAccepted = new Counter({
  name: 'calejo_modbus_connections_accepted_total',
  help: 'Modbus TCP connections accepted',
  registers: [metricsRegistry],
});

const connectionsClosed = new Counter({
  name: 'calejo_modbus_connections_closed_total',
  help: 'Modbus TCP connections closed, by reason',
  labelNames: ['reason'] as const,
  registers: [metricsRegistry],
});

const connectionsRejected = new Counter({
  name: 'calejo_modbus_connections_rejected_total',
  help: 'Modbus TCP connections closed at once because a connection limit was reached',
  labelNames: ['reason'] as const,
  registers: [metricsRegistry],
});

const connectionsOpen = new Gauge({
  name: 'calejo_modbus_connections',
  help: 'Modbus TCP connections open now',
  registers: [metricsRegistry],
});

function labelsOf(index: number): { function_code: string; unit_id: string; outcome: string } {
  const outcomeIndex = index % OUTCOMES.length;
  const unitIndex = Math.floor(index / OUTCOMES.length) % UNIT_LABEL_COUNT;
  const functionCodeIndex = Math.floor(index / (OUTCOMES.length * UNIT_LABEL_COUNT));
  return {
    function_code: FUNCTION_CODE_LABELS[functionCodeIndex] ?? 'other',
    unit_id: unitIndex === UNKNOWN_UNIT_INDEX ? 'unknown' : String(unitIndex),
    outcome: OUTCOMES[outcomeIndex] ?? 'ok',
  };
}

/** Returns the outcome label of an exception code. */
export function exceptionOutcome(exceptionCode: number): RequestOutcome {
  switch (exceptionCode) {
    case EXCEPTION_CODES.illegalFunction:
      return 'exception_01';
    case EXCEPTION_CODES.illegalDataAddress:
      return 'exception_02';
    case EXCEPTION_CODES.illegalDataValue:
      return 'exception_03';
    case EXCEPTION_CODES.serverDeviceFailure:
      return 'exception_04';
    default:
      return 'exception_0b';
  }
}

/** Counts one request. `unitKnown` is false for a unit id that no station has. */
export function countRequest(functionCode: number, unitId: number, unitKnown: boolean, outcome: RequestOutcome): void {
  const functionCodeIndex = FUNCTION_CODE_INDEX[functionCode & 0xff] ?? 0;
  const unitIndex = unitKnown ? unitId & 0xff : UNKNOWN_UNIT_INDEX;
  const index = (functionCodeIndex * UNIT_LABEL_COUNT + unitIndex) * OUTCOMES.length + OUTCOME_INDEX[outcome];
  requestCounts[index] = (requestCounts[index] ?? 0) + 1;
}

export function countConnectionAccepted(): void {
  connectionsAccepted.inc();
  connectionsOpen.inc();
}

export function countConnectionClosed(reason: ConnectionCloseReason): void {
  connectionsClosed.inc({ reason });
  connectionsOpen.dec();
}

export function countConnectionRejected(reason: ConnectionRejectReason): void {
  connectionsRejected.inc({ reason });
}
