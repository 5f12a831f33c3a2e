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

interface ChainRow {
  id: string;
  chain_position: string;
  previous_hash: string;
  row_hash: string;
  canonical: string;
}

/**
 * Walks compliance_audit_log in chain order and recomputes every hash from the row's content. The
 * canonical text comes from the same SQL function the insert trigger uses. The hash is computed
 * here, so a changed hash function in the database does not hide a changed row.
 */
export async function verifyAuditChain(database: Queryable): Promise<ChainVerification> {
  let expectedPrevious = GENESIS_HASH;
  let expectedPosition = 1;
  let rowsChecked = 0;
  let after = 0;

  for (;;) {
    const page = await database.query<ChainRow>(
      `SELECT id::text, chain_position::text, previous_hash, row_hash, audit_row_canonical(compliance_audit_log.*) AS canonical
         FROM compliance_audit_log WHERE chain_position > $1 ORDER BY compliance_audit_log.chain_position LIMIT ${PAGE_SIZE}`,
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
      if (position !== expectedPosition) {
        return bad('position_gap', `expected chain position ${expectedPosition}, found ${position}; rows in between were removed`);
      }
      const recomputed = createHash('sha256').update(row.previous_hash + row.canonical, 'utf8').digest('hex');
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
