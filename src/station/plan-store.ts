import type { Queryable } from '../db/database.js';

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
