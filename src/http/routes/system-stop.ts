import type Router from '@koa/router';
import type { Context } from 'koa';
import { clearAllStations, resumeAllStations, stopAllStations, type StationCommandOutcome } from '../../actors/system-commands.js';
import type { HttpDependencies } from '../dependencies.js';
import { requirePermission } from '../authenticate.js';
import { parseBody } from '../validate.js';
import { commandSchema, originOf } from './stations.js';

/** Null when the command wrote nothing at the station. */
function describePersistence(persisted: boolean | null): 'committed' | 'pending' | null {
  if (persisted === null) return null;
  return persisted ? 'committed' : 'pending';
}

/** 200 when every station's write is committed, 202 when any is still being retried. */
function outcomesResponse(context: Context, outcomes: StationCommandOutcome[]): void {
  const pending = outcomes.some((outcome) => outcome.persisted === false);
  context.status = pending ? 202 : 200;
  context.body = {
    persistence: pending ? 'pending' : 'committed',
    stations: outcomes.map((outcome) => ({
      station_id: outcome.stationId,
      result: outcome.result,
      state: outcome.state,
      persistence: describePersistence(outcome.persisted),
      error: outcome.error,
    })),
  };
}

/**
 * System-wide emergency stop, clear and resume. The stop switches every station to the stop
 * image in the turn that accepts the request. Clear and resume act on the stations in the state
 * they apply to, and report the others as skipped.
 */
export function registerSystemStopRoutes(router: Router, dependencies: HttpDependencies): void {
  router.post('/api/v1/emergency-stop', requirePermission(dependencies, 'emergency_stop'), async (context) => {
    const body = parseBody(commandSchema, context.request.body);
    outcomesResponse(context, await stopAllStations(dependencies.stations.all(), originOf(context, body)));
  });

  router.delete('/api/v1/emergency-stop', requirePermission(dependencies, 'clear_emergency_stop'), async (context) => {
    const body = parseBody(commandSchema, context.request.body);
    outcomesResponse(context, await clearAllStations(dependencies.stations.all(), originOf(context, body)));
  });

  router.post('/api/v1/resume', requirePermission(dependencies, 'clear_emergency_stop'), async (context) => {
    const body = parseBody(commandSchema, context.request.body);
    outcomesResponse(context, await resumeAllStations(dependencies.stations.all(), originOf(context, body)));
  });
}
