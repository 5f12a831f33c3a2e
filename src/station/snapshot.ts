import type { EmergencyStopState } from '../machines/emergency-stop.js';
import type { PumpMode } from './pipeline.js';
import type { WatchdogReason } from './watchdog.js';

/** Current output of one pump, as every protocol surface publishes it. */
export interface PumpSnapshot {
  pumpId: string;
  name: string | null;
  controlVariable: 'speed' | 'flow' | 'on_off';
  unit: string;
  /** Effective setpoint in engineering units, always within [minimum, maximum]. */
  setpoint: number;
  mode: PumpMode;
  minimum: number;
  maximum: number;
  /** The covering plan row's target value before clamping, or null when no row covers now. */
  planValue: number | null;
  // The station actor always sets the two fields below; they are optional so that protocol tests
  // can build snapshots without them.
  /** The source value after clamping, toward which the rate limit moves the setpoint. */
  targetSetpoint?: number;
  /** The unexpired manual override, or null. */
  override?: { value: number; expiresAt: Date; reason: string | null; setBy: string | null } | null;
}

/** The published state of one station; protocol images are encoded from it and nothing else. */
export interface StationSnapshot {
  stationId: string;
  name: string | null;
  unitId: number;
  stopState: EmergencyStopState;
  /** True while stopped, and while restoring (the stop image is published until the state is read). */
  emergencyStopActive: boolean;
  recovering: boolean;
  /** True when at least one pump publishes its failsafe setpoint. */
  failsafeActive: boolean;
  /** True when the watchdog finds the plan stale or at least one pump has no plan row covering now. */
  planStale: boolean;
  databaseUnreachable: boolean;
  /** The station watchdog's verdict, which sends every pump to failsafe, or null. */
  watchdog?: WatchdogReason | null;
  /** Counts up once a second and wraps from 65535 to 0, so SCADA can see the adapter is alive. */
  heartbeat: number;
  /** True while an accepted stop, clear or resume is not yet committed to the database. */
  persistencePending: boolean;
  pumps: PumpSnapshot[];
  updatedAt: Date;
}
