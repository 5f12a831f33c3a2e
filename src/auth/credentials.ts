import { writeAuditEvent, type AuditSource } from '../audit/audit-log.js';
import type { SecurityPolicy } from '../config/load.js';
import type { Database } from '../db/database.js';
import { AdapterError } from '../errors.js';
import type { AdapterLogger } from '../log.js';
import { LoginRateLimiter } from './login-rate-limit.js';
import { verifyPassword } from './passwords.js';
import { toPermissions, type Permission } from './roles.js';
import { IdentityCache } from './identity-cache.js';
import { hashApiToken, readApiToken, recordApiTokenUse, type ApiTokenGrant } from './api-tokens.js';

/** A user as every surface authorizes it: the role's permissions are read with the user. */
export interface UserIdentity {
  userId: string;
  username: string;
  role: string;
  permissions: readonly Permission[];
  /** Login tokens issued before this time are no longer accepted; null when none is set. */
  tokensValidAfter?: Date | null;
}

export interface LoginContext {
  source: AuditSource;
  sourceAddress: string | null;
}

interface UserRow {
  user_id: string;
  username: string;
  role: string;
  active: boolean;
  password_hash: string | null;
  locked: boolean;
  permissions: string[] | null;
}

/** An API token's last_used_at is written at most this often, so a busy client does not write per request. */
const TOKEN_USE_STAMP_INTERVAL_MS = 60_000;

const INVALID_CREDENTIALS_MESSAGE = 'invalid username or password, or the account is locked after repeated failures; check both or ask an administrator';

/**
 * A fixed scrypt hash checked when the user does not exist or is locked, so that the response
 * time does not reveal which usernames are valid.
 */
const DUMMY_HASH = 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

/**
 * Checks usernames and passwords for the REST login and OPC UA user tokens alike, with one
 * lockout count per account and one rate limit per client address, and audits every outcome.
 */
export class CredentialService {
  private readonly rateLimiter: LoginRateLimiter;
  private readonly identities = new IdentityCache<UserIdentity>();
  private readonly apiTokens = new IdentityCache<ApiTokenGrant>();
  private readonly tokenUseStampedAt = new Map<string, number>();

  constructor(
    private readonly dependencies: {
      getDatabase: () => Database | null;
      logger: AdapterLogger;
      policy: SecurityPolicy;
    },
  ) {
    this.rateLimiter = new LoginRateLimiter(dependencies.policy.loginAttemptsPerMinute);
  }

  /**
   * Returns the identity for a correct username and password. A wrong password and an unknown,
   * deactivated or locked user all throw INVALID_CREDENTIALS, so a caller learns nothing about
   * which accounts exist. An address over its rate throws TOO_MANY_REQUESTS, and an unreadable
   * user table throws DATABASE_UNAVAILABLE.
   */
  async login(username: string, password: string, context: LoginContext): Promise<UserIdentity> {
    const database = this.requireDatabase();
    const { waitSeconds, firstRejection } = this.rateLimiter.take(context.sourceAddress ?? 'unknown');
    if (waitSeconds > 0) {
      // One row per burst: a client hammering the login must not flood the audit log.
      if (firstRejection) await this.audit(database, username, null, context, { reason: 'rate_limited', limit_per_minute: this.dependencies.policy.loginAttemptsPerMinute });
      throw new AdapterError('TOO_MANY_REQUESTS', `too many login attempts from ${context.sourceAddress ?? 'this client'}; retry in ${waitSeconds} s`, {
        details: { retry_after_seconds: waitSeconds },
      });
    }

    const result = await database.query<UserRow>(
      `SELECT u.user_id, u.username, u.role, u.active, u.password_hash,
              (u.locked_until IS NOT NULL AND u.locked_until > now()) AS locked, r.permissions
         FROM users u LEFT JOIN roles r ON r.role = u.role
        WHERE u.username = $1`,
      [username],
    );
    const user = result.rows[0];
    const checkable = user?.active === true && !user.locked && user.password_hash !== null;
    const passwordMatches = await verifyPassword(password, checkable ? (user.password_hash ?? DUMMY_HASH) : DUMMY_HASH);

    if (!user || !checkable || !passwordMatches) {
      let reason = 'wrong_password';
      if (!user) reason = 'unknown_user';
      else if (!user.active) reason = 'user_deactivated';
      else if (user.locked) reason = 'account_locked';
      else if (user.password_hash === null) reason = 'no_password_set';
      await this.audit(database, username, user?.role ?? null, context, { reason });
      if (user && reason === 'wrong_password') await this.countFailure(database, user, context);
      throw new AdapterError('INVALID_CREDENTIALS', INVALID_CREDENTIALS_MESSAGE);
    }

    // The lock is checked again here, because wrong passwords sent in parallel may have locked
    // the account while this password was being hashed.
    const accepted = await database.query(
      `UPDATE users SET failed_login_count = 0, first_failed_login_at = NULL, last_login_at = now()
        WHERE user_id = $1 AND active AND (locked_until IS NULL OR locked_until <= now())`,
      [user.user_id],
    );
    if (accepted.rowCount === 0) {
      await this.audit(database, username, user.role, context, { reason: 'account_locked' });
      throw new AdapterError('INVALID_CREDENTIALS', INVALID_CREDENTIALS_MESSAGE);
    }
    await writeAuditEvent(database, {
      eventType: 'LOGIN_SUCCEEDED',
      severity: 'LOW',
      source: context.source,
      actor: user.username,
      actorRole: user.role,
      sourceAddress: context.sourceAddress,
    });
    return { userId: user.user_id, username: user.username, role: user.role, permissions: toPermissions(user.permissions) };
  }

  /**
   * Returns the user's current identity, or null when unknown or deactivated. It is read from the
   * database unless an unchanged copy is cached; see IdentityCache for when a copy goes stale.
   */
  async currentIdentity(userId: string): Promise<UserIdentity | null> {
    const database = this.requireDatabase();
    return this.freshIdentity(userId) ?? this.identities.read(userId, database, () => readIdentity(database, userId));
  }

  /** Returns the cached identity if no user or role changed since it was read, without waiting. */
  freshIdentity(userId: string): UserIdentity | undefined {
    return this.identities.fresh(userId, this.dependencies.getDatabase());
  }

  /** Returns the identity last read for the user, however old, for authorizing while the database is out. */
  lastKnownIdentity(userId: string): UserIdentity | undefined {
    return this.identities.lastKnown(userId);
  }

  /** Returns what an API token grants, or null when it is unknown, revoked or expired. */
  async resolveApiToken(token: string): Promise<ApiTokenGrant | null> {
    const database = this.requireDatabase();
    const digest = hashApiToken(token);
    let grant = this.apiTokens.fresh(digest, database) ?? null;
    if (grant?.expiresAt && grant.expiresAt.getTime() <= Date.now()) {
      this.apiTokens.delete(digest);
      grant = null;
    }
    grant ??= await this.apiTokens.read(digest, database, () => readApiToken(database, digest));
    if (grant) this.stampTokenUse(database, grant.tokenId);
    return grant;
  }

  /**
   * Marks every cached identity and API token stale. Called after a write to users, roles or
   * api_tokens, and on each `identity_changed` notification.
   */
  identitiesChanged(): void {
    this.identities.invalidate();
    this.apiTokens.invalidate();
  }

  private stampTokenUse(database: Database, tokenId: string): void {
    const now = Date.now();
    if (now - (this.tokenUseStampedAt.get(tokenId) ?? 0) < TOKEN_USE_STAMP_INTERVAL_MS) return;
    this.tokenUseStampedAt.set(tokenId, now);
    recordApiTokenUse(database, tokenId).catch((error: unknown) =>
      this.dependencies.logger.warning({ err: error, token_id: tokenId }, `stamping the last use of API token ${tokenId} failed`),
    );
  }

  private requireDatabase(): Database {
    const database = this.dependencies.getDatabase();
    if (!database) throw new AdapterError('DATABASE_UNAVAILABLE', 'cannot check credentials while the database is not connected; retry shortly');
    return database;
  }

  /** Counts a wrong password in one statement, so concurrent attempts cannot undercount. */
  private async countFailure(database: Database, user: UserRow, context: LoginContext): Promise<void> {
    const { maxFailedLogins, failedLoginWindowSeconds, lockoutSeconds } = this.dependencies.policy;
    const updated = await database.query<{ failed_login_count: number }>(
      `UPDATE users SET
         failed_login_count = CASE WHEN first_failed_login_at IS NULL OR first_failed_login_at < now() - make_interval(secs => $2)
                                   THEN 1 ELSE failed_login_count + 1 END,
         first_failed_login_at = CASE WHEN first_failed_login_at IS NULL OR first_failed_login_at < now() - make_interval(secs => $2)
                                      THEN now() ELSE first_failed_login_at END
       WHERE user_id = $1
       RETURNING failed_login_count`,
      [user.user_id, failedLoginWindowSeconds],
    );
    const count = updated.rows[0]?.failed_login_count ?? 0;
    if (count < maxFailedLogins) return;

    await database.query(`UPDATE users SET locked_until = now() + make_interval(secs => $2), failed_login_count = 0, first_failed_login_at = NULL WHERE user_id = $1`, [
      user.user_id,
      lockoutSeconds,
    ]);
    this.dependencies.logger.warning({ username: user.username, failed_logins: count, lockout_seconds: lockoutSeconds }, `account ${user.username} locked after ${count} failed logins`);
    await writeAuditEvent(database, {
      eventType: 'ACCOUNT_LOCKED',
      severity: 'HIGH',
      source: context.source,
      actor: user.username,
      actorRole: user.role,
      sourceAddress: context.sourceAddress,
      details: { failed_logins: count, window_seconds: failedLoginWindowSeconds, lockout_seconds: lockoutSeconds },
    });
  }

  private audit(database: Database, username: string, role: string | null, context: LoginContext, details: Record<string, unknown>): Promise<void> {
    return writeAuditEvent(database, {
      eventType: 'INVALID_AUTHENTICATION',
      severity: 'MEDIUM',
      source: context.source,
      actor: username,
      actorRole: role,
      sourceAddress: context.sourceAddress,
      details,
    });
  }
}

async function readIdentity(database: Database, userId: string): Promise<UserIdentity | null> {
  const result = await database.query<{ user_id: string; username: string; role: string; active: boolean; permissions: string[] | null; tokens_valid_after: Date | null }>(
    `SELECT u.user_id, u.username, u.role, u.active, r.permissions, u.tokens_valid_after
       FROM users u LEFT JOIN roles r ON r.role = u.role WHERE u.user_id = $1`,
    [userId],
  );
  const user = result.rows[0];
  if (!user?.active) return null;
  return {
    userId: user.user_id,
    username: user.username,
    role: user.role,
    permissions: toPermissions(user.permissions),
    tokensValidAfter: user.tokens_valid_after,
  };
}
