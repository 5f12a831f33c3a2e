import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { AdapterError } from '../../errors.js';
import type { StationActor, CommandResult } from '../../actors/station.js';
import type { StationSnapshot } from '../../station/snapshot.js';
import type { CommandOrigin } from '../../station/stop-store.js';
import type { AuthenticatedUser, HttpDependencies } from '../dependencies.js';
import { requirePermission } from '../authenticate.js';
import { parseBody, requestText } from '../validate.js';

export const commandSchema = z
  .object({
    reason: requestText(500).optional(),
    operator: requestText(128).optional(),
  })
  .strict();

export function stationBody(snapshot: StationSnapshot) {
  return {
    station_id: snapshot.stationId,
    name: snapshot.name,
    unit_id: snapshot.unitId,
    state: snapshot.stopState,
    emergency_stop_active: snapshot.emergencyStopActive,
    recovering: snapshot.recovering,
    failsafe_active: snapshot.failsafeActive,
    plan_stale: snapshot.planStale,
    database_unreachable: snapshot.databaseUnreachable,
    heartbeat: snapshot.heartbeat,
    persistence_pending: snapshot.persistencePending,
    updated_at: snapshot.updatedAt.toISOString(),
    pumps: snapshot.pumps.map((pump) => ({
      pump_id: pump.pumpId,
      name: pump.name,
      control_variable: pump.controlVariable,
      unit: pump.unit,
      setpoint: pump.setpoint,
      mode: pump.mode,
      minimum: pump.minimum,
      maximum: pump.maximum,
      plan_value: pump.planValue,
      target_setpoint: pump.targetSetpoint ?? null,
      override: pump.override ? { value: pump.override.value, expires_at: pump.override.expiresAt.toISOString(), reason: pump.override.reason, set_by: pump.override.setBy } : null,
    })),
  };
}

function stopStatusBody(snapshot: StationSnapshot) {
  return {
    station_id: snapshot.stationId,
    active: snapshot.emergencyStopActive,
    state: snapshot.stopState,
    persistence_pending: snapshot.persistencePending,
  };
}

export function findStation(dependencies: HttpDependencies, stationId: string): StationActor {
  const actor = dependencies.stations.get(stationId);
  if (!actor) {
    const known = dependencies.stations.all().map((each) => each.stationId).join(', ');
    throw new AdapterError('STATION_NOT_FOUND', `station "${stationId}" not found; configured stations: ${known}`, { details: { station_id: stationId } });
  }
  return actor;
}

export function originOf(context: Context, body: z.infer<typeof commandSchema>): CommandOrigin {
  const user = context.state.user as AuthenticatedUser;
  return {
    source: 'rest',
    actor: user.username,
    actorRole: user.role,
    sourceAddress: context.ip,
    reason: body.reason ?? null,
    operator: body.operator ?? null,
  };
}

/** 200 once the command is committed; 202 when it is in force but its database write is still retried. */
function commandResponse(context: Context, actor: StationActor, result: CommandResult): void {
  context.status = result.persisted ? 200 : 202;
  context.body = {
    ...stopStatusBody(actor.getSnapshot()),
    changed: result.changed,
    persistence: result.persisted ? 'committed' : 'pending',
  };
}

export function registerStationRoutes(router: Router, dependencies: HttpDependencies): void {
  const readStatus = requirePermission(dependencies, 'read_pump_status');

  router.get('/api/v1/pump-stations', readStatus, (context) => {
    context.body = { stations: dependencies.stations.all().map((actor) => stationBody(actor.getSnapshot())) };
  });

  router.get('/api/v1/pump-stations/:id', readStatus, (context) => {
    context.body = stationBody(findStation(dependencies, context.params.id ?? '').getSnapshot());
  });

  router.get('/api/v1/pump-stations/:id/emergency-stop-status', readStatus, (context) => {
    context.body = stopStatusBody(findStation(dependencies, context.params.id ?? '').getSnapshot());
  });

  router.post('/api/v1/pump-stations/:id/emergency-stop', requirePermission(dependencies, 'emergency_stop'), async (context) => {
    const actor = findStation(dependencies, context.params.id ?? '');
    const body = parseBody(commandSchema, context.request.body);
    commandResponse(context, actor, await actor.activateEmergencyStop(originOf(context, body)));
  });

  router.delete('/api/v1/pump-stations/:id/emergency-stop', requirePermission(dependencies, 'clear_emergency_stop'), async (context) => {
    const actor = findStation(dependencies, context.params.id ?? '');
    const body = parseBody(commandSchema, context.request.body);
    commandResponse(context, actor, await actor.clearEmergencyStop(originOf(context, body)));
  });

  router.post('/api/v1/pump-stations/:id/resume', requirePermission(dependencies, 'clear_emergency_stop'), async (context) => {
    const actor = findStation(dependencies, context.params.id ?? '');
    const body = parseBody(commandSchema, context.request.body);
    commandResponse(context, actor, await actor.resume(originOf(context, body)));
  });
}
