import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createActor } from 'xstate';
import { backoffDelay, supervisorMachine, type SupervisorEmitted, type SupervisorPolicy } from '../../src/machines/supervisor.js';

const POLICY: SupervisorPolicy = { intensity: 3, periodMs: 1000, backoffInitialMs: 100, backoffMaxMs: 1000 };

type RestartScheduled = Extract<SupervisorEmitted, { type: 'restartScheduled' }>;
type Escalated = Extract<SupervisorEmitted, { type: 'escalated' }>;

/** Starts a supervisor machine and records every event it emits. */
function startSupervisor(policy: SupervisorPolicy = POLICY) {
  const actor = createActor(supervisorMachine, { input: { policy } });
  const restarts: RestartScheduled[] = [];
  const escalations: Escalated[] = [];
  actor.on('restartScheduled', (event) => restarts.push(event));
  actor.on('escalated', (event) => escalations.push(event));
  actor.start();

  const fail = (childId: string, at: number, permanent?: boolean) =>
    actor.send({ type: 'CHILD_FAILED', childId, reason: `${childId} failed at ${at}`, at, ...(permanent === undefined ? {} : { permanent }) });

  return { actor, restarts, escalations, fail };
}

/**
 * Mutes xstate's development-build warning for events sent to an actor in a final state, because
 * the tests below send such events on purpose.
 */
function muteFinalStateWarnings(): void {
  vi.spyOn(console, 'warn').mockImplementation(() => undefined);
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('backoffDelay', () => {
  it.each([
    [0, 100],
    [1, 100],
    [2, 200],
    [3, 400],
    [4, 800],
    [5, 1000],
    [6, 1000],
    [50, 1000],
  ])('restart %i waits %i ms', (restarts, expected) => {
    expect(backoffDelay(POLICY, restarts)).toBe(expected);
  });

  it('doubles until the cap', () => {
    const policy: SupervisorPolicy = { ...POLICY, backoffInitialMs: 10, backoffMaxMs: 10_000 };
    for (let restarts = 1; restarts < 10; restarts += 1) {
      expect(backoffDelay(policy, restarts + 1)).toBe(2 * backoffDelay(policy, restarts));
    }
  });

  it('caps below initial', () => {
    expect(backoffDelay({ ...POLICY, backoffInitialMs: 500, backoffMaxMs: 200 }, 1)).toBe(200);
  });
});

describe('child status', () => {
  it('starts empty and supervising', () => {
    const { actor } = startSupervisor();
    expect(actor.getSnapshot().value).toBe('supervising');
    expect(actor.getSnapshot().context.children).toEqual({});
    expect(actor.getSnapshot().context.escalation).toBeNull();
  });

  it('tracks starting then running', () => {
    const { actor } = startSupervisor();
    actor.send({ type: 'CHILD_STARTING', childId: 'database' });
    expect(actor.getSnapshot().context.children.database).toMatchObject({ status: 'starting', restarts: 0, lastError: null });
    actor.send({ type: 'CHILD_STARTED', childId: 'database' });
    expect(actor.getSnapshot().context.children.database?.status).toBe('running');
  });

  it('marks failed child restarting', () => {
    const { actor, fail } = startSupervisor();
    actor.send({ type: 'CHILD_STARTED', childId: 'http' });
    fail('http', 0);
    expect(actor.getSnapshot().context.children.http).toMatchObject({ status: 'restarting', restarts: 1, lastError: 'http failed at 0' });
  });

  it('keeps restarts across start', () => {
    const { actor, fail } = startSupervisor();
    fail('http', 0);
    actor.send({ type: 'CHILD_STARTING', childId: 'http' });
    actor.send({ type: 'CHILD_STARTED', childId: 'http' });
    expect(actor.getSnapshot().context.children.http?.restarts).toBe(1);
    expect(actor.getSnapshot().context.children.http?.lastError).toBe('http failed at 0');
  });
});

describe('restart scheduling', () => {
  it('emits restart with initial delay', () => {
    const { restarts, fail } = startSupervisor();
    fail('http', 0);
    expect(restarts).toEqual([{ type: 'restartScheduled', childId: 'http', delayMs: 100, restarts: 1, reason: 'http failed at 0' }]);
  });

  it('doubles delay per restart', () => {
    const { restarts, fail } = startSupervisor({ ...POLICY, intensity: 10 });
    for (let index = 0; index < 6; index += 1) fail('http', index * 10);
    expect(restarts.map((event) => event.delayMs)).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(restarts.map((event) => event.restarts)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('counts restarts per child', () => {
    const { actor, restarts, fail } = startSupervisor({ ...POLICY, intensity: 10 });
    fail('http', 0);
    fail('modbus', 1);
    fail('http', 2);
    expect(restarts.map((event) => [event.childId, event.restarts, event.delayMs])).toEqual([
      ['http', 1, 100],
      ['modbus', 1, 100],
      ['http', 2, 200],
    ]);
    expect(actor.getSnapshot().context.children.http?.restarts).toBe(2);
    expect(actor.getSnapshot().context.children.modbus?.restarts).toBe(1);
  });
});

describe('restart intensity', () => {
  it('tolerates intensity failures', () => {
    const { actor, restarts, escalations, fail } = startSupervisor();
    fail('http', 0);
    fail('http', 100);
    fail('http', 200);
    expect(actor.getSnapshot().value).toBe('supervising');
    expect(restarts).toHaveLength(3);
    expect(escalations).toHaveLength(0);
  });

  it('escalates on intensity + 1', () => {
    const { actor, restarts, escalations, fail } = startSupervisor();
    for (const at of [0, 100, 200, 300]) fail('http', at);
    expect(actor.getSnapshot().value).toBe('escalated');
    expect(restarts).toHaveLength(3);
    expect(escalations).toEqual([{ type: 'escalated', childId: 'http', reason: 'http failed at 300', failures: 4 }]);
  });

  it('records escalation in context', () => {
    const { actor, fail } = startSupervisor();
    for (const at of [0, 100, 200, 300]) fail('http', at);
    expect(actor.getSnapshot().context.escalation).toEqual({ childId: 'http', reason: 'http failed at 300' });
    expect(actor.getSnapshot().context.children.http?.status).toBe('stopped');
  });

  it('counts failures across children', () => {
    const { actor, escalations, fail } = startSupervisor();
    fail('http', 0);
    fail('modbus', 10);
    fail('database', 20);
    fail('http', 30);
    expect(actor.getSnapshot().value).toBe('escalated');
    expect(escalations).toHaveLength(1);
    expect(escalations[0]?.childId).toBe('http');
  });

  it('ignores failures older than period', () => {
    const { actor, restarts, escalations, fail } = startSupervisor();
    for (const at of [0, 100, 200]) fail('http', at);
    fail('http', 1150);
    fail('http', 1250);
    expect(actor.getSnapshot().value).toBe('supervising');
    expect(restarts).toHaveLength(5);
    expect(escalations).toHaveLength(0);
  });

  it('drops failure exactly periodMs old', () => {
    const { actor, fail } = startSupervisor({ ...POLICY, intensity: 1 });
    fail('http', 0);
    fail('http', 1000);
    expect(actor.getSnapshot().value).toBe('supervising');
    expect(actor.getSnapshot().context.failureTimes).toEqual([1000]);
  });

  it('escalates within sliding window', () => {
    const { actor, escalations, fail } = startSupervisor({ ...POLICY, intensity: 1 });
    fail('http', 0);
    fail('http', 1000);
    fail('http', 1999);
    expect(actor.getSnapshot().value).toBe('escalated');
    expect(escalations).toEqual([{ type: 'escalated', childId: 'http', reason: 'http failed at 1999', failures: 2 }]);
  });

  it('escalates first failure at intensity 0', () => {
    const { actor, restarts, escalations, fail } = startSupervisor({ ...POLICY, intensity: 0 });
    fail('http', 0);
    expect(actor.getSnapshot().value).toBe('escalated');
    expect(restarts).toHaveLength(0);
    expect(escalations).toHaveLength(1);
  });

  it('emits one escalated event', () => {
    muteFinalStateWarnings();
    const { actor, escalations, fail } = startSupervisor({ ...POLICY, intensity: 1 });
    for (const at of [0, 1, 2, 3, 4]) fail('http', at);
    expect(actor.getSnapshot().value).toBe('escalated');
    expect(escalations).toHaveLength(1);
  });
});

describe('permanent failure', () => {
  it('escalates at once', () => {
    const { actor, restarts, escalations, fail } = startSupervisor();
    fail('modbus', 0, true);
    expect(actor.getSnapshot().value).toBe('escalated');
    expect(restarts).toHaveLength(0);
    expect(escalations).toEqual([{ type: 'escalated', childId: 'modbus', reason: 'modbus failed at 0', failures: 1 }]);
  });

  it('permanent false restarts', () => {
    const { actor, restarts, fail } = startSupervisor();
    fail('modbus', 0, false);
    expect(actor.getSnapshot().value).toBe('supervising');
    expect(restarts).toHaveLength(1);
  });
});

describe('stopped supervisor', () => {
  beforeEach(muteFinalStateWarnings);

  it('STOP reaches stopped', () => {
    const { actor } = startSupervisor();
    actor.send({ type: 'STOP' });
    expect(actor.getSnapshot().value).toBe('stopped');
    expect(actor.getSnapshot().status).toBe('done');
  });

  it('ignores failures after STOP', () => {
    const { actor, restarts, escalations, fail } = startSupervisor({ ...POLICY, intensity: 0 });
    actor.send({ type: 'STOP' });
    fail('http', 0);
    expect(actor.getSnapshot().value).toBe('stopped');
    expect(restarts).toHaveLength(0);
    expect(escalations).toHaveLength(0);
  });

  it('escalated ignores STOP', () => {
    const { actor, fail } = startSupervisor({ ...POLICY, intensity: 0 });
    fail('http', 0);
    actor.send({ type: 'STOP' });
    expect(actor.getSnapshot().value).toBe('escalated');
  });
});

describe('backoff after a stable run', () => {
  it('restarts count anew after a whole period', () => {
    const actor = createActor(supervisorMachine, { input: { policy: { intensity: 10, periodMs: 1000, backoffInitialMs: 100, backoffMaxMs: 10_000 } } }).start();
    const delays: number[] = [];
    actor.on('restartScheduled', (event) => delays.push(event.delayMs));

    actor.send({ type: 'CHILD_STARTED', childId: 'db', at: 0 });
    actor.send({ type: 'CHILD_FAILED', childId: 'db', reason: 'a', at: 10 });
    actor.send({ type: 'CHILD_STARTED', childId: 'db', at: 20 });
    actor.send({ type: 'CHILD_FAILED', childId: 'db', reason: 'b', at: 30 });
    actor.send({ type: 'CHILD_STARTED', childId: 'db', at: 40 });
    actor.send({ type: 'CHILD_FAILED', childId: 'db', reason: 'c', at: 5000 });

    expect(delays).toEqual([100, 200, 100]);
    expect(actor.getSnapshot().context.children.db?.restarts).toBe(1);
  });
});
