import type { Database, Queryable } from '../db/database.js';
import { writeAuditEvent, type AuditEvent } from '../audit/audit-log.js';

/** Reads the plan value per pump id that covers `at`, taking the newest row (created_at, then plan_id). */
export async function readActivePlanValues(database: Queryable, stationId: string, at: Date): Promise<Map<string, number>> {
  return (await readPlanState(database, stationId, at)).values;
}

/** Plan state a station reads on every refresh. */
export interface PlanState {
  /** Value of the newest covering row per pump id. */
  values: Map<string, number>;
  /** created_at of the station's newest row, or null when it has none. */
  lastWrite: Date | null;
  /**
   * The first interval start or end of the station's rows after the read time: the next moment at
   * which a different row may cover a pump. Null when no row starts or ends later.
   */
  nextBoundary: Date | null;
}

/**
 * Reads the active plan values (the newest covering row per pump, by created_at and then
 * plan_id), the newest write and the next boundary in one statement. A station runs it every second, and with the embedded database each
 * statement costs event-loop time, so the three reads are combined.
 */
export async function readPlanState(database: Queryable, stationId: string, at: Date): Promise<PlanState> {
  const result = await database.query<{ pump_id: string | null; target_value: number | null; last_written: Date | null; next_boundary: Date | null }>(
    `SELECT active.pump_id, active.target_value, meta.last_written, meta.next_boundary
       FROM (SELECT DISTINCT ON (pump_id) pump_id, target_value
               FROM pump_plans
              WHERE station_id = $1 AND interval_start <= $2 AND interval_end > $2
              ORDER BY pump_id, created_at DESC, plan_id DESC) AS active
      RIGHT JOIN (SELECT (SELECT max(created_at) FROM pump_plans WHERE station_id = $1) AS last_written,
                         least((SELECT min(interval_start) FROM pump_plans WHERE station_id = $1 AND interval_start > $2),
                               (SELECT min(interval_end) FROM pump_plans WHERE station_id = $1 AND interval_end > $2)) AS next_boundary) AS meta
         ON true`,
    [stationId, at],
  );
  const values = new Map<string, number>();
  for (const row of result.rows) {
    if (row.pump_id !== null && row.target_value !== null) values.set(row.pump_id, Number(row.target_value));
  }
  const first = result.rows[0];
  return { values, lastWrite: first?.last_written ?? null, nextBoundary: first?.next_boundary ?? null };
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
