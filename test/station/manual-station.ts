import { StationActor, type StationActorDependencies } from '../../src/actors/station.js';
import type { AdapterConfig } from '../../src/config/load.js';
import type { Database } from '../../src/db/database.js';
import { createLogger } from '../../src/log.js';
import { PersistenceQueue } from '../../src/station/persistence-queue.js';
import { migrate } from '../../src/db/migrate.js';
import { mirrorConfiguration } from '../../src/db/mirror-config.js';
import { createPgliteDatabase } from '../helpers/databases.js';

/**
 * One station actor driven by the test: injected wall and monotonic clocks, no timers, and a write
 * queue that outlives the actor, as the stations supervisor keeps it across restarts.
 */
export class ManualStation {
  wallMs = Date.UTC(2030, 5, 1, 8);
  monotonicMs = 0;
  readonly queue: PersistenceQueue;
  private current: StationActor | undefined;

  constructor(
    private readonly config: AdapterConfig['stations'][number],
    private readonly getDatabase: () => Database | null,
    private readonly dependencies: Partial<StationActorDependencies> = {},
    queueDatabase: () => Database | null = getDatabase,
  ) {
    this.queue = new PersistenceQueue({ stationId: config.id, getDatabase: queueDatabase, logger: createLogger({ level: 'silent' }) });
  }

  get actor(): StationActor {
    if (!this.current) throw new Error('the station actor is not started; call start() first');
    return this.current;
  }

  /** Starts a new actor on the shared queue and waits for its restore. */
  async start(): Promise<StationActor> {
    const actor = new StationActor(this.config, {
      getDatabase: this.getDatabase,
      logger: createLogger({ level: 'silent' }),
      now: () => new Date(this.wallMs),
      monotonicNow: () => this.monotonicMs,
      queue: this.queue,
      manualTicks: true,
      ...this.dependencies,
    });
    this.current = actor;
    actor.start();
    await actor.restore();
    return actor;
  }

  /** Stops the actor and starts its successor, as the supervisor restarts a failed station. */
  async restart(): Promise<StationActor> {
    await this.current?.stop(1000);
    return this.start();
  }

  /** Advances both clocks by one second per step, re-reading the plan and ticking each time. */
  async settle(seconds: number): Promise<void> {
    for (let second = 0; second < seconds; second += 1) {
      this.wallMs += 1000;
      this.monotonicMs += 1000;
      await this.actor.refreshPlans();
      this.actor.tick();
    }
  }

  async stop(): Promise<void> {
    await this.current?.stop(1000);
    await this.queue.drain(2000);
  }
}

/** A manual station on a fresh, migrated PGlite database with one plan row covering a day either side. */
export interface PgliteStation {
  station: ManualStation;
  database: Database;
  /** Stops the station, then closes and removes the database. */
  close(): Promise<void>;
}

export async function startPgliteStation(
  config: AdapterConfig['stations'][number],
  plan: { pumpId: string; value: number },
  options: { reachable?: () => boolean; dependencies?: Partial<StationActorDependencies> } = {},
): Promise<PgliteStation> {
  const testDatabase = await createPgliteDatabase();
  const database = await testDatabase.open();
  await migrate(database);
  await mirrorConfiguration(database, [config]);
  const reachable = options.reachable ?? (() => true);
  const station = new ManualStation(config, () => (reachable() ? database : null), options.dependencies);
  await database.query(
    `INSERT INTO pump_plans (station_id, pump_id, interval_start, interval_end, target_value, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
    [config.id, plan.pumpId, new Date(station.wallMs - 86_400_000), new Date(station.wallMs + 86_400_000), plan.value, new Date(station.wallMs)],
  );
  await station.start();
  return {
    station,
    database,
    async close() {
      await station.stop();
      await database.close();
      await testDatabase.drop();
    },
  };
}
