import { randomBytes } from 'node:crypto';
import type { Database, Queryable } from '../db/database.js';
import { AdapterError } from '../errors.js';

export interface UserRecord {
  user_id: string;
  username: string;
  full_name: string | null;
  email: string | null;
  role: string;
  active: boolean;
  locked_until: string | null;
  last_login_at: string | null;
  created_at: string;
  updated_at: string;
}

const USER_COLUMNS = `user_id, username, full_name, email, role, active,
  CASE WHEN locked_until > now() THEN locked_until END AS locked_until, last_login_at, created_at, updated_at`;

type UserRow = Omit<UserRecord, 'locked_until' | 'last_login_at' | 'created_at' | 'updated_at'> & {
  locked_until: Date | null;
  last_login_at: Date | null;
  created_at: Date;
  updated_at: Date;
};

function toRecord(row: UserRow): UserRecord {
  return {
    ...row,
    locked_until: row.locked_until?.toISOString() ?? null,
    last_login_at: row.last_login_at?.toISOString() ?? null,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

export async function listUsers(database: Queryable): Promise<UserRecord[]> {
  const result = await database.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users ORDER BY created_at, user_id`);
  return result.rows.map(toRecord);
}

export async function findUser(database: Queryable, userId: string): Promise<UserRecord> {
  const result = await database.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE user_id = $1`, [userId]);
  const row = result.rows[0];
  if (!row) throw new AdapterError('USER_NOT_FOUND', `user "${userId}" not found; GET /api/v1/users lists the user ids`, { details: { user_id: userId } });
  return toRecord(row);
}

/** Returns a user id like `user-3f9a2c`: short enough to type, random so ids do not reveal how many users exist. */
export function newUserId(): string {
  return `user-${randomBytes(4).toString('hex')}`;
}

export async function insertUser(
  database: Queryable,
  user: { userId: string; username: string; role: string; email: string | null; fullName: string | null; passwordHash: string },
): Promise<UserRecord> {
  const result = await database.query<UserRow>(
    `INSERT INTO users (user_id, username, role, email, full_name, password_hash) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT DO NOTHING RETURNING ${USER_COLUMNS}`,
    [user.userId, user.username, user.role, user.email, user.fullName, user.passwordHash],
  );
  const row = result.rows[0];
  if (!row) throw new AdapterError('CONFLICT', `username "${user.username}" is taken (usernames are compared without case); choose another`, { details: { field: 'username' } });
  return toRecord(row);
}

/**
 * Runs `change` in a transaction that locks every active administrator's row, then rejects the
 * commit if no active administrator would remain. Two administrators demoting each other at the
 * same moment are serialized by the row locks, so the check cannot be raced.
 */
export async function withAdministratorGuard<T>(database: Database, change: (tx: Queryable) => Promise<T>): Promise<T> {
  return database.transaction(async (tx) => {
    await tx.query(`SELECT user_id FROM users WHERE role = 'administrator' AND active FOR UPDATE`);
    const outcome = await change(tx);
    const remaining = await tx.query(`SELECT 1 FROM users WHERE role = 'administrator' AND active`);
    if (remaining.rowCount === 0) {
      throw new AdapterError('CONFLICT', 'this change would leave no active administrator; make another user an administrator first');
    }
    return outcome;
  });
}
