import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Reads `count` holding registers from 1-based reference `reference` (1 = 40001) of `unitId` with
 * Debian's mbpoll, and returns them as unsigned 16-bit values.
 */
export async function readHoldingRegisters(port: number, unitId: number, reference: number, count: number): Promise<number[]> {
  let stdout: string;
  try {
    ({ stdout } = await run('mbpoll', ['-m', 'tcp', '-a', String(unitId), '-r', String(reference), '-c', String(count), '-1', '-o', '5', '-p', String(port), '127.0.0.1'], { timeout: 10_000 }));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error('mbpoll is not installed; run apt-get install mbpoll (.ci/run installs it)', { cause: error });
    }
    throw error;
  }
  const values = new Map<number, number>();
  for (const match of stdout.matchAll(/^\[(\d+)\]:\s+(-?\d+)/gm)) {
    values.set(Number(match[1]), (Number(match[2]) + 65536) % 65536);
  }
  return Array.from({ length: count }, (_, index) => {
    const value = values.get(reference + index);
    if (value === undefined) throw new Error(`mbpoll printed no value for reference ${reference + index}:\n${stdout}`);
    return value;
  });
}

/** Decodes a float32 in ABCD order from two registers. */
export function float32At(registers: number[], offset: number): number {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt16BE(registers[offset] ?? 0, 0);
  buffer.writeUInt16BE(registers[offset + 1] ?? 0, 2);
  return buffer.readFloatBE(0);
}
