import { Histogram } from 'prom-client';
import type { Queryable } from '../db/database.js';
import { metricsRegistry } from '../metrics/registry.js';

const writeDuration = new Histogram({
  name: 'calejo_audit_write_duration_seconds',
  help: 'Time to insert one compliance_audit_log row, including the hash-chain lock',
  labelNames: ['outcome'] as const,
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
  registers: [metricsRegistry],
});

export type Severity = 'LOW' | 'MEDIUM' | 'HIGH' | 'CRITICAL';
export type AuditSource = 'rest' | 'opcua' | 'modbus' | 'cli' | 'ui' | 'system';

/** Event types written to compliance_audit_log. Reports and the operations guide query these names. */
export type AuditEventType =
  | 'EMERGENCY_STOP_ACTIVATED'
  | 'EMERGENCY_STOP_CLEARED'
  | 'EMERGENCY_STOP_RESUMED'
  | 'RECOVERY_COMPLETED'
  | 'FAILSAFE_ACTIVATED'
  | 'FAILSAFE_CLEARED'
  | 'SETPOINT_CLAMPED'
  | 'SETPOINT_CLAMP_CLEARED'
  | 'OVERRIDE_SET'
  | 'OVERRIDE_CLEARED'
  | 'OVERRIDE_EXPIRED'
  | 'PLAN_UPLOADED'
  /** Plan rows with a created_at ahead of the adapter's clock were found; they rank by insertion order. */
  | 'PLAN_FUTURE_TIMESTAMP_DETECTED'
  | 'STATION_FAULT'
  | 'INVALID_AUTHENTICATION'
  | 'LOGIN_SUCCEEDED'
  | 'ACCOUNT_LOCKED'
  | 'ACCOUNT_UNLOCKED'
  | 'USER_UPDATED'
  | 'USER_DEACTIVATED'
  | 'ROLE_PERMISSIONS_CHANGED'
  | 'API_TOKEN_CREATED'
  | 'API_TOKEN_REVOKED'
  | 'AUDIT_LOG_EXPORTED'
  | 'USER_CREATED'
  | 'ACCESS_DENIED'
  | 'OPCUA_CERTIFICATE_REJECTED'
  | 'ADAPTER_STARTED'
  | 'ADAPTER_STOPPED'
  /** A supervisor scheduled the restart of a failed child. */
  | 'SUPERVISOR_RESTART'
  /** A supervisor gave up on a child and escalated to its parent; from the root, the adapter stops. */
  | 'SUPERVISOR_ESCALATION'
  /** The database is connected again; one row for the whole outage, not one per attempt. */
  | 'DATABASE_OUTAGE_ENDED'
  /** A Modbus client wrote to a read-only or unmapped address, or tried to clear a stop by coil. */
  | 'MODBUS_WRITE_REJECTED';

export interface AuditEvent {
  eventType: AuditEventType;
  severity: Severity;
  source: AuditSource;
  actor?: string | null;
  actorRole?: string | null;
  sourceAddress?: string | null;
  stationId?: string | null;
  details?: Record<string, unknown>;
  /** When the event happened; defaults to the database clock at insert. */
  occurredAt?: Date;
}

export async function writeAuditEvent(database: Queryable, event: AuditEvent): Promise<void> {
  const stop = writeDuration.startTimer();
  try {
    await insertAuditRow(database, event);
    stop({ outcome: 'ok' });
  } catch (error) {
    stop({ outcome: 'error' });
    throw error;
  }
}

async function insertAuditRow(database: Queryable, event: AuditEvent): Promise<void> {
  await database.query(
    `INSERT INTO compliance_audit_log
       (timestamp, event_type, severity, actor, actor_role, source, source_address, station_id, details)
     VALUES (COALESCE($1, clock_timestamp()), $2, $3, $4, $5, $6, $7, $8, $9)`,
    [
      event.occurredAt ?? null,
      event.eventType,
      event.severity,
      event.actor ?? null,
      event.actorRole ?? null,
      event.source,
      event.sourceAddress ?? null,
      event.stationId ?? null,
      JSON.stringify(event.details ?? {}),
    ],
  );
}
