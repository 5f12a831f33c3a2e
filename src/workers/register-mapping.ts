import { runMappingProgram, type MappingProgram } from '../modbus/mapping-program.js';

/**
 * Worker entry of the register mapping pool: encodes the published registers of several stations
 * in one task. It has no state, so any worker of the pool can take any task.
 */

export interface MappingTask {
  stations: Array<{ program: MappingProgram; values: Float64Array }>;
}

export interface MappingResult {
  stations: Array<{ holding: Uint8Array; input: Uint8Array }>;
}

export default function mapRegisters(task: MappingTask): MappingResult {
  return {
    stations: task.stations.map(({ program, values }) => {
      const holding = new Uint8Array(program.holdingByteLength);
      const input = new Uint8Array(program.inputByteLength);
      runMappingProgram(program, values, holding, input);
      return { holding, input };
    }),
  };
}
