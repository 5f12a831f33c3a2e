import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import {
  AttributeIds,
  ClientMonitoredItemGroup,
  ClientSubscription,
  MessageSecurityMode,
  OPCUAClient,
  SecurityPolicy,
  TimestampsToReturn,
  type ClientSession,
} from 'node-opcua-client';

export interface BenchClient {
  session: ClientSession;
  close(): Promise<void>;
}

/** Opens one anonymous session over SecurityPolicy None, with the client's certificates in a temporary folder. */
export async function openBenchClient(port: number): Promise<BenchClient> {
  const folder = mkdtempSync(join(tmpdir(), 'calejo-opcua-bench-client-'));
  const manager = new OPCUACertificateManager({ rootFolder: join(folder, 'pki'), automaticallyAcceptUnknownCertificate: true });
  await manager.initialize();
  const client = OPCUAClient.create({
    applicationName: 'calejo-bench',
    securityMode: MessageSecurityMode.None,
    securityPolicy: SecurityPolicy.None,
    clientCertificateManager: manager,
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0 },
  });
  await client.connect(`opc.tcp://127.0.0.1:${port}`);
  const session = await client.createSession();
  return {
    session,
    async close() {
      await session.close();
      await client.disconnect();
      await manager.dispose();
      rmSync(folder, { recursive: true, force: true });
    },
  };
}

/**
 * Sends Read requests of `nodeIds` one after the other for `seconds` and returns requests per
 * second. Throws when a response contains the wrong number of values.
 */
export async function measureReads(session: ClientSession, nodeIds: string[], seconds: number): Promise<number> {
  const nodesToRead = nodeIds.map((nodeId) => ({ nodeId, attributeId: AttributeIds.Value }));
  const started = performance.now();
  const end = started + seconds * 1000;
  let requests = 0;
  while (performance.now() < end) {
    const values = await session.read(nodesToRead);
    if (values.length !== nodeIds.length) throw new Error(`a Read of ${nodeIds.length} nodes returned ${values.length} values`);
    requests += 1;
  }
  return requests / ((performance.now() - started) / 1000);
}

export interface SubscriptionTiming {
  /** From the CreateMonitoredItems request to the group's initialized event. */
  createdMs: number;
  /** From the request until every item has delivered its first value. */
  allValuesMs: number;
}

/** Monitors `nodeIds` in one subscription and times the creation and the first value of each item. */
export async function measureSubscription(session: ClientSession, nodeIds: string[]): Promise<SubscriptionTiming> {
  const subscription = ClientSubscription.create(session, {
    requestedPublishingInterval: 100,
    requestedLifetimeCount: 600,
    requestedMaxKeepAliveCount: 20,
    maxNotificationsPerPublish: 0,
    publishingEnabled: true,
    priority: 1,
  });
  await once(subscription, 'started');
  const seen = new Set<number>();
  let allSeen: () => void = () => undefined;
  const allValues = new Promise<void>((resolve) => (allSeen = resolve));

  const started = performance.now();
  const group = ClientMonitoredItemGroup.create(
    subscription,
    nodeIds.map((nodeId) => ({ nodeId, attributeId: AttributeIds.Value })),
    { samplingInterval: 0, queueSize: 1, discardOldest: true },
    TimestampsToReturn.Both,
  );
  group.on('changed', (_item, _value, index) => {
    seen.add(index);
    if (seen.size === nodeIds.length) allSeen();
  });
  await once(group, 'initialized');
  const createdMs = performance.now() - started;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`only ${seen.size} of ${nodeIds.length} items delivered a value within 30 s`)), 30_000);
  });
  try {
    await Promise.race([allValues, timeout]);
  } finally {
    clearTimeout(timer);
  }
  const allValuesMs = performance.now() - started;
  await subscription.terminate();
  return { createdMs, allValuesMs };
}
