import type { AdapterConfig } from '../config/load.js';
import type { Database } from '../db/database.js';
import type { AdapterLogger } from '../log.js';
import type { ChildHandle, ChildSpec } from '../actors/supervisor.js';
import { StationActor } from '../actors/station.js';
import type { StationRegistry } from '../actors/station-registry.js';

/**
 * Creates the stations child, which runs one actor per configured station. Each starts publishing the stop image and
 * then restores its stored emergency-stop state, so a restart never begins in operation.
 */
export function stationsChild(options: {
  config: AdapterConfig;
  logger: AdapterLogger;
  stations: StationRegistry;
  getDatabase: () => Database | null;
}): ChildSpec {
  return {
    id: 'stations',
    async start(): Promise<ChildHandle> {
      const actors = options.config.stations.map(
        (station) =>
          new StationActor(station, {
            getDatabase: options.getDatabase,
            logger: options.logger,
            databaseGraceMs: options.config.databaseGraceSeconds * 1000,
            planStalenessMs: options.config.planStalenessSeconds * 1000,
          }),
      );
      for (const actor of actors) {
        actor.start();
        options.stations.set(actor);
      }
      await Promise.all(actors.map((actor) => actor.restore()));
      return {
        async stop() {
          await Promise.all(actors.map((actor) => actor.stop()));
        },
      };
    },
  };
}
