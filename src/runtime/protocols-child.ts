import type { AdapterConfig } from '../config/load.js';
import type { Database } from '../db/database.js';
import type { AdapterLogger } from '../log.js';
import type { ChildHandle, ChildSpec } from '../actors/supervisor.js';
import type { StationRegistry } from '../actors/station-registry.js';
import { FeedbackRecorder } from '../modbus/feedback-recorder.js';
import { RejectedWriteAuditor } from '../modbus/rejected-write-audit.js';
import { ModbusTcpServer, type FeedbackReceived } from '../modbus/server.js';
import type { RegisterImage } from '../modbus/register-image.js';
import type { CredentialService } from '../auth/credentials.js';
import type { AdapterOpcUaServer } from '../opcua/server.js';

/**
 * How long a Modbus stop-coil write waits for the database commit before it is acknowledged
 * anyway. Shorter than the usual 1 s response timeout of SCADA drivers.
 */
const COIL_COMMIT_WAIT_MS = 800;

export interface ProtocolStatus {
  listening: boolean;
  address: string | null;
  port: number | null;
  /** Open TCP connections for Modbus; open sessions for OPC UA. */
  connections: number;
  /** The endpoint URL clients connect to; OPC UA only. */
  endpointUrl?: string;
}

/**
 * Creates the protocols child: the Modbus TCP server, which serves reads from the register image
 * that the station snapshots keep current, and the OPC UA server. A stop from an emergency-stop
 * coil or from an OPC UA method enters the station actor like any other command. Feedback writes
 * go to pump_feedback in batches, and rejected writes go to the audit log.
 *
 * The child is running once Modbus listens. The OPC UA server loads its information model for a
 * second or two and starts meanwhile, so that Modbus and the REST API are not held back. It
 * reports `listening` through setStatus, and a failure to start it fails the child.
 */
export function protocolsChild(options: {
  config: AdapterConfig;
  logger: AdapterLogger;
  stations: StationRegistry;
  image: RegisterImage;
  credentials: CredentialService;
  getDatabase: () => Database | null;
  version: string;
  setStatus: (name: string, status: ProtocolStatus) => void;
}): ChildSpec {
  const { config, stations, image, logger, getDatabase } = options;
  const stationIdByUnit = new Map(config.stations.map((station) => [station.unit_id, station.id]));
  const stopped: ProtocolStatus = { listening: false, address: null, port: null, connections: 0 };

  return {
    id: 'protocols',
    async start(): Promise<ChildHandle> {
      const feedback = new FeedbackRecorder({
        getDatabase,
        logger,
        flushIntervalMs: config.modbus.feedback_flush_ms,
        batchRows: config.modbus.feedback_batch_rows,
        maxBufferedRows: config.modbus.feedback_buffer_rows,
      });
      const auditor = new RejectedWriteAuditor({
        getDatabase,
        logger,
        intervalMs: config.modbus.rejected_write_audit_seconds * 1000,
        stationIdOf: (unitId) => stationIdByUnit.get(unitId) ?? null,
      });

      const modbus = new ModbusTcpServer({
        image,
        host: config.bindAddress,
        port: config.modbusPort,
        logger,
        maxConnections: config.modbus.max_connections,
        maxConnectionsPerAddress: config.modbus.max_connections_per_address,
        idleTimeoutMs: config.modbus.idle_timeout_seconds * 1000,
        firstFrameTimeoutMs: config.modbus.first_frame_timeout_seconds * 1000,
        evictionIdleMs: config.modbus.eviction_idle_seconds * 1000,
        unknownUnitResponse: config.modbus.unknown_unit_response,
        onEmergencyStopCoil: async ({ unitId, remoteAddress }) => {
          const actor = stations.all().find((candidate) => candidate.unitId === unitId);
          if (!actor) return;
          // SCADA programs often write the stop coil cyclically. A repeat while the station is
          // already stopped changes nothing, so it is not stored or audited again: a flood of
          // repeats would otherwise fill the audit log and delay a real clear behind it.
          if (actor.getSnapshot().stopState === 'stopped') return;
          // The stop is in the register image before this call awaits anything. The echo waits
          // for the database commit, so an acknowledged stop survives a crash right after it, but
          // only briefly: during an outage the client gets its echo within COIL_COMMIT_WAIT_MS
          // while the persistence queue keeps retrying the commit.
          const committed = actor.activateEmergencyStop({
            source: 'modbus',
            actor: null,
            actorRole: null,
            sourceAddress: remoteAddress,
            reason: 'emergency-stop coil written by SCADA',
            operator: null,
          });
          await Promise.race([committed, new Promise((resolve) => setTimeout(resolve, COIL_COMMIT_WAIT_MS))]);
        },
        onFeedback: (received) => feedback.record(feedbackRows(received, stationIdByUnit)),
        onWriteRejected: (event) => auditor.report(event),
      });
      feedback.start();
      let bound: { address: string; port: number };
      try {
        bound = await modbus.listen();
      } catch (error) {
        await feedback.stop(0);
        throw error;
      }
      // node-opcua takes a second or more to import, so it loads after Modbus listens, while the
      // REST API starts.
      // NOTE: node-opcua loads its information model in one synchronous run of 1 to 2 s, so Modbus and REST requests wait that long once per start. A worker thread would avoid that.
      let opcua: AdapterOpcUaServer | null = null;
      let opcuaListening: { address: string; port: number; endpointUrl: string } | null = null;
      let failureHandler: ((error: Error) => void) | null = null;
      let startFailure: Error | null = null;
      const opcuaStarted = import('../opcua/server.js')
        .then(async (module) => {
          opcua = new module.AdapterOpcUaServer({
            settings: config.opcua,
            host: config.bindAddress,
            port: config.opcuaPort,
            certsDir: config.certsDir,
            stations: config.stations,
            registry: stations,
            credentials: options.credentials,
            getDatabase: options.getDatabase,
            logger,
            version: options.version,
            onFeedback: (row) => feedback.record([{ ...row, sourceAddress: null, register: 'opcua', source: 'opcua' }]),
          });
          const listening = await opcua.start();
          opcuaListening = { address: listening.address, port: listening.port, endpointUrl: listening.endpointUrl };
          report();
        })
        .catch((error: unknown) => {
          startFailure = error instanceof Error ? error : new Error(String(error));
          failureHandler?.(startFailure);
        });

      const report = () => {
        options.setStatus('modbus', { listening: true, address: bound.address, port: bound.port, connections: modbus.connectionCount });
        if (opcuaListening) options.setStatus('opcua', { listening: true, ...opcuaListening, connections: opcua?.sessionCount ?? 0 });
      };
      report();
      const timer = setInterval(report, 1000);
      timer.unref();

      return {
        async stop() {
          clearInterval(timer);
          await opcuaStarted;
          await opcua?.stop();
          options.setStatus('opcua', stopped);
          await modbus.close();
          await Promise.all([feedback.stop(), auditor.settle()]);
          options.setStatus('modbus', stopped);
        },
        onFailure(handler) {
          failureHandler = handler;
          if (startFailure) handler(startFailure);
        },
      };
    },
  };
}

function feedbackRows(received: FeedbackReceived, stationIdByUnit: ReadonlyMap<number, string>) {
  const stationId = stationIdByUnit.get(received.unitId);
  if (stationId === undefined) return [];
  const receivedAt = new Date();
  return received.writes.map((write) => ({
    stationId,
    pumpId: write.entry.pumpId,
    variable: write.entry.value,
    value: write.value,
    receivedAt,
    sourceAddress: received.remoteAddress,
    register: `${write.entry.table} ${write.entry.address}`,
  }));
}
