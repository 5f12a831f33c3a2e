import type Router from '@koa/router';
import { z } from 'zod';
import type { HttpDependencies } from '../dependencies.js';
import { requirePermission } from '../authenticate.js';
import { parseBody, requestText } from '../validate.js';
import { findStation, originOf } from './stations.js';

export const setOverrideSchema = z
  .object({
    value: z.number(),
    expires_at: z.iso.datetime({ offset: true }).optional(),
    // Bounded so the expiry stays a valid date; the station applies its own, shorter maximum.
    duration_seconds: z.number().int().positive().max(366 * 86_400).optional(),
    reason: requestText(500).optional(),
    operator: requestText(128).optional(),
  })
  .strict()
  .refine((body) => (body.expires_at === undefined) !== (body.duration_seconds === undefined), {
    message: 'give exactly one of expires_at (ISO 8601 time with offset) or duration_seconds',
    path: ['expires_at'],
  });

export const clearOverrideSchema = z
  .object({
    reason: requestText(500).optional(),
    operator: requestText(128).optional(),
  })
  .strict();

/** Manual overrides of one pump's setpoint, each with an expiry. */
export function registerOverrideRoutes(router: Router, dependencies: HttpDependencies): void {
  const manageSetpoints = requirePermission(dependencies, 'manage_setpoints');
  const path = '/api/v1/pump-stations/:id/pumps/:pumpId/override';

  router.put(path, manageSetpoints, async (context) => {
    const actor = findStation(dependencies, context.params.id ?? '');
    const body = parseBody(setOverrideSchema, context.request.body);
    const expiresAt = body.expires_at !== undefined ? new Date(body.expires_at) : new Date(Date.now() + (body.duration_seconds ?? 0) * 1000);
    const pumpId = context.params.pumpId ?? '';
    const stored = await actor.setOverride(pumpId, { value: body.value, expiresAt }, originOf(context, body));
    const pump = actor.getSnapshot().pumps.find((candidate) => candidate.pumpId === pumpId);
    context.body = {
      station_id: actor.stationId,
      pump_id: pumpId,
      override: {
        override_id: stored.overrideId,
        value: stored.value,
        expires_at: stored.expiresAt.toISOString(),
        reason: stored.reason,
        set_by: stored.setBy,
      },
      setpoint: pump?.setpoint ?? null,
      mode: pump?.mode ?? null,
    };
  });

  router.delete(path, manageSetpoints, async (context) => {
    const actor = findStation(dependencies, context.params.id ?? '');
    const body = parseBody(clearOverrideSchema, context.request.body);
    const pumpId = context.params.pumpId ?? '';
    const ended = await actor.clearOverride(pumpId, originOf(context, body));
    context.body = { station_id: actor.stationId, pump_id: pumpId, cleared_override_id: ended };
  });
}
