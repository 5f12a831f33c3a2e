import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Router from '@koa/router';
import type { HttpDependencies, RuntimeDescription } from '../dependencies.js';
import { metricsRegistry } from '../../metrics/registry.js';
import { buildOpenApiDocument } from '../openapi.js';
import { withDeadline } from '../../db/with-deadline.js';

type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';

/** A probe slower than this counts as a database that is down; load balancers time out soon after. */
const PROBE_DEADLINE_MS = 2000;

/** Database round trip with its latency; a failed or slow probe makes the adapter unhealthy. */
async function probeDatabase(
  dependencies: HttpDependencies,
  connection: RuntimeDescription['database'],
): Promise<{ status: 'up' | 'down'; latency_ms: number | null; error?: string }> {
  const database = dependencies.getDatabase();
  if (!database) {
    const cause = connection.lastError ? `: ${connection.lastError}` : '';
    return { status: 'down', latency_ms: null, error: `${connection.description} not connected${cause}` };
  }
  const started = performance.now();
  try {
    await withDeadline(database.query('SELECT 1'), PROBE_DEADLINE_MS, 'the database probe');
    return { status: 'up', latency_ms: Math.round((performance.now() - started) * 100) / 100 };
  } catch (error) {
    return { status: 'down', latency_ms: null, error: (error as Error).message };
  }
}

/** Returns the fields that describe the current database outage, or none while connected. */
function describeOutage(connection: RuntimeDescription['database']) {
  if (connection.connected) return {};
  return {
    failed_attempts: connection.failedAttempts,
    last_error: connection.lastError,
    down_since: connection.downSince?.toISOString() ?? null,
    next_attempt_at: connection.nextAttemptAt?.toISOString() ?? null,
  };
}

/** How long a supervisor escalation below the root keeps the adapter reported as degraded. */
const RECENT_ESCALATION_MS = 15 * 60_000;

/** Days until the OPC UA server certificate expires, or null while it has not been created. */
function certificateExpiry(certsDir: string): { path: string; days_to_expiry: number | null; not_after: string | null; error?: string } {
  const path = join(certsDir, 'server.pem');
  try {
    const certificate = new X509Certificate(readFileSync(path));
    const notAfter = new Date(certificate.validTo);
    return { path, days_to_expiry: Math.floor((notAfter.getTime() - Date.now()) / 86_400_000), not_after: notAfter.toISOString() };
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    return { path, days_to_expiry: null, not_after: null, ...(missing ? {} : { error: (error as Error).message }) };
  }
}

/** Returns each station's stop state and watchdog flags, as status and detailed health list them. */
function stationSummaries(dependencies: HttpDependencies) {
  return dependencies.stations.all().map((actor) => {
    const snapshot = actor.getSnapshot();
    return {
      station_id: snapshot.stationId,
      state: snapshot.stopState,
      emergency_stop_active: snapshot.emergencyStopActive,
      failsafe_active: snapshot.failsafeActive,
      plan_stale: snapshot.planStale,
      database_unreachable: snapshot.databaseUnreachable,
      persistence_pending: snapshot.persistencePending,
    };
  });
}

/** Rates the adapter: unhealthy when it cannot do its job, degraded when a part is restarting or down. */
async function assess(dependencies: HttpDependencies) {
  const runtime = dependencies.describeRuntime();
  const database = await probeDatabase(dependencies, runtime.database);
  const children = Object.values(runtime.supervisor.children);
  const protocolsDown = Object.entries(runtime.protocols)
    .filter(([, protocol]) => !protocol.listening)
    .map(([name]) => name);
  const restarting = children.some((child) => child.status !== 'running');
  const lastEscalation = (runtime.escalations ?? []).at(-1);
  const recentEscalation = lastEscalation !== undefined && Date.now() - lastEscalation.at.getTime() < RECENT_ESCALATION_MS;

  let status: HealthStatus = 'healthy';
  if (database.status === 'down' || runtime.supervisor.status !== 'supervising') status = 'unhealthy';
  else if (restarting || recentEscalation || protocolsDown.length > 0) status = 'degraded';
  return { status, runtime, database, protocolsDown, lastEscalation };
}

export function registerHealthRoutes(router: Router, dependencies: HttpDependencies): void {
  // Unauthenticated on purpose: load balancers, Prometheus and the health-check script call
  // these without a token. They show state, never secrets or user data.
  router.get('/api/v1/health', async (context) => {
    const { status, runtime, database, protocolsDown, lastEscalation } = await assess(dependencies);
    context.status = status === 'unhealthy' ? 503 : 200;
    context.body = {
      status,
      version: dependencies.version,
      checks: {
        database,
        supervisor: runtime.supervisor.status,
        protocols_down: protocolsDown,
        restarting: Object.entries(runtime.supervisor.children).filter(([, child]) => child.status !== 'running').map(([id]) => id),
        last_escalation: lastEscalation
          ? { supervisor: lastEscalation.supervisor, child: lastEscalation.child, reason: lastEscalation.reason, at: lastEscalation.at.toISOString() }
          : null,
      },
    };
  });

  router.get('/api/v1/health/detailed', async (context) => {
    const { status, runtime, database } = await assess(dependencies);
    const certificate = certificateExpiry(dependencies.certsDir);
    context.status = status === 'unhealthy' ? 503 : 200;
    context.body = {
      status,
      version: dependencies.version,
      uptime_seconds: Math.round((Date.now() - runtime.startedAt.getTime()) / 1000),
      database: { ...database, kind: runtime.database.kind, description: runtime.database.description, ...describeOutage(runtime.database) },
      protocols: runtime.protocols,
      supervisor: {
        status: runtime.supervisor.status,
        children: Object.fromEntries(
          Object.entries(runtime.supervisor.children).map(([id, child]) => [id, { state: child.status, restarts: child.restarts, last_error: child.lastError }]),
        ),
      },
      stations: stationSummaries(dependencies),
      certificates: { opcua_server: certificate },
      memory: { rss_bytes: process.memoryUsage.rss(), heap_used_bytes: process.memoryUsage().heapUsed },
    };
  });

  router.get('/api/v1/openapi.json', (context) => {
    context.body = buildOpenApiDocument(dependencies.version);
  });

  router.get('/api/v1/metrics', async (context) => {
    context.type = metricsRegistry.contentType;
    context.body = await metricsRegistry.metrics();
  });
}

/**
 * Registers GET /api/v1/status. Public like health: the operations guide checks it without a
 * token, and it shows states and counts, never user data or secrets.
 */
export function registerStatusRoute(router: Router, dependencies: HttpDependencies): void {
  router.get('/api/v1/status', async (context) => {
    const runtime = dependencies.describeRuntime();
    context.body = {
      version: dependencies.version,
      started_at: runtime.startedAt.toISOString(),
      uptime_seconds: Math.round((Date.now() - runtime.startedAt.getTime()) / 1000),
      database: {
        kind: runtime.database.kind,
        description: runtime.database.description,
        connected: runtime.database.connected,
        ...describeOutage(runtime.database),
      },
      supervisor: runtime.supervisor,
      protocols: runtime.protocols,
      stations: stationSummaries(dependencies),
    };
  });
}
