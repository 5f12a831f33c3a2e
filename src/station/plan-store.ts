import type { Database, Queryable } from '../db/database.js';
import { writeAuditEvent, type AuditEvent } from '../audit/audit-log.js';

/** Reads the plan value per pump id that covers `at`, taking the newest row (created_at, then plan_id). */
export async function readActivePlanValues(database: Queryable, stationId: string, at: Date): Promise<Map<string, number>> {
  const result = await database.query<{ pump_id: string; target_value: number }>(
    `SELECT DISTINCT ON (pump_id) pump_id, target_value
       FROM pump_plans
      WHERE station_id = $1 AND interval_start <= $2 AND interval_end > $2
      ORDER BY pump_id, created_at DESC, plan_id DESC`,
    [stationId, at],
  );
  return new Map(result.rows.map((row) => [row.pump_id, Number(row.target_value)]));
}

/** When the optimizer last wrote a plan row for the station, or null if it never did. */
export async function readLastPlanWrite(database: Queryable, stationId: string): Promise<Date | null> {
  const result = await database.query<{ last_written: Date | null }>(
    'SELECT max(created_at) AS last_written FROM pump_plans WHERE station_id = $1',
    [stationId],
  );
  return result.rows[0]?.last_written ?? null;
}

/**
 * The first interval start or end of the station's rows after `at`: the next moment at which a
 * different row may cover a pump, so the plan must be read again. Null when no row starts or ends
 * later.
 */
export async function readNextPlanBoundary(database: Queryable, stationId: string, at: Date): Promise<Date | null> {
  const result = await database.query<{ boundary: Date | null }>(
    `SELECT least(
       (SELECT min(interval_start) FROM pump_plans WHERE station_id = $1 AND interval_start > $2),
       (SELECT min(interval_end) FROM pump_plans WHERE station_id = $1 AND interval_end > $2)
     ) AS boundary`,
    [stationId, at],
  );
  return result.rows[0]?.boundary ?? null;
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
