import type { Database, Queryable } from '../db/database.js';
import { writeAuditEvent } from '../audit/audit-log.js';
import type { CommandOrigin } from './stop-store.js';

/** A manual override as the station applies it. */
export interface PumpOverride {
  overrideId: string;
  pumpId: string;
  value: number;
  reason: string | null;
  setBy: string | null;
  setAt: Date;
  expiresAt: Date;
}

interface OverrideRow {
  override_id: string | number;
  pump_id: string;
  value: number;
  reason: string | null;
  set_by: string | null;
  set_at: Date;
  expires_at: Date;
}

function toOverride(row: OverrideRow): PumpOverride {
  return {
    overrideId: String(row.override_id),
    pumpId: row.pump_id,
    value: Number(row.value),
    reason: row.reason,
    setBy: row.set_by,
    setAt: row.set_at,
    expiresAt: row.expires_at,
  };
}

/** Reads the station's open overrides that have not expired at `at`, one per pump at most. */
export async function readActiveOverrides(database: Queryable, stationId: string, at: Date): Promise<PumpOverride[]> {
  const result = await database.query<OverrideRow>(
    `SELECT override_id, pump_id, value, reason, set_by, set_at, expires_at
       FROM pump_overrides
      WHERE station_id = $1 AND ended_at IS NULL AND expires_at > $2`,
    [stationId, at],
  );
  return result.rows.map(toOverride);
}

function actorName(origin: CommandOrigin): string | null {
  return origin.actor ?? origin.operator;
}

/** Builds the audit row fields that name who changed an override, and from where. */
function auditOrigin(origin: CommandOrigin, stationId: string, at: Date) {
  return { source: origin.source, actor: actorName(origin), actorRole: origin.actorRole, sourceAddress: origin.sourceAddress, stationId, occurredAt: at };
}

/** Ends the pump's open override inside `tx`, as expired when its time has passed and as `reason` otherwise. */
async function endOpenOverride(tx: Queryable, stationId: string, pumpId: string, at: Date, endedBy: string | null, reason: 'cleared' | 'replaced'): Promise<string | null> {
  const ended = await tx.query<{ override_id: string | number }>(
    `UPDATE pump_overrides
        SET ended_at = $3, ended_by = $4, end_reason = CASE WHEN expires_at <= $3 THEN 'expired' ELSE $5 END
      WHERE station_id = $1 AND pump_id = $2 AND ended_at IS NULL
      RETURNING override_id`,
    [stationId, pumpId, at, endedBy, reason],
  );
  const row = ended.rows[0];
  return row ? String(row.override_id) : null;
}

/**
 * Stores a new override and its OVERRIDE_SET audit row in one transaction, ending the pump's
 * previous override if one is open. Returns the stored override.
 */
export async function storeOverride(
  database: Database,
  request: { stationId: string; pumpId: string; value: number; expiresAt: Date; setAt: Date; origin: CommandOrigin; limits: { minimum: number; maximum: number } },
): Promise<PumpOverride> {
  const { stationId, pumpId, origin } = request;
  return database.transaction(async (tx) => {
    const replaced = await endOpenOverride(tx, stationId, pumpId, request.setAt, actorName(origin), 'replaced');
    const inserted = await tx.query<OverrideRow>(
      `INSERT INTO pump_overrides (station_id, pump_id, value, reason, set_at, set_by, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       RETURNING override_id, pump_id, value, reason, set_by, set_at, expires_at`,
      [stationId, pumpId, request.value, origin.reason, request.setAt, actorName(origin), request.expiresAt],
    );
    const row = inserted.rows[0];
    if (!row) throw new Error(`inserting the override of pump ${pumpId} at station ${stationId} returned no row`);
    await writeAuditEvent(tx, {
      ...auditOrigin(origin, stationId, request.setAt),
      eventType: 'OVERRIDE_SET',
      severity: 'MEDIUM',
      details: {
        pump_id: pumpId,
        override_id: String(row.override_id),
        value: request.value,
        expires_at: request.expiresAt.toISOString(),
        reason: origin.reason,
        minimum: request.limits.minimum,
        maximum: request.limits.maximum,
        replaced_override_id: replaced,
      },
    });
    return toOverride(row);
  });
}

/** Ends the pump's open override and writes OVERRIDE_CLEARED; returns the ended override's id or null. */
export async function clearStoredOverride(database: Database, request: { stationId: string; pumpId: string; at: Date; origin: CommandOrigin }): Promise<string | null> {
  const { stationId, pumpId, origin } = request;
  return database.transaction(async (tx) => {
    const ended = await endOpenOverride(tx, stationId, pumpId, request.at, actorName(origin), 'cleared');
    if (ended === null) return null;
    await writeAuditEvent(tx, {
      ...auditOrigin(origin, stationId, request.at),
      eventType: 'OVERRIDE_CLEARED',
      severity: 'MEDIUM',
      details: { pump_id: pumpId, override_id: ended, reason: origin.reason },
    });
    return ended;
  });
}
