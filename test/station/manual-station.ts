import { StationActor, type StationActorDependencies } from '../../src/actors/station.js';
import type { AdapterConfig } from '../../src/config/load.js';
import type { Database } from '../../src/db/database.js';
import { createLogger } from '../../src/log.js';
import { PersistenceQueue } from '../../src/station/persistence-queue.js';

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
