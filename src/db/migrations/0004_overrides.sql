-- Manual overrides: an operator's setpoint for one pump until it expires or is cleared. At most one
-- override per pump is open (ended_at NULL); it applies while expires_at is in the future. Setting
-- a new override ends the open one ('replaced', or 'expired' when its time had passed). The adapter
-- reads the open, unexpired overrides at start, so they survive a restart.
CREATE TABLE pump_overrides (
  override_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  station_id text NOT NULL,
  pump_id text NOT NULL,
  value double precision NOT NULL,
  reason text,
  set_at timestamptz NOT NULL,
  set_by text,
  expires_at timestamptz NOT NULL,
  ended_at timestamptz,
  ended_by text,
  end_reason text CHECK (end_reason IN ('cleared', 'expired', 'replaced')),
  FOREIGN KEY (station_id, pump_id) REFERENCES pumps (station_id, pump_id),
  CONSTRAINT pump_overrides_value_finite CHECK (value NOT IN ('NaN', 'Infinity', '-Infinity')),
  CONSTRAINT pump_overrides_expiry_order CHECK (expires_at > set_at),
  CONSTRAINT pump_overrides_end CHECK ((ended_at IS NULL) = (end_reason IS NULL))
);
CREATE UNIQUE INDEX pump_overrides_one_open ON pump_overrides (station_id, pump_id) WHERE ended_at IS NULL;
