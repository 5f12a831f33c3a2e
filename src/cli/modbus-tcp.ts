#!/usr/bin/env node
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import type { ModbusRTU as ModbusClient } from 'modbus-serial/ModbusRTU.js';
import { EXIT } from './exit-codes.js';

// modbus-serial is CommonJS and exports the client class as module.exports.
const ModbusRTU = createRequire(import.meta.url)('modbus-serial') as typeof ModbusClient;

const HELP = `Usage: modbus-tcp read HOST PORT REGISTER COUNT [--unit ID] [--json]

Reads COUNT registers starting at REGISTER with Modbus TCP and prints one line per register.
REGISTER follows the 4xxxx/3xxxx convention: 40001 is holding register 0 (function code 3),
30001 is input register 0 (function code 4). COUNT is 1 to 125. --unit picks the unit id, which
is the station's unit_id (default 1).
Exit codes: 0 read, 2 the server answered with an exception or did not answer, 3 bad arguments.`;

/** Maps a 4xxxx or 3xxxx register number to a function code and a zero-based wire address. */
export function resolveRegister(register: number): { functionCode: 3 | 4; address: number } | null {
  if (register >= 40001 && register <= 105536) return { functionCode: 3, address: register - 40001 };
  if (register >= 30001 && register <= 39999) return { functionCode: 4, address: register - 30001 };
  return null;
}

/** Parses decimal digits only: Number() would also take 0x9C41, 4e4 and surrounding spaces. */
function integerArgument(text: string | undefined, name: string, minimum: number, maximum: number): number {
  const value = text !== undefined && /^[0-9]+$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= minimum && value <= maximum)) {
    throw new RangeError(`invalid ${name} "${text ?? ''}": give a whole number from ${minimum} to ${maximum} in decimal digits`);
  }
  return value;
}

/**
 * Joins `--unit VALUE` into `--unit=VALUE` when VALUE starts with a dash, because parseArgs
 * would otherwise reject `--unit -1` as ambiguous instead of letting the range check name 0 to 255.
 */
function joinDashedUnit(argv: string[]): string[] {
  const joined: string[] = [];
  for (let index = 0; index < argv.length; index += 1) {
    const argument = argv[index] ?? '';
    const next = argv[index + 1];
    if (argument === '--unit' && next !== undefined && next.startsWith('-') && next !== '--') {
      joined.push(`--unit=${next}`);
      index += 1;
    } else {
      joined.push(argument);
    }
  }
  return joined;
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: joinDashedUnit(argv), allowPositionals: true, options: { unit: { type: 'string', default: '1' }, json: { type: 'boolean' }, help: { type: 'boolean' } } });
  } catch (error) {
    process.stderr.write(`modbus-tcp: ${(error as Error).message}\n\n${HELP}\n`);
    return EXIT.UNKNOWN;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return EXIT.OK;
  }
  const [command, host, portText, registerText, countText] = positionals;
  let port: number, register: number, count: number, unitId: number;
  try {
    if (command !== 'read' || !host || positionals.length !== 5) throw new RangeError('expected: modbus-tcp read HOST PORT REGISTER COUNT');
    port = integerArgument(portText, 'PORT', 1, 65535);
    register = integerArgument(registerText, 'REGISTER', 30001, 105536);
    count = integerArgument(countText, 'COUNT', 1, 125);
    unitId = integerArgument(values.unit, '--unit', 0, 255);
  } catch (error) {
    process.stderr.write(`modbus-tcp: ${(error as Error).message}\n\n${HELP}\n`);
    return EXIT.UNKNOWN;
  }
  const target = resolveRegister(register);
  const last = resolveRegister(register + count - 1);
  if (!target || !last || last.functionCode !== target.functionCode) {
    process.stderr.write(
      `modbus-tcp: invalid range ${register} to ${register + count - 1}: holding registers are 40001 to 105536 and input registers 30001 to 39999, and a range stays in one of them\n`,
    );
    return EXIT.UNKNOWN;
  }

  const client = new ModbusRTU();
  client.setTimeout(3000);
  try {
    await client.connectTCP(host, { port });
    client.setID(unitId);
    const result = target.functionCode === 3 ? await client.readHoldingRegisters(target.address, count) : await client.readInputRegisters(target.address, count);
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ host, port, unit_id: unitId, register, values: result.data })}\n`);
    } else {
      result.data.forEach((value: number, index: number) => process.stdout.write(`${register + index}: ${value}\n`));
    }
    return EXIT.OK;
  } catch (error) {
    process.stderr.write(`modbus-tcp: reading ${count} registers from ${register} on ${host}:${port} unit ${unitId} failed: ${(error as Error).message}\n`);
    return EXIT.CRITICAL;
  } finally {
    client.close(() => undefined);
  }
}

// Exit explicitly: after a timeout, modbus-serial can leave the socket open and keep the process alive.
process.exit(await main(process.argv.slice(2)));
