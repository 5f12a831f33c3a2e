import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StationActor } from '../../src/actors/station.js';
import { applyStationDefaults, parseConfigText } from '../../src/config/load.js';
import type { Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { mirrorConfiguration } from '../../src/db/mirror-config.js';
import { createLogger } from '../../src/log.js';
import { PersistenceQueue } from '../../src/station/persistence-queue.js';
import { readStopState } from '../../src/station/stop-store.js';
import { createPostgresDatabase, type TestDatabase } from '../helpers/databases.js';

const STATIONS = applyStationDefaults(
  parseConfigText(
    `stations:
  - id: s1
    unit_id: 1
    pumps:
      - { id: p1, control_variable: speed, unit: Hz, minimum: 0, maximum: 50, max_rate_per_second: 1000, failsafe_setpoint: 22 }
`,
    'test',
  ).stations,
);

// A station actor restarted after a crash shares its predecessor's write queue. When a stop
// accepted by the predecessor commits while the new actor reads its stored state, the stop is in
// neither the stop state the read returned nor the queue, and must still be restored.
describe('restore while a queued stop commits', () => {
  let testDatabase: TestDatabase;
  let direct: Database;
  let actor: StationActor | undefined;

  beforeAll(async () => {
    testDatabase = await createPostgresDatabase();
    direct = await testDatabase.open();
    await migrate(direct);
    await mirrorConfiguration(direct, STATIONS);
  });

  afterAll(async () => {
    await actor?.stop(500);
    await direct?.close();
    await testDatabase?.drop();
  });

  it('restores the stop', async () => {
    const logger = createLogger({ level: 'silent' });
    let queueDatabase: Database | null = null;
    const queue = new PersistenceQueue({ stationId: 's1', getDatabase: () => queueDatabase, logger });
    const committed = queue.enqueue({
      kind: 'activate',
      stationId: 's1',
      origin: { source: 'rest', actor: 'operator-restore-race', actorRole: 'operator', sourceAddress: null, reason: 'accepted before the crash', operator: null },
      acceptedAt: new Date(),
    });

    // The stop state is read first; the queue commits the stop before the overrides are read.
    const actorDatabase: Database = {
      ...direct,
      query: async (sql, params) => {
        if (sql.includes('FROM pump_overrides')) {
          queueDatabase = direct;
          queue.retryNow();
          await committed;
        }
        return direct.query(sql, params);
      },
    };
    actor = new StationActor(STATIONS[0]!, { getDatabase: () => actorDatabase, logger, queue, manualTicks: true });
    actor.start();
    await actor.restore();

    expect(queue.pendingCount).toBe(0);
    expect(await readStopState(direct, 's1')).toBe('stopped');
    expect(actor.state).toBe('stopped');
    expect(actor.getSnapshot().pumps[0]!.setpoint).toBe(0);
  });
});
