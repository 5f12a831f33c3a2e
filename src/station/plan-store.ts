import type { Database, Queryable } from '../db/database.js';
import { writeAuditEvent, type AuditEvent } from '../audit/audit-log.js';
import { PLAN_CLOCK_TOLERANCE_MS } from './plan-clock.js';

/** Reads the plan value per pump id that covers `at`, taking the newest row as readPlanState ranks them. */
export async function readActivePlanValues(database: Queryable, stationId: string, at: Date): Promise<Map<string, number>> {
  return (await readPlanState(database, stationId, at)).values;
}

/** Plan state a station reads on every refresh. */
export interface PlanState {
  /** Value of the newest covering row per pump id. */
  values: Map<string, number>;
  /**
   * The station's newest write: the newest created_at of its rows stamped normally, or the time
   * the adapter first read a row stamped in the future, if later. A time ahead of the read time
   * does not count. Null when no row has a time that counts.
   */
  lastWrite: Date | null;
  /** True when the station has plan rows at all, even if none has a time that counts. */
  hasRows: boolean;
  /**
   * The first interval start or end of the station's rows after the read time: the next moment at
   * which a different row may cover a pump. Null when no row starts or ends later.
   */
  nextBoundary: Date | null;
  /** True when some row is stamped in the future but not yet marked. flagFutureTimestamps marks it. */
  unmarkedFutureRows: boolean;
}

/**
 * Reads the active plan values, the newest write and the next boundary in one statement. A
 * station runs it every second, and with the embedded database each statement costs event-loop
 * time, so the reads are combined.
 *
 * The newest covering row wins: by created_at, then plan_id. A row is stamped in the future when
 * its created_at lies more than `toleranceMs` ahead of `at`, or when the adapter has marked it so
 * (future_timestamp_seen_at). Its created_at cannot be compared with the others, because the
 * clock that wrote it disagrees with the adapter's. Ranking by it would let the row win over
 * every later row until that time, and counting it as the newest write would keep the plan fresh
 * just as long. So such rows rank by insertion order (plan_id) instead: per pump, the last one
 * inserted wins if it was inserted after the newest normally stamped covering row, and loses
 * otherwise. That is the order in which the rows were written, whatever their created_at values are.
 *
 * Such a row counts as written when the adapter first marked it. The mark is kept in the row, so
 * the rule still applies after a restart and after the adapter's clock has passed the stamp. A
 * mark that lies ahead of the read time (the adapter's clock was set back after marking) does not
 * count as a write, so a clock set back once more does not make a marked row look fresh again.
 *
 * The database does not stamp created_at itself instead. Optimizers set it through the documented
 * interface, and a clock set back on the database host would disorder its own stamps too. Only
 * plan_id keeps the order of inserts through every clock step.
 */
export async function readPlanState(database: Queryable, stationId: string, at: Date, toleranceMs = PLAN_CLOCK_TOLERANCE_MS): Promise<PlanState> {
  const latestNormalStamp = new Date(at.getTime() + toleranceMs);
  const result = await database.query<{
    pump_id: string | null;
    target_value: number | null;
    last_written: Date | null;
    next_boundary: Date | null;
    unmarked_future_rows: boolean;
    has_rows: boolean;
  }>(
    `WITH candidates AS (
       -- Per pump, the newest normally stamped covering row and the last inserted one stamped in the future.
       SELECT DISTINCT ON (pump_id, stamped_in_future) pump_id, target_value, plan_id
         FROM (SELECT pump_id, target_value, plan_id, created_at,
                      future_timestamp_seen_at IS NOT NULL OR created_at > $3 AS stamped_in_future
                 FROM pump_plans
                WHERE station_id = $1 AND interval_start <= $2 AND interval_end > $2) AS covering
        ORDER BY pump_id, stamped_in_future, CASE WHEN stamped_in_future THEN NULL ELSE created_at END DESC NULLS LAST, plan_id DESC
     )
     SELECT active.pump_id, active.target_value, meta.last_written, meta.next_boundary, meta.unmarked_future_rows, meta.has_rows
       FROM (SELECT DISTINCT ON (pump_id) pump_id, target_value
               FROM candidates
              ORDER BY pump_id, plan_id DESC) AS active
      RIGHT JOIN (SELECT greatest((SELECT max(created_at) FROM pump_plans
                                    WHERE station_id = $1 AND created_at <= $3 AND future_timestamp_seen_at IS NULL),
                                  (SELECT max(future_timestamp_seen_at) FROM pump_plans
                                    WHERE station_id = $1 AND future_timestamp_seen_at <= $3)) AS last_written,
                         EXISTS (SELECT 1 FROM pump_plans WHERE station_id = $1) AS has_rows,
                         EXISTS (SELECT 1 FROM pump_plans
                                  WHERE station_id = $1 AND created_at > $3 AND future_timestamp_seen_at IS NULL) AS unmarked_future_rows,
                         least((SELECT min(interval_start) FROM pump_plans WHERE station_id = $1 AND interval_start > $2),
                               (SELECT min(interval_end) FROM pump_plans WHERE station_id = $1 AND interval_end > $2)) AS next_boundary) AS meta
         ON true`,
    [stationId, at, latestNormalStamp],
  );
  const values = new Map<string, number>();
  for (const row of result.rows) {
    if (row.pump_id !== null && row.target_value !== null) values.set(row.pump_id, Number(row.target_value));
  }
  const first = result.rows[0];
  return {
    values,
    lastWrite: first?.last_written ?? null,
    nextBoundary: first?.next_boundary ?? null,
    unmarkedFutureRows: first?.unmarked_future_rows ?? false,
    hasRows: first?.has_rows ?? false,
  };
}

export interface PlanRow {
  stationId: string;
  pumpId: string;
  intervalStart: Date;
  intervalEnd: Date;
  targetValue: number;
}

/**
 * Inserts plan rows and the upload's audit row in one transaction, so an upload applies whole or
 * not at all. All rows of one call share created_at (the transaction's start), so among them the
 * later row (higher plan_id) wins where two cover the same moment. Returns the new plan ids in
 * input order.
 */
export async function insertPlanRows(database: Database, rows: PlanRow[], planVersion: string, audit: AuditEvent): Promise<string[]> {
  return database.transaction(async (tx) => {
    const ids: string[] = [];
    for (const row of rows) {
      const inserted = await tx.query<{ plan_id: string | number }>(
        `INSERT INTO pump_plans (station_id, pump_id, interval_start, interval_end, target_value, plan_version)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING plan_id`,
        [row.stationId, row.pumpId, row.intervalStart, row.intervalEnd, row.targetValue, planVersion],
      );
      ids.push(String(inserted.rows[0]?.plan_id));
    }
    await writeAuditEvent(tx, { ...audit, details: { ...audit.details, plan_version: planVersion, rows: rows.length, first_plan_id: ids[0], last_plan_id: ids.at(-1) } });
    return ids;
  });
}
