-- The adapter caches each user's role and permissions, and each API token's owner, so that a
-- request (an emergency stop above all) does not wait for a read of these tables. A write made
-- outside the adapter's own routes, with psql for example, announces itself here so that the
-- cache drops what it holds. Statement triggers send one notification per statement, and
-- PostgreSQL folds identical ones within a transaction.
CREATE FUNCTION notify_identity_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('identity_changed', TG_TABLE_NAME);
  RETURN NULL;
END;
$$;

-- Only the columns that decide who a token stands for and what it may do; a login stamps
-- last_login_at and failed-login counters, which must not empty the cache.
CREATE TRIGGER users_identity_changed
  AFTER UPDATE OF username, role, active, password_hash, tokens_valid_after OR DELETE OR TRUNCATE ON users
  FOR EACH STATEMENT EXECUTE FUNCTION notify_identity_changed();

CREATE TRIGGER roles_identity_changed
  AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON roles
  FOR EACH STATEMENT EXECUTE FUNCTION notify_identity_changed();

CREATE TRIGGER api_tokens_identity_changed
  AFTER UPDATE OF token_hash, user_id, revoked_at, expires_at OR DELETE OR TRUNCATE ON api_tokens
  FOR EACH STATEMENT EXECUTE FUNCTION notify_identity_changed();
