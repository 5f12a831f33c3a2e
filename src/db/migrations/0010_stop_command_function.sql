-- An emergency stop's REST response waits for its commit. Written from the adapter as separate
-- statements, one stop took six round trips (BEGIN, the episode lock, the episode rows, the audit
-- row, COMMIT); as one function call it takes one, and the single statement is its own
-- transaction. The function keeps the episode rules of the emergency_stops table above: one
-- open episode per station, cleared_at NULL while latched, ended by a resume or a new stop.
-- A wall clock set back between two commands would stamp a clear before its activation, which
-- the table's order check rejects, and the write would then block the station's queue for good.
-- So cleared_at and ended_at are never earlier than the episode's previous time. The audit row
-- keeps the time the command was accepted.
CREATE FUNCTION record_stop_command(
  command_kind text,
  command_station_id text,
  accepted_at timestamptz,
  actor_name text,
  actor_role_name text,
  command_source text,
  command_source_address text,
  command_reason text,
  command_operator text
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  episode record;
  has_episode boolean;
  new_stop_id bigint;
  details jsonb := jsonb_build_object('reason', command_reason, 'operator', command_operator);
BEGIN
  SELECT stop_id, cleared_at INTO episode FROM emergency_stops
   WHERE station_id = command_station_id AND ended_at IS NULL FOR UPDATE;
  has_episode := FOUND;

  IF command_kind = 'activate' THEN
    IF has_episode AND episode.cleared_at IS NULL THEN
      details := details || jsonb_build_object('already_active', true, 'stop_id', episode.stop_id::text);
      INSERT INTO compliance_audit_log (timestamp, event_type, severity, actor, actor_role, source, source_address, station_id, details)
      VALUES (accepted_at, 'EMERGENCY_STOP_ACTIVATED', 'CRITICAL', actor_name, actor_role_name, command_source, command_source_address, command_station_id, details);
      RETURN;
    END IF;
    IF has_episode THEN
      UPDATE emergency_stops SET ended_at = greatest(accepted_at, episode.cleared_at), ended_by = actor_name, end_reason = 'stopped_again'
       WHERE stop_id = episode.stop_id;
    END IF;
    INSERT INTO emergency_stops (station_id, activated_at, activated_by, activation_source, activation_reason)
    VALUES (command_station_id, accepted_at, actor_name, command_source, command_reason)
    RETURNING stop_id INTO new_stop_id;
    INSERT INTO compliance_audit_log (timestamp, event_type, severity, actor, actor_role, source, source_address, station_id, details)
    VALUES (accepted_at, 'EMERGENCY_STOP_ACTIVATED', 'CRITICAL', actor_name, actor_role_name, command_source, command_source_address, command_station_id,
            details || jsonb_build_object('stop_id', new_stop_id::text));
  ELSIF command_kind = 'clear' THEN
    UPDATE emergency_stops SET cleared_at = greatest(accepted_at, activated_at), cleared_by = actor_name, clear_reason = command_reason
     WHERE station_id = command_station_id AND ended_at IS NULL AND cleared_at IS NULL;
    INSERT INTO compliance_audit_log (timestamp, event_type, severity, actor, actor_role, source, source_address, station_id, details)
    VALUES (accepted_at, 'EMERGENCY_STOP_CLEARED', 'HIGH', actor_name, actor_role_name, command_source, command_source_address, command_station_id,
            details || jsonb_build_object('stop_id', CASE WHEN has_episode THEN episode.stop_id::text END));
  ELSIF command_kind = 'resume' THEN
    UPDATE emergency_stops SET ended_at = greatest(accepted_at, cleared_at), ended_by = actor_name, end_reason = 'resumed'
     WHERE station_id = command_station_id AND ended_at IS NULL AND cleared_at IS NOT NULL;
    INSERT INTO compliance_audit_log (timestamp, event_type, severity, actor, actor_role, source, source_address, station_id, details)
    VALUES (accepted_at, 'EMERGENCY_STOP_RESUMED', 'HIGH', actor_name, actor_role_name, command_source, command_source_address, command_station_id,
            details || jsonb_build_object('stop_id', CASE WHEN has_episode THEN episode.stop_id::text END));
  ELSE
    RAISE EXCEPTION 'unknown stop command kind "%"; use activate, clear or resume', command_kind;
  END IF;
END;
$$;
