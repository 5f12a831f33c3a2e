import { writeAuditEvent, type AuditEvent } from '../audit/audit-log.js';
import type { Queryable } from '../db/database.js';
import type { AdapterLogger } from '../log.js';
import type { WriteRejectedEvent } from './connection.js';
import { LogThrottle } from './log-throttle.js';

export interface RejectedWriteAuditorOptions {
  getDatabase: () => Queryable | null;
  logger: AdapterLogger;
  /** One audit row per client address and kind of rejection within this interval. */
  intervalMs: number;
  /** Station id of a unit id, for the audit row's station column. */
  stationIdOf: (unitId: number) => string | null;
  now?: () => number;
}

/**
 * Audits writes the register map rejects, at most one row per client address and interval, so a
 * misconfigured client that retries a forbidden write every few milliseconds cannot flood the
 * audit log. The row that ends a quiet interval carries how many rejections were left out before
 * it. Attempts to clear an emergency stop are limited separately from other rejected writes, so a
 * flood of the latter cannot hide the former.
 */
export class RejectedWriteAuditor {
  private readonly throttle: LogThrottle;
  private readonly logger: AdapterLogger;
  /** The last audit write; each write waits for the one before, so rows keep their order. */
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly options: RejectedWriteAuditorOptions) {
    this.throttle = new LogThrottle(options.intervalMs, options.now ?? Date.now);
    this.logger = options.logger.child({ component: 'modbus' });
  }

  report(event: WriteRejectedEvent): void {
    const kind = event.clearsEmergencyStop ? 'clear-emergency-stop' : 'write';
    const suppressed = this.throttle.admit(`${event.remoteAddress}|${kind}`);
    if (suppressed === null) return;
    if (suppressed > 0) {
      this.logger.info({ remote_address: event.remoteAddress, suppressed_rejections: suppressed }, 'rejected Modbus writes left out of the audit log by its rate limit');
    }

    const audit: AuditEvent = {
      eventType: 'MODBUS_WRITE_REJECTED',
      severity: event.clearsEmergencyStop ? 'HIGH' : 'MEDIUM',
      source: 'modbus',
      sourceAddress: event.remoteAddress,
      stationId: this.options.stationIdOf(event.unitId),
      details: {
        unit_id: event.unitId,
        function_code: event.functionCode,
        exception_code: event.exceptionCode,
        table: event.table,
        address: event.address,
        count: event.count,
        clears_emergency_stop: event.clearsEmergencyStop,
        reason: event.reason,
        suppressed_since_last: suppressed,
      },
      occurredAt: new Date(),
    };
    this.write(audit);
  }

  /** Resolves when every audit row started so far is written or has failed. */
  settle(): Promise<void> {
    return this.tail;
  }

  private write(audit: AuditEvent): void {
    const database = this.options.getDatabase();
    if (!database) {
      this.logger.error({ audit }, 'audit row for a rejected Modbus write not stored because the database is not connected');
      return;
    }
    this.tail = this.tail.then(() =>
      writeAuditEvent(database, audit).catch((error: unknown) => {
        this.logger.error({ err: error, audit }, 'storing the audit row for a rejected Modbus write failed');
      }),
    );
  }
}
