import type { AdapterConfig } from '../config/load.js';
import type { Database } from '../db/database.js';
import type { AdapterLogger } from '../log.js';
import { Supervisor, type ChildHandle, type ChildSpec, type SupervisionReport, type SupervisorEscalation } from '../actors/supervisor.js';
import { StationActor, type StationActorDependencies } from '../actors/station.js';
import type { StationRegistry } from '../actors/station-registry.js';
import type { SupervisorPolicy, ChildRecord } from '../machines/supervisor.js';
import { join } from 'node:path';
import { PersistenceQueue } from '../station/persistence-queue.js';
import { CommandJournal } from '../station/command-journal.js';
import type { AlertEvents } from '../station/alert-events.js';

type StationConfig = AdapterConfig['stations'][number];

/** File in the data directory with the stop commands the database has not committed yet. */
export const PENDING_COMMANDS_FILE = 'pending-stop-commands.json';

/** Extra station dependencies per station id, such as an injected clock in tests. */
export type StationDependencyOverrides = (stationId: string) => Partial<StationActorDependencies>;

export interface StationsChild extends ChildSpec {
  /** The stations supervisor's records, one child per station, or null while it is not running. */
  describe(): { status: string; children: Record<string, ChildRecord> } | null;
  /** Waits up to `timeoutMs` for every station's queued writes, then stops retrying them. */
  closeQueues(timeoutMs: number): Promise<void>;
  /** Retries every station's queued writes at once, as after the database has returned. */
  retryQueuedWrites(): void;
}

/**
 * Creates the stations child: a supervisor with one child per station, so that a station actor
 * that fails is restarted alone, with backoff, from the state the database holds. When one
 * station fails more often than the policy allows, the stations supervisor escalates and the root
 * supervisor restarts every station.
 *
 * The write queues outlive the actors and the stations supervisor, so a stop accepted by an actor
 * that then failed is still written, and the replacement restores the state it implies.
 */
export function stationsChild(options: {
  config: AdapterConfig;
  logger: AdapterLogger;
  stations: StationRegistry;
  getDatabase: () => Database | null;
  alerts: AlertEvents;
  policy?: Partial<SupervisorPolicy>;
  dependencyOverrides?: StationDependencyOverrides;
  onEscalation?: (error: SupervisorEscalation) => void;
  /** Called with each restart and escalation of the stations supervisor. */
  onSupervisionReport?: (report: SupervisionReport) => void;
}): StationsChild {
  const logger = options.logger.child({ component: 'station' });
  const journal = new CommandJournal(join(options.config.dataDir, PENDING_COMMANDS_FILE), logger);
  const journaled = journal.load();
  for (const stationId of journaled.keys()) {
    if (!options.config.stations.some((station) => station.id === stationId)) {
      logger.error({ station_id: stationId, path: journal.path }, `pending emergency-stop commands for station ${stationId}, which is no longer configured, stay in the journal`);
    }
  }
  const queues = new Map(
    options.config.stations.map((station) => [
      station.id,
      new PersistenceQueue({
        stationId: station.id,
        getDatabase: options.getDatabase,
        logger: logger.child({ station_id: station.id }),
        journal,
        journaledCommands: journaled.get(station.id),
      }),
    ]),
  );
  let current: Supervisor | null = null;

  function stationSpec(station: StationConfig): ChildSpec {
    return {
      id: station.id,
      async start(): Promise<ChildHandle> {
        const actor = new StationActor(station, {
          getDatabase: options.getDatabase,
          logger: options.logger,
          databaseGraceMs: options.config.databaseGraceSeconds * 1000,
          planStalenessMs: options.config.planStalenessSeconds * 1000,
          queue: queues.get(station.id),
          alerts: options.alerts,
          ...options.dependencyOverrides?.(station.id),
        });
        actor.start();
        options.stations.set(actor);
        try {
          await actor.restore();
        } catch (error) {
          // The stop image stays until the state is read; the actor's heartbeat retries the read.
          logger.error({ err: error, station_id: station.id }, 'restoring the station state failed; publishing the stop image until it succeeds');
        }
        return {
          stop: () => actor.stop(),
          onFailure: (handler) => actor.onFailure(handler),
        };
      },
    };
  }

  return {
    id: 'stations',
    async start(): Promise<ChildHandle> {
      const supervisor = new Supervisor({
        id: 'stations',
        logger: options.logger,
        policy: options.policy,
        children: options.config.stations.map(stationSpec),
        onReport: options.onSupervisionReport,
      });
      current = supervisor;
      if (options.onEscalation) supervisor.onEscalation(options.onEscalation);
      await supervisor.start();
      return {
        async stop() {
          await supervisor.stop();
          await Promise.all([...queues.values()].map((queue) => queue.flush(5000)));
        },
        onFailure: (handler) => supervisor.onEscalation(handler),
      };
    },
    describe() {
      return current?.describe() ?? null;
    },
    retryQueuedWrites() {
      for (const queue of queues.values()) queue.retryNow();
    },
    async closeQueues(timeoutMs) {
      await Promise.all([...queues.values()].map((queue) => queue.drain(timeoutMs)));
    },
  };
}
