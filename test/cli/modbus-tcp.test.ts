import { execFile } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ModbusTcpServer } from '../../src/modbus/server.js';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { closeAll, startServer } from '../modbus/server-helpers.js';

function modbusTcp(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', join(PACKAGE_ROOT, 'src', 'cli', 'modbus-tcp.ts'), ...args], { cwd: PACKAGE_ROOT, timeout: 20_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

describe('modbus-tcp read', () => {
  const started: ModbusTcpServer[] = [];
  afterAll(() => closeAll(started));

  it('prints the station block as the guide reads it', async () => {
    const { port } = await startServer(started);
    const result = await modbusTcp(['read', '127.0.0.1', String(port), '40001', '10']);
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(10);
    // Unit 1 of the test image: failsafe bit 2 set, heartbeat 7, two pumps.
    expect(lines.slice(0, 3)).toEqual(['40001: 4', '40002: 7', '40003: 2']);
  });

  it('reads input registers and picks the unit', async () => {
    const { port } = await startServer(started);
    const result = await modbusTcp(['read', '127.0.0.1', String(port), '30003', '1', '--unit', '2', '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ unit_id: 2, register: 30003, values: [1] });
  });

  it('exits 2 on an exception and 3 on bad arguments', async () => {
    const { port } = await startServer(started);
    const unknownUnit = await modbusTcp(['read', '127.0.0.1', String(port), '40001', '10', '--unit', '9']);
    expect(unknownUnit.code).toBe(2);
    expect(unknownUnit.stderr).toContain('unit 9');
    const tooMany = await modbusTcp(['read', '127.0.0.1', String(port), '40001', '200']);
    expect(tooMany.code).toBe(3);
    expect(tooMany.stderr).toContain('COUNT "200"');
    const unknownOption = await modbusTcp(['read', '127.0.0.1', String(port), '40001', '1', '--foo']);
    expect(unknownOption.code).toBe(3);
    const pastTheEnd = await modbusTcp(['read', '127.0.0.1', String(port), '105530', '10']);
    expect(pastTheEnd.code).toBe(3);
    expect(pastTheEnd.stderr).toContain('invalid range');
  });

  it('accepts only decimal register numbers', async () => {
    const { port } = await startServer(started);
    for (const register of ['0x9C41', ' 40001', '40001 ', '4e4', '40001.0', '+40001', '']) {
      const result = await modbusTcp(['read', '127.0.0.1', String(port), register, '1']);
      expect({ register, code: result.code }).toEqual({ register, code: 3 });
      expect(result.stderr).toContain(`invalid REGISTER "${register}"`);
      expect(result.stderr).toContain('decimal digits');
    }
  });

  it('names the unit range for a negative unit', async () => {
    const { port } = await startServer(started);
    for (const unit of [['--unit', '-1'], ['--unit=-1'], ['--unit', '256']]) {
      const result = await modbusTcp(['read', '127.0.0.1', String(port), '40001', '1', ...unit]);
      expect(result.code).toBe(3);
      expect(result.stderr).toContain('invalid --unit');
      expect(result.stderr).toContain('from 0 to 255');
      expect(result.stderr).not.toContain('ambiguous');
    }
  });

  it('exits 2 when the server never answers', async () => {
    // A listener that accepts and stays silent.
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    const started = Date.now();
    const result = await modbusTcp(['read', '127.0.0.1', String(port), '40001', '1']);
    silent.close();
    expect(result.code).toBe(2);
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});
