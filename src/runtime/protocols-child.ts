import type { AdapterConfig } from '../config/load.js';
import type { AdapterLogger } from '../log.js';
import type { ChildHandle, ChildSpec } from '../actors/supervisor.js';
import type { StationRegistry } from '../actors/station-registry.js';
import { ModbusTcpServer } from '../modbus/server.js';
import type { RegisterImage } from '../modbus/register-image.js';

export interface ProtocolStatus {
  listening: boolean;
  address: string | null;
  port: number | null;
  connections: number;
}

/**
 * Creates the protocols child: the Modbus TCP server, which serves reads from the register image
 * that the station snapshots keep current. A stop from coil 1 enters the station actor like any
 * other command.
 */
export function protocolsChild(options: {
  config: AdapterConfig;
  logger: AdapterLogger;
  stations: StationRegistry;
  image: RegisterImage;
  setStatus: (name: string, status: ProtocolStatus) => void;
}): ChildSpec {
  const { config, stations, image, logger } = options;
  return {
    id: 'protocols',
    async start(): Promise<ChildHandle> {
      const modbus = new ModbusTcpServer({
        image,
        host: config.bindAddress,
        port: config.modbusPort,
        logger,
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
            reason: 'coil 1 written by SCADA',
            operator: null,
          });
        },
      });
      const bound = await modbus.listen();
      const report = () => options.setStatus('modbus', { listening: true, address: bound.address, port: bound.port, connections: modbus.connectionCount });
      report();
      const timer = setInterval(report, 1000);
      timer.unref();

      return {
        async stop() {
          clearInterval(timer);
          await modbus.close();
          options.setStatus('modbus', { listening: false, address: null, port: null, connections: 0 });
        },
      };
    },
  };
}
