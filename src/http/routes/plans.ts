import type Router from '@koa/router';
import { z } from 'zod';
import { AdapterError } from '../../errors.js';
import { insertPlanRows, type PlanRow } from '../../station/plan-store.js';
import type { AuthenticatedUser, HttpDependencies } from '../dependencies.js';
import { requirePermission } from '../authenticate.js';
import { parseBody, requestText } from '../validate.js';

/**
 * Maximum rows per upload; a larger plan is split over several requests. This bound does not keep
 * a body under the 64 KiB limit. A row with a whole-number value and `Z` times takes about 150
 * bytes, so 400 rows are 60 KB. A row with a full-precision value and `+00:00` offsets takes about
 * 175 bytes, so 400 rows are 70 KB and only 374 fit. Such an upload gets 413, whose message suggests fewer rows.
 */
export const MAX_PLAN_ROWS = 400;

const planRowSchema = z
  .object({
    station_id: requestText(63).pipe(z.string().min(1)),
    pump_id: requestText(63).pipe(z.string().min(1)),
    interval_start: z.iso.datetime({ offset: true }),
    interval_end: z.iso.datetime({ offset: true }),
    // zod 4 rejects Infinity and NaN in z.number(), so every accepted value is finite.
    target_value: z.number(),
  })
  .strict();

export const planUploadSchema = z
  .object({
    plan_version: requestText(64).pipe(z.string().min(1)).optional(),
    rows: z.array(planRowSchema).min(1, 'send at least one row').max(MAX_PLAN_ROWS, `send at most ${MAX_PLAN_ROWS} rows per request; split the plan`),
  })
  .strict();

type PlanUpload = z.infer<typeof planUploadSchema>;

function invalidRow(index: number, field: string, message: string): AdapterError {
  return new AdapterError('VALIDATION_FAILED', `invalid field rows.${index}.${field}: ${message}`, {
    details: { invalid_params: [{ name: `rows.${index}.${field}`, reason: message }] },
  });
}

/**
 * Checks what the schema cannot: each row names a configured station and pump, its interval is
 * not empty, and no two rows of the upload cover the same moment for one pump (which row should
 * win would be a guess). Returns the rows and, for values outside a pump's limits, warnings: those
 * rows are stored as sent and clamped when applied, like rows the optimizer writes directly.
 */
function checkRows(dependencies: HttpDependencies, upload: PlanUpload): { rows: PlanRow[]; warnings: string[] } {
  const rows: PlanRow[] = [];
  const warnings: string[] = [];
  upload.rows.forEach((row, index) => {
    const actor = dependencies.stations.get(row.station_id);
    if (!actor) {
      const known = dependencies.stations.all().map((each) => each.stationId).join(', ');
      throw invalidRow(index, 'station_id', `station "${row.station_id}" not found; configured stations: ${known}`);
    }
    const pump = actor.getSnapshot().pumps.find((candidate) => candidate.pumpId === row.pump_id);
    if (!pump) {
      const known = actor.getSnapshot().pumps.map((candidate) => candidate.pumpId).join(', ');
      throw invalidRow(index, 'pump_id', `pump "${row.pump_id}" not found at station ${row.station_id}; its pumps are ${known}`);
    }
    const intervalStart = new Date(row.interval_start);
    const intervalEnd = new Date(row.interval_end);
    if (intervalEnd.getTime() <= intervalStart.getTime()) {
      throw invalidRow(index, 'interval_end', `${row.interval_end} is not after interval_start ${row.interval_start}; intervals start inclusive and end exclusive`);
    }
    if (row.target_value < pump.minimum || row.target_value > pump.maximum) {
      warnings.push(`rows.${index}.target_value ${row.target_value} is outside [${pump.minimum}, ${pump.maximum}] of pump ${row.pump_id} at station ${row.station_id}; it will be clamped`);
    }
    rows.push({ stationId: row.station_id, pumpId: row.pump_id, intervalStart, intervalEnd, targetValue: row.target_value });
  });
  rejectOverlaps(rows);
  return { rows, warnings };
}

function rejectOverlaps(rows: PlanRow[]): void {
  const byPump = new Map<string, Array<{ row: PlanRow; index: number }>>();
  rows.forEach((row, index) => {
    const key = `${row.stationId}\u0000${row.pumpId}`;
    byPump.set(key, [...(byPump.get(key) ?? []), { row, index }]);
  });
  for (const entries of byPump.values()) {
    entries.sort((a, b) => a.row.intervalStart.getTime() - b.row.intervalStart.getTime());
    for (let position = 1; position < entries.length; position += 1) {
      const previous = entries[position - 1];
      const current = entries[position];
      if (!previous || !current) continue;
      if (current.row.intervalStart.getTime() < previous.row.intervalEnd.getTime()) {
        throw invalidRow(
          current.index,
          'interval_start',
          `overlaps rows.${previous.index} for pump ${current.row.pumpId} at station ${current.row.stationId}; send one row per moment, or a newer upload to replace a plan`,
        );
      }
    }
  }
}

/** Plan upload for optimizers that cannot write to the database themselves. */
export function registerPlanRoutes(router: Router, dependencies: HttpDependencies): void {
  router.post('/api/v1/plans', requirePermission(dependencies, 'manage_setpoints'), async (context) => {
    const upload = parseBody(planUploadSchema, context.request.body);
    const { rows, warnings } = checkRows(dependencies, upload);
    const database = dependencies.getDatabase();
    if (!database) {
      throw new AdapterError('DATABASE_UNAVAILABLE', 'cannot store the plan while the database is not connected; retry shortly');
    }

    const user = context.state.user as AuthenticatedUser;
    const planVersion = upload.plan_version ?? `rest-${new Date().toISOString()}`;
    const stationIds = [...new Set(rows.map((row) => row.stationId))];
    const planIds = await insertPlanRows(database, rows, planVersion, {
      eventType: 'PLAN_UPLOADED',
      severity: 'LOW',
      source: 'rest',
      actor: user.username,
      actorRole: user.role,
      sourceAddress: context.ip,
      details: { stations: stationIds },
    });
    // The insert trigger notifies the stations too; this refresh covers a lost notification.
    for (const stationId of stationIds) void dependencies.stations.get(stationId)?.refreshPlans();

    context.status = 201;
    context.body = { plan_version: planVersion, rows: planIds.length, plan_ids: planIds, stations: stationIds, warnings };
  });
}
