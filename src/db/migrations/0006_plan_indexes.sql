-- The station's once-a-second plan read asks for the newest write and the next interval start
-- and end after now. Without these indexes each of those scanned the station's whole plan
-- history, which grows by a row per pump and interval for as long as the optimizer runs.
CREATE INDEX pump_plans_station_created ON pump_plans (station_id, created_at);
CREATE INDEX pump_plans_station_start ON pump_plans (station_id, interval_start);
CREATE INDEX pump_plans_station_end ON pump_plans (station_id, interval_end);
