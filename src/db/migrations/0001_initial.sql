-- Stations and pumps mirror the YAML configuration, so that plans, feedback and audit rows can
-- reference them. A station or pump removed from the configuration keeps its row (in_config false)
-- because plans and audit rows still point at it.
CREATE TABLE stations (
  station_id text PRIMARY KEY,
  name text,
  unit_id integer NOT NULL,
  allow_modbus_emergency_stop boolean NOT NULL DEFAULT false,
  in_config boolean NOT NULL DEFAULT true,
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pumps (
  station_id text NOT NULL REFERENCES stations (station_id),
  pump_id text NOT NULL,
  name text,
  control_variable text NOT NULL,
  unit text NOT NULL,
  minimum double precision NOT NULL,
  maximum double precision NOT NULL,
  max_rate_per_second double precision NOT NULL,
  failsafe_setpoint double precision NOT NULL,
  stop_setpoint double precision NOT NULL,
  in_config boolean NOT NULL DEFAULT true,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (station_id, pump_id)
);

-- The optimizer's input. The newest row (created_at, then plan_id) whose interval covers now wins;
-- values outside a pump's limits are accepted here and clamped by the adapter.
CREATE TABLE pump_plans (
  plan_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  station_id text NOT NULL,
  pump_id text NOT NULL,
  interval_start timestamptz NOT NULL,
  interval_end timestamptz NOT NULL,
  target_value double precision NOT NULL,
  plan_version text NOT NULL DEFAULT '1',
  created_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (station_id, pump_id) REFERENCES pumps (station_id, pump_id),
  CONSTRAINT pump_plans_interval_order CHECK (interval_end > interval_start),
  CONSTRAINT pump_plans_target_finite CHECK (target_value NOT IN ('NaN', 'Infinity', '-Infinity'))
);
CREATE INDEX pump_plans_lookup ON pump_plans (station_id, pump_id, interval_end, interval_start);

-- PostgreSQL folds identical payloads within one transaction, so a bulk insert for one station
-- sends one notification.
CREATE FUNCTION notify_pump_plans_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('pump_plans_changed', NEW.station_id);
  RETURN NULL;
END;
$$;
CREATE TRIGGER pump_plans_changed AFTER INSERT OR UPDATE ON pump_plans
  FOR EACH ROW EXECUTE FUNCTION notify_pump_plans_changed();

-- One row per emergency-stop episode. An episode is open until it ends: cleared_at NULL means the
-- stop is latched, cleared_at set means held. It ends when a resume starts recovery, or when a new
-- stop arrives while held (end_reason 'stopped_again'), which opens a new episode. The adapter
-- restores each station's state from its open episode at start.
CREATE TABLE emergency_stops (
  stop_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  station_id text NOT NULL REFERENCES stations (station_id),
  activated_at timestamptz NOT NULL,
  activated_by text,
  activation_source text NOT NULL,
  activation_reason text,
  cleared_at timestamptz,
  cleared_by text,
  clear_reason text,
  ended_at timestamptz,
  ended_by text,
  end_reason text CHECK (end_reason IN ('resumed', 'stopped_again')),
  CONSTRAINT emergency_stops_order CHECK (
    (cleared_at IS NULL OR cleared_at >= activated_at)
    AND (ended_at IS NULL OR (cleared_at IS NOT NULL AND ended_at >= cleared_at AND end_reason IS NOT NULL))
  )
);
CREATE UNIQUE INDEX emergency_stops_one_open ON emergency_stops (station_id) WHERE ended_at IS NULL;

CREATE TABLE users (
  user_id text PRIMARY KEY,
  username text NOT NULL UNIQUE,
  email text,
  role text NOT NULL,
  password_hash text,
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Append-only: the triggers below reject UPDATE, DELETE and TRUNCATE. The table owner or a
-- superuser can still disable the triggers, so production should run the adapter as a role with
-- only INSERT and SELECT on this table.
CREATE TABLE compliance_audit_log (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  timestamp timestamptz NOT NULL DEFAULT clock_timestamp(),
  event_type text NOT NULL,
  severity text NOT NULL CHECK (severity IN ('LOW', 'MEDIUM', 'HIGH', 'CRITICAL')),
  actor text,
  actor_role text,
  source text NOT NULL CHECK (source IN ('rest', 'opcua', 'modbus', 'cli', 'ui', 'system')),
  source_address text,
  station_id text,
  details jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX compliance_audit_log_time ON compliance_audit_log (timestamp);
CREATE INDEX compliance_audit_log_event ON compliance_audit_log (event_type, timestamp);

CREATE FUNCTION reject_audit_log_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'compliance_audit_log is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER compliance_audit_log_append_only BEFORE UPDATE OR DELETE ON compliance_audit_log
  FOR EACH ROW EXECUTE FUNCTION reject_audit_log_change();
CREATE TRIGGER compliance_audit_log_no_truncate BEFORE TRUNCATE ON compliance_audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION reject_audit_log_change();
