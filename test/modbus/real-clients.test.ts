import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { Database } from '../../src/db/database.js';
import { BYTE_ORDERS, DATA_TYPES, type ByteOrder, type DataType } from '../../src/modbus/register-codec.js';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { adapterEnvironment, startAdapter, type RunningAdapter } from '../helpers/adapter-process.js';
import { createPostgresDatabase, type TestDatabase } from '../helpers/databases.js';
import { call, login } from '../helpers/rest.js';
import { checkMbpollInstalled, runMbpoll } from './mbpoll-client.js';

/**
 * Debian's python3-pymodbus and mbpoll against the adapter process on PostgreSQL, with a register
 * map that has every data type in every byte order twice: once publishing a pump's setpoint and
 * once as a writable feedback register. Published values are checked as decoded by the clients,
 * written values as stored in pump_feedback. The client-side encoding is the clients' own (pymodbus)
 * or Buffer arithmetic written here (mbpoll's raw words), never the adapter's codec.
 */

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const PYMODBUS_CLIENT = join(PACKAGE_ROOT, 'test', 'modbus', 'pymodbus-client.py');

const PUMP_SETPOINTS = [42.5, 17.25, 33.5, 8.75, 25.25, 12.5, 30];
const PUMP_IDS = PUMP_SETPOINTS.map((_, index) => `p${index + 1}`);
const FEEDBACK_TARGETS = [...PUMP_IDS.flatMap((pump) => ['measured_speed', 'measured_flow', 'running'].map((value) => ({ pump, value }))), { pump: undefined, value: 'level' }];

interface Combination {
  type: DataType;
  order: ByteOrder;
  index: number;
}

const COMBINATIONS: Combination[] = DATA_TYPES.flatMap((type, typeIndex) => BYTE_ORDERS.map((order, orderIndex) => ({ type, order, index: typeIndex * 4 + orderIndex })));

/** Published setpoint of a combination: integers carry setpoint × 100. */
function published(combination: Combination) {
  return {
    address: 1000 + combination.index * 2,
    type: combination.type,
    order: combination.order,
    scale: combination.type === 'float32' ? 1 : 100,
    pump: PUMP_IDS[combination.index % PUMP_IDS.length],
    setpoint: PUMP_SETPOINTS[combination.index % PUMP_SETPOINTS.length] ?? Number.NaN,
  };
}

/** Writable feedback register of a combination: uint16 values are scaled by 10 to check scaling. */
function feedback(combination: Combination) {
  const target = FEEDBACK_TARGETS[combination.index];
  if (!target) throw new Error(`no feedback target for combination ${combination.index}`);
  return { address: 2000 + combination.index * 2, type: combination.type, order: combination.order, scale: combination.type === 'uint16' ? 10 : 1, ...target };
}

/** Register value that pymodbus writes to a combination's feedback register. */
function pymodbusValue(combination: Combination): number {
  const values: Record<DataType, number> = { int16: -1234, uint16: 54321, int32: -123456789, uint32: 3_000_000_000, float32: 12.375 };
  return values[combination.type] + combination.index;
}

/** Register value that mbpoll writes; mbpoll parses 32-bit values as signed. */
function mbpollValue(combination: Combination): number {
  const values: Record<DataType, number> = { int16: -77, uint16: 40000, int32: -2_000_000, uint32: 2_000_000_000, float32: -3.5 };
  return values[combination.type] + combination.index;
}

const CONFIG = stringify({
  watchdog: { plan_staleness_seconds: 0 },
  demo: { seed_plans: false },
  modbus: { feedback_flush_ms: 50 },
  stations: [
    {
      id: 'station001',
      unit_id: 1,
      allow_modbus_emergency_stop: true,
      pumps: PUMP_SETPOINTS.map((setpoint, index) => ({
        id: PUMP_IDS[index],
        control_variable: 'speed',
        unit: 'Hz',
        minimum: 0,
        maximum: 50,
        max_rate_per_second: 100,
        failsafe_setpoint: setpoint,
      })),
      register_map: {
        registers: [
          ...COMBINATIONS.map((combination) => {
            const { address, type, order, scale, pump } = published(combination);
            return { name: `setpoint ${type} ${order}`, kind: 'holding', address, type, order, scale, pump, value: 'setpoint' };
          }),
          ...COMBINATIONS.map((combination) => {
            const { address, type, order, scale, pump, value } = feedback(combination);
            return { name: `feedback ${type} ${order}`, kind: 'holding', address, type, order, scale, ...(pump ? { pump } : {}), value };
          }),
        ],
      },
    },
  ],
});

/** Big-endian bytes of a register value, then placed in `order`, as 16-bit words for mbpoll. */
function wireWords(type: DataType, order: ByteOrder, value: number): number[] {
  const bigEndian = Buffer.alloc(4);
  if (type === 'int16') bigEndian.writeInt16BE(value);
  if (type === 'uint16') bigEndian.writeUInt16BE(value);
  if (type === 'int32') bigEndian.writeInt32BE(value);
  if (type === 'uint32') bigEndian.writeUInt32BE(value);
  if (type === 'float32') bigEndian.writeFloatBE(value);
  const bytes = type.endsWith('16') ? [...bigEndian.subarray(0, 2)] : [...bigEndian];
  const [a = 0, b = 0, c = 0, d = 0] = bytes;
  const placed = bytes.length === 2 ? { ABCD: [a, b], CDAB: [a, b], BADC: [b, a], DCBA: [b, a] }[order] : { ABCD: [a, b, c, d], CDAB: [c, d, a, b], BADC: [b, a, d, c], DCBA: [d, c, b, a] }[order];
  const words: number[] = [];
  for (let index = 0; index < placed.length; index += 2) words.push(((placed[index] ?? 0) << 8) | (placed[index + 1] ?? 0));
  return words;
}

/** Inverse of wireWords: the register value of words read in `order`. */
function valueOfWords(type: DataType, order: ByteOrder, words: number[]): number {
  const placed = words.flatMap((word) => [word >> 8, word & 0xff]);
  const [p0 = 0, p1 = 0, p2 = 0, p3 = 0] = placed;
  const bytes = placed.length === 2 ? { ABCD: [p0, p1], CDAB: [p0, p1], BADC: [p1, p0], DCBA: [p1, p0] }[order] : { ABCD: [p0, p1, p2, p3], CDAB: [p2, p3, p0, p1], BADC: [p1, p0, p3, p2], DCBA: [p3, p2, p1, p0] }[order];
  const buffer = Buffer.from(bytes);
  if (type === 'int16') return buffer.readInt16BE();
  if (type === 'uint16') return buffer.readUInt16BE();
  if (type === 'int32') return buffer.readInt32BE();
  if (type === 'uint32') return buffer.readUInt32BE();
  return buffer.readFloatBE();
}

/** mbpoll takes a 16-bit register as 0 to 65535, so an int16 is given in two's complement. */
function mbpollArgument(type: DataType, value: number): number {
  return type === 'int16' && value < 0 ? value + 0x10000 : value;
}

async function runPymodbus(request: Record<string, unknown>): Promise<{ writes: Array<string | null>; reads: Array<number | string> }> {
  try {
    const { stdout } = await run(PYTHON, [PYMODBUS_CLIENT, JSON.stringify(request)], { timeout: 30_000 });
    return JSON.parse(stdout) as { writes: Array<string | null>; reads: Array<number | string> };
  } catch (error) {
    if ((error as { stderr?: string }).stderr?.includes("No module named 'pymodbus'")) {
      throw new Error('python3-pymodbus is not installed; run `apt-get install python3-pymodbus` (scripts/test-prerequisites.sh does it)', { cause: error });
    }
    throw error;
  }
}

/** Reads the newest stored value of each feedback target, keyed "pump/variable". */
async function latestFeedback(database: Database): Promise<Map<string, number>> {
  const result = await database.query<{ pump_id: string | null; variable: string; value: number }>(
    `SELECT DISTINCT ON (pump_id, variable) pump_id, variable, value FROM pump_feedback ORDER BY pump_id, variable, feedback_id DESC`,
  );
  return new Map(result.rows.map((row) => [`${row.pump_id ?? ''}/${row.variable}`, Number(row.value)]));
}

async function waitForFeedback(database: Database, accept: (latest: Map<string, number>) => boolean): Promise<Map<string, number>> {
  const deadline = Date.now() + 10_000;
  let latest = await latestFeedback(database);
  while (!accept(latest) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    latest = await latestFeedback(database);
  }
  return latest;
}

function expectedFeedback(combination: Combination, registerValue: number): number {
  return registerValue / feedback(combination).scale;
}

const MBPOLL_TYPES: Record<DataType, string> = { int16: '4', uint16: '4', int32: '4:int', uint32: '4:int', float32: '4:float' };

describe('pymodbus and mbpoll against a configured register map', () => {
  let testDatabase: TestDatabase;
  let database: Database;
  let adapter: RunningAdapter;

  beforeAll(async () => {
    await checkMbpollInstalled();
    testDatabase = await createPostgresDatabase();
    const configPath = join(testDatabase.dataDir, 'calejo.yaml');
    writeFileSync(configPath, CONFIG);
    adapter = await startAdapter(adapterEnvironment({ CALEJO_CONFIG: configPath, DATABASE_URL: testDatabase.url ?? undefined, CALEJO_DATA_DIR: testDatabase.dataDir }));
    database = await testDatabase.open();
    // Until the stored stop state is read, the station publishes its stop image.
    const deadline = Date.now() + 10_000;
    while ((await runMbpoll(adapter.modbusPort, ['-a', '1', '-r', '1', '-c', '1'])).values.get(1) !== '4' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }, 90_000);

  afterAll(async () => {
    await database?.close();
    await adapter?.stop();
    await testDatabase?.drop();
  });

  it('pymodbus reads each published setpoint in every type and order', async () => {
    const reads = COMBINATIONS.map((combination) => published(combination));
    const result = await runPymodbus({ port: adapter.modbusPort, unit: 1, reads });
    COMBINATIONS.forEach((combination, index) => {
      const expected = published(combination);
      expect(Number(result.reads[index]) / expected.scale, `${combination.type} ${combination.order}`).toBe(expected.setpoint);
    });
  });

  it('pymodbus writes reach pump_feedback in every type and order', async () => {
    const writes = COMBINATIONS.map((combination) => ({ ...feedback(combination), value: pymodbusValue(combination), single: combination.index % 2 === 0 }));
    const result = await runPymodbus({ port: adapter.modbusPort, unit: 1, writes });
    expect(result.writes).toEqual(COMBINATIONS.map(() => null));

    const key = (combination: Combination) => `${feedback(combination).pump ?? ''}/${feedback(combination).value}`;
    const latest = await waitForFeedback(database, (values) => COMBINATIONS.every((combination) => values.get(key(combination)) === expectedFeedback(combination, pymodbusValue(combination))));
    for (const combination of COMBINATIONS) {
      expect(latest.get(key(combination)), `${combination.type} ${combination.order}`).toBe(expectedFeedback(combination, pymodbusValue(combination)));
    }

    const readBack = await runPymodbus({ port: adapter.modbusPort, unit: 1, reads: COMBINATIONS.map((combination) => feedback(combination)) });
    expect(readBack.reads).toEqual(COMBINATIONS.map((combination) => pymodbusValue(combination)));
  });

  it('mbpoll reads each published setpoint in every type and order', async () => {
    for (const combination of COMBINATIONS) {
      const expected = published(combination);
      const reference = String(expected.address + 1);
      let registerValue: number;
      if (combination.order === 'ABCD' || combination.order === 'CDAB') {
        const args = ['-a', '1', '-r', reference, '-c', '1', '-t', MBPOLL_TYPES[combination.type], ...(combination.order === 'ABCD' ? ['-B'] : [])];
        const result = await runMbpoll(adapter.modbusPort, args);
        expect(result.exitCode, result.stdout + result.stderr).toBe(0);
        // mbpoll prints a 16-bit register unsigned, with the signed value in brackets when negative.
        registerValue = Number(/\((-?\d+)\)/.exec(result.values.get(expected.address + 1) ?? '')?.[1] ?? result.values.get(expected.address + 1));
      } else {
        const count = combination.type.endsWith('16') ? 1 : 2;
        const result = await runMbpoll(adapter.modbusPort, ['-a', '1', '-r', reference, '-c', String(count), '-t', '4:hex']);
        expect(result.exitCode, result.stdout + result.stderr).toBe(0);
        const words = Array.from({ length: count }, (_, index) => Number(result.values.get(expected.address + 1 + index)));
        registerValue = valueOfWords(combination.type, combination.order, words);
      }
      expect(registerValue / expected.scale, `${combination.type} ${combination.order}`).toBe(expected.setpoint);
    }
  });

  it('mbpoll writes reach pump_feedback in every type and order', async () => {
    for (const combination of COMBINATIONS) {
      const target = feedback(combination);
      const reference = String(target.address + 1);
      const value = mbpollValue(combination);
      const result =
        combination.order === 'ABCD' || combination.order === 'CDAB'
          ? await runMbpoll(adapter.modbusPort, ['-a', '1', '-r', reference, '-t', MBPOLL_TYPES[combination.type], ...(combination.order === 'ABCD' ? ['-B'] : [])], ['--', String(mbpollArgument(combination.type, value))])
          : await runMbpoll(adapter.modbusPort, ['-a', '1', '-r', reference, '-t', '4:hex'], wireWords(combination.type, combination.order, value).map((word) => `0x${word.toString(16)}`));
      expect(result.exitCode, `${combination.type} ${combination.order}: ${result.stdout}${result.stderr}`).toBe(0);
    }

    const key = (combination: Combination) => `${feedback(combination).pump ?? ''}/${feedback(combination).value}`;
    const latest = await waitForFeedback(database, (values) => COMBINATIONS.every((combination) => values.get(key(combination)) === expectedFeedback(combination, mbpollValue(combination))));
    for (const combination of COMBINATIONS) {
      expect(latest.get(key(combination)), `${combination.type} ${combination.order}`).toBe(expectedFeedback(combination, mbpollValue(combination)));
    }
  });

  it('mbpoll gets 02 for a read-only register and the write is audited', async () => {
    const result = await runMbpoll(adapter.modbusPort, ['-a', '1', '-r', '1001', '-t', '4'], ['--', '5']);
    expect(result.exitCode).not.toBe(0);
    expect(result.stdout + result.stderr).toMatch(/Illegal data address/);

    const query = () =>
      database.query<{ severity: string; source: string; details: { address: number; function_code: number } }>(
        `SELECT severity, source, details FROM compliance_audit_log WHERE event_type = 'MODBUS_WRITE_REJECTED' AND details->>'clears_emergency_stop' = 'false'`,
      );
    const deadline = Date.now() + 10_000;
    let audit = await query();
    while (audit.rows.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      audit = await query();
    }
    expect(audit.rows).toHaveLength(1);
    expect(audit.rows[0]).toMatchObject({ severity: 'MEDIUM', source: 'modbus', details: { address: 1000, function_code: 6 } });
  });

  it('coil 1 = 1 stops the station and 0 does not clear it', async () => {
    const stop = await runMbpoll(adapter.modbusPort, ['-a', '1', '-r', '1', '-t', '0'], ['1']);
    expect(stop.exitCode, stop.stdout + stop.stderr).toBe(0);
    // The echo came after the commit, so the stop is stored the moment mbpoll returns.
    const stored = await database.query(`SELECT 1 FROM emergency_stops WHERE station_id = 'station001' AND ended_at IS NULL`);
    expect(stored.rowCount).toBe(1);
    // Repeats while stopped, as a SCADA program writing the coil cyclically sends them, store nothing new.
    for (let repeat = 0; repeat < 3; repeat += 1) {
      expect((await runMbpoll(adapter.modbusPort, ['-a', '1', '-r', '1', '-t', '0'], ['1'])).exitCode).toBe(0);
    }

    const token = await login(adapter.baseUrl);
    const status = await call(adapter.baseUrl, token, 'GET', '/api/v1/pump-stations/station001/emergency-stop-status');
    expect(status.body).toMatchObject({ station_id: 'station001', active: true, state: 'stopped' });

    const clear = await runMbpoll(adapter.modbusPort, ['-a', '1', '-r', '1', '-t', '0'], ['0']);
    expect(clear.exitCode).not.toBe(0);
    expect(clear.stdout + clear.stderr).toMatch(/Illegal data value/);
    const after = await call(adapter.baseUrl, token, 'GET', '/api/v1/pump-stations/station001/emergency-stop-status');
    expect(after.body).toMatchObject({ active: true, state: 'stopped' });

    const deadline = Date.now() + 10_000;
    let rows: Array<{ event_type: string; severity: string; source: string; source_address: string }> = [];
    while (rows.length < 2 && Date.now() < deadline) {
      rows = (
        await database.query<{ event_type: string; severity: string; source: string; source_address: string }>(
          `SELECT event_type, severity, source, source_address FROM compliance_audit_log
           WHERE event_type = 'EMERGENCY_STOP_ACTIVATED' OR (event_type = 'MODBUS_WRITE_REJECTED' AND details->>'clears_emergency_stop' = 'true') ORDER BY id`,
        )
      ).rows;
      if (rows.length < 2) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(rows).toEqual([
      { event_type: 'EMERGENCY_STOP_ACTIVATED', severity: 'CRITICAL', source: 'modbus', source_address: '127.0.0.1' },
      { event_type: 'MODBUS_WRITE_REJECTED', severity: 'HIGH', source: 'modbus', source_address: '127.0.0.1' },
    ]);
  });
});
