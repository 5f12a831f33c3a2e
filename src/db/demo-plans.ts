import type { AdapterConfig } from '../config/load.js';
import type { Database } from './database.js';

const HOUR_MS = 3_600_000;

/**
 * Seeds hourly plan rows from the start of today (UTC) for 48 hours, for pumps that have no plan
 * row covering now. Values follow a daily curve between 40 % and 80 % of each pump's range, and
 * on/off pumps run in the daytime hours, so the demo shows setpoints that change during the day.
 * NOTE: the seed runs at start only; a demo adapter left running past the second midnight falls
 * back to failsafe setpoints until it is restarted.
 */
export async function seedDemoPlans(database: Database, stations: AdapterConfig['stations'], now = new Date()): Promise<number> {
  const dayStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  let inserted = 0;

  await database.transaction(async (tx) => {
    for (const station of stations) {
      for (const pump of station.pumps) {
        const covered = await tx.query(
          'SELECT 1 FROM pump_plans WHERE station_id = $1 AND pump_id = $2 AND interval_start <= $3 AND interval_end > $3 LIMIT 1',
          [station.id, pump.id, now],
        );
        if (covered.rowCount > 0) continue;

        for (let hour = 0; hour < 48; hour += 1) {
          const start = new Date(dayStart + hour * HOUR_MS);
          const end = new Date(dayStart + (hour + 1) * HOUR_MS);
          await tx.query(
            `INSERT INTO pump_plans (station_id, pump_id, interval_start, interval_end, target_value, plan_version)
             VALUES ($1, $2, $3, $4, $5, 'demo')`,
            [station.id, pump.id, start, end, demoValue(pump, hour % 24)],
          );
          inserted += 1;
        }
      }
    }
  });
  return inserted;
}

function demoValue(pump: AdapterConfig['stations'][number]['pumps'][number], hourOfDay: number): number {
  if (pump.control_variable === 'on_off') return hourOfDay >= 6 && hourOfDay < 22 ? 1 : 0;
  // Demand peaks in the morning and evening: a curve with two maxima a day.
  const shape = 0.5 + 0.5 * Math.sin(((hourOfDay - 3) / 12) * 2 * Math.PI) ** 2;
  const fraction = 0.4 + 0.4 * shape;
  const value = pump.minimum + fraction * (pump.maximum - pump.minimum);
  return Math.round(value * 10) / 10;
}
