import type { AdapterConfig } from '../config/load.js';
import type { Database } from '../db/database.js';
import { describeUrl, openPostgres } from '../db/postgres.js';
import { AdapterError } from '../errors.js';
import { openPglite } from '../db/pglite.js';
import { migrate } from '../db/migrate.js';
import { mirrorConfiguration } from '../db/mirror-config.js';
import { seedDemoPlans } from '../db/demo-plans.js';
import { ensureFirstAdministrator } from '../auth/first-admin.js';
import type { AdapterLogger } from '../log.js';
import type { ChildHandle, ChildSpec } from '../actors/supervisor.js';
import type { StationRegistry } from '../actors/station-registry.js';

export const PLAN_CHANNEL = 'pump_plans_changed';
export const IDENTITY_CHANNEL = 'identity_changed';

async function open(config: AdapterConfig): Promise<Database> {
  if (!config.databaseUrl) return openPglite(config.dataDir);
  try {
    return await openPostgres(config.databaseUrl);
  } catch (error) {
    throw new AdapterError(
      'DATABASE_UNAVAILABLE',
      `cannot connect to PostgreSQL at ${describeUrl(config.databaseUrl)} (DATABASE_URL): ${(error as Error).message}; check that the server runs and DATABASE_URL is right`,
      { cause: error },
    );
  }
}

/**
 * Creates the database child, which connects (PostgreSQL when DATABASE_URL is set, embedded PGlite otherwise),
 * applies migrations, mirrors the configured stations, and forwards plan notifications to the
 * station actors. A lost LISTEN connection fails the child, and the supervisor reconnects it.
 */
export function databaseChild(options: {
  config: AdapterConfig;
  logger: AdapterLogger;
  stations: StationRegistry;
  setDatabase: (database: Database | null) => void;
  /** Called on each write to users, roles or API tokens, from the `identity_changed` notification. */
  onIdentityChanged: () => void;
}): ChildSpec {
  const { config, stations, setDatabase } = options;
  const logger = options.logger.child({ component: 'database' });

  return {
    id: 'database',
    restartWithoutLimit: true,
    async start(): Promise<ChildHandle> {
      const database = await open(config);
      try {
        const applied = await migrate(database);
        logger.info({ database: database.description, migrations_applied: applied }, 'database connected and migrated');
        await mirrorConfiguration(database, config.stations);
        await ensureFirstAdministrator(database, { adminPassword: config.adminPassword, dataDir: config.dataDir, logger });
        if (config.seedDemoPlans) {
          const seeded = await seedDemoPlans(database, config.stations);
          if (seeded > 0) logger.info({ rows: seeded }, 'demo plan rows seeded');
        }
        await database.listen(PLAN_CHANNEL, (stationId) => {
          void stations.get(stationId)?.refreshPlans();
        });
        // Listening starts before the database is handed out, so no identity cached from this
        // connection can miss a change.
        await database.listen(IDENTITY_CHANNEL, () => options.onIdentityChanged());
      } catch (error) {
        await database.close().catch(() => undefined); // the start error is the one to report
        throw error;
      }

      setDatabase(database);
      // Stations that could not read their stored state while the database was down do it now.
      for (const actor of stations.all()) {
        if (actor.state === 'restoring') {
          actor.restore().catch((error: unknown) => logger.error({ err: error, station_id: actor.stationId }, 'restoring station state failed'));
        } else {
          void actor.refreshPlans();
        }
      }

      return {
        async stop() {
          setDatabase(null);
          await database.close();
          logger.info('database closed');
        },
        onFailure(handler) {
          database.onConnectionLost(handler);
        },
      };
    },
  };
}
