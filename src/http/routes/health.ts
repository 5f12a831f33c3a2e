import type Router from '@koa/router';
import type { HttpDependencies } from '../dependencies.js';
import { requirePermission } from '../authenticate.js';

/** Database round trip with its latency; a failed or slow probe makes the adapter unhealthy. */
async function probeDatabase(dependencies: HttpDependencies): Promise<{ status: 'up' | 'down'; latency_ms: number | null; error?: string }> {
  const database = dependencies.getDatabase();
  if (!database) return { status: 'down', latency_ms: null, error: 'not connected' };
  const started = performance.now();
  try {
    await database.query('SELECT 1');
    return { status: 'up', latency_ms: Math.round((performance.now() - started) * 100) / 100 };
  } catch (error) {
    return { status: 'down', latency_ms: null, error: (error as Error).message };
  }
}

/** How long a supervisor escalation below the root keeps the adapter reported as degraded. */
const RECENT_ESCALATION_MS = 15 * 60_000;

export function registerHealthRoutes(router: Router, dependencies: HttpDependencies): void {
  // Unauthenticated on purpose: load balancers and the health-check script call it without a token.
  router.get('/api/v1/health', async (context) => {
    const runtime = dependencies.describeRuntime();
    const database = await probeDatabase(dependencies);
    const children = Object.values(runtime.supervisor.children);
    const protocolsDown = Object.entries(runtime.protocols).filter(([, protocol]) => !protocol.listening).map(([name]) => name);
    const restarting = children.some((child) => child.status !== 'running');
    const escalations = runtime.escalations ?? [];
    const lastEscalation = escalations.at(-1);
    const recentEscalation = lastEscalation !== undefined && Date.now() - lastEscalation.at.getTime() < RECENT_ESCALATION_MS;

    let status: 'healthy' | 'degraded' | 'unhealthy' = 'healthy';
    if (database.status === 'down' || runtime.supervisor.status !== 'supervising') status = 'unhealthy';
    else if (restarting || recentEscalation || protocolsDown.length > 0) status = 'degraded';

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
}

export function registerStatusRoute(router: Router, dependencies: HttpDependencies): void {
  router.get('/api/v1/status', requirePermission(dependencies, 'read_pump_status'), async (context) => {
    const runtime = dependencies.describeRuntime();
    context.body = {
      version: dependencies.version,
      started_at: runtime.startedAt.toISOString(),
      uptime_seconds: Math.round((Date.now() - runtime.startedAt.getTime()) / 1000),
      database: runtime.database,
      supervisor: runtime.supervisor,
      protocols: runtime.protocols,
      stations: dependencies.stations.all().map((actor) => {
        const snapshot = actor.getSnapshot();
        return {
          station_id: snapshot.stationId,
          state: snapshot.stopState,
          emergency_stop_active: snapshot.emergencyStopActive,
          failsafe_active: snapshot.failsafeActive,
          plan_stale: snapshot.planStale,
          database_unreachable: snapshot.databaseUnreachable,
        };
      }),
    };
  });
}
