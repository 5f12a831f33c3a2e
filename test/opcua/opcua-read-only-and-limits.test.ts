import {
  AttributeIds,
  DataType,
  MessageSecurityMode,
  SecurityPolicy,
  StatusCodes,
  TimestampsToReturn,
  type ClientSession,
  type ClientSessionRawSubscriptionService,
} from 'node-opcua-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import type { RunningAdapter } from '../helpers/adapter-process.js';
import { connect, NS, readValue, type ClientPki, type Connection, type ConnectOptions } from './client.js';
import { startOpcUaFixture, type OpcUaFixture } from './fixture.js';
import { auditRows, TEST_PASSWORD } from './users.js';
import { waitFor } from './wait.js';

// Anonymous sessions and SecurityPolicy None enabled, and small limits that a test can reach.
const CONFIG = `
opcua:
  allow_anonymous: true
  allow_security_none: true
  max_sessions: 4
  max_subscriptions_per_session: 2
  max_monitored_items_per_subscription: 5
demo:
  seed_plans: false
stations:
  - id: station001
    unit_id: 1
    pumps:
      - { id: pump1, control_variable: speed, unit: Hz, minimum: 10, maximum: 50, max_rate_per_second: 100, failsafe_setpoint: 20 }
`;

const NONE: ConnectOptions = { securityMode: MessageSecurityMode.None, securityPolicy: SecurityPolicy.None };

function emergencyStop(session: ClientSession) {
  return session.call({
    objectId: `${NS}station001`,
    methodId: `${NS}station001.EmergencyStop`,
    inputArguments: [{ dataType: DataType.String, value: 'read-only session tries' }],
  });
}

/** Returns the session's raw CreateSubscription and CreateMonitoredItems services, whose status codes the limits tests check. */
function raw(session: ClientSession): ClientSessionRawSubscriptionService {
  return session as unknown as ClientSessionRawSubscriptionService;
}

function writeFeedback(session: ClientSession) {
  return session.write({ nodeId: `${NS}station001.pump1.MeasuredSpeed`, attributeId: AttributeIds.Value, value: { value: { dataType: DataType.Double, value: 12 } } });
}

describe('OPC UA with anonymous and SecurityPolicy None enabled, and small limits', () => {
  let fixture: OpcUaFixture;
  let db: Database;
  let adapter: RunningAdapter;
  let scada: ClientPki;

  beforeAll(async () => {
    fixture = await startOpcUaFixture(CONFIG, { operator1: 'operator', engineer1: 'engineer' });
    ({ db, adapter, scada } = fixture);
  });

  afterAll(async () => {
    await fixture?.close();
  });

  describe('read-only sessions', () => {
    const cases: Array<{ name: string; options: ConnectOptions; reason: string; actor: string | null }> = [
      { name: 'anonymous over SecurityPolicy None', options: NONE, reason: 'security_none', actor: null },
      { name: 'anonymous over SignAndEncrypt', options: {}, reason: 'anonymous', actor: null },
      { name: 'operator over SecurityPolicy None', options: { ...NONE, user: { username: 'operator1', password: TEST_PASSWORD } }, reason: 'security_none', actor: 'operator1' },
      { name: 'engineer over SecurityPolicy None', options: { ...NONE, user: { username: 'engineer1', password: TEST_PASSWORD } }, reason: 'security_none', actor: 'engineer1' },
    ];

    for (const testCase of cases) {
      it(`${testCase.name}: read only`, async () => {
        const connection = await connect(scada, adapter.opcuaPort, testCase.options);
        try {
          const { session } = connection;
          expect(await readValue(session, `${NS}station001.pump1.Maximum`)).toBe(50);
          expect(await writeFeedback(session)).toBe(StatusCodes.BadUserAccessDenied);

          const deniedBefore = (await auditRows(db, 'ACCESS_DENIED')).length;
          const result = await emergencyStop(session);
          expect(result.statusCode).toBe(StatusCodes.BadUserAccessDenied);
          const rows = await waitFor(() => auditRows(db, 'ACCESS_DENIED'), (found) => found.length > deniedBefore, 5000);
          expect(rows.at(-1)).toMatchObject({ source: 'opcua', actor: testCase.actor, station_id: 'station001', details: { method: 'EmergencyStop', reason: testCase.reason } });
          expect(await readValue(session, `${NS}station001.EmergencyStopActive`)).toBe(false);
        } finally {
          await connection.close();
        }
      });
    }

    it('engineer over SignAndEncrypt writes feedback', async () => {
      const connection = await connect(scada, adapter.opcuaPort, { user: { username: 'engineer1', password: TEST_PASSWORD } });
      try {
        expect(await writeFeedback(connection.session)).toBe(StatusCodes.Good);
      } finally {
        await connection.close();
      }
      expect(await auditRows(db, 'EMERGENCY_STOP_ACTIVATED')).toHaveLength(0);
    });
  });

  describe('limits', () => {
    const open: Connection[] = [];

    afterAll(async () => {
      for (const connection of open) await connection.close().catch(() => undefined);
    });

    it('third subscription: BadTooManySubscriptions', async () => {
      const connection = await connect(scada, adapter.opcuaPort, NONE);
      open.push(connection);
      const request = { requestedPublishingInterval: 100, requestedLifetimeCount: 600, requestedMaxKeepAliveCount: 20, publishingEnabled: true };
      await raw(connection.session).createSubscription(request);
      await raw(connection.session).createSubscription(request);
      await expect(raw(connection.session).createSubscription(request)).rejects.toThrow(/BadTooManySubscriptions/);
      expect(await readValue(connection.session, `${NS}station001.Heartbeat`)).toEqual(expect.any(Number));
    });

    it('sixth monitored item: BadTooManyMonitoredItems', async () => {
      const connection = await connect(scada, adapter.opcuaPort, NONE);
      open.push(connection);
      const { subscriptionId } = await raw(connection.session).createSubscription({ requestedPublishingInterval: 100, requestedLifetimeCount: 600, requestedMaxKeepAliveCount: 20, publishingEnabled: true });
      const variables = ['EffectiveSetpoint', 'Mode', 'ModeCode', 'Minimum', 'Maximum', 'PlanValue'];
      const response = await raw(connection.session).createMonitoredItems({
        subscriptionId,
        timestampsToReturn: TimestampsToReturn.Both,
        itemsToCreate: variables.map((name, index) => ({
          itemToMonitor: { nodeId: `${NS}station001.pump1.${name}`, attributeId: AttributeIds.Value },
          monitoringMode: 2,
          requestedParameters: { clientHandle: index + 1, samplingInterval: 0, queueSize: 1, discardOldest: true },
        })),
      });
      const statuses = (response.results ?? []).map((result) => result.statusCode);
      expect(statuses.slice(0, 5)).toEqual(Array(5).fill(StatusCodes.Good));
      expect(statuses[5]).toBe(StatusCodes.BadTooManyMonitoredItems);
    });

    it('fifth session: BadTooManySessions, others served', async () => {
      while (open.length < 4) open.push(await connect(scada, adapter.opcuaPort, NONE));
      await expect(connect(scada, adapter.opcuaPort, NONE)).rejects.toThrow(/BadTooManySessions/);
      for (const connection of open) {
        expect(await readValue(connection.session, `${NS}station001.pump1.Minimum`)).toBe(10);
      }

      await open.pop()?.close();
      const replacement = await connect(scada, adapter.opcuaPort, NONE);
      open.push(replacement);
      expect(await readValue(replacement.session, `${NS}station001.pump1.Maximum`)).toBe(50);
    });
  });
});
