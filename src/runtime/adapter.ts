import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AdapterConfig } from '../config/load.js';
import type { Database } from '../db/database.js';
import type { AdapterLogger } from '../log.js';
import { PACKAGE_ROOT } from '../paths.js';
import { Supervisor, type SupervisorEscalation } from '../actors/supervisor.js';
import { BufferedAuditWriter } from '../audit/buffered-audit-writer.js';
import { databaseOutageAuditEvent, supervisionAuditEvent } from '../audit/system-audit-events.js';
import { StationRegistry } from '../actors/station-registry.js';
import { RegisterImage } from '../modbus/register-image.js';
import { registerMapDefinition } from '../modbus/register-map-config.js';
import { RegisterMapper } from '../modbus/register-mapper.js';
import { MappingPool } from '../workers/mapping-pool.js';
import { TokenService } from '../auth/tokens.js';
import { CredentialService } from '../auth/credentials.js';
import { readOrCreateSecretFile } from '../auth/local-secret.js';
import type { SupervisorPolicy } from '../machines/supervisor.js';
import { collectProcessMetrics, metricsRegistry } from '../metrics/registry.js';
import { registerStationMetrics } from '../metrics/station-metrics.js';
import { databaseChild, type DatabaseChild } from './database-child.js';
import { stationsChild, type StationDependencyOverrides, type StationsChild } from './stations-child.js';
import { AlertEvents } from '../station/alert-events.js';
import { protocolsChild, type ProtocolStatus } from './protocols-child.js';
import { httpChild } from './http-child.js';

export interface AdapterOptions {
  /** Policy of the root supervisor. */
  policy?: Partial<SupervisorPolicy>;
  /** Policy of the stations supervisor, which restarts single station actors. */
  stationPolicy?: Partial<SupervisorPolicy>;
  /** Extra station dependencies per station id, such as an injected clock in tests. */
  stationDependencies?: StationDependencyOverrides;
}

/** One escalation of a supervisor below the root, kept for health reports. */
export interface EscalationRecord {
  supervisor: string;
  child: string;
  reason: string;
  at: Date;
}

const KEPT_ESCALATIONS = 20;

export const VERSION = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/**
 * The whole adapter: the root supervisor with its children database, stations, protocols and
 * http, started in that order, and the state they share. The database child counts as running
 * while it still retries an unreachable PostgreSQL, so the others start during an outage.
 */
export class Adapter {
  readonly stations = new StationRegistry();
  readonly image = new RegisterImage();
  readonly mapper: RegisterMapper;
  readonly alerts: AlertEvents;
  readonly supervisor: Supervisor;
  private readonly stationsSpec: StationsChild;
  private readonly databaseSpec: DatabaseChild;
  /** Audit rows of supervisor restarts, escalations and database outages, kept while the database is down. */
  private readonly systemAudit: BufferedAuditWriter;
  private readonly escalations: EscalationRecord[] = [];
  readonly startedAt = new Date();
  private database: Database | null = null;
  private readonly protocolStatus: Record<string, ProtocolStatus> = {};
  private httpPort: number | null = null;
  private markOpcUaListening: () => void = () => undefined;
  private readonly opcuaListening = new Promise<void>((resolve) => (this.markOpcUaListening = resolve));

  constructor(
    readonly config: AdapterConfig,
    private readonly logger: AdapterLogger,
    options: AdapterOptions = {},
  ) {
    this.alerts = new AlertEvents(logger);
    for (const station of config.stations) {
      this.image.defineStation(station.unit_id, {
        allowEmergencyStopCoil: station.allow_modbus_emergency_stop,
        ...(station.register_map ? { map: registerMapDefinition(station) } : {}),
      });
    }
    this.mapper = new RegisterMapper({
      image: this.image,
      logger,
      workerThreshold: config.modbus.mapping_worker_threshold,
      createPool: () => new MappingPool(),
    });
    // The image subscribes before any station starts, so it never misses the stop image.
    this.stations.subscribe((snapshot) => this.mapper.publish(snapshot));
    collectProcessMetrics();
    registerStationMetrics(metricsRegistry, this.stations);

    const getDatabase = () => this.database;
    this.systemAudit = new BufferedAuditWriter({ getDatabase, logger: logger.child({ component: 'audit' }) });
    const jwtSecret = config.jwtSecret ?? readOrCreateSecretFile(join(config.dataDir, 'jwt-secret')).value;
    // One service for every surface that takes a password, so lockout counts are shared.
    const credentials = new CredentialService({ getDatabase, logger: logger.child({ component: 'auth' }), policy: config.security });
    this.stationsSpec = stationsChild({
      config,
      logger,
      stations: this.stations,
      getDatabase,
      alerts: this.alerts,
      policy: options.stationPolicy,
      dependencyOverrides: options.stationDependencies,
      // Each child of the stations supervisor is one station's actor, named by the station id.
      onSupervisionReport: (report) => this.systemAudit.record(supervisionAuditEvent(report, { stationId: report.childId })),
      onEscalation: (error) => {
        this.escalations.push({ supervisor: error.supervisorId, child: error.childId, reason: error.message, at: new Date() });
        this.escalations.splice(0, Math.max(0, this.escalations.length - KEPT_ESCALATIONS));
      },
    });

    this.databaseSpec = databaseChild({
      config,
      logger,
      stations: this.stations,
      setDatabase: (database) => (this.database = database),
      onConnected: (_database, outage) => {
        if (outage) this.systemAudit.record(databaseOutageAuditEvent(outage, this.databaseSpec.describe().description));
        void this.systemAudit.writeBacklog();
        this.stationsSpec.retryQueuedWrites();
      },
      onIdentityChanged: () => credentials.identitiesChanged(),
    });

    this.supervisor = new Supervisor({
      id: 'root',
      logger,
      policy: options.policy,
      onReport: (report) => this.systemAudit.record(supervisionAuditEvent(report, { root: true })),
      children: [
        this.databaseSpec,
        this.stationsSpec,
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
            certsDir: config.certsDir,
            describeRuntime: () => ({
              startedAt: this.startedAt,
              supervisor: this.describeSupervision(),
              escalations: [...this.escalations],
              protocols: { ...this.protocolStatus },
              database: this.databaseSpec.describe(),
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

  async stop(): Promise<void> {
    // Before the database child closes the connection, so an escalation that stops the adapter is recorded.
    await this.systemAudit.flush(2000);
    await this.supervisor.stop();
    await this.mapper.close();
    await this.stationsSpec.closeQueues(5000);
  }

  /**
   * Returns the root supervisor's records, with each station actor's record added as
   * `stations/<station id>`, so health and status show single station restarts.
   */
  private describeSupervision(): ReturnType<Supervisor['describe']> {
    const root = this.supervisor.describe();
    const stations = this.stationsSpec.describe();
    if (!stations) return root;
    const stationChildren = Object.fromEntries(Object.entries(stations.children).map(([id, record]) => [`stations/${id}`, record]));
    return { status: root.status, children: { ...root.children, ...stationChildren } };
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
