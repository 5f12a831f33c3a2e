import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StationActor } from '../../src/actors/station.js';
import { applyStationDefaults, parseConfigText, type AdapterConfig } from '../../src/config/load.js';
import type { Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { mirrorConfiguration } from '../../src/db/mirror-config.js';
import { createLogger } from '../../src/log.js';
import { STOP_IMAGE_STATES } from '../../src/machines/emergency-stop.js';
import { PLAN_CLOCK_TOLERANCE_MS } from '../../src/station/plan-clock.js';
import type { StationSnapshot } from '../../src/station/snapshot.js';
import { createPgliteDatabase, type TestDatabase } from '../helpers/databases.js';

/**
 * Drives one real StationActor on a real PGlite database with an injected wall clock and
 * monotonic clock, through random sequences of plan rows (some stamped ahead of or behind the
 * wall clock), overrides, stops, clears, resumes, database outages, clock advances and wall-clock
 * jumps. After every step it checks the published
 * values against the safety rules and against an independent model of which source applies.
 */

const GRACE_MS = 20_000;
const STALENESS_MS = 3 * 60_000;
const SECOND = 1000;

// Two pumps with different limits; stop setpoints differ from the minimum so the rules can tell them apart.
const PUMPS_YAML = `
      - { id: p1, control_variable: speed, unit: Hz, minimum: 10, maximum: 50, max_rate_per_second: 0.5, failsafe_setpoint: 30, stop_setpoint: 15 }
      - { id: p2, control_variable: flow, unit: l/s, minimum: 0, maximum: 120, max_rate_per_second: 7.5, failsafe_setpoint: 60 }`;

function stationConfig(stationId: string): AdapterConfig['stations'][number] {
  const stations = applyStationDefaults(parseConfigText(`stations:\n  - id: ${stationId}\n    unit_id: 1\n    pumps:${PUMPS_YAML}\n`, 'property test').stations);
  const station = stations[0];
  if (!station) throw new Error('the property test configuration has no station');
  return station;
}

const PUMP_IDS = ['p1', 'p2'] as const;
type PumpId = (typeof PUMP_IDS)[number];

type Action =
  /** stampOffsetS moves created_at away from the wall clock, as an optimizer host with a wrong clock does. */
  | { kind: 'plan'; pump: PumpId; startOffsetS: number; durationS: number; value: number; stampOffsetS: number }
  | { kind: 'override'; pump: PumpId; fraction: number; durationS: number }
  | { kind: 'clearOverride'; pump: PumpId }
  | { kind: 'stop' }
  | { kind: 'clear' }
  | { kind: 'resume' }
  | { kind: 'outage'; down: boolean }
  | { kind: 'advance'; ms: number }
  | { kind: 'jump'; ms: number };

const pumpArbitrary = fc.constantFrom(...PUMP_IDS);

const actionArbitrary: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('plan' as const),
      pump: pumpArbitrary,
      startOffsetS: fc.integer({ min: -3600, max: 600 }),
      durationS: fc.integer({ min: 1, max: 7200 }),
      value: fc.double({ min: -50, max: 200, noNaN: true }),
      stampOffsetS: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -600, max: 7200 }) }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('override' as const), pump: pumpArbitrary, fraction: fc.double({ min: 0, max: 1, noNaN: true }), durationS: fc.integer({ min: 1, max: 6 * 3600 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('clearOverride' as const), pump: pumpArbitrary }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'stop' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'resume' as const }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('outage' as const), down: fc.boolean() }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 30_000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('jump' as const), ms: fc.integer({ min: -3 * 3600 * SECOND, max: 3 * 3600 * SECOND }) }) },
);

/** Wraps a database so that every call fails while `down` is set, as over a cut connection. */
function faultable(database: Database): { database: Database; setDown: (down: boolean) => void; isDown: () => boolean } {
  let down = false;
  const failCall = () => Promise.reject(new Error('connection refused (outage injected by the property test)'));
  return {
    database: {
      ...database,
      query: (sql, params) => (down ? failCall() : database.query(sql, params)),
      exec: (sql) => (down ? failCall() : database.exec(sql)),
      transaction: (work) => (down ? failCall() : database.transaction(work)),
    },
    setDown: (value) => (down = value),
    isDown: () => down,
  };
}

interface ModelRow {
  pump: PumpId;
  startMs: number;
  endMs: number;
  value: number;
  createdMs: number;
  order: number;
  /** Wall time of the first read that found createdMs beyond the tolerance ahead, or null. */
  flaggedMs: number | null;
}

/**
 * Picks the covering row that applies: the newest normally stamped one by created_at (then insert
 * order), unless a flagged row was inserted after it, in which case the last inserted flagged row.
 */
function winningRow(covering: ModelRow[]): ModelRow | undefined {
  const byInsert = (a: ModelRow, b: ModelRow) => b.order - a.order;
  const normal = covering.filter((row) => row.flaggedMs === null).sort((a, b) => b.createdMs - a.createdMs || byInsert(a, b))[0];
  const flagged = covering.filter((row) => row.flaggedMs !== null).sort(byInsert)[0];
  if (!normal || !flagged) return normal ?? flagged;
  return flagged.order > normal.order ? flagged : normal;
}

/** The test's own record, kept apart from the actor: rows written, overrides, and the last read. */
class Model {
  rows: ModelRow[] = [];
  overrides = new Map<PumpId, { value: number; expiresMs: number }>();
  /** Plan values and newest write as of the last successful read, and when it happened. */
  planAtRead = new Map<PumpId, number | null>();
  lastWriteAtRead: number | null = null;
  lastReadOkMonotonic = 0;
  lastReadFailed = false;

  recordRead(ok: boolean, wallMs: number, monotonicMs: number): void {
    this.lastReadFailed = !ok;
    if (!ok) return;
    this.lastReadOkMonotonic = monotonicMs;
    // A row stamped beyond the tolerance ahead of the read is flagged once, with the read's time.
    const latestNormalStamp = wallMs + PLAN_CLOCK_TOLERANCE_MS;
    for (const row of this.rows) {
      if (row.flaggedMs === null && row.createdMs > latestNormalStamp) row.flaggedMs = wallMs;
    }
    for (const pump of PUMP_IDS) {
      const covering = this.rows.filter((row) => row.pump === pump && row.startMs <= wallMs && row.endMs > wallMs);
      this.planAtRead.set(pump, winningRow(covering)?.value ?? null);
    }
    const countedWrites = this.rows.map((row) => row.flaggedMs ?? row.createdMs).filter((time) => time <= latestNormalStamp);
    if (this.rows.length === 0) this.lastWriteAtRead = null;
    else this.lastWriteAtRead = countedWrites.length === 0 ? Number.NEGATIVE_INFINITY : Math.max(...countedWrites);
  }


  /** Drops the overrides that ran out; like the actor, a later backward clock jump does not revive them. */
  expireOverrides(wallMs: number): void {
    for (const [pump, override] of this.overrides) {
      if (override.expiresMs <= wallMs) this.overrides.delete(pump);
    }
  }

  databaseWatchdog(monotonicMs: number): boolean {
    return this.lastReadFailed && monotonicMs - this.lastReadOkMonotonic > GRACE_MS;
  }

  /** The clamped value the pipeline must be heading for, and whether it is the failsafe setpoint. */
  expectedTarget(pump: PumpId, limits: { minimum: number; maximum: number; failsafe: number }, wallMs: number, monotonicMs: number): { value: number; failsafe: boolean } {
    if (this.databaseWatchdog(monotonicMs)) return { value: limits.failsafe, failsafe: true };
    const override = this.overrides.get(pump);
    if (override && override.expiresMs > wallMs) return { value: override.value, failsafe: false };
    const stale = this.lastWriteAtRead !== null && wallMs - this.lastWriteAtRead > STALENESS_MS;
    const plan = this.planAtRead.get(pump) ?? null;
    if (stale || plan === null) return { value: limits.failsafe, failsafe: true };
    return { value: Math.min(limits.maximum, Math.max(limits.minimum, plan)), failsafe: false };
  }
}

describe('station actor under random operation', () => {
  let testDatabase: TestDatabase;
  let database: Database;
  let run = 0;

  beforeAll(async () => {
    testDatabase = await createPgliteDatabase();
    database = await testDatabase.open();
    await migrate(database);
  });

  afterAll(async () => {
    await database?.close();
    await testDatabase?.drop();
  });

  it('keeps every published value safe', { timeout: 600_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(actionArbitrary, { minLength: 1, maxLength: 40 }), async (actions) => {
        run += 1;
        const config = stationConfig(`prop${run}`);
        await mirrorConfiguration(database, [config]);
        const limits = new Map(config.pumps.map((pump) => [pump.id, pump]));
        const fault = faultable(database);
        let wallMs = Date.UTC(2030, 0, 1, 12);
        let monotonicMs = 1_000_000;
        const model = new Model();
        let order = 0;

        const actor = new StationActor(config, {
          getDatabase: () => fault.database,
          logger: createLogger({ level: 'silent' }),
          now: () => new Date(wallMs),
          monotonicNow: () => monotonicMs,
          databaseGraceMs: GRACE_MS,
          planStalenessMs: STALENESS_MS,
          persistTimeoutMs: 20,
          manualTicks: true,
        });
        actor.start();
        await actor.restore();
        model.recordRead(true, wallMs, monotonicMs);

        let previous = actor.getSnapshot();
        let previousMonotonic = monotonicMs;

        const check = (snapshot: StationSnapshot, step: string) => {
          const state = snapshot.stopState;
          const elapsedSeconds = (monotonicMs - previousMonotonic) / 1000;
          const databaseWatchdog = model.databaseWatchdog(monotonicMs);
          expect(snapshot.watchdog === 'database_unreachable', `${step}: watchdog`).toBe(databaseWatchdog);
          if (databaseWatchdog) expect(state, `${step}: recovery without database`).not.toBe('recovering');

          snapshot.pumps.forEach((pump, index) => {
            const pumpLimits = limits.get(pump.pumpId);
            if (!pumpLimits) throw new Error(`unknown pump ${pump.pumpId}`);
            const where = `${step}: pump ${pump.pumpId} in ${state}`;
            expect(pump.setpoint, `${where}: below minimum`).toBeGreaterThanOrEqual(pumpLimits.minimum);
            expect(pump.setpoint, `${where}: above maximum`).toBeLessThanOrEqual(pumpLimits.maximum);

            if (STOP_IMAGE_STATES.has(state)) {
              expect(pump.setpoint, `${where}: stop value`).toBe(pumpLimits.stop_setpoint);
              expect(pump.mode).toBe('stopped');
            }

            const expected = model.expectedTarget(pump.pumpId as PumpId, { minimum: pumpLimits.minimum, maximum: pumpLimits.maximum, failsafe: pumpLimits.failsafe_setpoint }, wallMs, monotonicMs);
            expect(pump.targetSetpoint, `${where}: target`).toBe(expected.value);
            if (state === 'operational' && expected.failsafe) {
              expect(pump.setpoint, `${where}: failsafe value`).toBe(pumpLimits.failsafe_setpoint);
              expect(pump.mode).toBe('failsafe');
            }

            const before = previous.pumps[index]?.setpoint ?? pump.setpoint;
            const toStop = STOP_IMAGE_STATES.has(state) && pump.setpoint === pumpLimits.stop_setpoint;
            const toFailsafe = state === 'operational' && pump.mode === 'failsafe' && pump.setpoint === pumpLimits.failsafe_setpoint;
            if (!toStop && !toFailsafe) {
              const allowed = pumpLimits.max_rate_per_second * elapsedSeconds + 1e-9;
              expect(Math.abs(pump.setpoint - before), `${where}: rate from ${before} to ${pump.setpoint} in ${elapsedSeconds} s`).toBeLessThanOrEqual(allowed);
              // Outside the stop image, the value never moves away from its target.
              const target = pump.targetSetpoint ?? Number.NaN;
              expect(Math.abs(pump.setpoint - target) <= Math.abs(before - target) + 1e-9, `${where}: moves toward target`).toBe(true);
            }
          });
          previous = snapshot;
          previousMonotonic = monotonicMs;
        };
        check(actor.getSnapshot(), 'start');

        for (const [index, action] of actions.entries()) {
          const step = `step ${index} ${JSON.stringify(action)}`;
          await perform(action);
          model.expireOverrides(wallMs);
          const readOk = !fault.isDown();
          await actor.refreshPlans();
          model.recordRead(readOk, wallMs, monotonicMs);
          actor.tick();
          check(actor.getSnapshot(), step);
        }

        fault.setDown(false);
        await actor.stop(2000);

        async function perform(action: Action): Promise<void> {
          switch (action.kind) {
            case 'plan': {
              if (fault.isDown()) return;
              const row: ModelRow = {
                pump: action.pump,
                startMs: wallMs + action.startOffsetS * SECOND,
                endMs: wallMs + (action.startOffsetS + action.durationS) * SECOND,
                value: action.value,
                createdMs: wallMs + action.stampOffsetS * SECOND,
                order: (order += 1),
                flaggedMs: null,
              };
              await database.query(
                `INSERT INTO pump_plans (station_id, pump_id, interval_start, interval_end, target_value, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
                [config.id, row.pump, new Date(row.startMs), new Date(row.endMs), row.value, new Date(row.createdMs)],
              );
              model.rows.push(row);
              return;
            }
            case 'override': {
              const pumpLimits = limits.get(action.pump);
              if (!pumpLimits) return;
              const value = pumpLimits.minimum + action.fraction * (pumpLimits.maximum - pumpLimits.minimum);
              const expiresMs = wallMs + action.durationS * SECOND;
              try {
                await actor.setOverride(action.pump, { value, expiresAt: new Date(expiresMs) }, ORIGIN);
                model.overrides.set(action.pump, { value, expiresMs });
              } catch (error) {
                expect(fault.isDown(), `override rejected while the database is up: ${String(error)}`).toBe(true);
              }
              return;
            }
            case 'clearOverride':
              try {
                await actor.clearOverride(action.pump, ORIGIN);
                model.overrides.delete(action.pump);
              } catch {
                // No override to clear, or the database is down; the model keeps what the actor keeps.
                if (!fault.isDown()) model.overrides.delete(action.pump);
              }
              return;
            case 'stop':
              void actor.activateEmergencyStop(ORIGIN);
              expect(actor.state).toBe('stopped');
              return;
            case 'clear':
              if (actor.state === 'stopped') {
                void actor.clearEmergencyStop(ORIGIN);
                expect(actor.state).toBe('held');
              } else {
                expect(() => actor.clearEmergencyStop(ORIGIN)).toThrow();
              }
              return;
            case 'resume':
              if (actor.state !== 'held') {
                expect(() => actor.resume(ORIGIN)).toThrow();
                return;
              }
              try {
                void actor.resume(ORIGIN);
              } catch {
                expect(actor.state).toBe('held');
              }
              return;
            case 'outage':
              fault.setDown(action.down);
              return;
            case 'advance':
              wallMs += action.ms;
              monotonicMs += action.ms;
              return;
            case 'jump':
              wallMs += action.ms;
              return;
          }
        }
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 100), endOnFailure: true },
    );
  });
});

const ORIGIN = { source: 'rest', actor: 'property', actorRole: 'engineer', sourceAddress: null, reason: 'property test', operator: null } as const;
