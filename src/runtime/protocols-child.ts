import type { AdapterConfig } from '../config/load.js';
import type { Database } from '../db/database.js';
import type { AdapterLogger } from '../log.js';
import type { ChildHandle, ChildSpec } from '../actors/supervisor.js';
import type { StationRegistry } from '../actors/station-registry.js';
import { FeedbackRecorder } from '../modbus/feedback-recorder.js';
import { RejectedWriteAuditor } from '../modbus/rejected-write-audit.js';
import { ModbusTcpServer, type FeedbackReceived } from '../modbus/server.js';
import type { RegisterImage } from '../modbus/register-image.js';

export interface ProtocolStatus {
  listening: boolean;
  address: string | null;
  port: number | null;
  connections: number;
}

/**
 * Creates the protocols child: the Modbus TCP server, which serves reads from the register image
 * that the station snapshots keep current. A stop from an emergency-stop coil enters the station
 * actor like any other command. Feedback writes go to pump_feedback in batches, and rejected
 * writes go to the audit log.
 */
export function protocolsChild(options: {
  config: AdapterConfig;
  logger: AdapterLogger;
  stations: StationRegistry;
  image: RegisterImage;
  getDatabase: () => Database | null;
  setStatus: (name: string, status: ProtocolStatus) => void;
}): ChildSpec {
  const { config, stations, image, logger, getDatabase } = options;
  const stationIdByUnit = new Map(config.stations.map((station) => [station.unit_id, station.id]));

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
        onEmergencyStopCoil: ({ unitId, remoteAddress }) => {
          const actor = stations.all().find((candidate) => candidate.unitId === unitId);
          if (!actor) return;
          // The stop is in the register image when this call returns, so the echo need not wait
          // for the database commit. The persistence queue retries that commit on its own.
          void actor.activateEmergencyStop({
            source: 'modbus',
            actor: null,
            actorRole: null,
            sourceAddress: remoteAddress,
            reason: 'emergency-stop coil written by SCADA',
            operator: null,
          });
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
      const report = () => options.setStatus('modbus', { listening: true, address: bound.address, port: bound.port, connections: modbus.connectionCount });
      report();
      const timer = setInterval(report, 1000);
      timer.unref();

      return {
        async stop() {
          clearInterval(timer);
          await modbus.close();
          await Promise.all([feedback.stop(), auditor.settle()]);
          options.setStatus('modbus', { listening: false, address: null, port: null, connections: 0 });
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
