import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  AttributeIds,
  BrowseDirection,
  ClientSubscription,
  DataType,
  MessageSecurityMode,
  SecurityPolicy,
  StatusCodes,
  TimestampsToReturn,
  type ClientSession,
  type DataValue,
} from 'node-opcua-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { startAdapter, type RunningAdapter } from '../helpers/adapter-process.js';
import { float32At, readHoldingRegisters } from '../helpers/mbpoll.js';
import { call, login } from '../helpers/rest.js';
import { connect, createClientPki, NS, readValue, trustServerOnClient, type ClientPki, type Connection } from './client.js';
import { startOpcUaFixture, type OpcUaFixture } from './fixture.js';
import { auditRows, TEST_PASSWORD } from './users.js';
import { retry, waitFor } from './wait.js';

const run = promisify(execFile);

const CONFIG = `
demo:
  seed_plans: false
stations:
  - id: station001
    unit_id: 1
    pumps:
      - { id: pump1, control_variable: speed, unit: Hz, minimum: 10, maximum: 50, max_rate_per_second: 100, failsafe_setpoint: 20, stop_setpoint: 10 }
      - { id: pump2, control_variable: flow, unit: l/s, minimum: 0, maximum: 80, max_rate_per_second: 100, failsafe_setpoint: 25 }
  - id: station002
    unit_id: 2
    pumps:
      - { id: pump1, control_variable: speed, unit: Hz, minimum: 0, maximum: 50, max_rate_per_second: 5, failsafe_setpoint: 25 }
`;

const STATUS_EMERGENCY_STOP = 0b1;

function insertPlan(database: Database, stationId: string, pumpId: string, value: number): Promise<unknown> {
  return database.query(
    `INSERT INTO pump_plans (station_id, pump_id, interval_start, interval_end, target_value, plan_version)
     VALUES ($1, $2, now() - interval '1 minute', now() + interval '1 hour', $3, 'opcua-test')`,
    [stationId, pumpId, value],
  );
}

async function browseNames(session: ClientSession, nodeId: string): Promise<string[]> {
  const result = await session.browse({ nodeId, browseDirection: BrowseDirection.Forward, referenceTypeId: 'HierarchicalReferences', includeSubtypes: true, resultMask: 63 });
  return (result.references ?? []).map((reference) => reference.browseName.name ?? '');
}

async function callMethod(session: ClientSession, stationId: string, method: string, reason: string) {
  return session.call({
    objectId: `${NS}${stationId}`,
    methodId: `${NS}${stationId}.${method}`,
    inputArguments: [{ dataType: DataType.String, value: reason }],
  });
}

/** Subscribes to one variable and collects its data changes with the time each arrived. */
async function monitor(session: ClientSession, nodeId: string) {
  const subscription = ClientSubscription.create(session, {
    requestedPublishingInterval: 10,
    requestedLifetimeCount: 600,
    requestedMaxKeepAliveCount: 20,
    maxNotificationsPerPublish: 100,
    publishingEnabled: true,
    priority: 10,
  });
  const changes: Array<{ value: unknown; status: string; at: number }> = [];
  const item = await subscription.monitor(
    { nodeId, attributeId: AttributeIds.Value },
    { samplingInterval: 0, discardOldest: true, queueSize: 100 },
    TimestampsToReturn.Both,
  );
  item.on('changed', (dataValue: DataValue) => changes.push({ value: dataValue.value.value as unknown, status: dataValue.statusCode.name, at: performance.now() }));
  return { subscription, changes, terminate: () => subscription.terminate() };
}

describe('OPC UA server of an adapter on PostgreSQL', () => {
  let fixture: OpcUaFixture;
  let db: Database;
  let adapter: RunningAdapter;
  let certsDir: string;
  let scada: ClientPki;
  const connections: Connection[] = [];

  const open = async (username: string, options: Parameters<typeof connect>[2] = {}) => {
    const connection = await connect(scada, adapter.opcuaPort, { user: { username, password: TEST_PASSWORD }, ...options });
    connections.push(connection);
    return connection;
  };

  beforeAll(async () => {
    fixture = await startOpcUaFixture(CONFIG, { viewer1: 'viewer', operator1: 'operator', engineer1: 'engineer' });
    ({ db, adapter, certsDir, scada } = fixture);
    await insertPlan(db, 'station001', 'pump1', 30);
    await insertPlan(db, 'station001', 'pump2', 20);
    await insertPlan(db, 'station002', 'pump1', 12);
  });

  afterAll(async () => {
    for (const connection of connections) await connection.close().catch(() => undefined);
    await fixture?.close();
  });

  it('logs endpoint URL and security policies', () => {
    const line = adapter.logs.find((entry) => typeof entry.msg === 'string' && entry.msg.startsWith('OPC UA server listening on opc.tcp://'));
    expect(line).toBeDefined();
    expect(line?.level).toBe('INFO');
    expect(line?.port).toBe(adapter.opcuaPort);
    expect(line?.endpoint_url).toBe(`opc.tcp://127.0.0.1:${adapter.opcuaPort}`);
    expect(line?.security_policies).toEqual(['Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss']);
    expect(line?.security_modes).toEqual(['Sign', 'SignAndEncrypt']);
    // node-opcua's own console lines must not reach stdout as text.
    expect(adapter.logs.every((entry) => typeof entry.level === 'string')).toBe(true);
  });

  it('browses stations and pumps', async () => {
    const { session } = await open('viewer1');
    const namespaces = await readValue(session, 'i=2255');
    expect((namespaces as string[])[1]).toBe('urn:calejo:control-adapter');

    expect(await browseNames(session, `${NS}PumpStations`)).toEqual(expect.arrayContaining(['station001', 'station002']));
    const station = await browseNames(session, `${NS}station001`);
    expect(station).toEqual(expect.arrayContaining(['Pumps', 'StatusWord', 'EmergencyStopActive', 'EmergencyStopState', 'Heartbeat', 'EmergencyStop', 'ClearEmergencyStop', 'Resume']));
    expect(await browseNames(session, `${NS}station001.Pumps`)).toEqual(['pump1', 'pump2']);
    const pump = await browseNames(session, `${NS}station001.pump1`);
    expect(pump).toEqual(expect.arrayContaining(['EffectiveSetpoint', 'Mode', 'Minimum', 'Maximum', 'PlanValue', 'MeasuredSpeed', 'MeasuredFlow', 'Running']));

    const properties = await session.browse({ nodeId: `${NS}station001.pump2.EffectiveSetpoint`, browseDirection: BrowseDirection.Forward, resultMask: 63 });
    const byName = new Map((properties.references ?? []).map((reference) => [reference.browseName.name, reference.nodeId.toString()]));
    const range = (await session.read({ nodeId: byName.get('EURange') ?? '', attributeId: AttributeIds.Value })).value.value as { low: number; high: number };
    expect(range).toMatchObject({ low: 0, high: 80 });
    const units = (await session.read({ nodeId: byName.get('EngineeringUnits') ?? '', attributeId: AttributeIds.Value })).value.value as { displayName: { text: string } };
    expect(units.displayName.text).toBe('l/s');
  });

  it('setpoints equal Modbus and REST', async () => {
    const { session } = await open('viewer1');
    await waitFor(() => readValue(session, `${NS}station001.pump1.EffectiveSetpoint`), (value) => value === 30, 5000);
    await waitFor(() => readValue(session, `${NS}station001.pump2.EffectiveSetpoint`), (value) => value === 20, 5000);

    const token = await login(adapter.baseUrl);
    const rest = await call(adapter.baseUrl, token, 'GET', '/api/v1/pump-stations/station001');
    const registers = await readHoldingRegisters(adapter.modbusPort, 1, 1, 30);
    const pumps = rest.body.pumps as Array<{ pump_id: string; setpoint: number; mode: string }>;
    for (const [index, pump] of pumps.entries()) {
      const setpoint = await readValue(session, `${NS}station001.${pump.pump_id}.EffectiveSetpoint`);
      expect(setpoint).toBe(pump.setpoint);
      expect(setpoint).toBe(float32At(registers, 10 + 10 * index));
      expect(await readValue(session, `${NS}station001.${pump.pump_id}.Mode`)).toBe(pump.mode);
      expect(await readValue(session, `${NS}station001.${pump.pump_id}.ModeCode`)).toBe(registers[12 + 10 * index]);
    }
    expect(await readValue(session, `${NS}station001.StatusWord`)).toBe(registers[0]);
    const status = await call(adapter.baseUrl, token, 'GET', '/api/v1/status');
    expect((status.body.protocols as Record<string, unknown>).opcua).toMatchObject({ listening: true, port: adapter.opcuaPort, endpointUrl: `opc.tcp://127.0.0.1:${adapter.opcuaPort}` });
    expect(await readValue(session, `${NS}station001.pump1.PlanValue`)).toBe(30);

    const setpoint = await session.read({ nodeId: `${NS}station001.pump1.EffectiveSetpoint`, attributeId: AttributeIds.Value });
    expect(setpoint.sourceTimestamp?.getTime()).toBeLessThanOrEqual(Date.now());
    expect(setpoint.sourceTimestamp?.getTime()).toBeGreaterThan(Date.now() - 60_000);
  });

  it('plan row reaches subscriber within 100 ms', async () => {
    const { session } = await open('viewer1');
    const watch = await monitor(session, `${NS}station001.pump2.EffectiveSetpoint`);
    await waitFor(async () => watch.changes.length, (count) => count > 0, 5000);

    const latencies: number[] = [];
    for (let round = 1; round <= 7; round += 1) {
      const target = 40 + round;
      const before = watch.changes.length;
      const started = performance.now();
      await insertPlan(db, 'station001', 'pump2', target);
      await waitFor(async () => watch.changes.slice(before).find((change) => change.value === target), (change) => change !== undefined, 5000, 2);
      const change = watch.changes.slice(before).find((candidate) => candidate.value === target);
      latencies.push((change?.at ?? Number.POSITIVE_INFINITY) - started);
    }
    await watch.terminate();
    latencies.sort((a, b) => a - b);
    console.log(`plan row to OPC UA data change, ms: ${latencies.map((latency) => latency.toFixed(1)).join(', ')}`);
    // The median must meet the 100 ms budget. The slowest round gets slack for a loaded 2-core CI machine.
    expect(latencies[Math.floor(latencies.length / 2)]).toBeLessThan(100);
    expect(latencies[latencies.length - 1]).toBeLessThan(500);
  });

  it('viewer EmergencyStop denied and audited', async () => {
    const { session } = await open('viewer1');
    const result = await callMethod(session, 'station001', 'EmergencyStop', 'viewer tries');
    expect(result.statusCode).toBe(StatusCodes.BadUserAccessDenied);

    const rows = await waitFor(() => auditRows(db, 'ACCESS_DENIED'), (found) => found.length > 0, 5000);
    expect(rows[0]).toMatchObject({ source: 'opcua', actor: 'viewer1', actor_role: 'viewer', station_id: 'station001' });
    expect(rows[0]?.details).toMatchObject({ method: 'EmergencyStop', permission: 'emergency_stop' });
    expect(await readValue(session, `${NS}station001.EmergencyStopActive`)).toBe(false);
  });

  it('operator EmergencyStop stops every surface', async () => {
    const { session } = await open('operator1');
    const watch = await monitor(session, `${NS}station001.EmergencyStopActive`);
    await waitFor(async () => watch.changes.length, (count) => count > 0, 5000);

    const result = await callMethod(session, 'station001', 'EmergencyStop', 'pipe burst');
    expect(result.statusCode).toBe(StatusCodes.Good);
    expect(result.outputArguments?.map((argument) => argument.value as unknown)).toEqual(['stopped', true]);

    await waitFor(async () => watch.changes.at(-1)?.value, (value) => value === true, 2000);
    await watch.terminate();
    expect(await readValue(session, `${NS}station001.EmergencyStopState`)).toBe('stopped');
    expect(await readValue(session, `${NS}station001.pump1.EffectiveSetpoint`)).toBe(10);
    const registers = await readHoldingRegisters(adapter.modbusPort, 1, 1, 30);
    expect(registers[0]! & STATUS_EMERGENCY_STOP).toBe(STATUS_EMERGENCY_STOP);
    const token = await login(adapter.baseUrl);
    const status = await call(adapter.baseUrl, token, 'GET', '/api/v1/pump-stations/station001/emergency-stop-status');
    expect(status.body).toMatchObject({ station_id: 'station001', active: true, state: 'stopped' });
    // The other station keeps running.
    expect(await readValue(session, `${NS}station002.EmergencyStopActive`)).toBe(false);

    const rows = await auditRows(db, 'EMERGENCY_STOP_ACTIVATED');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ source: 'opcua', actor: 'operator1', actor_role: 'operator', station_id: 'station001' });
  });

  it('counts OPC UA requests in the metrics', async () => {
    const metrics = await (await fetch(`${adapter.baseUrl}/api/v1/metrics`)).text();
    const count = (service: string) => Number(new RegExp(`^calejo_opcua_requests_total\\{service="${service}",outcome="good"\\} (\\d+)`, 'm').exec(metrics)?.[1] ?? 0);
    // Earlier cases read values and called EmergencyStop over OPC UA.
    expect(count('ReadResponse')).toBeGreaterThan(0);
    expect(count('CallResponse')).toBeGreaterThan(0);
  });

  it('clear holds pumps, resume restarts them', async () => {
    const { session } = await open('operator1');
    const clear = await callMethod(session, 'station001', 'ClearEmergencyStop', 'pipe repaired');
    expect(clear.statusCode).toBe(StatusCodes.Good);
    expect(clear.outputArguments?.[0]?.value).toBe('held');
    expect(await readValue(session, `${NS}station001.EmergencyStopActive`)).toBe(false);
    expect(await readValue(session, `${NS}station001.pump1.Mode`)).toBe('stopped');
    expect(await readValue(session, `${NS}station001.pump1.EffectiveSetpoint`)).toBe(10);

    const again = await callMethod(session, 'station001', 'ClearEmergencyStop', 'twice');
    expect(again.statusCode).toBe(StatusCodes.BadInvalidState);

    const resume = await callMethod(session, 'station001', 'Resume', 'back to plan');
    expect(resume.statusCode).toBe(StatusCodes.Good);
    await waitFor(() => readValue(session, `${NS}station001.EmergencyStopState`), (state) => state === 'operational', 10_000);
    expect(await readValue(session, `${NS}station001.pump1.EffectiveSetpoint`)).toBe(30);

    const cleared = await auditRows(db, 'EMERGENCY_STOP_CLEARED');
    expect(cleared.at(-1)).toMatchObject({ source: 'opcua', actor: 'operator1' });
    const resumed = await auditRows(db, 'EMERGENCY_STOP_RESUMED');
    expect(resumed.at(-1)).toMatchObject({ source: 'opcua', actor: 'operator1' });
  });

  it('feedback writes need manage_setpoints', async () => {
    const viewer = await open('viewer1');
    const engineer = await open('engineer1');
    const nodeId = `${NS}station001.pump1.MeasuredSpeed`;
    const write = (session: ClientSession, value: number) => session.write({ nodeId, attributeId: AttributeIds.Value, value: { value: { dataType: DataType.Double, value } } });

    expect(await write(viewer.session, 41)).toBe(StatusCodes.BadUserAccessDenied);
    expect((await engineer.session.read({ nodeId, attributeId: AttributeIds.Value })).statusCode).toBe(StatusCodes.BadWaitingForInitialData);
    expect(await write(engineer.session, 42.5)).toBe(StatusCodes.Good);
    expect(await readValue(viewer.session, nodeId)).toBe(42.5);
    expect(await write(engineer.session, Number.POSITIVE_INFINITY)).toBe(StatusCodes.BadOutOfRange);
    expect(await readValue(viewer.session, nodeId)).toBe(42.5);

    // The accepted write is stored beside the Modbus feedback, in a batch shortly after.
    const stored = await waitFor(
      async () => (await db.query<{ value: number }>(`SELECT value FROM pump_feedback WHERE station_id = 'station001' AND pump_id = 'pump1' AND variable = 'measured_speed'`)).rows,
      (rows) => rows.length > 0,
      5000,
    );
    expect(stored.map((row) => Number(row.value))).toEqual([42.5]);
  });

  it('published variables reject writes', async () => {
    const { session } = await open('engineer1');
    const published: Array<[string, DataType, unknown]> = [
      ['station001.pump1.EffectiveSetpoint', DataType.Double, 49],
      ['station001.pump1.PlanValue', DataType.Double, 49],
      ['station001.pump1.Minimum', DataType.Double, 0],
      ['station001.pump1.Mode', DataType.String, 'plan'],
      ['station001.pump1.Name', DataType.String, 'renamed'],
      ['station001.EmergencyStopActive', DataType.Boolean, false],
      ['station001.EmergencyStopState', DataType.String, 'operational'],
      ['station001.StatusWord', DataType.UInt16, 0],
    ];
    for (const [nodeId, dataType, value] of published) {
      const status = await session.write({ nodeId: `${NS}${nodeId}`, attributeId: AttributeIds.Value, value: { value: { dataType, value } } });
      expect(status, nodeId).toBe(StatusCodes.BadNotWritable);
    }
    expect(await readValue(session, `${NS}station001.pump1.EffectiveSetpoint`)).toBe(30);
  });

  it('wrong password rejected and audited', async () => {
    await expect(connect(scada, adapter.opcuaPort, { user: { username: 'operator1', password: 'wrong-password-123' } })).rejects.toThrow();
    const rows = await waitFor(() => auditRows(db, 'INVALID_AUTHENTICATION'), (found) => found.some((row) => row.actor === 'operator1'), 5000);
    expect(rows.find((row) => row.actor === 'operator1')).toMatchObject({ source: 'opcua', details: { reason: 'wrong_password' } });
  });

  it('anonymous and None rejected by default', async () => {
    await expect(connect(scada, adapter.opcuaPort, { securityMode: MessageSecurityMode.None, securityPolicy: SecurityPolicy.None })).rejects.toThrow();
    await expect(connect(scada, adapter.opcuaPort)).rejects.toThrow();
    const endpoints = await retry(async () => {
      const { OPCUAClient } = await import('node-opcua-client');
      const client = OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 0 } });
      await client.connect(`opc.tcp://127.0.0.1:${adapter.opcuaPort}`);
      try {
        return await client.getEndpoints();
      } finally {
        await client.disconnect();
      }
    }, 5000);
    expect(endpoints.length).toBe(6);
    expect(endpoints.every((endpoint) => endpoint.securityMode !== MessageSecurityMode.None)).toBe(true);
    expect(endpoints.flatMap((endpoint) => endpoint.userIdentityTokens ?? []).every((policy) => policy.tokenType !== 0)).toBe(true);
  });

  it('untrusted certificate rejected until moved', async () => {
    const intruder = await createClientPki('intruder');
    try {
      trustServerOnClient(intruder, certsDir);
      await expect(connect(intruder, adapter.opcuaPort, { user: { username: 'operator1', password: TEST_PASSWORD } })).rejects.toThrow(/BadSecurityChecksFailed/);

      const rows = await waitFor(() => auditRows(db, 'OPCUA_CERTIFICATE_REJECTED'), (found) => found.length > 0, 5000);
      expect(rows[0]).toMatchObject({ source: 'opcua', actor: intruder.applicationUri });
      expect(rows[0]?.details).toMatchObject({ thumbprint: intruder.thumbprint, status: 'BadCertificateUntrusted' });
      const rejectedFolder = join(certsDir, 'pki', 'rejected');
      const rejected = readdirSync(rejectedFolder).filter((file) => file.includes(intruder.thumbprint));
      expect(rejected).toHaveLength(1);

      // The documented way to trust a client: move its file from rejected/ to trusted/certs/.
      renameSync(join(rejectedFolder, rejected[0]!), join(certsDir, 'pki', 'trusted', 'certs', rejected[0]!));
      // An attempt right after the move races node-opcua's folder watcher, as a retrying client would.
      const connection = await retry(() => connect(intruder, adapter.opcuaPort, { user: { username: 'viewer1', password: TEST_PASSWORD } }), 40_000, 100);
      expect(await readValue(connection.session, `${NS}station001.Heartbeat`)).toEqual(expect.any(Number));
      await connection.close();
      expect(readdirSync(rejectedFolder).filter((file) => file.includes(intruder.thumbprint))).toEqual([]);
    } finally {
      intruder.remove();
    }
  }, 90_000);

  it('restart keeps server certificate', async () => {
    const certificateFile = join(certsDir, 'server.pem');
    const before = new X509Certificate(readFileSync(certificateFile)).fingerprint;
    for (const connection of connections.splice(0)) await connection.close().catch(() => undefined);
    await adapter.stop();
    adapter = await startAdapter(fixture.environment);
    fixture.adapter = adapter;

    expect(new X509Certificate(readFileSync(certificateFile)).fingerprint).toBe(before);
    expect(existsSync(join(certsDir, 'server.key'))).toBe(true);
    const { stdout } = await run('openssl', ['verify', '-CAfile', join(certsDir, 'ca.crt'), certificateFile]);
    expect(stdout).toContain(': OK');
    const created = adapter.logs.find((entry) => entry.msg === 'created a self-signed OPC UA application instance certificate');
    expect(created).toBeUndefined();

    // The client trusts the old certificate only, so a new one would fail this connection.
    const { session } = await open('viewer1');
    expect(await readValue(session, `${NS}station001.EmergencyStopState`)).toBe('operational');
  }, 120_000);
});
