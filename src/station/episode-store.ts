import type { AuditEvent } from '../audit/audit-log.js';
import type { Queryable } from '../db/database.js';

/** The start details of a station's clamp or failsafe episode, as its audit rows record them. */
export interface EpisodeDetails {
  /** The pump concerned, or null for a station-wide episode. */
  pumpId: string | null;
  reason: string;
  /** For a clamp, the value outside the limits. */
  requested: number | null;
}

/** The audit event types that start and end an episode. */
const EPISODE_CHANGES: Record<string, { family: 'failsafe' | 'clamp'; change: 'started' | 'ended' }> = {
  FAILSAFE_ACTIVATED: { family: 'failsafe', change: 'started' },
  FAILSAFE_CLEARED: { family: 'failsafe', change: 'ended' },
  SETPOINT_CLAMPED: { family: 'clamp', change: 'started' },
  SETPOINT_CLAMP_CLEARED: { family: 'clamp', change: 'ended' },
};

export function failsafeEpisodeKey(reason: string, pumpId: string | null): string {
  return pumpId === null ? `failsafe:${reason}` : `failsafe:${reason}:${pumpId}`;
}

export function clampEpisodeKey(pumpId: string): string {
  return `clamp:${pumpId}`;
}

/** Maps one audit row to the episode it starts or ends, or null for any other row. */
function episodeChangeOf(eventType: string, details: Record<string, unknown>): { key: string; change: 'started' | 'ended'; details: EpisodeDetails } | null {
  const kind = EPISODE_CHANGES[eventType];
  if (!kind) return null;
  const pumpId = typeof details.pump_id === 'string' ? details.pump_id : null;
  const requested = typeof details.requested === 'number' ? details.requested : null;
  if (kind.family === 'clamp') {
    if (pumpId === null) return null;
    return { key: clampEpisodeKey(pumpId), change: kind.change, details: { pumpId, reason: 'out_of_limits', requested } };
  }
  if (typeof details.reason !== 'string') return null;
  return { key: failsafeEpisodeKey(details.reason, pumpId), change: kind.change, details: { pumpId, reason: details.reason, requested: null } };
}

/**
 * Reads the station's clamp and failsafe episodes that are open: those whose last audit row is a
 * start. `pending` contains the station's audit rows still in its write queue, oldest first,
 * which are newer than every stored one. The caller must take them before this read, so a row
 * written in between is seen at least once, and seeing it twice changes nothing.
 *
 * The audit log is the source, not a table of its own, because the log is what operators read:
 * an episode counts as open exactly when the log shows it open.
 */
export async function readOpenEpisodes(database: Queryable, stationId: string, pending: readonly AuditEvent[]): Promise<Map<string, EpisodeDetails>> {
  const result = await database.query<{ event_type: string; details: Record<string, unknown> }>(
    `SELECT DISTINCT ON (family, pump_id, reason) event_type, details
       FROM (SELECT id, event_type, details,
                    CASE WHEN event_type LIKE 'FAILSAFE_%' THEN 'failsafe' ELSE 'clamp' END AS family,
                    coalesce(details->>'pump_id', '') AS pump_id,
                    CASE WHEN event_type LIKE 'FAILSAFE_%' THEN coalesce(details->>'reason', '') ELSE '' END AS reason
               FROM compliance_audit_log
              WHERE station_id = $1
                AND event_type IN ('FAILSAFE_ACTIVATED', 'FAILSAFE_CLEARED', 'SETPOINT_CLAMPED', 'SETPOINT_CLAMP_CLEARED')) AS episode_rows
      ORDER BY family, pump_id, reason, id DESC`,
    [stationId],
  );

  const open = new Map<string, EpisodeDetails>();
  const apply = (eventType: string, details: Record<string, unknown>) => {
    const change = episodeChangeOf(eventType, details);
    if (!change) return;
    if (change.change === 'started') open.set(change.key, change.details);
    else open.delete(change.key);
  };
  for (const row of result.rows) apply(row.event_type, row.details);
  for (const event of pending) apply(event.eventType, event.details ?? {});
  return open;
}
