import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresDatabase, type TestDatabase } from '../helpers/databases.js';
import { removeDataDir, startInProcessAdapter, waitUntil, type InProcessAdapter } from './adapter-fixture.js';

// 20 Hz/s from the 10 Hz stop setpoint to the 40 Hz plan takes 1.5 s.
const CONFIG = `
stations:
  - id: s1
    unit_id: 1
    pumps:
      - { id: pump1, control_variable: speed, unit: Hz, minimum: 10, maximum: 50, max_rate_per_second: 20, failsafe_setpoint: 25, stop_setpoint: 10 }
`;

interface Sample {
  at: number;
  state: string;
  setpoint: number;
}

describe('restart during recovery', () => {
  let database: TestDatabase;
  let running: (InProcessAdapter & { dataDir: string }) | undefined;

  beforeAll(async () => {
    database = await createPostgresDatabase();
  });

  afterAll(async () => {
    await running?.stop();
    removeDataDir(running?.dataDir ?? '');
    await database?.drop();
  });

  it('ramps from the stop image after restart', async () => {
    running = await startInProcessAdapter(CONFIG, database.url!);
    await running.database().query(
      `INSERT INTO pump_plans (station_id, pump_id, interval_start, interval_end, target_value) VALUES ('s1', 'pump1', now() - interval '1 hour', now() + interval '1 day', 40)`,
    );
    const actor = running.adapter.stations.get('s1')!;
    await actor.refreshPlans();
    await waitUntil(() => actor.getSnapshot(), (snapshot) => snapshot.stopState === 'operational' && snapshot.pumps[0]!.setpoint === 40, 5000);

    expect((await running.request('POST', '/api/v1/pump-stations/s1/emergency-stop')).status).toBe(200);
    expect((await running.request('DELETE', '/api/v1/pump-stations/s1/emergency-stop')).status).toBe(200);
    expect((await running.request('POST', '/api/v1/pump-stations/s1/resume')).status).toBe(200);
    await waitUntil(() => actor.getSnapshot().pumps[0]!.setpoint, (setpoint) => setpoint > 15, 5000);
    expect(actor.state).toBe('recovering');

    // Stop in the middle of the ramp. The database stores operational, as after kill -9.
    const dataDir = running.dataDir;
    await running.stop();
    const samples: Sample[] = [];
    running = await startInProcessAdapter(CONFIG, database.url!, {}, dataDir, (adapter) => {
      adapter.stations.subscribe((snapshot) => samples.push({ at: performance.now(), state: snapshot.stopState, setpoint: snapshot.pumps[0]!.setpoint }));
    });
    const restarted = running.adapter.stations.get('s1')!;
    await waitUntil(() => restarted.getSnapshot(), (snapshot) => snapshot.stopState === 'operational', 10_000);

    expect(samples[0]).toMatchObject({ state: 'restoring', setpoint: 10 });
    expect(samples.some((sample) => sample.state === 'recovering' && sample.setpoint > 10 && sample.setpoint < 40)).toBe(true);
    for (let index = 1; index < samples.length; index += 1) {
      const step = samples[index]!.setpoint - samples[index - 1]!.setpoint;
      const seconds = (samples[index]!.at - samples[index - 1]!.at) / 1000;
      // 0.5 Hz of slack for the time between the actor's clock reading and this sample.
      expect(Math.abs(step), `step ${index} from ${samples[index - 1]!.setpoint} to ${samples[index]!.setpoint}`).toBeLessThanOrEqual(20 * seconds + 0.5);
    }
    expect(samples.at(-1)!.setpoint).toBe(40);
  });
});
