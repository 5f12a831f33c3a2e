import type { StationRegistry } from '../actors/station-registry.js';
import type { CredentialService, UserIdentity } from '../auth/credentials.js';
import type { TokenService } from '../auth/tokens.js';
import type { SecurityPolicy } from '../config/load.js';
import type { Database } from '../db/database.js';
import type { AdapterLogger } from '../log.js';

/** Services the REST layer uses from the rest of the adapter. */
export interface HttpDependencies {
  logger: AdapterLogger;
  stations: StationRegistry;
  getDatabase: () => Database | null;
  tokens: TokenService;
  credentials: CredentialService;
  security: SecurityPolicy;
  /** Status of supervised children and protocol servers, for /status and /health. */
  describeRuntime: () => RuntimeDescription;
  version: string;
  /** Folder of the OPC UA server certificate, for its days to expiry in /health/detailed. */
  certsDir: string;
}

export interface RuntimeDescription {
  startedAt: Date;
  supervisor: { status: string; children: Record<string, { status: string; restarts: number; lastError: string | null }> };
  protocols: Record<string, { listening: boolean; address: string | null; port: number | null; connections: number }>;
  /** Location of the database and, while it is not connected, the failed attempts and the last error. */
  database: {
    kind: string;
    description: string;
    connected: boolean;
    failedAttempts: number;
    lastError: string | null;
    downSince: Date | null;
    nextAttemptAt: Date | null;
  };
  /** Recent escalations of supervisors below the root, oldest first. */
  escalations?: Array<{ supervisor: string; child: string; reason: string; at: Date }>;
}

/** The authenticated caller, set on `context.state.user` by the authentication middleware. */
export interface AuthenticatedUser extends UserIdentity {
  /** The API token the request came with, or null for a login token. */
  tokenId: string | null;
}
