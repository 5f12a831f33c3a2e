import { assign, emit, setup } from 'xstate';

/**
 * The supervision decisions of one supervisor, after Erlang/OTP's one_for_one strategy. A failed
 * child is restarted alone, after an exponential backoff. When more than `intensity` failures
 * happen within `periodMs`, or a failure is permanent, the supervisor gives up and escalates to
 * its parent. The machine only decides, and the supervisor actor starts and stops the children.
 */

export type ChildStatus = 'starting' | 'running' | 'restarting' | 'stopped';

export interface ChildRecord {
  status: ChildStatus;
  restarts: number;
  lastError: string | null;
  /** When the child last reported running; a child that ran a whole period starts its backoff anew. */
  runningSince: number | null;
}

export interface SupervisorPolicy {
  /** Failures tolerated within `periodMs`; one more escalates. OTP's default intensity is 1. */
  intensity: number;
  periodMs: number;
  /** Delay before the first restart of a child; doubles with each restart up to `backoffMaxMs`. */
  backoffInitialMs: number;
  backoffMaxMs: number;
}

export interface SupervisorContext {
  policy: SupervisorPolicy;
  children: Record<string, ChildRecord>;
  /** Times of recent failures, for the intensity limit. */
  failureTimes: number[];
  escalation: { childId: string; reason: string } | null;
}

export type SupervisorEvent =
  | { type: 'CHILD_STARTING'; childId: string }
  | { type: 'CHILD_STARTED'; childId: string; at?: number }
  /** `permanent` marks a failure that a restart cannot fix, such as a port that needs root. */
  | { type: 'CHILD_FAILED'; childId: string; reason: string; at: number; permanent?: boolean }
  | { type: 'STOP' };

export type SupervisorEmitted =
  | { type: 'restartScheduled'; childId: string; delayMs: number; restarts: number; reason: string }
  | { type: 'escalated'; childId: string; reason: string; failures: number };

export function backoffDelay(policy: SupervisorPolicy, restarts: number): number {
  return Math.min(policy.backoffMaxMs, policy.backoffInitialMs * 2 ** Math.max(0, restarts - 1));
}

function recentFailures(context: SupervisorContext, at: number): number[] {
  return [...context.failureTimes.filter((time) => at - time < context.policy.periodMs), at];
}

function restartsAfterFailure(context: SupervisorContext, childId: string, at: number): number {
  const child = context.children[childId];
  if (!child) return 1;
  const ranWholePeriod = child.runningSince !== null && at - child.runningSince >= context.policy.periodMs;
  return ranWholePeriod ? 1 : child.restarts + 1;
}

function updateChild(context: SupervisorContext, childId: string, change: Partial<ChildRecord>): Record<string, ChildRecord> {
  const previous = context.children[childId] ?? { status: 'starting', restarts: 0, lastError: null, runningSince: null };
  return { ...context.children, [childId]: { ...previous, ...change } };
}

export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
    emitted: {} as SupervisorEmitted,
    input: {} as { policy: SupervisorPolicy },
  },
  guards: {
    restartWillNotHelp: ({ context, event }) =>
      event.type === 'CHILD_FAILED' &&
      (event.permanent === true || recentFailures(context, event.at).length > context.policy.intensity),
  },
}).createMachine({
  id: 'supervisor',
  initial: 'supervising',
  context: ({ input }) => ({ policy: input.policy, children: {}, failureTimes: [], escalation: null }),
  states: {
    supervising: {
      on: {
        CHILD_STARTING: {
          actions: assign({ children: ({ context, event }) => updateChild(context, event.childId, { status: 'starting' }) }),
        },
        CHILD_STARTED: {
          actions: assign({
            children: ({ context, event }) => updateChild(context, event.childId, { status: 'running', runningSince: event.at ?? null }),
          }),
        },
        CHILD_FAILED: [
          {
            guard: 'restartWillNotHelp',
            target: 'escalated',
            actions: [
              assign(({ context, event }) => ({
                children: updateChild(context, event.childId, { status: 'stopped', lastError: event.reason }),
                failureTimes: recentFailures(context, event.at),
                escalation: { childId: event.childId, reason: event.reason },
              })),
              emit(({ context, event }) => ({
                type: 'escalated' as const,
                childId: event.childId,
                reason: event.reason,
                failures: context.failureTimes.length,
              })),
            ],
          },
          {
            actions: [
              assign(({ context, event }) => ({
                children: updateChild(context, event.childId, {
                  status: 'restarting',
                  lastError: event.reason,
                  restarts: restartsAfterFailure(context, event.childId, event.at),
                  runningSince: null,
                }),
                failureTimes: recentFailures(context, event.at),
              })),
              emit(({ context, event }) => {
                const restarts = context.children[event.childId]?.restarts ?? 1;
                return {
                  type: 'restartScheduled' as const,
                  childId: event.childId,
                  delayMs: backoffDelay(context.policy, restarts),
                  restarts,
                  reason: event.reason,
                };
              }),
            ],
          },
        ],
        STOP: { target: 'stopped' },
      },
    },
    escalated: { type: 'final' },
    stopped: { type: 'final' },
  },
});
