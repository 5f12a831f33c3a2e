-- The chain trigger looked up the newest row with ORDER BY ... DESC NULLS LAST, which the
-- ascending unique index cannot serve, so every audit insert sorted the whole table while it held
-- the chain lock. chain_position is NOT NULL, so plain DESC gives the same row from the index.
CREATE OR REPLACE FUNCTION chain_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  last_row record;
BEGIN
  PERFORM pg_advisory_xact_lock(4102021338);
  SELECT chain_position, row_hash INTO last_row
    FROM compliance_audit_log ORDER BY chain_position DESC LIMIT 1;
  NEW.chain_position := COALESCE(last_row.chain_position, 0) + 1;
  NEW.previous_hash := COALESCE(last_row.row_hash, audit_chain_genesis());
  NEW.row_hash := audit_chain_hash(NEW.previous_hash, audit_row_canonical(NEW));
  RETURN NEW;
END;
$$;

-- `Admin` beside `admin` would let one person pass for another in the audit log.
CREATE UNIQUE INDEX users_username_case_insensitive ON users (lower(username));

-- Login tokens issued before this moment stop working: set when a password changes and when a
-- user is deactivated, so neither an old token nor a reactivation brings an old session back.
ALTER TABLE users ADD COLUMN tokens_valid_after timestamptz;
