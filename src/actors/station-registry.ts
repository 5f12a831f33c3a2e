import type { StationSnapshot } from '../station/snapshot.js';
import type { StationActor } from './station.js';

/**
 * The running station actors by station id. It outlives restarts of the stations child, so
 * protocol servers subscribe once and keep receiving snapshots from the replacement actors.
 */
export class StationRegistry {
  private readonly actors = new Map<string, StationActor>();
  private readonly unsubscribers = new Map<string, () => void>();
  private readonly listeners = new Set<(snapshot: StationSnapshot) => void>();

  /** Adds or replaces a station's actor and publishes its current snapshot at once. */
  set(actor: StationActor): void {
    this.unsubscribers.get(actor.stationId)?.();
    this.actors.set(actor.stationId, actor);
    this.unsubscribers.set(actor.stationId, actor.subscribe((snapshot) => this.forward(snapshot)));
    this.forward(actor.getSnapshot());
  }

  get(stationId: string): StationActor | undefined {
    return this.actors.get(stationId);
  }

  all(): StationActor[] {
    return [...this.actors.values()];
  }

  /** Calls `listener` with every snapshot of every station, synchronously. */
  subscribe(listener: (snapshot: StationSnapshot) => void): () => void {
    this.listeners.add(listener);
    for (const actor of this.actors.values()) listener(actor.getSnapshot());
    return () => this.listeners.delete(listener);
  }

  private forward(snapshot: StationSnapshot): void {
    for (const listener of this.listeners) listener(snapshot);
  }
}
