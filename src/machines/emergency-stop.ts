import { assign, setup } from 'xstate';

/**
 * The emergency-stop machine of one station. It is a supervisory stop of the control system and
 * does not replace the hardwired safety emergency stop at the station.
 *
 *   restoring ──RESTORED──▶ recovering (stored operational) | stopped | held
 *   operational ──ACTIVATE──▶ stopped ──CLEAR──▶ held ──RESUME──▶ recovering ──RECOVERY_COMPLETE──▶ operational
 *   held, recovering ──ACTIVATE or FAULT──▶ stopped
 *
 * A clear only releases the latch: the station stays held, with its pumps at the stop setpoint,
 * until a separate resume (as ISO 13850 and IEC 60204-1 require of a stop reset). While restoring,
 * before the stored state is read, the station publishes the stop image as if stopped. A station
 * stored as operational restores into recovering, because the stop image was the last value it
 * published and the adapter cannot know what the pumps did while it was down. So the pumps return
 * to the plan along the recovery ramp, never in one jump.
 */

export type PersistedStopState = 'operational' | 'stopped' | 'held';

export type EmergencyStopEvent =
  | { type: 'RESTORED'; state: PersistedStopState }
  | { type: 'ACTIVATE_EMERGENCY_STOP' }
  | { type: 'CLEAR_EMERGENCY_STOP' }
  | { type: 'RESUME'; checksPassed: boolean }
  | { type: 'RECOVERY_COMPLETE' }
  | { type: 'FAULT'; reason: string };

export interface EmergencyStopContext {
  /** Times the station entered `stopped`, counting repeated activations once. */
  activations: number;
  lastFault: string | null;
}

export const emergencyStopMachine = setup({
  types: {
    context: {} as EmergencyStopContext,
    events: {} as EmergencyStopEvent,
  },
  guards: {
    restoredOperational: ({ event }) => event.type === 'RESTORED' && event.state === 'operational',
    restoredHeld: ({ event }) => event.type === 'RESTORED' && event.state === 'held',
    checksPassed: ({ event }) => event.type === 'RESUME' && event.checksPassed,
  },
  actions: {
    countActivation: assign({ activations: ({ context }) => context.activations + 1 }),
    recordFault: assign({ lastFault: ({ event }) => (event.type === 'FAULT' ? event.reason : null) }),
  },
}).createMachine({
  id: 'emergencyStop',
  initial: 'restoring',
  context: { activations: 0, lastFault: null },
  states: {
    restoring: {
      on: {
        RESTORED: [
          { guard: 'restoredOperational', target: 'recovering' },
          { guard: 'restoredHeld', target: 'held' },
          { target: 'stopped' },
        ],
        ACTIVATE_EMERGENCY_STOP: { target: 'stopped', actions: 'countActivation' },
      },
    },
    operational: {
      on: {
        ACTIVATE_EMERGENCY_STOP: { target: 'stopped', actions: 'countActivation' },
      },
    },
    stopped: {
      on: {
        CLEAR_EMERGENCY_STOP: { target: 'held' },
      },
    },
    held: {
      on: {
        ACTIVATE_EMERGENCY_STOP: { target: 'stopped', actions: 'countActivation' },
        RESUME: { guard: 'checksPassed', target: 'recovering' },
        FAULT: { target: 'stopped', actions: 'recordFault' },
      },
    },
    recovering: {
      on: {
        ACTIVATE_EMERGENCY_STOP: { target: 'stopped', actions: 'countActivation' },
        FAULT: { target: 'stopped', actions: 'recordFault' },
        RECOVERY_COMPLETE: { target: 'operational' },
      },
    },
  },
});

export type EmergencyStopState = 'restoring' | 'operational' | 'stopped' | 'held' | 'recovering';

/** States in which every pump of the station is held at its stop setpoint. */
export const STOP_IMAGE_STATES: ReadonlySet<EmergencyStopState> = new Set(['restoring', 'stopped', 'held']);
