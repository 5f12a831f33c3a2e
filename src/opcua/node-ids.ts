/**
 * String node ids of the adapter's namespace. They are built from the configured station and
 * pump ids, so that a SCADA integrator can write them down from the YAML file:
 * `s=station001.pump1.EffectiveSetpoint`. Clients depend on them; docs/opcua.md lists them all.
 */

export const PUMP_STATIONS_FOLDER = 'PumpStations';

export function stationNodeId(stationId: string, child?: string): string {
  return child === undefined ? `s=${stationId}` : `s=${stationId}.${child}`;
}

export function pumpNodeId(stationId: string, pumpId: string, child?: string): string {
  return child === undefined ? `s=${stationId}.${pumpId}` : `s=${stationId}.${pumpId}.${child}`;
}
