import { join } from 'node:path';
import type { AdapterConfig } from '../config/load.js';
import type { Database } from '../db/database.js';
import { describeUrl, openPostgres } from '../db/postgres.js';
import { openPglite } from '../db/pglite.js';
import { migrate } from '../db/migrate.js';
import { mirrorConfiguration } from '../db/mirror-config.js';
import { seedDemoPlans } from '../db/demo-plans.js';
import { embeddedDatabaseError, permanentPostgresError } from '../db/connection-errors.js';
import { DatabaseConnector, type DatabaseConnectionStatus, type DatabaseOutage } from '../db/connector.js';
import { ensureFirstAdministrator } from '../auth/first-admin.js';
import type { AdapterLogger } from '../log.js';
import type { ChildHandle, ChildSpec } from '../actors/supervisor.js';
import type { StationRegistry } from '../actors/station-registry.js';

export const PLAN_CHANNEL = 'pump_plans_changed';
export const IDENTITY_CHANNEL = 'identity_changed';

/**
 * How long the child's start waits for the first connection to PostgreSQL before the stations,
 * protocol servers and REST API start without it. A refused connection fails at once, and a host
 * that does not respond fails after the pool's 5 s connection timeout.
 */
const FIRST_ATTEMPT_WAIT_MS = 10_000;

/** Location of the database and its connection state, for /status and /health. */
export interface DatabaseDescription extends DatabaseConnectionStatus {
  kind: 'postgres' | 'pglite';
  description: string;
}

export interface DatabaseChild extends ChildSpec {
  describe(): DatabaseDescription;
}

/**
 * Creates the database child. It connects (PostgreSQL when DATABASE_URL is set, embedded PGlite
 * otherwise), applies migrations, mirrors the configured stations, and forwards plan
 * notifications to the station actors.
 *
 * The child runs even while PostgreSQL is unreachable. It retries with backoff, and reconnects
 * after a lost connection by itself, so the stations, protocol servers and REST API start and keep
 * running meanwhile. Every station publishes its stop image until it has read its stored state.
 * Only a failure that a retry cannot fix (see connection-errors.ts) fails the child, and the root
 * supervisor then stops the adapter. The embedded database opens within the process, so the
 * child's start waits for it.
 */
export function databaseChild(options: {
  config: AdapterConfig;
  logger: AdapterLogger;
  stations: StationRegistry;
  setDatabase: (database: Database | null) => void;
  /** Called after each connection, with the outage it ends, if there was one. */
  onConnected?: (database: Database, outage: DatabaseOutage | null) => void;
  /** Called on each write to users, roles or API tokens, from the `identity_changed` notification. */
  onIdentityChanged: () => void;
}): DatabaseChild {
  const { config, stations, setDatabase } = options;
  const logger = options.logger.child({ component: 'database' });
  const url = config.databaseUrl;
  const embeddedDirectory = join(config.dataDir, 'pglite');
  const target = url ? describeUrl(url) : `embedded PGlite ${embeddedDirectory}`;
  let connector: DatabaseConnector | null = null;

  async function prepare(database: Database): Promise<void> {
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
  }

  function connected(database: Database, outage: DatabaseOutage | null): void {
    setDatabase(database);
    // Stations that could not read their stored state while the database was down do it now,
    // and the others refresh their plans.
    for (const actor of stations.all()) {
      actor.restore().catch((error: unknown) => logger.error({ err: error, station_id: actor.stationId }, 'restoring station state failed'));
    }
    options.onConnected?.(database, outage);
  }

  return {
    id: 'database',
    async start(): Promise<ChildHandle> {
      const current = new DatabaseConnector({
        target,
        logger,
        open: () => (url ? openPostgres(url) : openPglite(config.dataDir)),
        prepare,
        classify: (error) => (url ? permanentPostgresError(error, target) : embeddedDatabaseError(error, embeddedDirectory)),
        onConnected: connected,
        onDisconnected: () => setDatabase(null),
      });
      connector = current;
      await current.start(url ? FIRST_ATTEMPT_WAIT_MS : Number.POSITIVE_INFINITY);
      return {
        stop: () => current.stop(),
        onFailure: (handler) => current.onFailure(handler),
      };
    },
    describe() {
      const status = connector?.describe() ?? { connected: false, failedAttempts: 0, lastError: null, downSince: null, nextAttemptAt: null };
      return { kind: url ? 'postgres' : 'pglite', description: target, ...status };
    },
  };
}
