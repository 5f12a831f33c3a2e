import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { writeAuditEvent } from '../../src/audit/audit-log.js';
import { CHAIN_ROW_COLUMNS, canonicalRowText, verifyAuditChain, type ChainRow } from '../../src/audit/verify-chain.js';
import type { Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { createPgliteDatabase, createPostgresDatabase, type TestDatabase } from '../helpers/databases.js';

async function writeEvents(database: Database, count: number): Promise<void> {
  for (let index = 0; index < count; index += 1) {
    await writeAuditEvent(database, {
      eventType: 'EMERGENCY_STOP_ACTIVATED',
      severity: 'CRITICAL',
      source: 'rest',
      actor: `operator${index}`,
      stationId: 'station001',
      details: { reason: `drill ${index}`, nested: { value: index } },
    });
  }
}

/** Changes rows the way a database superuser could, with the append-only triggers switched off. */
async function tamper(database: Database, sql: string): Promise<void> {
  await database.exec(`ALTER TABLE compliance_audit_log DISABLE TRIGGER USER; ${sql}; ALTER TABLE compliance_audit_log ENABLE TRIGGER USER;`);
}

// Every case needs a fresh chain to tamper with, so each gets its own PostgreSQL database.
describe('audit hash chain on PostgreSQL', () => {
  let testDatabase: TestDatabase;
  let database: Database;

  beforeEach(async () => {
    testDatabase = await createPostgresDatabase();
    database = await testDatabase.open();
    await migrate(database);
    await writeEvents(database, 6);
  });

  afterEach(async () => {
    await database?.close();
    await testDatabase?.drop();
  });

  it('verifies an untouched chain and reports its head', async () => {
    const result = await verifyAuditChain(database);
    expect(result).toMatchObject({ ok: true, rowsChecked: 6, headPosition: 6, firstBadRow: null });
    const head = await database.query<{ row_hash: string }>('SELECT row_hash FROM compliance_audit_log WHERE chain_position = 6');
    expect(result.headHash).toBe(head.rows[0]!.row_hash);
  });

  it('names an altered row', async () => {
    await tamper(database, `UPDATE compliance_audit_log SET details = '{"reason": "nothing happened"}' WHERE chain_position = 3`);
    const result = await verifyAuditChain(database);
    expect(result.ok).toBe(false);
    expect(result.firstBadRow).toMatchObject({ chainPosition: 3, problem: 'row_altered' });
    expect(result.rowsChecked).toBe(2);
  });

  it('names the row after a removed one', async () => {
    await tamper(database, 'DELETE FROM compliance_audit_log WHERE chain_position = 4');
    const result = await verifyAuditChain(database);
    expect(result.firstBadRow).toMatchObject({ chainPosition: 5, problem: 'position_gap' });
  });

  it('detects a removed row even when the positions are renumbered', async () => {
    await tamper(database, 'DELETE FROM compliance_audit_log WHERE chain_position = 4; UPDATE compliance_audit_log SET chain_position = chain_position - 1 WHERE chain_position > 4');
    const result = await verifyAuditChain(database);
    expect(result.ok).toBe(false);
    expect(result.firstBadRow?.chainPosition).toBe(4);
  });

  it('detects two rows swapped', async () => {
    await tamper(
      database,
      `UPDATE compliance_audit_log SET chain_position = -1 WHERE chain_position = 2;
       UPDATE compliance_audit_log SET chain_position = 2 WHERE chain_position = 5;
       UPDATE compliance_audit_log SET chain_position = 5 WHERE chain_position = -1`,
    );
    const result = await verifyAuditChain(database);
    expect(result.ok).toBe(false);
    expect(result.firstBadRow?.chainPosition).toBe(2);
  });

  it('detects a row whose hash was recomputed after the change', async () => {
    await tamper(
      database,
      `UPDATE compliance_audit_log SET actor = 'someone else' WHERE chain_position = 2;
       UPDATE compliance_audit_log SET row_hash = audit_chain_hash(previous_hash, audit_row_canonical(compliance_audit_log.*)) WHERE chain_position = 2`,
    );
    const result = await verifyAuditChain(database);
    // The changed row is consistent in itself, but the next row still links to its old hash.
    expect(result.firstBadRow).toMatchObject({ chainPosition: 3, problem: 'broken_link' });
  });

  it('detects a row slipped in before the first', async () => {
    await tamper(
      database,
      `INSERT INTO compliance_audit_log (chain_position, previous_hash, row_hash, event_type, severity, source)
       VALUES (0, audit_chain_genesis(), audit_chain_genesis(), 'EMERGENCY_STOP_CLEARED', 'HIGH', 'rest')`,
    );
    const result = await verifyAuditChain(database);
    expect(result.ok).toBe(false);
    expect(result.firstBadRow).toMatchObject({ chainPosition: 0, problem: 'position_gap' });
  });

  it('is not fooled by a replaced canonical function', async () => {
    const original = await database.query<{ text: string }>('SELECT audit_row_canonical(compliance_audit_log.*) AS text FROM compliance_audit_log WHERE chain_position = 2');
    const originalText = original.rows[0]!.text.replaceAll("'", "''");
    await tamper(
      database,
      `UPDATE compliance_audit_log SET actor = 'mallory' WHERE chain_position = 2;
       CREATE OR REPLACE FUNCTION audit_row_canonical(row_data compliance_audit_log) RETURNS text LANGUAGE sql IMMUTABLE AS $$
         SELECT CASE WHEN row_data.chain_position = 2 THEN '${originalText}' ELSE json_build_array(
           row_data.chain_position, to_char(row_data.timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), row_data.event_type,
           row_data.severity, row_data.actor, row_data.actor_role, row_data.source, row_data.source_address, row_data.station_id, row_data.details)::text END
       $$`,
    );
    const result = await verifyAuditChain(database);
    expect(result.firstBadRow).toMatchObject({ chainPosition: 2, problem: 'row_altered' });
  });

  it('builds the same canonical text as the trigger', async () => {
    const awkward = ['quote " and backslash \\', 'tab\tnew line\ncontrol \u0001\u001f', 'Zürich 水 😀', "apostrophe ' here", ''];
    for (const text of awkward) {
      await writeAuditEvent(database, { eventType: 'USER_UPDATED', severity: 'LOW', source: 'cli', actor: text, details: { note: text, n: 1.5, list: [1, 'x'] } });
    }
    const rows = await database.query<ChainRow & { trigger_text: string }>(
      `SELECT ${CHAIN_ROW_COLUMNS}, audit_row_canonical(compliance_audit_log.*) AS trigger_text FROM compliance_audit_log ORDER BY chain_position`,
    );
    expect(rows.rows.length).toBe(6 + awkward.length);
    for (const row of rows.rows) expect(canonicalRowText(row)).toBe(row.trigger_text);
  });

  it('keeps appending after concurrent writers', async () => {
    await Promise.all(Array.from({ length: 20 }, (_, index) => writeAuditEvent(database, { eventType: 'LOGIN_SUCCEEDED', severity: 'LOW', source: 'rest', actor: `u${index}` })));
    const result = await verifyAuditChain(database);
    expect(result).toMatchObject({ ok: true, rowsChecked: 26 });
  });

  it('still rejects UPDATE and DELETE from the application', async () => {
    await expect(database.query(`UPDATE compliance_audit_log SET actor = 'x' WHERE chain_position = 1`)).rejects.toThrow(/append-only/);
    await expect(database.query('DELETE FROM compliance_audit_log')).rejects.toThrow(/append-only/);
  });
});

// The embedded database builds the same chain with the same SQL; one pass shows the verifier
// reads it and catches a change there too, without paying PGlite's start-up for every case.
describe('audit hash chain on PGlite', () => {
  it('verifies, then names an altered row', async () => {
    const testDatabase = await createPgliteDatabase();
    const database = await testDatabase.open();
    try {
      await migrate(database);
      await writeEvents(database, 4);
      await Promise.all([1, 2, 3].map((index) => writeAuditEvent(database, { eventType: 'LOGIN_SUCCEEDED', severity: 'LOW', source: 'rest', actor: `u${index}` })));
      expect(await verifyAuditChain(database)).toMatchObject({ ok: true, rowsChecked: 7 });
      await tamper(database, `UPDATE compliance_audit_log SET severity = 'LOW' WHERE chain_position = 2`);
      expect((await verifyAuditChain(database)).firstBadRow).toMatchObject({ chainPosition: 2, problem: 'row_altered' });
    } finally {
      await database.close();
      await testDatabase.drop();
    }
  });
});

describe('scripts/audit-trail-verification.sh', () => {
  it('exits 0 on an intact chain and 2 naming the bad row', async () => {
    const testDatabase = await createPostgresDatabase();
    const database = await testDatabase.open();
    const script = join(PACKAGE_ROOT, 'scripts', 'audit-trail-verification.sh');
    const runScript = (args: string[] = []) =>
      new Promise<{ code: number | null; stdout: string }>((resolve) => {
        execFile(script, args, { env: { PATH: process.env.PATH, DATABASE_URL: testDatabase.url! }, timeout: 30_000 }, (error, stdout) =>
          resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout }),
        );
      });
    try {
      await migrate(database);
      await writeEvents(database, 3);
      const intact = await runScript();
      expect(intact.code).toBe(0);
      expect(intact.stdout).toMatch(/^OK: audit chain intact, 3 rows/);

      await tamper(database, `UPDATE compliance_audit_log SET station_id = 'station002' WHERE chain_position = 2`);
      const broken = await runScript(['--json']);
      expect(broken.code).toBe(2);
      expect(JSON.parse(broken.stdout)).toMatchObject({ ok: false, rows_checked: 1, first_bad_row: { chain_position: 2, problem: 'row_altered' } });
    } finally {
      await database.close();
      await testDatabase.drop();
    }
  });
});
