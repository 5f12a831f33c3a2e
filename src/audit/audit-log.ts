import type { Queryable } from '../db/database.js';

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
  | 'ADAPTER_STOPPED';

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
