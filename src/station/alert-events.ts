import type { Severity } from '../audit/audit-log.js';
import type { AdapterLogger } from '../log.js';

/** Facts that people should hear about; the alert router (email, SMS, webhook) subscribes to them. */
export type AlertEventType =
  | 'SETPOINT_CLAMPED'
  | 'SETPOINT_CLAMP_CLEARED'
  | 'FAILSAFE_ACTIVATED'
  | 'FAILSAFE_CLEARED'
  | 'PLAN_FUTURE_TIMESTAMP_DETECTED'
  | 'STATION_FAULT';

export interface AlertEvent {
  type: AlertEventType;
  severity: Severity;
  stationId: string;
  /** The pump concerned, or null for an event of the whole station. */
  pumpId: string | null;
  /** One sentence for a person: what happened, where, and the values involved. */
  message: string;
  details: Record<string, unknown>;
  occurredAt: Date;
}

export type AlertListener = (event: AlertEvent) => void;

/**
 * The in-process channel on which stations raise alert events. Listeners run synchronously, in
 * the station's tick, so each must return quickly and queue any slow work. A listener that throws
 * is logged and the others still run, because an alert channel's bug must not stop a station.
 */
export class AlertEvents {
  private readonly listeners = new Set<AlertListener>();

  constructor(private readonly logger?: AdapterLogger) {}

  /** Registers a listener for every alert event; returns the function that removes it. */
  subscribe(listener: AlertListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  raise(event: AlertEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.logger?.error({ err: error, alert: event.type, station_id: event.stationId }, 'an alert listener threw; the other listeners still ran');
      }
    }
  }
}
