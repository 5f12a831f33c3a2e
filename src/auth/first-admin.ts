import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Database } from '../db/database.js';
import type { AdapterLogger } from '../log.js';
import { writeAuditEvent } from '../audit/audit-log.js';
import { hashPassword } from './passwords.js';
import { readOrCreateSecretFile } from './local-secret.js';

export const FIRST_ADMIN_USERNAME = 'admin';
export const INITIAL_PASSWORD_FILE = 'initial-admin-password';

/**
 * Creates the first administrator when no user exists: with CALEJO_ADMIN_PASSWORD, or with a
 * generated password written once to `<dataDir>/initial-admin-password` (mode 0600). The password
 * itself is never logged.
 */
export async function ensureFirstAdministrator(
  database: Database,
  options: { adminPassword: string | undefined; dataDir: string; logger: AdapterLogger },
): Promise<void> {
  const existing = await database.query('SELECT 1 FROM users LIMIT 1');
  if (existing.rowCount > 0) return;

  let password = options.adminPassword;
  let passwordFile: string | null = null;
  if (password === undefined) {
    passwordFile = join(options.dataDir, INITIAL_PASSWORD_FILE);
    password = readOrCreateSecretFile(passwordFile, () => randomBytes(18).toString('base64url')).value;
  }

  const passwordHash = await hashPassword(password);
  const inserted = await database.query(
    `INSERT INTO users (user_id, username, role, password_hash) VALUES ($1, $1, 'administrator', $2) ON CONFLICT DO NOTHING`,
    [FIRST_ADMIN_USERNAME, passwordHash],
  );
  if (inserted.rowCount === 0) return;

  await writeAuditEvent(database, {
    eventType: 'USER_CREATED',
    severity: 'HIGH',
    source: 'system',
    actor: 'system',
    details: { user_id: FIRST_ADMIN_USERNAME, role: 'administrator', password_source: passwordFile ? 'generated' : 'CALEJO_ADMIN_PASSWORD' },
  });
  options.logger.warning(
    { username: FIRST_ADMIN_USERNAME, password_file: passwordFile },
    passwordFile
      ? `first administrator "admin" created; its password is in ${passwordFile}, change it and delete the file`
      : 'first administrator "admin" created with the password from CALEJO_ADMIN_PASSWORD',
  );
}
