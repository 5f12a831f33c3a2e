/**
 * Entry point of one benchmark server process, forked by run.ts. argv[2] selects the server.
 * "adapter" is the adapter's AdapterOpcUaServer over live station actors. "bare" is an
 * OPCUAServer with VARIABLE_COUNT Double variables and nothing else. Both allow anonymous
 * sessions over SecurityPolicy None and create their certificate in a fresh folder, so both
 * starts include certificate creation. The process reports its start figures over IPC, replies
 * to statistics requests, and exits on a stop message or when the parent's IPC channel closes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import { MessageSecurityMode, SecurityPolicy } from 'node-opcua-secure-channel';
import { OPCUAServer, RegisterServerMethod } from 'node-opcua-server';
import { DataType } from 'node-opcua-variant';
import { StationActor } from '../../src/actors/station.js';
import { StationRegistry } from '../../src/actors/station-registry.js';
import { CredentialService } from '../../src/auth/credentials.js';
import { createLogger } from '../../src/log.js';
import { AdapterOpcUaServer } from '../../src/opcua/server.js';
import { benchStations, isBenchTarget, VARIABLE_COUNT } from './fixture.js';
import type { ParentMessage, ServerMessage } from './messages.js';

const HOST = '127.0.0.1';
const LIMITS = { maxSessions: 10, maxSubscriptionsPerSession: 10, maxMonitoredItemsPerSubscription: 10_000 };

interface StartedServer {
  port: number;
  close: () => Promise<void>;
}

async function startAdapterServer(certsDir: string): Promise<StartedServer> {
  const logger = createLogger({ level: 'silent' });
  const stations = benchStations();
  const registry = new StationRegistry();
  // Without a database the actors stay in restoring and publish the stop image, with a heartbeat
  // snapshot every second, so the server carries the adapter's live update path.
  const actors = stations.map((station) => new StationActor(station, { getDatabase: () => null, logger }));
  for (const actor of actors) {
    actor.start();
    registry.set(actor);
  }
  const credentials = new CredentialService({
    getDatabase: () => null,
    logger,
    policy: { maxFailedLogins: 5, failedLoginWindowSeconds: 900, lockoutSeconds: 900, loginAttemptsPerMinute: 30, passwordMinLength: 12 },
  });
  const server = new AdapterOpcUaServer({
    settings: { applicationName: 'Calejo Control Adapter', applicationUri: 'urn:calejo:control-adapter', allowAnonymous: true, allowSecurityNone: true, ...LIMITS },
    host: HOST,
    port: 0,
    certsDir,
    stations,
    registry,
    credentials,
    getDatabase: () => null,
    logger,
    version: 'bench',
  });
  const { port } = await server.start();
  return {
    port,
    close: async () => {
      await server.stop();
      await Promise.all(actors.map((actor) => actor.stop()));
    },
  };
}

async function startBareServer(certsDir: string): Promise<StartedServer> {
  const certificateManager = new OPCUACertificateManager({ rootFolder: join(certsDir, 'pki'), automaticallyAcceptUnknownCertificate: false });
  const server = new OPCUAServer({
    host: HOST,
    hostname: HOST,
    port: 0,
    serverCertificateManager: certificateManager,
    securityPolicies: [SecurityPolicy.None, SecurityPolicy.Basic256Sha256, SecurityPolicy.Aes128_Sha256_RsaOaep, SecurityPolicy.Aes256_Sha256_RsaPss],
    securityModes: [MessageSecurityMode.None, MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
    allowAnonymous: true,
    serverInfo: { applicationUri: 'urn:calejo:bench:bare-server' },
    serverCapabilities: { ...LIMITS, minSupportedSampleRate: 0 },
    registerServerMethod: RegisterServerMethod.HIDDEN,
    isAuditing: false,
  });
  await server.initialize();
  const addressSpace = server.engine.addressSpace;
  if (!addressSpace) throw new Error('node-opcua created no address space during initialize()');
  const namespace = addressSpace.getOwnNamespace();
  const folder = namespace.addFolder(addressSpace.rootFolder.objects, { browseName: 'Variables' });
  for (let index = 0; index < VARIABLE_COUNT; index += 1) {
    namespace.addVariable({
      componentOf: folder,
      nodeId: `s=v${index}`,
      browseName: `v${index}`,
      dataType: 'Double',
      accessLevel: 'CurrentRead',
      userAccessLevel: 'CurrentRead',
      minimumSamplingInterval: 0,
      value: { dataType: DataType.Double, value: index },
    });
  }
  await server.start();
  return { port: server.endpoints[0]?.port ?? 0, close: () => server.shutdown(0) };
}

function send(message: ServerMessage): void {
  process.send?.(message);
}

const target = process.argv[2];
if (!process.send) throw new Error('server-main.ts must be started by run.ts through child_process.fork, because it reports over IPC');
if (!isBenchTarget(target)) throw new Error(`invalid server target "${target}": use "adapter" or "bare"`);

const certsDir = mkdtempSync(join(tmpdir(), `calejo-opcua-bench-${target}-`));
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
const startedAt = performance.now();
const server = target === 'adapter' ? await startAdapterServer(certsDir) : await startBareServer(certsDir);
const startMs = performance.now() - startedAt;
loopDelay.disable();

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await server.close();
  rmSync(certsDir, { recursive: true, force: true });
  if (process.connected) process.disconnect();
  process.exit(0);
}

process.on('message', (message: ParentMessage) => {
  if (message.type === 'stats') send({ type: 'stats', rssBytes: process.memoryUsage().rss, cpu: process.cpuUsage() });
  else if (message.type === 'stop') void stop();
});
process.on('disconnect', () => void stop());

send({ type: 'listening', port: server.port, startMs, readyMs: performance.now(), maxLoopDelayMs: loopDelay.max / 1e6, rssBytes: process.memoryUsage().rss });
