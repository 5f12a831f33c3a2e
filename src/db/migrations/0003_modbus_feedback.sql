-- Measured values that SCADA writes into feedback registers and coils, for the optimizer. The
-- adapter inserts them in batches, so received_at is the time the Modbus write arrived, not the
-- time of the insert. pump_id is NULL for station values such as the wet-well level.
CREATE TABLE pump_feedback (
  feedback_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  station_id text NOT NULL REFERENCES stations (station_id),
  pump_id text,
  variable text NOT NULL CHECK (variable IN ('measured_speed', 'measured_flow', 'running', 'level')),
  value double precision NOT NULL CHECK (value NOT IN ('NaN', 'Infinity', '-Infinity')),
  received_at timestamptz NOT NULL,
  source text NOT NULL DEFAULT 'modbus' CHECK (source IN ('modbus', 'opcua')),
  -- IP address of the client that wrote the value.
  source_address text,
  -- Modbus table and wire address the value was written to, such as 'holding 200' or 'coil 3'.
  register text,
  FOREIGN KEY (station_id, pump_id) REFERENCES pumps (station_id, pump_id)
);
CREATE INDEX pump_feedback_latest ON pump_feedback (station_id, pump_id, variable, received_at DESC);
