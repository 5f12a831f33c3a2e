import type { StationSnapshot } from '../station/snapshot.js';
import { buildMappingProgram, extractProgramValues, publishedValue, runMappingProgram, type StationMappingProgram } from './mapping-program.js';
import { defaultLayoutEntries } from './register-layout.js';
import {
  compileRegisterMap,
  entryWidth,
  FEEDBACK_VALUES,
  isRangeMapped,
  isRegisterTable,
  type CompiledRegisterMap,
  type RegisterMapEntry,
} from './register-map.js';

export type ImageReadFailure = 'unknown-unit' | 'out-of-range';

export type RegisterRead = { ok: true; registers: Buffer } | { ok: false; reason: ImageReadFailure };

export type CoilRead = { ok: true; coils: readonly boolean[] } | { ok: false; reason: ImageReadFailure };

/** Bits as 0 or 1, one byte per address, as a view of the image. */
export type BitRead = { ok: true; bits: Uint8Array } | { ok: false; reason: ImageReadFailure };

/**
 * Reason a write cannot go ahead: the unit is unknown, an address is unmapped, an address contains a
 * read-only value, or the range cuts a multi-register value in two.
 */
export type WriteCheckFailure = ImageReadFailure | 'read-only' | 'partial-value';

export type WriteCheck = { ok: true; entries: RegisterMapEntry[] } | { ok: false; reason: WriteCheckFailure; address: number };

export interface StationMapDefinition {
  /** Whether the default layout (status block, pump blocks, coil 1) is part of the map. */
  defaultLayout: boolean;
  /** Pump ids in configuration order, which is the order of the snapshot's pumps. */
  pumpIds: readonly string[];
  /** Configured entries beside the default layout. */
  entries: readonly RegisterMapEntry[];
}

export interface StationImageOptions {
  /** Whether SCADA may activate the emergency stop by writing 1 to the emergency-stop coil. Clearing never is allowed. */
  allowEmergencyStopCoil: boolean;
  /** The station's register map; without it the station has the default layout for its snapshot's pumps. */
  map?: StationMapDefinition;
}

/** A compiled map with its encoding program, for one pump count. */
export interface PreparedStationMap {
  pumpCount: number;
  map: CompiledRegisterMap;
  mapping: StationMappingProgram;
  /** Holding registers SCADA writes, whose bytes survive each re-encoding. */
  writableRegisters: readonly RegisterMapEntry[];
  /** Coils and discrete inputs that publish a station or pump state. */
  publishedBits: readonly RegisterMapEntry[];
}

/** The mapping work for one snapshot: run `mapping.program` over `values`, then call RegisterImage.apply. */
export interface PreparedUpdate {
  unitId: number;
  sequence: number;
  prepared: PreparedStationMap;
  values: Float64Array;
  snapshot: StationSnapshot;
}

interface StationImage {
  options: StationImageOptions;
  prepared: PreparedStationMap | null;
  /** Encoded holding and input registers, or null until the station publishes its first snapshot. */
  holding: Buffer | null;
  input: Buffer | null;
  coils: Uint8Array;
  discreteInputs: Uint8Array;
  emergencyStopActive: boolean;
  lastPreparedSequence: number;
  lastAppliedSequence: number;
}

/**
 * The Modbus data of every station, keyed by unit id, prepared so that a read request only
 * slices a buffer. A station without a published snapshot reads as an unknown unit.
 *
 * An update has two steps so that the encoding can run elsewhere: `prepare` numbers a snapshot
 * and extracts its values, and `apply` installs the encoded registers unless a newer snapshot was
 * applied first. That order check is what lets an emergency stop, encoded inline, overtake an
 * older snapshot still being encoded in a worker without being undone by it.
 */
export class RegisterImage {
  private readonly stations = new Map<number, StationImage>();

  /** Sets the coil policy and map of a unit. A unit first seen in setStation has the default layout and no coil writes. */
  defineStation(unitId: number, options: StationImageOptions): void {
    validateUnitId(unitId);
    const station = this.stations.get(unitId);
    if (station) {
      station.options = options;
      // The next snapshot compiles the map again, so a changed policy applies from then on.
      station.prepared = null;
      return;
    }
    this.stations.set(unitId, newStationImage(options));
  }

  /**
   * Re-encodes a station's registers and bits synchronously, so that an emergency stop reaches
   * every Modbus read in the same event-loop turn that accepted it. The new buffers replace the
   * old ones, so a response copied from the old buffers is never half old, half new.
   */
  setStation(snapshot: StationSnapshot): void {
    const update = this.prepare(snapshot);
    const { holding, input } = encodeInline(update);
    this.apply(update, holding, input);
  }

  /** Numbers a snapshot and extracts the values its map publishes. */
  prepare(snapshot: StationSnapshot): PreparedUpdate {
    validateUnitId(snapshot.unitId);
    let station = this.stations.get(snapshot.unitId);
    if (!station) {
      station = newStationImage({ allowEmergencyStopCoil: false });
      this.stations.set(snapshot.unitId, station);
    }
    if (!station.prepared || !fitsSnapshot(station.prepared, station.options, snapshot)) {
      station.prepared = prepareMap(station.options, snapshot);
    }
    station.lastPreparedSequence += 1;
    const prepared = station.prepared;
    return {
      unitId: snapshot.unitId,
      sequence: station.lastPreparedSequence,
      prepared,
      values: extractProgramValues(prepared.mapping.sources, snapshot),
      snapshot,
    };
  }

  /**
   * Installs encoded registers for a prepared update. Returns false, and changes nothing, when a
   * newer update of the station was applied already or the station's map changed since.
   */
  apply(update: PreparedUpdate, holding: Buffer, input: Buffer): boolean {
    const station = this.stations.get(update.unitId);
    if (!station || station.prepared !== update.prepared || update.sequence <= station.lastAppliedSequence) return false;
    const { prepared, snapshot } = update;
    if (holding.length !== prepared.mapping.program.holdingByteLength || input.length !== prepared.mapping.program.inputByteLength) {
      throw new RangeError(
        `encoded registers of unit id ${update.unitId} have ${holding.length} + ${input.length} bytes, expected ${prepared.mapping.program.holdingByteLength} + ${prepared.mapping.program.inputByteLength}`,
      );
    }

    // Values SCADA wrote stay readable across re-encodings of the published values.
    const previous = station.holding;
    if (previous) {
      for (const entry of prepared.writableRegisters) {
        const start = entry.address * 2;
        const end = start + entryWidth(entry) * 2;
        if (end <= previous.length) previous.copy(holding, start, start, end);
      }
    }

    if (station.coils.length !== prepared.map.tables.coil.extent) station.coils = resized(station.coils, prepared.map.tables.coil.extent);
    if (station.discreteInputs.length !== prepared.map.tables.discrete_input.extent) {
      station.discreteInputs = resized(station.discreteInputs, prepared.map.tables.discrete_input.extent);
    }
    for (const entry of prepared.publishedBits) {
      const bits = entry.table === 'coil' ? station.coils : station.discreteInputs;
      bits[entry.address] = publishedValue(snapshot, entry) === 1 ? 1 : 0;
    }

    station.holding = holding;
    station.input = input;
    station.emergencyStopActive = snapshot.emergencyStopActive;
    station.lastAppliedSequence = update.sequence;
    return true;
  }

  /** Returns whether the unit has a published snapshot, so requests to it get a response. */
  hasUnit(unitId: number): boolean {
    return this.stations.get(unitId)?.holding != null;
  }

  allowsEmergencyStopCoil(unitId: number): boolean {
    return this.stations.get(unitId)?.options.allowEmergencyStopCoil ?? false;
  }

  /** Returns `count` holding registers from wire address `address` as a view of the prepared buffer. */
  readHolding(unitId: number, address: number, count: number): RegisterRead {
    return this.readRegisters(unitId, 'holding', address, count);
  }

  readInput(unitId: number, address: number, count: number): RegisterRead {
    return this.readRegisters(unitId, 'input', address, count);
  }

  /** Returns `count` coils from wire address `address` as booleans. */
  readCoils(unitId: number, address: number, count: number): CoilRead {
    const read = this.readBits(unitId, 'coil', address, count);
    return read.ok ? { ok: true, coils: [...read.bits].map((bit) => bit === 1) } : read;
  }

  /** Returns `count` coils or discrete inputs from wire address `address`, one byte (0 or 1) per bit. */
  readBits(unitId: number, table: 'coil' | 'discrete_input', address: number, count: number): BitRead {
    const station = this.stations.get(unitId);
    if (!station?.holding || !station.prepared) return { ok: false, reason: 'unknown-unit' };
    if (!isRangeMapped(station.prepared.map.tables[table], address, count)) return { ok: false, reason: 'out-of-range' };
    const bits = table === 'coil' ? station.coils : station.discreteInputs;
    return { ok: true, bits: bits.subarray(address, address + count) };
  }

  /**
   * Checks that SCADA may write every address of the range: each is mapped, writable, and the
   * range covers whole values. Returns the entries written, in address order.
   */
  checkWrite(unitId: number, table: 'holding' | 'coil', address: number, count: number): WriteCheck {
    const station = this.stations.get(unitId);
    if (!station?.holding || !station.prepared) return { ok: false, reason: 'unknown-unit', address };
    const compiled = station.prepared.map.tables[table];

    const entries: RegisterMapEntry[] = [];
    for (let current = address; current < address + count; ) {
      const entry = compiled.entryAt.get(current);
      if (!entry) return { ok: false, reason: 'out-of-range', address: current };
      if (!entry.writable) return { ok: false, reason: 'read-only', address: current };
      const end = entry.address + entryWidth(entry);
      if (entry.address < address || end > address + count) return { ok: false, reason: 'partial-value', address: current };
      entries.push(entry);
      current = end;
    }
    return { ok: true, entries };
  }

  /** Stores register bytes SCADA wrote, after checkWrite accepted the range. */
  writeHolding(unitId: number, address: number, bytes: Buffer): void {
    const holding = this.stations.get(unitId)?.holding;
    if (!holding || address * 2 + bytes.length > holding.length) {
      throw new RangeError(`holding registers ${address} to ${address + bytes.length / 2 - 1} of unit id ${unitId} are outside the image`);
    }
    bytes.copy(holding, address * 2);
  }

  /** Stores a coil SCADA wrote, after checkWrite accepted it. The emergency-stop coil follows the station state instead. */
  writeCoil(unitId: number, address: number, on: boolean): void {
    const station = this.stations.get(unitId);
    const entry = station?.prepared?.map.tables.coil.entryAt.get(address);
    if (!station || !entry) throw new RangeError(`coil ${address} of unit id ${unitId} is outside the image`);
    if (entry.value === 'emergency_stop') return;
    station.coils[address] = on ? 1 : 0;
  }

  /** Returns the compiled map of a unit, for tests and diagnostics. */
  mapOf(unitId: number): CompiledRegisterMap | null {
    return this.stations.get(unitId)?.prepared?.map ?? null;
  }

  get unitIds(): number[] {
    return [...this.stations.keys()].filter((unitId) => this.hasUnit(unitId));
  }

  private readRegisters(unitId: number, table: 'holding' | 'input', address: number, count: number): RegisterRead {
    const station = this.stations.get(unitId);
    const registers = table === 'holding' ? station?.holding : station?.input;
    if (!registers || !station?.prepared) return { ok: false, reason: 'unknown-unit' };
    if (!isRangeMapped(station.prepared.map.tables[table], address, count)) return { ok: false, reason: 'out-of-range' };
    return { ok: true, registers: registers.subarray(address * 2, (address + count) * 2) };
  }
}

/** Runs a prepared update's encoding on the calling thread. */
export function encodeInline(update: PreparedUpdate): { holding: Buffer; input: Buffer } {
  const { program } = update.prepared.mapping;
  // Buffer.alloc zero-fills, which gives every reserved and not yet written register the value 0.
  const holding = Buffer.alloc(program.holdingByteLength);
  const input = Buffer.alloc(program.inputByteLength);
  runMappingProgram(program, update.values, holding, input);
  return { holding, input };
}

function newStationImage(options: StationImageOptions): StationImage {
  return {
    options,
    prepared: null,
    holding: null,
    input: null,
    coils: new Uint8Array(0),
    discreteInputs: new Uint8Array(0),
    emergencyStopActive: false,
    lastPreparedSequence: 0,
    lastAppliedSequence: 0,
  };
}

function fitsSnapshot(prepared: PreparedStationMap, options: StationImageOptions, snapshot: StationSnapshot): boolean {
  // A configured map is fixed by the configuration; only the default layout follows the pump count.
  return options.map !== undefined || prepared.pumpCount === snapshot.pumps.length;
}

function prepareMap(options: StationImageOptions, snapshot: StationSnapshot): PreparedStationMap {
  const definition = options.map;
  const entries = definition
    ? [...(definition.defaultLayout ? defaultLayoutEntries(definition.pumpIds, options.allowEmergencyStopCoil) : []), ...definition.entries]
    : defaultLayoutEntries(
        snapshot.pumps.map((pump) => pump.pumpId),
        options.allowEmergencyStopCoil,
      );
  const map = compileRegisterMap(entries);
  return {
    pumpCount: definition ? definition.pumpIds.length : snapshot.pumps.length,
    map,
    mapping: buildMappingProgram(map),
    writableRegisters: entries.filter((entry) => entry.table === 'holding' && entry.writable),
    publishedBits: entries.filter((entry) => !isRegisterTable(entry.table) && !FEEDBACK_VALUES.has(entry.value)),
  };
}

function resized(bits: Uint8Array, length: number): Uint8Array {
  const next = new Uint8Array(length);
  next.set(bits.subarray(0, Math.min(bits.length, length)));
  return next;
}

/** Modbus TCP carries the unit id in one byte, so 0..255 is the whole range. */
function validateUnitId(unitId: number): void {
  if (!Number.isInteger(unitId) || unitId < 0 || unitId > 255) {
    throw new RangeError(`invalid Modbus unit id ${unitId}: use an integer from 0 to 255`);
  }
}
