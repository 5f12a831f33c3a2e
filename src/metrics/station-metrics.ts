import { Gauge, type Registry } from 'prom-client';
import type { StationRegistry } from '../actors/station-registry.js';
import { PUMP_MODE_CODES, type PumpMode } from '../station/pipeline.js';

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

  new Gauge({
    name: 'calejo_emergency_stop_active',
    help: '1 while a station publishes its stop image (stopped, held or restoring), else 0',
    labelNames: ['station'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const actor of stations.all()) {
        const snapshot = actor.getSnapshot();
        this.set({ station: snapshot.stationId }, snapshot.emergencyStopActive ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: 'calejo_station_state',
    help: 'Emergency-stop machine state of each station: 1 for the current state',
    labelNames: ['station', 'state'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const actor of stations.all()) {
        const snapshot = actor.getSnapshot();
        this.set({ station: snapshot.stationId, state: snapshot.stopState }, 1);
      }
    },
  });
  new Gauge({
    name: 'calejo_failsafe_active',
    help: '1 while at least one pump of the station publishes its failsafe setpoint',
    labelNames: ['station'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const actor of stations.all()) {
        const snapshot = actor.getSnapshot();
        this.set({ station: snapshot.stationId }, snapshot.failsafeActive ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: 'calejo_pump_setpoint',
    help: 'Effective setpoint each pump publishes, in its engineering unit',
    labelNames: ['station', 'pump', 'unit'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const actor of stations.all()) {
        const snapshot = actor.getSnapshot();
        for (const pump of snapshot.pumps) this.set({ station: snapshot.stationId, pump: pump.pumpId, unit: pump.unit }, pump.setpoint);
      }
    },
  });
  new Gauge({
    name: 'calejo_pump_mode',
    help: 'Source of each pump setpoint: 1 for the current mode',
    labelNames: ['station', 'pump', 'mode'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const actor of stations.all()) {
        const snapshot = actor.getSnapshot();
        for (const pump of snapshot.pumps) {
          for (const mode of MODE_VALUES) this.set({ station: snapshot.stationId, pump: pump.pumpId, mode }, pump.mode === mode ? 1 : 0);
        }
      }
    },
  });
}
