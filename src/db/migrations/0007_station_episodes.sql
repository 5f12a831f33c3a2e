-- A station actor reads, at every start, the last FAILSAFE_* and SETPOINT_CLAMP* row of each of
-- its episodes, so that it does not audit an episode as started again when the log shows it open.
-- Without this index that read scans every row of those event types of every station.
CREATE INDEX compliance_audit_log_station_event ON compliance_audit_log (station_id, event_type, id);
