import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { RegisterImage } from '../../src/modbus/register-image.js';
import { STATUS_BITS } from '../../src/modbus/register-layout.js';
import { RegisterMapper } from '../../src/modbus/register-mapper.js';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { MappingPool } from '../../src/workers/mapping-pool.js';
import { createCapturingLogger } from './raw-client.js';
import { makePump, makeStation } from './station-fixture.js';

const run = promisify(execFile);
const pools: MappingPool[] = [];

afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.close()));
});

function trackedPool(): MappingPool {
  const pool = new MappingPool();
  pools.push(pool);
  return pool;
}

function statusWord(image: RegisterImage, unitId = 1): number | undefined {
  const read = image.readHolding(unitId, 0, 1);
  return read.ok ? read.registers.readUInt16BE(0) : undefined;
}

function heartbeat(image: RegisterImage, unitId = 1): number | undefined {
  const read = image.readHolding(unitId, 1, 1);
  return read.ok ? read.registers.readUInt16BE(0) : undefined;
}

describe('RegisterMapper', () => {
  it('encodes a small map inline before publish returns', () => {
    const image = new RegisterImage();
    let poolsCreated = 0;
    const mapper = new RegisterMapper({ image, logger: createCapturingLogger().logger, workerThreshold: 1000, createPool: () => (poolsCreated++, trackedPool()) });
    mapper.publish(makeStation({ heartbeat: 11 }));
    expect(heartbeat(image)).toBe(11);
    expect(poolsCreated).toBe(0);
  });

  it('encodes a map at the threshold in the worker pool', async () => {
    const image = new RegisterImage();
    const pool = trackedPool();
    const mapper = new RegisterMapper({ image, logger: createCapturingLogger().logger, workerThreshold: 1, createPool: () => pool });
    mapper.publish(makeStation({ heartbeat: 1 }));
    mapper.publish(makeStation({ heartbeat: 2, unitId: 2 }));
    mapper.publish(makeStation({ heartbeat: 3 }));
    expect(heartbeat(image)).toBe(1);

    await mapper.settle();
    expect(heartbeat(image)).toBe(3);
    expect(heartbeat(image, 2)).toBe(2);
    expect(pool.threadCount).toBeGreaterThan(0);
  });

  it('keeps a stop that overtakes a worker batch', async () => {
    const image = new RegisterImage();
    const mapper = new RegisterMapper({ image, logger: createCapturingLogger().logger, workerThreshold: 1, createPool: trackedPool });
    mapper.publish(makeStation({ heartbeat: 1 }));
    mapper.publish(makeStation({ heartbeat: 5, pumps: [makePump({ setpoint: 49 })] }));
    mapper.publish(makeStation({ heartbeat: 6, stopState: 'stopped', emergencyStopActive: true, pumps: [makePump({ setpoint: 20, mode: 'stopped' })] }));
    expect(statusWord(image)).toBe(STATUS_BITS.emergencyStopActive);

    await mapper.settle();
    expect(statusWord(image)).toBe(STATUS_BITS.emergencyStopActive);
    expect(heartbeat(image)).toBe(6);
  });

  it('encodes inline when the pool fails', async () => {
    const image = new RegisterImage();
    const { logger, lines } = createCapturingLogger();
    const failingPool = { run: () => Promise.reject(new Error('simulated worker crash')), close: () => Promise.resolve() } as unknown as MappingPool;
    const mapper = new RegisterMapper({ image, logger, workerThreshold: 1, createPool: () => failingPool });
    mapper.publish(makeStation({ heartbeat: 1 }));
    mapper.publish(makeStation({ heartbeat: 9 }));
    await mapper.settle();
    expect(heartbeat(image)).toBe(9);
    expect(lines.find((line) => line.level === 'ERROR')?.err).toMatchObject({ message: 'simulated worker crash' });
  });
});

describe('MappingPool from dist', () => {
  const outDir = join(PACKAGE_ROOT, 'dist', `worker-check-${process.pid}`);

  afterAll(() => {
    rmSync(outDir, { recursive: true, force: true });
  });

  it('runs the compiled worker entry', async () => {
    await run(process.execPath, [join(PACKAGE_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json', '--outDir', outDir], { cwd: PACKAGE_ROOT });
    const script = `
      const { MappingPool } = await import(${JSON.stringify(join(outDir, 'src', 'workers', 'mapping-pool.js'))});
      const pool = new MappingPool();
      const program = { holdingByteLength: 4, inputByteLength: 2, tableCodes: Uint8Array.of(0, 1), byteOffsets: Uint32Array.of(0, 0),
        typeCodes: Uint8Array.of(4, 1), orderCodes: Uint8Array.of(1, 0), scales: Float64Array.of(1, 10), offsets: Float64Array.of(0, 0) };
      const result = await pool.run({ stations: [{ program, values: Float64Array.of(12.5, 4.2) }] });
      console.log(Buffer.from(result.stations[0].holding).toString('hex'), Buffer.from(result.stations[0].input).toString('hex'));
      await pool.close();
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: PACKAGE_ROOT });
    // float32 12.5 in CDAB order, and 4.2 × 10 as uint16.
    expect(stdout.trim()).toBe('00004148 002a');
  }, 120_000);
});
