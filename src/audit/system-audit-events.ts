import type { SupervisionReport } from '../actors/supervisor.js';
import type { DatabaseOutage } from '../db/connector.js';
import type { AuditEvent } from './audit-log.js';

/**
 * Builds the audit row of a supervisor restart or escalation. `stationId` names the station when
 * the child is a station actor. `root` marks the root supervisor, whose escalation stops the adapter.
 */
export function supervisionAuditEvent(report: SupervisionReport, scope: { stationId?: string; root?: boolean } = {}): AuditEvent {
  const stationId = scope.stationId ?? null;
  if (report.kind === 'restart') {
    return {
      eventType: 'SUPERVISOR_RESTART',
      severity: 'MEDIUM',
      source: 'system',
      stationId,
      occurredAt: report.at,
      details: { supervisor: report.supervisorId, child: report.childId, restarts: report.restarts, delay_ms: report.delayMs, reason: report.reason },
    };
  }
  return {
    eventType: 'SUPERVISOR_ESCALATION',
    severity: scope.root === true ? 'CRITICAL' : 'HIGH',
    source: 'system',
    stationId,
    occurredAt: report.at,
    details: { supervisor: report.supervisorId, child: report.childId, failures: report.failures, reason: report.reason },
  };
}

/** Builds the one audit row that sums up a database outage once the database is connected again. */
export function databaseOutageAuditEvent(outage: DatabaseOutage, database: string): AuditEvent {
  return {
    eventType: 'DATABASE_OUTAGE_ENDED',
    severity: 'HIGH',
    source: 'system',
    occurredAt: new Date(outage.since.getTime() + outage.durationMs),
    details: {
      database,
      began_with: outage.beganWith,
      down_since: outage.since.toISOString(),
      duration_seconds: Math.round(outage.durationMs / 100) / 10,
      failed_attempts: outage.failedAttempts,
      last_error: outage.lastError,
    },
  };
}
