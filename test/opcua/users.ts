import { randomUUID } from 'node:crypto';
import type { Database } from '../../src/db/database.js';
import { hashPassword } from '../../src/auth/passwords.js';

export const TEST_PASSWORD = 'opcua-test-password-1';

/** Inserts an active user with `role` straight into the users table; roles come seeded. */
export async function createUser(database: Database, username: string, role: string, password = TEST_PASSWORD): Promise<void> {
  await database.query('INSERT INTO users (user_id, username, role, password_hash, active) VALUES ($1, $2, $3, $4, true)', [
    randomUUID(),
    username,
    role,
    await hashPassword(password),
  ]);
}

export interface AuditRow {
  event_type: string;
  source: string;
  actor: string | null;
  actor_role: string | null;
  station_id: string | null;
  details: Record<string, unknown>;
}

/** Returns the audit rows of `eventType`, oldest first. */
export async function auditRows(database: Database, eventType: string): Promise<AuditRow[]> {
  const result = await database.query<AuditRow>(
    'SELECT event_type, source, actor, actor_role, station_id, details FROM compliance_audit_log WHERE event_type = $1 ORDER BY id',
    [eventType],
  );
  return result.rows;
}
