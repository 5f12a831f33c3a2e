import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adapterEnvironment, startAdapter, type RunningAdapter } from '../helpers/adapter-process.js';
import { createPostgresDatabase, type TestDatabase } from '../helpers/databases.js';
import { readHoldingRegisters } from '../helpers/mbpoll.js';
import { call, login } from '../helpers/rest.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

// PostgreSQL that stops responding without closing its connections: the worst case for a stop,
// because no error ever arrives by itself.
describe('a hung database', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let adapter: RunningAdapter;

  beforeAll(async () => {
    database = await createPostgresDatabase();
    const target = new URL(database.url!);
    proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
    const viaProxy = new URL(database.url!);
    viaProxy.port = String(await proxy.start());
    adapter = await startAdapter(adapterEnvironment({ DATABASE_URL: viaProxy.toString(), CALEJO_DATA_DIR: database.dataDir }));
  });

  afterAll(async () => {
    proxy?.thaw();
    await adapter?.stop();
    await proxy?.cut();
    await database?.drop();
  });

  it('does not delay a REST stop or the health answer', async () => {
    const token = await login(adapter.baseUrl);
    // The identity is read once while the database responds, as in normal operation.
    expect((await call(adapter.baseUrl, token, 'GET', '/api/v1/pump-stations/station002')).status).toBe(200);
    proxy.freeze();

    const sent = Date.now();
    const stop = await call(adapter.baseUrl, token, 'POST', '/api/v1/pump-stations/station002/emergency-stop', { reason: 'database hung' });
    const answeredMs = Date.now() - sent;
    expect([200, 202]).toContain(stop.status);
    expect(answeredMs).toBeLessThan(5000);
    const registers = await readHoldingRegisters(adapter.modbusPort, 2, 1, 1);
    expect(registers[0]! & 1).toBe(1);

    const healthSent = Date.now();
    const health = await call(adapter.baseUrl, null, 'GET', '/api/v1/health');
    expect(health.status).toBe(503);
    expect(Date.now() - healthSent).toBeLessThan(5000);

    proxy.thaw();
    // Once the database responds again, the stop is stored.
    let stored = false;
    const deadline = Date.now() + 20_000;
    while (!stored && Date.now() < deadline) {
      const status = await call(adapter.baseUrl, token, 'GET', '/api/v1/pump-stations/station002/emergency-stop-status');
      stored = status.body.active === true && status.body.persistence_pending === false;
      if (!stored) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(stored).toBe(true);
  }, 60_000);
});
