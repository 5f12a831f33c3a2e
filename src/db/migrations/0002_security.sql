-- Roles with run-time permissions, login lockout, API tokens for scripts, and the hash chain that
-- makes compliance_audit_log tamper-evident.

CREATE TABLE roles (
  role text PRIMARY KEY,
  permissions text[] NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO roles (role, permissions) VALUES
  ('viewer', ARRAY['read_pump_status']),
  ('operator', ARRAY['read_pump_status', 'emergency_stop', 'clear_emergency_stop']),
  ('engineer', ARRAY['read_pump_status', 'emergency_stop', 'clear_emergency_stop', 'manage_setpoints', 'view_audit_log']),
  ('administrator', ARRAY['read_pump_status', 'emergency_stop', 'clear_emergency_stop', 'manage_setpoints',
                          'manage_users', 'manage_roles', 'view_audit_log', 'manage_backups']);

ALTER TABLE users
  ADD COLUMN full_name text,
  ADD COLUMN failed_login_count integer NOT NULL DEFAULT 0,
  ADD COLUMN first_failed_login_at timestamptz,
  ADD COLUMN locked_until timestamptz,
  ADD COLUMN last_login_at timestamptz,
  ADD COLUMN deactivated_at timestamptz;
ALTER TABLE users ADD CONSTRAINT users_role_known FOREIGN KEY (role) REFERENCES roles (role);

-- Long-lived tokens for scripts. Only a SHA-256 of the secret is stored; the secret is shown once.
CREATE TABLE api_tokens (
  token_id text PRIMARY KEY,
  name text NOT NULL,
  user_id text NOT NULL REFERENCES users (user_id),
  token_hash text NOT NULL UNIQUE,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz,
  revoked_at timestamptz,
  last_used_at timestamptz
);

-- Hash chain. Each row stores the hash of the row before it in chain order and its own hash over
-- its position, its content and that previous hash, so an altered, removed or reordered row breaks
-- the chain at that row. The position is taken under a transaction-scoped advisory lock, so
-- concurrent writers append one at a time in commit order.
ALTER TABLE compliance_audit_log
  ADD COLUMN chain_position bigint,
  ADD COLUMN previous_hash text,
  ADD COLUMN row_hash text;

-- The canonical text of a row. The verifier hashes this same text, so it is defined once, here.
CREATE FUNCTION audit_row_canonical(row_data compliance_audit_log) RETURNS text
  LANGUAGE sql IMMUTABLE AS $$
  SELECT json_build_array(
    row_data.chain_position,
    to_char(row_data.timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    row_data.event_type,
    row_data.severity,
    row_data.actor,
    row_data.actor_role,
    row_data.source,
    row_data.source_address,
    row_data.station_id,
    row_data.details
  )::text
$$;

CREATE FUNCTION audit_chain_hash(previous_hash text, canonical text) RETURNS text
  LANGUAGE sql IMMUTABLE AS $$
  SELECT encode(sha256(convert_to(previous_hash || canonical, 'UTF8')), 'hex')
$$;

-- All-zero hash that the first row links to.
CREATE FUNCTION audit_chain_genesis() RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT repeat('0', 64)
$$;

CREATE FUNCTION chain_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  last_row record;
BEGIN
  PERFORM pg_advisory_xact_lock(4102021338);
  SELECT chain_position, row_hash INTO last_row
    FROM compliance_audit_log ORDER BY chain_position DESC NULLS LAST LIMIT 1;
  NEW.chain_position := COALESCE(last_row.chain_position, 0) + 1;
  NEW.previous_hash := COALESCE(last_row.row_hash, audit_chain_genesis());
  NEW.row_hash := audit_chain_hash(NEW.previous_hash, audit_row_canonical(NEW));
  RETURN NEW;
END;
$$;

-- Rows written before this migration join the chain in id order.
ALTER TABLE compliance_audit_log DISABLE TRIGGER compliance_audit_log_append_only;
DO $$
DECLARE
  existing record;
  previous text := audit_chain_genesis();
  position bigint := 0;
BEGIN
  FOR existing IN SELECT id FROM compliance_audit_log ORDER BY id LOOP
    position := position + 1;
    UPDATE compliance_audit_log SET chain_position = position, previous_hash = previous WHERE id = existing.id;
    UPDATE compliance_audit_log SET row_hash = audit_chain_hash(previous, audit_row_canonical(compliance_audit_log.*))
      WHERE id = existing.id RETURNING row_hash INTO previous;
  END LOOP;
END;
$$;
ALTER TABLE compliance_audit_log ENABLE TRIGGER compliance_audit_log_append_only;

ALTER TABLE compliance_audit_log
  ALTER COLUMN chain_position SET NOT NULL,
  ALTER COLUMN previous_hash SET NOT NULL,
  ALTER COLUMN row_hash SET NOT NULL;
CREATE UNIQUE INDEX compliance_audit_log_chain ON compliance_audit_log (chain_position);
CREATE INDEX compliance_audit_log_station ON compliance_audit_log (station_id, timestamp);
CREATE INDEX compliance_audit_log_actor ON compliance_audit_log (actor, timestamp);

CREATE TRIGGER compliance_audit_log_chain BEFORE INSERT ON compliance_audit_log
  FOR EACH ROW EXECUTE FUNCTION chain_audit_row();
