import type { AnyStateMachine, StateNode } from 'xstate';
import { emergencyStopMachine } from './emergency-stop.js';
import { supervisorMachine } from './supervisor.js';

/** One transition of a machine, as a diagram draws it: an arrow labelled with its event and guard. */
export interface TransitionDefinition {
  event: string;
  /** Target state, or null for a transition that stays in its state and only runs actions. */
  target: string | null;
  guard: string | null;
}

export interface StateDefinition {
  id: string;
  /** True for a final state, from which the machine never leaves. */
  final: boolean;
  transitions: TransitionDefinition[];
}

/** A machine's states and transitions as plain JSON, for the operator UI to draw. */
export interface MachineDefinition {
  id: string;
  initial: string;
  states: StateDefinition[];
}

function guardName(guard: unknown): string | null {
  if (guard === undefined || guard === null) return null;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' && 'type' in guard && typeof guard.type === 'string') return guard.type;
  return 'inline guard';
}

function describeState(node: StateNode): StateDefinition {
  const transitions: TransitionDefinition[] = [];
  for (const [event, candidates] of node.transitions) {
    for (const candidate of candidates) {
      transitions.push({ event, target: candidate.target?.[0]?.key ?? null, guard: guardName(candidate.guard) });
    }
  }
  return { id: node.key, final: node.type === 'final', transitions };
}

/** Reads the states and transitions of a flat machine (one level of states) from its definition. */
export function describeMachine(machine: AnyStateMachine): MachineDefinition {
  const root = machine.root;
  const initial = root.initial.target[0]?.key;
  if (initial === undefined) throw new Error(`machine ${machine.id} has no initial state`);
  return {
    id: machine.id,
    initial,
    states: Object.values(root.states).map((node) => describeState(node)),
  };
}

/** Returns every machine the adapter runs, by id, for the operator UI. */
export function machineDefinitions(): Record<string, MachineDefinition> {
  return {
    emergencyStop: describeMachine(emergencyStopMachine),
    supervisor: describeMachine(supervisorMachine),
  };
}
