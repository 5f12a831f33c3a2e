import type { Database } from '../db/database.js';
import type { PersistedStopState } from '../machines/emergency-stop.js';
import type { AuditSource } from '../audit/audit-log.js';

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
 * Writes one accepted command and its audit row in one statement, the function
 * record_stop_command (migration 0010), so that the commit a stop's response waits for costs one
 * round trip. Commands are written in the order the station machine accepted them, so the stored
 * episode always matches the state the machine was in when the command arrived.
 */
export async function persistStopCommand(database: Database, command: StopCommandRecord): Promise<void> {
  const origin = withoutNul(command.origin);
  await database.query('SELECT record_stop_command($1, $2, $3, $4, $5, $6, $7, $8, $9)', [
    command.kind,
    command.stationId,
    command.acceptedAt,
    origin.actor ?? origin.operator,
    origin.actorRole,
    origin.source,
    origin.sourceAddress,
    origin.reason,
    origin.operator,
  ]);
}
