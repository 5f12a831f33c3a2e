import { afterEach, describe, expect, it } from 'vitest';
import { applyStationDefaults, parseConfigText } from '../../src/config/load.js';
import { ManualStation, startPgliteStation, type PgliteStation } from './manual-station.js';

const STATIONS = applyStationDefaults(
  parseConfigText(
    `stations:
  - id: s1
    unit_id: 1
    pumps:
      - { id: p1, control_variable: speed, unit: Hz, minimum: 10, maximum: 50, max_rate_per_second: 1, failsafe_setpoint: 22, stop_setpoint: 10 }
`,
    'test',
  ).stations,
);

const ORIGIN = { source: 'rest', actor: 'alice', actorRole: 'operator', sourceAddress: null, reason: 'failsafe test', operator: null } as const;

// A failsafe episode is audited when pumps publish failsafe setpoints. A stopped or held station
// publishes its stop values, so a database outage then must not be audited as one.
describe('failsafe audit while stopped', () => {
  let fixture: PgliteStation | undefined;
  let reachable = true;

  afterEach(async () => {
    reachable = true;
    await fixture?.close();
  });

  async function start(): Promise<ManualStation> {
    fixture = await startPgliteStation(STATIONS[0]!, { pumpId: 'p1', value: 40 }, { reachable: () => reachable, dependencies: { databaseGraceMs: 2000 } });
    await fixture.station.settle(2);
    return fixture.station;
  }

  async function auditRows(): Promise<string[]> {
    expect(await fixture!.station.queue.flush(5000)).toBe(0);
    const result = await fixture!.database.query<{ event_type: string; reason: string | null }>(
      `SELECT event_type, details->>'reason' AS reason FROM compliance_audit_log WHERE station_id = 's1' ORDER BY id`,
    );
    return result.rows.map((row) => (row.reason && row.event_type.startsWith('FAILSAFE') ? `${row.event_type} ${row.reason}` : row.event_type));
  }

  it('writes no failsafe rows for an outage while stopped', async () => {
    const station = await start();
    await station.actor.activateEmergencyStop(ORIGIN);
    reachable = false;
    await station.settle(5);
    expect(station.actor.getSnapshot().pumps[0]!.setpoint).toBe(10);
    reachable = true;
    await station.settle(2);
    expect((await auditRows()).filter((row) => row.startsWith('FAILSAFE'))).toEqual([]);
  });

  it('latches the stop before any failsafe row when recovery loses the database', async () => {
    const station = await start();
    await station.actor.activateEmergencyStop(ORIGIN);
    await station.actor.clearEmergencyStop(ORIGIN);
    await station.actor.resume(ORIGIN);
    await station.settle(1);
    expect(station.actor.state).toBe('recovering');
    reachable = false;
    await station.settle(4);
    expect(station.actor.state).toBe('stopped');
    reachable = true;
    await station.settle(1);
    const rows = await auditRows();
    expect(rows.filter((row) => row.startsWith('FAILSAFE'))).toEqual([]);
    expect(rows.at(-1)).toBe('EMERGENCY_STOP_ACTIVATED');
  });
});
