import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Database } from '../../src/db/database.js';
import { adapterEnvironment, startAdapter, type RunningAdapter } from '../helpers/adapter-process.js';
import { createPostgresDatabase, type TestDatabase } from '../helpers/databases.js';
import { createClientPki, trustClientOnServer, trustServerOnClient, type ClientPki } from './client.js';
import { createUser } from './users.js';

/** An adapter process on a fresh PostgreSQL database, with a SCADA client both sides trust. */
export interface OpcUaFixture {
  database: TestDatabase;
  /** A connection of the test's own, for users, plan rows and audit queries. */
  db: Database;
  adapter: RunningAdapter;
  environment: NodeJS.ProcessEnv;
  certsDir: string;
  scada: ClientPki;
  /** Stops the adapter and removes the database and the client's certificates. */
  close(): Promise<void>;
}

/**
 * Starts the adapter with `configYaml` and creates the users of `users` (username to role). The
 * SCADA client's certificate is trusted before the first start, as an integrator hands it over
 * during commissioning. The client then trusts the server certificate that the start created.
 */
export async function startOpcUaFixture(configYaml: string, users: Record<string, string>): Promise<OpcUaFixture> {
  const database = await createPostgresDatabase();
  const certsDir = join(database.dataDir, 'certs');
  const configPath = join(database.dataDir, 'calejo.yaml');
  writeFileSync(configPath, configYaml);
  const environment = adapterEnvironment({ DATABASE_URL: database.url ?? undefined, CALEJO_DATA_DIR: database.dataDir, CALEJO_CONFIG: configPath });

  const scada = await createClientPki('scada');
  trustClientOnServer(scada, certsDir);
  const fixture: OpcUaFixture = {
    database,
    db: await database.open(),
    adapter: await startAdapter(environment),
    environment,
    certsDir,
    scada,
    async close() {
      await fixture.db.close();
      await fixture.adapter.stop();
      await database.drop();
      scada.remove();
    },
  };
  trustServerOnClient(scada, certsDir);
  for (const [username, role] of Object.entries(users)) await createUser(fixture.db, username, role);
  return fixture;
}
