import type { AdapterConfig } from '../config/load.js';
import type { Database } from './database.js';

/**
 * Upserts the configured stations and pumps, and marks the rows no longer configured, so plans and
 * audit rows keep a valid reference. Runs in one transaction so the tables never show half a config.
 */
export async function mirrorConfiguration(database: Database, stations: AdapterConfig['stations']): Promise<void> {
  await database.transaction(async (tx) => {
    await tx.query('UPDATE pumps SET in_config = false');
    await tx.query('UPDATE stations SET in_config = false');

    for (const station of stations) {
      await tx.query(
        `INSERT INTO stations (station_id, name, unit_id, allow_modbus_emergency_stop, in_config, updated_at)
         VALUES ($1, $2, $3, $4, true, now())
         ON CONFLICT (station_id) DO UPDATE SET name = EXCLUDED.name, unit_id = EXCLUDED.unit_id,
           allow_modbus_emergency_stop = EXCLUDED.allow_modbus_emergency_stop, in_config = true, updated_at = now()`,
        [station.id, station.name ?? null, station.unit_id, station.allow_modbus_emergency_stop],
      );
      for (const pump of station.pumps) {
        await tx.query(
          `INSERT INTO pumps (station_id, pump_id, name, control_variable, unit, minimum, maximum, max_rate_per_second,
                              failsafe_setpoint, stop_setpoint, in_config, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, true, now())
           ON CONFLICT (station_id, pump_id) DO UPDATE SET name = EXCLUDED.name, control_variable = EXCLUDED.control_variable,
             unit = EXCLUDED.unit, minimum = EXCLUDED.minimum, maximum = EXCLUDED.maximum,
             max_rate_per_second = EXCLUDED.max_rate_per_second, failsafe_setpoint = EXCLUDED.failsafe_setpoint,
             stop_setpoint = EXCLUDED.stop_setpoint, in_config = true, updated_at = now()`,
          [
            station.id,
            pump.id,
            pump.name ?? null,
            pump.control_variable,
            pump.unit,
            pump.minimum,
            pump.maximum,
            pump.max_rate_per_second,
            pump.failsafe_setpoint,
            pump.stop_setpoint,
          ],
        );
      }
    }
  });
}
