import type { Queryable } from '../db/database.js';
import type { Severity } from './audit-log.js';

export interface AuditFilter {
  from?: Date;
  to?: Date;
  eventType?: string[];
  severity?: Severity[];
  stationId?: string;
  actor?: string;
  /** Rows after this chain position, in chain order: the cursor of the previous page. */
  afterPosition?: number;
}

export interface AuditEntry {
  id: number;
  chain_position: number;
  timestamp: string;
  event_type: string;
  severity: Severity;
  actor: string | null;
  actor_role: string | null;
  source: string;
  source_address: string | null;
  station_id: string | null;
  details: Record<string, unknown>;
  previous_hash: string;
  row_hash: string;
}

/** The fields in the order CSV exports and API responses list them. */
export const AUDIT_FIELDS = [
  'id',
  'chain_position',
  'timestamp',
  'event_type',
  'severity',
  'actor',
  'actor_role',
  'source',
  'source_address',
  'station_id',
  'details',
  'previous_hash',
  'row_hash',
] as const satisfies ReadonlyArray<keyof AuditEntry>;

/**
 * Reads one page of audit rows in chain order (the order they were written). Every filter value
 * is a bound parameter; the SQL text itself never contains request input.
 */
export async function queryAuditLog(database: Queryable, filter: AuditFilter, limit: number): Promise<AuditEntry[]> {
  const conditions: string[] = [];
  const parameters: unknown[] = [];
  const bind = (value: unknown) => {
    parameters.push(value);
    return `$${parameters.length}`;
  };
  if (filter.from) conditions.push(`timestamp >= ${bind(filter.from)}`);
  if (filter.to) conditions.push(`timestamp < ${bind(filter.to)}`);
  if (filter.eventType?.length) conditions.push(`event_type = ANY(${bind(filter.eventType)}::text[])`);
  if (filter.severity?.length) conditions.push(`severity = ANY(${bind(filter.severity)}::text[])`);
  if (filter.stationId) conditions.push(`station_id = ${bind(filter.stationId)}`);
  if (filter.actor) conditions.push(`actor = ${bind(filter.actor)}`);
  if (filter.afterPosition !== undefined) conditions.push(`chain_position > ${bind(filter.afterPosition)}`);
  const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';

  const result = await database.query<Omit<AuditEntry, 'id' | 'chain_position' | 'timestamp'> & { id: string; chain_position: string; timestamp: Date }>(
    `SELECT id::text, chain_position::text, timestamp, event_type, severity, actor, actor_role, source, source_address,
            station_id, details, previous_hash, row_hash
       FROM compliance_audit_log ${where} ORDER BY compliance_audit_log.chain_position LIMIT ${bind(limit)}`,
    parameters,
  );
  return result.rows.map((row) => ({
    ...row,
    id: Number(row.id),
    chain_position: Number(row.chain_position),
    timestamp: row.timestamp.toISOString(),
  }));
}

/** Formats one CSV line per RFC 4180. A cell that starts like a formula is prefixed, so spreadsheets show it as text. */
export function toCsvLine(entry: AuditEntry): string {
  return AUDIT_FIELDS.map((field) => csvCell(entry[field])).join(',');
}

function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
