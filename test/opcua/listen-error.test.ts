import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adapterEnvironment, runAdapterToExit } from '../helpers/adapter-process.js';

describe('OPC UA port in use', () => {
  let blocker: Server;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'calejo-opcua-port-'));
    blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    await new Promise((resolve) => blocker.close(resolve));
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('exits with one line naming OPCUA_PORT', async () => {
    const port = (blocker.address() as AddressInfo).port;
    const result = await runAdapterToExit(adapterEnvironment({ CALEJO_DATA_DIR: dataDir, OPCUA_PORT: String(port) }), {}, 90_000);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`OPC UA server failed to listen on 127.0.0.1:${port} because the port is in use`);
    expect(result.stderr).toContain('OPCUA_PORT');
  }, 120_000);
});
