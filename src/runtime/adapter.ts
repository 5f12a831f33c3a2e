import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AdapterConfig } from '../config/load.js';
import type { Database } from '../db/database.js';
import type { AdapterLogger } from '../log.js';
import { PACKAGE_ROOT } from '../paths.js';
import { Supervisor, type SupervisorEscalation } from '../actors/supervisor.js';
import { StationRegistry } from '../actors/station-registry.js';
import { RegisterImage } from '../modbus/register-image.js';
import { TokenService } from '../auth/tokens.js';
import { CredentialService } from '../auth/credentials.js';
import { readOrCreateSecretFile } from '../auth/local-secret.js';
import type { SupervisorPolicy } from '../machines/supervisor.js';
import { databaseChild } from './database-child.js';
import { stationsChild } from './stations-child.js';
import { protocolsChild, type ProtocolStatus } from './protocols-child.js';
import { httpChild } from './http-child.js';

export const VERSION = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/**
 * The whole adapter: the root supervisor with its children database, stations, protocols and
 * http, started in that order, and the state they share.
 */
export class Adapter {
  readonly stations = new StationRegistry();
  readonly image = new RegisterImage();
  readonly supervisor: Supervisor;
  readonly startedAt = new Date();
  private database: Database | null = null;
  private readonly protocolStatus: Record<string, ProtocolStatus> = {};
  private httpPort: number | null = null;
  private markOpcUaListening: () => void = () => undefined;
  private readonly opcuaListening = new Promise<void>((resolve) => (this.markOpcUaListening = resolve));

  constructor(
    readonly config: AdapterConfig,
    private readonly logger: AdapterLogger,
    policy: Partial<SupervisorPolicy> = {},
  ) {
    for (const station of config.stations) {
      this.image.defineStation(station.unit_id, { allowEmergencyStopCoil: station.allow_modbus_emergency_stop });
    }
    // The image subscribes before any station starts, so it never misses the stop image.
    this.stations.subscribe((snapshot) => this.image.setStation(snapshot));

    const getDatabase = () => this.database;
    const jwtSecret = config.jwtSecret ?? readOrCreateSecretFile(join(config.dataDir, 'jwt-secret')).value;
    // One service for every surface that takes a password, so lockout counts are shared.
    const credentials = new CredentialService({ getDatabase, logger: logger.child({ component: 'auth' }), policy: config.security });

    this.supervisor = new Supervisor({
      id: 'root',
      logger,
      policy,
      children: [
        databaseChild({ config, logger, stations: this.stations, setDatabase: (database) => (this.database = database) }),
        stationsChild({ config, logger, stations: this.stations, getDatabase }),
        protocolsChild({
          config,
          logger,
          stations: this.stations,
          image: this.image,
          credentials,
          getDatabase,
          version: VERSION,
          setStatus: (name, status) => {
            this.protocolStatus[name] = status;
            if (name === 'opcua' && status.listening) this.markOpcUaListening();
          },
        }),
        httpChild({
          config,
          logger,
          onListening: (port) => (this.httpPort = port),
          dependencies: {
            logger,
            stations: this.stations,
            getDatabase,
            tokens: new TokenService(jwtSecret, config.tokenTtlSeconds),
            credentials,
            security: config.security,
            version: VERSION,
            describeRuntime: () => ({
              startedAt: this.startedAt,
              supervisor: this.supervisor.describe(),
              protocols: { ...this.protocolStatus },
              database: this.database ? { kind: this.database.kind, description: this.database.description } : null,
            }),
          },
        }),
      ],
    });
  }

  /**
   * Starts every child and resolves once the OPC UA server listens too; the protocols child
   * is running before that, as soon as Modbus listens. Rejects with the escalation when a child
   * cannot start.
   */
  async start(): Promise<void> {
    let giveUp: (error: Error) => void = () => undefined;
    const escalated = new Promise<never>((_, reject) => (giveUp = reject));
    escalated.catch(() => undefined); // only the race below reports it; main.ts handles escalations
    this.supervisor.onEscalation((error) => giveUp(error));
    await this.supervisor.start();
    await Promise.race([this.opcuaListening, escalated]);
  }

  stop(): Promise<void> {
    return this.supervisor.stop();
  }

  onEscalation(listener: (error: SupervisorEscalation) => void): void {
    this.supervisor.onEscalation(listener);
  }

  getDatabase(): Database | null {
    return this.database;
  }

  /** Bound ports, which differ from the configured ones when the configuration sets port 0. */
  get ports(): { http: number | null; modbus: number | null; opcua: number | null } {
    return { http: this.httpPort, modbus: this.protocolStatus.modbus?.port ?? null, opcua: this.protocolStatus.opcua?.port ?? null };
  }
}
