import type { StationSnapshot } from '../station/snapshot.js';
import { EMERGENCY_STOP_COIL_ADDRESS, encodeStationRegisters } from './register-layout.js';

export type ImageReadFailure = 'unknown-unit' | 'out-of-range';

export type RegisterRead = { ok: true; registers: Buffer } | { ok: false; reason: ImageReadFailure };

export type CoilRead = { ok: true; coils: readonly boolean[] } | { ok: false; reason: ImageReadFailure };

export interface StationImageOptions {
  /** Whether SCADA may activate the emergency stop by writing 1 to coil 1. Clearing never is allowed. */
  allowEmergencyStopCoil: boolean;
}

interface StationImage {
  allowEmergencyStopCoil: boolean;
  /** Encoded holding registers, or null until the station publishes its first snapshot. */
  holdingRegisters: Buffer | null;
  emergencyStopActive: boolean;
}

/**
 * The Modbus data of every station, keyed by unit id, prepared so that a read request only
 * slices a buffer. Input registers mirror holding registers. A station without a published
 * snapshot reads as an unknown unit.
 */
export class RegisterImage {
  private readonly stations = new Map<number, StationImage>();

  /** Sets the coil policy of a unit. A unit first seen in setStation does not allow coil writes. */
  defineStation(unitId: number, options: StationImageOptions): void {
    validateUnitId(unitId);
    const station = this.stations.get(unitId);
    if (station) {
      station.allowEmergencyStopCoil = options.allowEmergencyStopCoil;
      return;
    }
    this.stations.set(unitId, {
      allowEmergencyStopCoil: options.allowEmergencyStopCoil,
      holdingRegisters: null,
      emergencyStopActive: false,
    });
  }

  /**
   * Re-encodes a station's registers and coil. This stays synchronous so that an emergency stop
   * reaches every Modbus read in the same event-loop turn that accepted it. The new buffer
   * replaces the old one, so a response copied from the old buffer is never half old, half new.
   */
  // TODO: move batch encoding to piscina workers for large station maps.
  setStation(snapshot: StationSnapshot): void {
    validateUnitId(snapshot.unitId);
    const holdingRegisters = encodeStationRegisters(snapshot);
    const station = this.stations.get(snapshot.unitId);
    if (station) {
      station.holdingRegisters = holdingRegisters;
      station.emergencyStopActive = snapshot.emergencyStopActive;
      return;
    }
    this.stations.set(snapshot.unitId, {
      allowEmergencyStopCoil: false,
      holdingRegisters,
      emergencyStopActive: snapshot.emergencyStopActive,
    });
  }

  /** Returns whether the unit has a published snapshot, so requests to it get a response. */
  hasUnit(unitId: number): boolean {
    return this.stations.get(unitId)?.holdingRegisters != null;
  }

  allowsEmergencyStopCoil(unitId: number): boolean {
    return this.stations.get(unitId)?.allowEmergencyStopCoil ?? false;
  }

  /** Returns `count` holding registers from wire address `address` as a view of the prepared buffer. */
  readHolding(unitId: number, address: number, count: number): RegisterRead {
    const registers = this.stations.get(unitId)?.holdingRegisters;
    if (!registers) return { ok: false, reason: 'unknown-unit' };
    if (address < 0 || count < 0 || (address + count) * 2 > registers.length) return { ok: false, reason: 'out-of-range' };
    return { ok: true, registers: registers.subarray(address * 2, (address + count) * 2) };
  }

  readInput(unitId: number, address: number, count: number): RegisterRead {
    return this.readHolding(unitId, address, count);
  }

  /** Returns `count` coils from wire address `address`. Coil address 0 is the only coil. */
  readCoils(unitId: number, address: number, count: number): CoilRead {
    const station = this.stations.get(unitId);
    if (!station?.holdingRegisters) return { ok: false, reason: 'unknown-unit' };
    if (address !== EMERGENCY_STOP_COIL_ADDRESS || count !== 1) return { ok: false, reason: 'out-of-range' };
    return { ok: true, coils: [station.emergencyStopActive] };
  }

  get unitIds(): number[] {
    return [...this.stations.keys()].filter((unitId) => this.hasUnit(unitId));
  }
}

/** Modbus TCP carries the unit id in one byte, so 0..255 is the whole range. */
function validateUnitId(unitId: number): void {
  if (!Number.isInteger(unitId) || unitId < 0 || unitId > 255) {
    throw new RangeError(`invalid Modbus unit id ${unitId}: use an integer from 0 to 255`);
  }
}
