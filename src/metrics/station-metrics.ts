import { Gauge, type Registry } from 'prom-client';
import type { StationRegistry } from '../actors/station-registry.js';
import { PUMP_MODE_CODES, type PumpMode } from '../station/pipeline.js';
import type { StationSnapshot } from '../station/snapshot.js';

const MODE_VALUES = Object.keys(PUMP_MODE_CODES) as PumpMode[];

/**
 * Gauges read from the station snapshots at scrape time, so a scrape always shows what the
 * protocol surfaces publish at that moment. Registering again replaces the previous adapter's
 * gauges, which happens when tests start several adapters in one process.
 */
export function registerStationMetrics(registry: Registry, stations: StationRegistry): void {
  for (const name of ['calejo_emergency_stop_active', 'calejo_station_state', 'calejo_failsafe_active', 'calejo_pump_setpoint', 'calejo_pump_mode']) {
    registry.removeSingleMetric(name);
  }

  const gauge = <Label extends string>(name: string, help: string, labelNames: readonly Label[], fill: (set: (labels: Record<Label, string>, value: number) => void, snapshot: StationSnapshot) => void) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const actor of stations.all()) fill((labels, value) => this.set(labels, value), actor.getSnapshot());
      },
    });

  gauge('calejo_emergency_stop_active', 'Whether a station publishes its stop image (stopped, held or restoring): 1 or 0', ['station'], (set, snapshot) =>
    set({ station: snapshot.stationId }, snapshot.emergencyStopActive ? 1 : 0),
  );
  gauge('calejo_station_state', 'Emergency-stop machine state of each station: 1 for the current state', ['station', 'state'], (set, snapshot) =>
    set({ station: snapshot.stationId, state: snapshot.stopState }, 1),
  );
  gauge('calejo_failsafe_active', 'Whether at least one pump of the station publishes its failsafe setpoint: 1 or 0', ['station'], (set, snapshot) =>
    set({ station: snapshot.stationId }, snapshot.failsafeActive ? 1 : 0),
  );
  gauge('calejo_pump_setpoint', 'Effective setpoint each pump publishes, in its engineering unit', ['station', 'pump', 'unit'], (set, snapshot) => {
    for (const pump of snapshot.pumps) set({ station: snapshot.stationId, pump: pump.pumpId, unit: pump.unit }, pump.setpoint);
  });
  gauge('calejo_pump_mode', 'Source of each pump setpoint: 1 for the current mode', ['station', 'pump', 'mode'], (set, snapshot) => {
    for (const pump of snapshot.pumps) {
      for (const mode of MODE_VALUES) set({ station: snapshot.stationId, pump: pump.pumpId, mode }, pump.mode === mode ? 1 : 0);
    }
  });
}
