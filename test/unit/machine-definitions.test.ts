import { describe, expect, it } from 'vitest';
import { describeMachine, machineDefinitions } from '../../src/machines/definitions.js';
import { emergencyStopMachine } from '../../src/machines/emergency-stop.js';

describe('emergency-stop definition', () => {
  const definition = describeMachine(emergencyStopMachine);

  it('lists every state', () => {
    expect(definition.id).toBe('emergencyStop');
    expect(definition.initial).toBe('restoring');
    expect(definition.states.map((state) => state.id)).toEqual(['restoring', 'operational', 'stopped', 'held', 'recovering']);
  });

  it('lists guarded restore transitions', () => {
    const restoring = definition.states.find((state) => state.id === 'restoring');
    expect(restoring?.transitions).toEqual([
      { event: 'RESTORED', target: 'recovering', guard: 'restoredOperational' },
      { event: 'RESTORED', target: 'held', guard: 'restoredHeld' },
      { event: 'RESTORED', target: 'stopped', guard: null },
      { event: 'ACTIVATE_EMERGENCY_STOP', target: 'stopped', guard: null },
    ]);
  });

  it('leads every non-stopped state to stopped', () => {
    for (const state of definition.states.filter((each) => each.id !== 'stopped')) {
      expect(state.transitions.some((transition) => transition.target === 'stopped'), state.id).toBe(true);
    }
  });

  it('clears only from stopped', () => {
    const clears = definition.states.flatMap((state) => state.transitions.filter((transition) => transition.event === 'CLEAR_EMERGENCY_STOP').map(() => state.id));
    expect(clears).toEqual(['stopped']);
  });

  it('is plain JSON', () => {
    expect(JSON.parse(JSON.stringify(definition))).toEqual(definition);
  });
});

describe('supervisor definition', () => {
  it('has final escalated and stopped', () => {
    const { supervisor } = machineDefinitions();
    expect(supervisor?.initial).toBe('supervising');
    expect(supervisor?.states.filter((state) => state.final).map((state) => state.id)).toEqual(['escalated', 'stopped']);
    const supervising = supervisor?.states.find((state) => state.id === 'supervising');
    expect(supervising?.transitions).toContainEqual({ event: 'CHILD_FAILED', target: 'escalated', guard: 'restartWillNotHelp' });
    expect(supervising?.transitions).toContainEqual({ event: 'CHILD_FAILED', target: null, guard: null });
  });
});
