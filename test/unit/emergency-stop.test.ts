import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import {
  emergencyStopMachine,
  STOP_IMAGE_STATES,
  type EmergencyStopEvent,
  type EmergencyStopState,
  type PersistedStopState,
} from '../../src/machines/emergency-stop.js';

/** Events that lead from the initial `restoring` state to each state. */
const PATH_TO: Record<EmergencyStopState, EmergencyStopEvent[]> = {
  restoring: [],
  operational: [{ type: 'RESTORED', state: 'operational' }, { type: 'RECOVERY_COMPLETE' }],
  stopped: [{ type: 'RESTORED', state: 'stopped' }],
  held: [{ type: 'RESTORED', state: 'held' }],
  recovering: [
    { type: 'RESTORED', state: 'held' },
    { type: 'RESUME', checksPassed: true },
  ],
};

const EVENTS = {
  'RESTORED operational': { type: 'RESTORED', state: 'operational' },
  'RESTORED stopped': { type: 'RESTORED', state: 'stopped' },
  'RESTORED held': { type: 'RESTORED', state: 'held' },
  ACTIVATE: { type: 'ACTIVATE_EMERGENCY_STOP' },
  CLEAR: { type: 'CLEAR_EMERGENCY_STOP' },
  'RESUME passed': { type: 'RESUME', checksPassed: true },
  'RESUME failed': { type: 'RESUME', checksPassed: false },
  RECOVERY_COMPLETE: { type: 'RECOVERY_COMPLETE' },
  FAULT: { type: 'FAULT', reason: 'plan source lost' },
} satisfies Record<string, EmergencyStopEvent>;

type EventName = keyof typeof EVENTS;

function startIn(state: EmergencyStopState) {
  const actor = createActor(emergencyStopMachine).start();
  for (const event of PATH_TO[state]) actor.send(event);
  return actor;
}

function stateAfter(start: EmergencyStopState, event: EventName): EmergencyStopState {
  const actor = startIn(start);
  actor.send(EVENTS[event]);
  const state = actor.getSnapshot().value as EmergencyStopState;
  actor.stop();
  return state;
}

/** Every (state, event) pair: [start state, event, expected next state]. */
const TRANSITIONS: Array<[EmergencyStopState, EventName, EmergencyStopState]> = [
  ['restoring', 'RESTORED operational', 'recovering'],
  ['restoring', 'RESTORED stopped', 'stopped'],
  ['restoring', 'RESTORED held', 'held'],
  ['restoring', 'ACTIVATE', 'stopped'],
  ['restoring', 'CLEAR', 'restoring'],
  ['restoring', 'RESUME passed', 'restoring'],
  ['restoring', 'RESUME failed', 'restoring'],
  ['restoring', 'RECOVERY_COMPLETE', 'restoring'],
  ['restoring', 'FAULT', 'restoring'],

  ['operational', 'RESTORED operational', 'operational'],
  ['operational', 'RESTORED stopped', 'operational'],
  ['operational', 'RESTORED held', 'operational'],
  ['operational', 'ACTIVATE', 'stopped'],
  ['operational', 'CLEAR', 'operational'],
  ['operational', 'RESUME passed', 'operational'],
  ['operational', 'RESUME failed', 'operational'],
  ['operational', 'RECOVERY_COMPLETE', 'operational'],
  ['operational', 'FAULT', 'operational'],

  ['stopped', 'RESTORED operational', 'stopped'],
  ['stopped', 'RESTORED stopped', 'stopped'],
  ['stopped', 'RESTORED held', 'stopped'],
  ['stopped', 'ACTIVATE', 'stopped'],
  ['stopped', 'CLEAR', 'held'],
  ['stopped', 'RESUME passed', 'stopped'],
  ['stopped', 'RESUME failed', 'stopped'],
  ['stopped', 'RECOVERY_COMPLETE', 'stopped'],
  ['stopped', 'FAULT', 'stopped'],

  ['held', 'RESTORED operational', 'held'],
  ['held', 'RESTORED stopped', 'held'],
  ['held', 'RESTORED held', 'held'],
  ['held', 'ACTIVATE', 'stopped'],
  ['held', 'CLEAR', 'held'],
  ['held', 'RESUME passed', 'recovering'],
  ['held', 'RESUME failed', 'held'],
  ['held', 'RECOVERY_COMPLETE', 'held'],
  ['held', 'FAULT', 'stopped'],

  ['recovering', 'RESTORED operational', 'recovering'],
  ['recovering', 'RESTORED stopped', 'recovering'],
  ['recovering', 'RESTORED held', 'recovering'],
  ['recovering', 'ACTIVATE', 'stopped'],
  ['recovering', 'CLEAR', 'recovering'],
  ['recovering', 'RESUME passed', 'recovering'],
  ['recovering', 'RESUME failed', 'recovering'],
  ['recovering', 'RECOVERY_COMPLETE', 'operational'],
  ['recovering', 'FAULT', 'stopped'],
];

describe('emergency-stop transitions', () => {
  it('starts in restoring', () => {
    const actor = createActor(emergencyStopMachine).start();
    expect(actor.getSnapshot().value).toBe('restoring');
    expect(actor.getSnapshot().context).toEqual({ activations: 0, lastFault: null });
  });

  it.each(TRANSITIONS)('%s + %s → %s', (start, event, expected) => {
    expect(startIn(start).getSnapshot().value).toBe(start);
    expect(stateAfter(start, event)).toBe(expected);
  });

  it('covers every state and event', () => {
    const covered = new Set(TRANSITIONS.map(([start, event]) => `${start}/${event}`));
    covered.add('held/FAULT');
    const states = Object.keys(PATH_TO) as EmergencyStopState[];
    for (const state of states) {
      for (const event of Object.keys(EVENTS)) {
        expect(covered.has(`${state}/${event}`), `${state}/${event}`).toBe(true);
      }
    }
    expect(covered.size).toBe(states.length * Object.keys(EVENTS).length);
  });

});

describe('restoring a stored state', () => {
  it('treats unknown stored state as stopped', () => {
    const actor = createActor(emergencyStopMachine).start();
    actor.send({ type: 'RESTORED', state: 'bogus' as PersistedStopState });
    expect(actor.getSnapshot().value).toBe('stopped');
  });

  it('does not count restored stop', () => {
    const actor = startIn('stopped');
    expect(actor.getSnapshot().context.activations).toBe(0);
  });
});

describe('clear and resume', () => {
  const notOperational: EmergencyStopState[] = ['restoring', 'stopped', 'held', 'recovering'];

  it.each(notOperational)('CLEAR from %s never reaches operational', (start) => {
    expect(stateAfter(start, 'CLEAR')).not.toBe('operational');
  });

  it('needs CLEAR, RESUME, RECOVERY_COMPLETE', () => {
    const actor = createActor(emergencyStopMachine).start();
    const visited: string[] = [String(actor.getSnapshot().value)];
    actor.subscribe((snapshot) => visited.push(String(snapshot.value)));

    actor.send({ type: 'RESTORED', state: 'operational' });
    actor.send({ type: 'RECOVERY_COMPLETE' });
    actor.send({ type: 'ACTIVATE_EMERGENCY_STOP' });
    actor.send({ type: 'CLEAR_EMERGENCY_STOP' });
    actor.send({ type: 'RESUME', checksPassed: true });
    actor.send({ type: 'RECOVERY_COMPLETE' });

    expect(visited).toEqual(['restoring', 'recovering', 'operational', 'stopped', 'held', 'recovering', 'operational']);
  });

  it('second CLEAR stays held', () => {
    const actor = startIn('stopped');
    actor.send({ type: 'CLEAR_EMERGENCY_STOP' });
    actor.send({ type: 'CLEAR_EMERGENCY_STOP' });
    expect(actor.getSnapshot().value).toBe('held');
  });

  it('failed checks then passed resume', () => {
    const actor = startIn('held');
    actor.send({ type: 'RESUME', checksPassed: false });
    expect(actor.getSnapshot().value).toBe('held');
    actor.send({ type: 'RESUME', checksPassed: true });
    expect(actor.getSnapshot().value).toBe('recovering');
  });
});

describe('context counters', () => {
  it.each(['restoring', 'operational', 'held', 'recovering'] as const)('ACTIVATE from %s counts once', (start) => {
    const actor = startIn(start);
    actor.send({ type: 'ACTIVATE_EMERGENCY_STOP' });
    expect(actor.getSnapshot().context.activations).toBe(1);
  });

  it('repeated ACTIVATE counts once', () => {
    const actor = startIn('operational');
    actor.send({ type: 'ACTIVATE_EMERGENCY_STOP' });
    actor.send({ type: 'ACTIVATE_EMERGENCY_STOP' });
    actor.send({ type: 'ACTIVATE_EMERGENCY_STOP' });
    expect(actor.getSnapshot().context.activations).toBe(1);
  });

  it('counts each latch cycle', () => {
    const actor = startIn('operational');
    actor.send({ type: 'ACTIVATE_EMERGENCY_STOP' });
    actor.send({ type: 'CLEAR_EMERGENCY_STOP' });
    actor.send({ type: 'ACTIVATE_EMERGENCY_STOP' });
    expect(actor.getSnapshot().context.activations).toBe(2);
  });

  it('FAULT records reason', () => {
    const actor = startIn('recovering');
    actor.send({ type: 'FAULT', reason: 'database unreachable' });
    expect(actor.getSnapshot().value).toBe('stopped');
    expect(actor.getSnapshot().context.lastFault).toBe('database unreachable');
  });

  it('ignored FAULT keeps lastFault', () => {
    const actor = startIn('operational');
    actor.send({ type: 'FAULT', reason: 'ignored' });
    expect(actor.getSnapshot().context.lastFault).toBeNull();
  });
});

describe('STOP_IMAGE_STATES', () => {
  it('contains restoring, stopped, held', () => {
    expect([...STOP_IMAGE_STATES].sort()).toEqual(['held', 'restoring', 'stopped']);
  });

  it('excludes operational and recovering', () => {
    expect(STOP_IMAGE_STATES.has('operational')).toBe(false);
    expect(STOP_IMAGE_STATES.has('recovering')).toBe(false);
  });
});
