import { isAdapterError } from '../errors.js';
import type { EmergencyStopState } from '../machines/emergency-stop.js';
import type { CommandOrigin } from '../station/stop-store.js';
import type { CommandResult, StationActor } from './station.js';

/** Result of a system-wide command at one station. */
export interface StationCommandOutcome {
  stationId: string;
  /** 'skipped' when the station was not in a state the command applies to; 'rejected' when it refused. */
  result: 'stopped' | 'already_stopped' | 'cleared' | 'resumed' | 'skipped' | 'rejected';
  state: EmergencyStopState;
  /** Null when the command wrote nothing, because it was skipped or rejected. */
  persisted: boolean | null;
  error: { code: string; message: string } | null;
}

function outcomeOf(result: CommandResult, done: StationCommandOutcome['result']): StationCommandOutcome {
  return { stationId: result.stationId, result: done, state: result.state, persisted: result.persisted, error: null };
}

/**
 * Stops every station. Each station's outputs switch to the stop image inside the synchronous
 * loop below, so all of them switch in the same event-loop turn. No database write starts before
 * the loop ends, because each station's write queue starts on a microtask.
 */
export function stopAllStations(actors: StationActor[], origin: CommandOrigin): Promise<StationCommandOutcome[]> {
  const pending = actors.map((actor) => actor.activateEmergencyStop(origin));
  return Promise.all(pending.map((promise) => promise.then((result) => outcomeOf(result, result.changed ? 'stopped' : 'already_stopped'))));
}

/** Clears the latched stop of every stopped station; each becomes held and keeps its stop values. */
export function clearAllStations(actors: StationActor[], origin: CommandOrigin): Promise<StationCommandOutcome[]> {
  return Promise.all(
    actors.map((actor) => {
      if (actor.state !== 'stopped') return Promise.resolve(skipped(actor));
      return runCommand(actor, () => actor.clearEmergencyStop(origin), 'cleared');
    }),
  );
}

/** Starts recovery at every held station; a station whose checks fail stays held and reports why. */
export function resumeAllStations(actors: StationActor[], origin: CommandOrigin): Promise<StationCommandOutcome[]> {
  return Promise.all(
    actors.map((actor) => {
      if (actor.state !== 'held') return Promise.resolve(skipped(actor));
      return runCommand(actor, () => actor.resume(origin), 'resumed');
    }),
  );
}

function skipped(actor: StationActor): StationCommandOutcome {
  return { stationId: actor.stationId, result: 'skipped', state: actor.state, persisted: null, error: null };
}

async function runCommand(actor: StationActor, command: () => Promise<CommandResult>, done: StationCommandOutcome['result']): Promise<StationCommandOutcome> {
  try {
    return outcomeOf(await command(), done);
  } catch (error) {
    // One station's refusal must not hide what happened at the others, so it becomes its outcome.
    if (!isAdapterError(error)) throw error;
    return { stationId: actor.stationId, result: 'rejected', state: actor.state, persisted: null, error: { code: error.code, message: error.message } };
  }
}
