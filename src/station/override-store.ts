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

/** An override that ran out, as the station reports it to be ended in the database. */
export interface OverrideExpiry {
  stationId: string;
  pumpId: string;
  overrideId: string;
  value: number;
  expiresAt: Date;
}

/** Reads the station's open overrides (ended_at NULL), expired or not, one per pump at most. */
export async function readOpenOverrides(database: Queryable, stationId: string): Promise<PumpOverride[]> {
  const result = await database.query<OverrideRow>(
    `SELECT override_id, pump_id, value, reason, set_by, set_at, expires_at
       FROM pump_overrides
      WHERE station_id = $1 AND ended_at IS NULL`,
    [stationId],
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

/** Writes OVERRIDE_EXPIRED for a row that was just ended as expired, stamped with its expiry. */
async function auditExpiry(tx: Queryable, expiry: OverrideExpiry): Promise<void> {
  await writeAuditEvent(tx, {
    eventType: 'OVERRIDE_EXPIRED',
    severity: 'LOW',
    source: 'system',
    stationId: expiry.stationId,
    occurredAt: expiry.expiresAt,
    details: { pump_id: expiry.pumpId, override_id: expiry.overrideId, value: expiry.value },
  });
}

/**
 * Ends the pump's open override inside `tx` when its expiry is at or before `at`, with ended_at
 * set to the expiry, and writes its OVERRIDE_EXPIRED row. Returns the expired override, or null.
 */
async function endExpiredOverride(tx: Queryable, stationId: string, pumpId: string, at: Date): Promise<OverrideExpiry | null> {
  const ended = await tx.query<{ override_id: string | number; value: number; expires_at: Date }>(
    `UPDATE pump_overrides
        SET ended_at = expires_at, end_reason = 'expired'
      WHERE station_id = $1 AND pump_id = $2 AND ended_at IS NULL AND expires_at <= $3
      RETURNING override_id, value, expires_at`,
    [stationId, pumpId, at],
  );
  const row = ended.rows[0];
  if (!row) return null;
  const expiry = { stationId, pumpId, overrideId: String(row.override_id), value: Number(row.value), expiresAt: row.expires_at };
  await auditExpiry(tx, expiry);
  return expiry;
}

/**
 * Ends the pump's open override inside `tx`. An override whose expiry has passed at `at` ends as
 * expired; an unexpired one ends with `reason`. Returns the ids of both, each null when absent.
 */
async function endOpenOverride(
  tx: Queryable,
  stationId: string,
  pumpId: string,
  at: Date,
  endedBy: string | null,
  reason: 'cleared' | 'replaced',
): Promise<{ endedId: string | null; expired: OverrideExpiry | null }> {
  const expired = await endExpiredOverride(tx, stationId, pumpId, at);
  const ended = await tx.query<{ override_id: string | number }>(
    `UPDATE pump_overrides
        SET ended_at = $3, ended_by = $4, end_reason = $5
      WHERE station_id = $1 AND pump_id = $2 AND ended_at IS NULL
      RETURNING override_id`,
    [stationId, pumpId, at, endedBy, reason],
  );
  const row = ended.rows[0];
  return { endedId: row ? String(row.override_id) : null, expired };
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
    const previous = await endOpenOverride(tx, stationId, pumpId, request.setAt, actorName(origin), 'replaced');
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
        replaced_override_id: previous.endedId,
      },
    });
    return toOverride(row);
  });
}

/** The pump's most recent override that has ended, as a clear request that found none open reports it. */
export interface EndedOverride {
  overrideId: string;
  endReason: 'cleared' | 'expired' | 'replaced';
  endedAt: Date;
}

export type ClearOutcome = { cleared: true; overrideId: string } | { cleared: false; lastEnded: EndedOverride | null };

/**
 * Ends the pump's open override and writes OVERRIDE_CLEARED. An override whose expiry has passed
 * is not cleared but ended as expired, with OVERRIDE_EXPIRED. When none was open and unexpired,
 * returns the pump's last ended override so the caller can say why there was nothing to clear.
 */
export async function clearStoredOverride(database: Database, request: { stationId: string; pumpId: string; at: Date; origin: CommandOrigin }): Promise<ClearOutcome> {
  const { stationId, pumpId, origin } = request;
  return database.transaction(async (tx) => {
    const { endedId, expired } = await endOpenOverride(tx, stationId, pumpId, request.at, actorName(origin), 'cleared');
    if (endedId !== null) {
      await writeAuditEvent(tx, {
        ...auditOrigin(origin, stationId, request.at),
        eventType: 'OVERRIDE_CLEARED',
        severity: 'MEDIUM',
        details: { pump_id: pumpId, override_id: endedId, reason: origin.reason },
      });
      return { cleared: true, overrideId: endedId };
    }
    if (expired) return { cleared: false, lastEnded: { overrideId: expired.overrideId, endReason: 'expired', endedAt: expired.expiresAt } };
    return { cleared: false, lastEnded: await readLastEndedOverride(tx, stationId, pumpId) };
  });
}

async function readLastEndedOverride(tx: Queryable, stationId: string, pumpId: string): Promise<EndedOverride | null> {
  const result = await tx.query<{ override_id: string | number; end_reason: EndedOverride['endReason']; ended_at: Date }>(
    `SELECT override_id, end_reason, ended_at FROM pump_overrides
      WHERE station_id = $1 AND pump_id = $2 AND ended_at IS NOT NULL
      ORDER BY override_id DESC LIMIT 1`,
    [stationId, pumpId],
  );
  const row = result.rows[0];
  return row ? { overrideId: String(row.override_id), endReason: row.end_reason, endedAt: row.ended_at } : null;
}

/**
 * Ends an override that the station saw run out, with ended_at at its expiry, and writes its
 * OVERRIDE_EXPIRED row in the same transaction. A row that a clear, a replacement or an earlier
 * attempt already ended is left alone and not audited again. Returns whether this call ended it.
 */
export async function storeOverrideExpiry(database: Database, expiry: OverrideExpiry): Promise<boolean> {
  return database.transaction(async (tx) => {
    const ended = await tx.query(
      `UPDATE pump_overrides SET ended_at = expires_at, end_reason = 'expired'
        WHERE override_id = $1 AND ended_at IS NULL
        RETURNING override_id`,
      [expiry.overrideId],
    );
    if (ended.rowCount === 0) return false;
    await auditExpiry(tx, expiry);
    return true;
  });
}
