import { writeAuditEvent } from '../audit/audit-log.js';
import type { Database } from '../db/database.js';

/**
 * How far a plan row's created_at may lie ahead of the adapter's clock and still rank by it. It
 * absorbs ordinary skew between the optimizer's, the database's and the adapter's clocks. A row
 * stamped within it can win over later rows, and look fresh, for at most this long.
 */
export const PLAN_CLOCK_TOLERANCE_MS = 60_000;

/** At most this many plan ids are listed in one audit row; `rows` gives the full count. */
const MAX_LISTED_PLAN_IDS = 50;

/** The rows one call marked as stamped in the future. */
export interface FutureTimestampedRows {
  count: number;
  /** Up to 50 plan ids, oldest first. */
  planIds: string[];
  pumpIds: string[];
  latestCreatedAt: Date;
}

/**
 * Marks the station's rows whose created_at lies more than `toleranceMs` ahead of `at` and are not
 * marked yet, with `at` as the time the adapter first read them, and writes one
 * PLAN_FUTURE_TIMESTAMP_DETECTED audit row in the same transaction. Each row is therefore
 * reported once, also across restarts and adapter instances. Returns what it marked, or null.
 */
export async function flagFutureTimestamps(database: Database, stationId: string, at: Date, toleranceMs = PLAN_CLOCK_TOLERANCE_MS): Promise<FutureTimestampedRows | null> {
  return database.transaction(async (tx) => {
    const marked = await tx.query<{ plan_id: string | number; pump_id: string; created_at: Date }>(
      `UPDATE pump_plans SET future_timestamp_seen_at = $2
        WHERE station_id = $1 AND created_at > $3 AND future_timestamp_seen_at IS NULL
        RETURNING plan_id, pump_id, created_at`,
      [stationId, at, new Date(at.getTime() + toleranceMs)],
    );
    if (marked.rows.length === 0) return null;

    const rows = [...marked.rows].sort((a, b) => Number(a.plan_id) - Number(b.plan_id));
    const latestCreatedAt = new Date(Math.max(...rows.map((row) => row.created_at.getTime())));
    const flagged: FutureTimestampedRows = {
      count: rows.length,
      planIds: rows.slice(0, MAX_LISTED_PLAN_IDS).map((row) => String(row.plan_id)),
      pumpIds: [...new Set(rows.map((row) => row.pump_id))].sort(),
      latestCreatedAt,
    };
    await writeAuditEvent(tx, {
      eventType: 'PLAN_FUTURE_TIMESTAMP_DETECTED',
      severity: 'MEDIUM',
      source: 'system',
      stationId,
      occurredAt: at,
      details: {
        rows: flagged.count,
        plan_ids: flagged.planIds,
        pump_ids: flagged.pumpIds,
        latest_created_at: latestCreatedAt.toISOString(),
        read_at: at.toISOString(),
        ahead_seconds: Math.round((latestCreatedAt.getTime() - at.getTime()) / 1000),
        tolerance_seconds: toleranceMs / 1000,
      },
    });
    return flagged;
  });
}
