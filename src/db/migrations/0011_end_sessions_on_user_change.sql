-- A deactivation or password change ends the user's sessions for every writer, psql included, not
-- only for the adapter's routes: login tokens issued before it stop working (tokens_valid_after),
-- and a deactivation revokes the user's API tokens. Reactivating the user brings neither back.
-- now() is the start of the transaction, so a login token issued after the commit is newer as
-- long as the clocks of the adapter and of the database server agree.
CREATE FUNCTION end_user_sessions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.tokens_valid_after := now();
  RETURN NEW;
END;
$$;

-- The WHEN condition compares values instead of listing columns, so an UPDATE that sets
-- password_hash to its current value (the PATCH route does when no password is sent) changes
-- nothing, and a value changed by any statement counts.
CREATE TRIGGER users_end_sessions BEFORE UPDATE ON users
  FOR EACH ROW
  WHEN ((OLD.active AND NOT NEW.active) OR OLD.password_hash IS DISTINCT FROM NEW.password_hash)
  EXECUTE FUNCTION end_user_sessions();

-- The UPDATE of api_tokens fires api_tokens_identity_changed (migration 0009), so the adapter's
-- cache of API tokens drops the revoked ones, as it does after a write with psql.
CREATE FUNCTION revoke_api_tokens_of_deactivated_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE api_tokens SET revoked_at = now() WHERE user_id = NEW.user_id AND revoked_at IS NULL;
  RETURN NULL;
END;
$$;

CREATE TRIGGER users_revoke_api_tokens AFTER UPDATE ON users
  FOR EACH ROW
  WHEN (OLD.active AND NOT NEW.active)
  EXECUTE FUNCTION revoke_api_tokens_of_deactivated_user();
