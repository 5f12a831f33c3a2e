import type { AdapterConfig } from '../config/load.js';
import type { AdapterLogger } from '../log.js';
import type { ChildHandle, ChildSpec } from '../actors/supervisor.js';
import type { StationRegistry } from '../actors/station-registry.js';
import { ModbusTcpServer } from '../modbus/server.js';
import type { RegisterImage } from '../modbus/register-image.js';
import type { CredentialService } from '../auth/credentials.js';
import type { Database } from '../db/database.js';
import type { AdapterOpcUaServer } from '../opcua/server.js';

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
 * that the station snapshots keep current, and the OPC UA server. A stop from coil 1 or from an
 * OPC UA method enters the station actor like any other command.
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
  const { config, stations, image, logger } = options;
  const stopped: ProtocolStatus = { listening: false, address: null, port: null, connections: 0 };
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
      // node-opcua takes a second or more to import, so it loads after Modbus listens, while the
      // REST API starts.
      // NOTE: node-opcua loads its information model in one synchronous run of 1 to 2 s, during which Modbus and REST requests wait; a worker thread would avoid that.
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
