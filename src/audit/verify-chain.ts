import { createHash } from 'node:crypto';
import type { Queryable } from '../db/database.js';

/** The hash the first row links to; the migration's audit_chain_genesis() returns the same. */
export const GENESIS_HASH = '0'.repeat(64);

const PAGE_SIZE = 5000;

export type ChainProblem =
  /** The row's stored hash does not match its content: the row was altered. */
  | 'row_altered'
  /** The row does not link to the row before it: a row before it was removed or altered, or rows were reordered. */
  | 'broken_link'
  /** Chain positions skip a number: a row was removed. */
  | 'position_gap';

export interface ChainVerification {
  ok: boolean;
  rowsChecked: number;
  /** The newest row's hash; record it elsewhere to detect a rewrite of the whole chain later. */
  headHash: string;
  headPosition: number;
  firstBadRow: { id: number; chainPosition: number; problem: ChainProblem; detail: string } | null;
}

/** A row as the verifier reads it: every column as the database's built-in text output. */
export interface ChainRow {
  id: string;
  chain_position: string;
  time_text: string;
  event_type: string;
  severity: string;
  actor: string | null;
  actor_role: string | null;
  source: string;
  source_address: string | null;
  station_id: string | null;
  details_text: string;
  previous_hash: string;
  row_hash: string;
}

/**
 * Builds the same text as the migration's audit_row_canonical(), which renders the row with
 * json_build_array. PostgreSQL escapes strings there as JSON.stringify does (the same short
 * escapes, and \u00xx in lower case for other control characters), separates elements with ", ",
 * and writes jsonb with its own text output, which details_text already is. A test compares both
 * for rows with quotes, control characters and non-ASCII text.
 */
export function canonicalRowText(row: ChainRow): string {
  const text = (value: string | null) => (value === null ? 'null' : JSON.stringify(value));
  return `[${[
    row.chain_position,
    text(row.time_text),
    text(row.event_type),
    text(row.severity),
    text(row.actor),
    text(row.actor_role),
    text(row.source),
    text(row.source_address),
    text(row.station_id),
    row.details_text,
  ].join(', ')}]`;
}

/**
 * Reads rows with built-in functions only, schema-qualified, so a function replaced in the
 * database cannot feed the verifier a text other than the row's content.
 */
export const CHAIN_ROW_COLUMNS = `id::text, chain_position::text,
  pg_catalog.to_char(timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS time_text,
  event_type, severity, actor, actor_role, source, source_address, station_id, details::text AS details_text,
  previous_hash, row_hash`;

/**
 * Walks compliance_audit_log in chain order and recomputes every hash from the row's content.
 * Both the canonical text and the hash are computed here, from the columns, so a function
 * replaced in the database does not hide a changed row.
 */
export async function verifyAuditChain(database: Queryable): Promise<ChainVerification> {
  let expectedPrevious = GENESIS_HASH;
  let expectedPosition = 1;
  let rowsChecked = 0;
  // No lower bound on the first page: a row slipped in at position 0 or below must be seen.
  let after: number | null = null;

  for (;;) {
    const page: { rows: ChainRow[] } = await database.query<ChainRow>(
      `SELECT ${CHAIN_ROW_COLUMNS}
         FROM compliance_audit_log WHERE $1::bigint IS NULL OR chain_position > $1::bigint
         ORDER BY compliance_audit_log.chain_position LIMIT ${PAGE_SIZE}`,
      [after],
    );
    for (const row of page.rows) {
      const position = Number(row.chain_position);
      const bad = (problem: ChainProblem, detail: string): ChainVerification => ({
        ok: false,
        rowsChecked,
        headHash: expectedPrevious,
        headPosition: expectedPosition - 1,
        firstBadRow: { id: Number(row.id), chainPosition: position, problem, detail },
      });
      if (position > expectedPosition) {
        return bad('position_gap', `expected chain position ${expectedPosition}, found ${position}; rows in between were removed`);
      }
      if (position < expectedPosition) {
        return bad('position_gap', `found chain position ${position} where ${expectedPosition} was expected; the row was inserted outside the chain`);
      }
      const recomputed = createHash('sha256').update(row.previous_hash + canonicalRowText(row), 'utf8').digest('hex');
      if (recomputed !== row.row_hash) {
        return bad('row_altered', `stored hash ${row.row_hash.slice(0, 16)}… does not match the row's content (${recomputed.slice(0, 16)}…)`);
      }
      if (row.previous_hash !== expectedPrevious) {
        return bad('broken_link', `links to ${row.previous_hash.slice(0, 16)}… but the row before it hashes to ${expectedPrevious.slice(0, 16)}…`);
      }
      expectedPrevious = row.row_hash;
      expectedPosition += 1;
      rowsChecked += 1;
      after = position;
    }
    if (page.rows.length < PAGE_SIZE) break;
  }
  return { ok: true, rowsChecked, headHash: expectedPrevious, headPosition: expectedPosition - 1, firstBadRow: null };
}

/** Returns the result in the snake_case shape of the REST API and the CLI's --json output. */
export function verificationReport(result: ChainVerification) {
  const bad = result.firstBadRow;
  return {
    ok: result.ok,
    rows_checked: result.rowsChecked,
    head_position: result.headPosition,
    head_hash: result.headHash,
    first_bad_row: bad && { id: bad.id, chain_position: bad.chainPosition, problem: bad.problem, detail: bad.detail },
  };
}
