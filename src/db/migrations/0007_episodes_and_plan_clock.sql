-- A station actor reads, at every start, the last FAILSAFE_* and SETPOINT_CLAMP* row of each of
-- its episodes, so that it does not audit an episode as started again when the log shows it open.
-- Without this index that read scans every row of those event types of every station.
CREATE INDEX compliance_audit_log_station_event ON compliance_audit_log (station_id, event_type, id);

-- A plan row whose created_at lies ahead of the adapter's clock (an optimizer host with a wrong
-- clock, or the adapter's clock set back) would otherwise win over every later row until that
-- time and keep the plan looking fresh. The adapter sets this column, with its own clock, when
-- it first reads such a row, and from then on ranks the row by insertion order and counts it as
-- written at this time. NULL for rows stamped normally.
ALTER TABLE pump_plans ADD COLUMN future_timestamp_seen_at timestamptz;
CREATE INDEX pump_plans_future_timestamp ON pump_plans (station_id, future_timestamp_seen_at) WHERE future_timestamp_seen_at IS NOT NULL;
-- The plan read asks for the newest created_at among the unmarked rows, and for unmarked rows
-- stamped in the future. The embedded database never gathers statistics by itself, and without
-- them the planner answered the first with a scan of the station's history through the index of
-- 0006. This partial index answers both with one probe and replaces that index.
CREATE INDEX pump_plans_unmarked_created ON pump_plans (station_id, created_at) WHERE future_timestamp_seen_at IS NULL;
DROP INDEX pump_plans_station_created;
