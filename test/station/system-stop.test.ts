import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StationActor } from '../../src/actors/station.js';
import { stopAllStations } from '../../src/actors/system-commands.js';
import { applyStationDefaults, parseConfigText } from '../../src/config/load.js';
import type { Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { mirrorConfiguration } from '../../src/db/mirror-config.js';
import { createLogger } from '../../src/log.js';
import { createPostgresDatabase, type TestDatabase } from '../helpers/databases.js';
import { readHoldingRegisters } from '../helpers/mbpoll.js';
import { removeDataDir, startInProcessAdapter, tokenForRole, waitUntil, type InProcessAdapter } from './adapter-fixture.js';

const CONFIG = `
stations:
${[1, 2, 3]
  .map(
    (unit) => `  - id: s${unit}
    unit_id: ${unit}
    pumps:
      - { id: pump1, control_variable: speed, unit: Hz, minimum: 0, maximum: 50, max_rate_per_second: 1000, failsafe_setpoint: 25 }`,
  )
  .join('\n')}
`;

const ORIGIN = { source: 'rest', actor: 'tester', actorRole: 'operator', sourceAddress: null, reason: 'system stop test', operator: null } as const;

interface StationOutcome {
  station_id: string;
  result: string;
  state: string;
  persistence: string | null;
}

describe('system-wide stop in one turn', () => {
  let database: TestDatabase;
  let direct: Database;

  beforeAll(async () => {
    database = await createPostgresDatabase();
    direct = await database.open();
    await migrate(direct);
    await mirrorConfiguration(direct, applyStationDefaults(parseConfigText(CONFIG, 'test').stations));
  });

  afterAll(async () => {
    await direct?.close();
    await database?.drop();
  });

  it('switches every station before any write', async () => {
    const stations = applyStationDefaults(parseConfigText(CONFIG, 'test').stations);
    const actors: StationActor[] = [];
    const stoppedAtFirstWrite: boolean[][] = [];
    // Records, at each stop write, which stations already publish the stop image.
    const record = () => stoppedAtFirstWrite.push(actors.map((actor) => actor.getSnapshot().emergencyStopActive && actor.state === 'stopped'));
    const recording: Database = {
      ...direct,
      query: (sql, params) => {
        if (sql.includes('record_stop_command')) record();
        return direct.query(sql, params);
      },
      transaction: (work) => {
        record();
        return direct.transaction(work);
      },
    };
    let writing = false;
    for (const station of stations) {
      actors.push(new StationActor(station, { getDatabase: () => (writing ? recording : direct), logger: createLogger({ level: 'silent' }), manualTicks: true }));
    }
    for (const actor of actors) {
      actor.start();
      await actor.restore();
    }
    expect(actors.map((actor) => actor.state)).toEqual(['recovering', 'recovering', 'recovering']);

    writing = true;
    const outcomes = await stopAllStations(actors, ORIGIN);
    expect(outcomes.map((outcome) => outcome.result)).toEqual(['stopped', 'stopped', 'stopped']);
    expect(stoppedAtFirstWrite.length).toBe(3);
    expect(stoppedAtFirstWrite[0]).toEqual([true, true, true]);
    for (const actor of actors) await actor.stop(1000);
  });
});

describe('system-wide stop over REST', () => {
  let database: TestDatabase;
  let running: InProcessAdapter & { dataDir: string };

  beforeAll(async () => {
    database = await createPostgresDatabase();
    running = await startInProcessAdapter(CONFIG, database.url!);
  });

  afterAll(async () => {
    await running?.stop();
    removeDataDir(running?.dataDir ?? '');
    await database?.drop();
  });

  it('stops, clears and resumes all', async () => {
    const single = await running.request('POST', '/api/v1/pump-stations/s2/emergency-stop', { reason: 'already' });
    expect(single.status).toBe(200);

    const stop = await running.request('POST', '/api/v1/emergency-stop', { reason: 'flood alarm' });
    expect(stop.status).toBe(200);
    expect(stop.body.persistence).toBe('committed');
    const stopped = stop.body.stations as StationOutcome[];
    expect(stopped.map((each) => [each.station_id, each.result, each.state, each.persistence])).toEqual([
      ['s1', 'stopped', 'stopped', 'committed'],
      ['s2', 'already_stopped', 'stopped', 'committed'],
      ['s3', 'stopped', 'stopped', 'committed'],
    ]);
    for (const unit of [1, 2, 3]) {
      const registers = await readHoldingRegisters(running.modbusPort, unit, 1, 1);
      expect(registers[0]! & 1).toBe(1);
    }
    const episodes = await running.database().query(`SELECT station_id FROM emergency_stops WHERE ended_at IS NULL AND cleared_at IS NULL ORDER BY station_id`);
    expect(episodes.rows).toEqual([{ station_id: 's1' }, { station_id: 's2' }, { station_id: 's3' }]);

    const clear = await running.request('DELETE', '/api/v1/emergency-stop', { reason: 'alarm checked' });
    expect(clear.status).toBe(200);
    expect((clear.body.stations as StationOutcome[]).map((each) => each.result)).toEqual(['cleared', 'cleared', 'cleared']);
    expect(running.adapter.stations.all().map((actor) => actor.state)).toEqual(['held', 'held', 'held']);

    const again = await running.request('DELETE', '/api/v1/emergency-stop');
    expect((again.body.stations as StationOutcome[]).map((each) => each.result)).toEqual(['skipped', 'skipped', 'skipped']);

    const resume = await running.request('POST', '/api/v1/resume', { reason: 'back to plan' });
    expect(resume.status).toBe(200);
    expect((resume.body.stations as StationOutcome[]).map((each) => each.result)).toEqual(['resumed', 'resumed', 'resumed']);
    await waitUntil(() => running.adapter.stations.all().map((actor) => actor.state), (states) => states.every((state) => state === 'operational'), 5000);
  });

  it('checks permissions', async () => {
    const viewer = await tokenForRole(running, 'system-viewer', 'viewer');
    expect((await running.request('POST', '/api/v1/emergency-stop', {}, viewer)).status).toBe(403);
    expect((await running.request('DELETE', '/api/v1/emergency-stop', {}, viewer)).status).toBe(403);
    expect((await running.request('POST', '/api/v1/resume', {}, viewer)).status).toBe(403);
    expect(running.adapter.stations.all().map((actor) => actor.state)).toEqual(['operational', 'operational', 'operational']);
  });
});
