import type { Database } from '../db/database.js';
import type { PersistedStopState } from '../machines/emergency-stop.js';
import { writeAuditEvent, type AuditSource } from '../audit/audit-log.js';

/** Origin of a stop, clear or resume (actor, source, address, reason), copied into the audit row. */
export interface CommandOrigin {
  source: AuditSource;
  actor: string | null;
  actorRole: string | null;
  sourceAddress: string | null;
  reason: string | null;
  /** The operator named in the request body, when it differs from the authenticated user. */
  operator: string | null;
}

export type StopCommandKind = 'activate' | 'clear' | 'resume';

export interface StopCommandRecord {
  kind: StopCommandKind;
  stationId: string;
  origin: CommandOrigin;
  acceptedAt: Date;
}

/** Replaces NUL, which PostgreSQL text rejects, so that free text cannot block a stop's write. */
function withoutNul(origin: CommandOrigin): CommandOrigin {
  const clean = (value: string | null) => (value === null ? null : value.replaceAll('\u0000', '\uFFFD'));
  return { ...origin, actor: clean(origin.actor), reason: clean(origin.reason), operator: clean(origin.operator), sourceAddress: clean(origin.sourceAddress) };
}

/** Reads the station's open emergency-stop episode; no open episode means operational. */
export async function readStopState(database: Database, stationId: string): Promise<PersistedStopState> {
  const result = await database.query<{ cleared_at: Date | null }>(
    'SELECT cleared_at FROM emergency_stops WHERE station_id = $1 AND ended_at IS NULL',
    [stationId],
  );
  const open = result.rows[0];
  if (!open) return 'operational';
  return open.cleared_at === null ? 'stopped' : 'held';
}

/**
 * Writes one accepted command and its audit row in one transaction. Commands are written in the
 * order the station machine accepted them, so the stored episode always matches the state the
 * machine was in when the command arrived.
 *
 * A wall clock set back between two commands would stamp a clear before its activation, which
 * the table's order check rejects, and the write would then block the station's queue for good.
 * So cleared_at and ended_at are never earlier than the episode's previous time. The audit row
 * keeps the time the command was accepted.
 */
export async function persistStopCommand(database: Database, command: StopCommandRecord): Promise<void> {
  const { stationId, acceptedAt } = command;
  const origin = withoutNul(command.origin);
  const actorName = origin.actor ?? origin.operator;
  const details = { reason: origin.reason, operator: origin.operator };

  await database.transaction(async (tx) => {
    const open = await tx.query<{ stop_id: string | number; cleared_at: Date | null }>(
      'SELECT stop_id, cleared_at FROM emergency_stops WHERE station_id = $1 AND ended_at IS NULL FOR UPDATE',
      [stationId],
    );
    const episode = open.rows[0];
    const audit = { source: origin.source, actor: actorName, actorRole: origin.actorRole, sourceAddress: origin.sourceAddress, stationId, occurredAt: acceptedAt };

    if (command.kind === 'activate') {
      if (episode && episode.cleared_at === null) {
        await writeAuditEvent(tx, { ...audit, eventType: 'EMERGENCY_STOP_ACTIVATED', severity: 'CRITICAL', details: { ...details, already_active: true, stop_id: String(episode.stop_id) } });
        return;
      }
      if (episode) {
        await tx.query(
          `UPDATE emergency_stops SET ended_at = greatest($2, cleared_at), ended_by = $3, end_reason = 'stopped_again' WHERE stop_id = $1`,
          [episode.stop_id, acceptedAt, actorName],
        );
      }
      const inserted = await tx.query<{ stop_id: string | number }>(
        `INSERT INTO emergency_stops (station_id, activated_at, activated_by, activation_source, activation_reason)
         VALUES ($1, $2, $3, $4, $5) RETURNING stop_id`,
        [stationId, acceptedAt, actorName, origin.source, origin.reason],
      );
      await writeAuditEvent(tx, { ...audit, eventType: 'EMERGENCY_STOP_ACTIVATED', severity: 'CRITICAL', details: { ...details, stop_id: String(inserted.rows[0]?.stop_id) } });
      return;
    }

    if (command.kind === 'clear') {
      await tx.query(
        'UPDATE emergency_stops SET cleared_at = greatest($2, activated_at), cleared_by = $3, clear_reason = $4 WHERE station_id = $1 AND ended_at IS NULL AND cleared_at IS NULL',
        [stationId, acceptedAt, actorName, origin.reason],
      );
      await writeAuditEvent(tx, { ...audit, eventType: 'EMERGENCY_STOP_CLEARED', severity: 'HIGH', details: { ...details, stop_id: episode ? String(episode.stop_id) : null } });
      return;
    }

    await tx.query(
      `UPDATE emergency_stops SET ended_at = greatest($2, cleared_at), ended_by = $3, end_reason = 'resumed' WHERE station_id = $1 AND ended_at IS NULL AND cleared_at IS NOT NULL`,
      [stationId, acceptedAt, actorName],
    );
    await writeAuditEvent(tx, { ...audit, eventType: 'EMERGENCY_STOP_RESUMED', severity: 'HIGH', details: { ...details, stop_id: episode ? String(episode.stop_id) : null } });
  });
}
