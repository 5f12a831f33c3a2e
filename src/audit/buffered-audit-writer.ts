import type { Database } from '../db/database.js';
import type { AdapterLogger } from '../log.js';
import { writeAuditEvent, type AuditEvent } from './audit-log.js';

/** Rows kept while the database is down; beyond this, the oldest are dropped. */
const DEFAULT_MAX_BACKLOG = 1000;

/**
 * Writes audit rows that the adapter raises by itself (supervisor restarts and escalations,
 * database outages) in the order they happened. While the database is not connected, or a write
 * fails, the rows wait in memory and are written on the next `writeBacklog` call, which the
 * database child makes when it connects. Each row keeps the time of its event.
 *
 * NOTE: the backlog is bounded; past `maxBacklog` rows the oldest are dropped, and only the log
 * records how many. Rows still waiting when the process exits are lost, for example the
 * escalation that stops the adapter because the database rejected it.
 */
export class BufferedAuditWriter {
  private readonly backlog: AuditEvent[] = [];
  private readonly maxBacklog: number;
  private dropped = 0;
  private writing = false;

  constructor(
    private readonly options: {
      getDatabase: () => Database | null;
      logger: AdapterLogger;
      maxBacklog?: number;
    },
  ) {
    this.maxBacklog = options.maxBacklog ?? DEFAULT_MAX_BACKLOG;
  }

  /** Rows not yet written. */
  get pendingCount(): number {
    return this.backlog.length;
  }

  /** Queues a row and writes it, with any earlier ones, if the database is connected. */
  record(event: AuditEvent): void {
    this.backlog.push({ ...event, occurredAt: event.occurredAt ?? new Date() });
    const excess = this.backlog.length - this.maxBacklog;
    if (excess > 0) {
      this.backlog.splice(0, excess);
      if (this.dropped === 0) {
        this.options.logger.warning({ max_backlog: this.maxBacklog }, `audit backlog full at ${this.maxBacklog} rows; dropping the oldest until the database accepts writes`);
      }
      this.dropped += excess;
    }
    void this.writeBacklog();
  }

  /** Writes the waiting rows in order; stops at the first failure and keeps the rest for the next call. */
  async writeBacklog(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.backlog.length > 0) {
        const database = this.options.getDatabase();
        const next = this.backlog[0];
        if (!database || !next) return;
        try {
          await writeAuditEvent(database, next);
        } catch (error) {
          this.options.logger.error({ err: error, event_type: next.eventType, waiting: this.backlog.length }, `writing the ${next.eventType} audit row failed; it waits for the next attempt`);
          return;
        }
        this.backlog.shift();
      }
      if (this.dropped > 0) {
        this.options.logger.warning({ dropped: this.dropped }, `audit backlog written; ${this.dropped} older rows were dropped while it was full`);
        this.dropped = 0;
      }
    } finally {
      this.writing = false;
    }
  }

  /** Writes the backlog, waiting up to `timeoutMs`, as before a shutdown; returns the rows left. */
  async flush(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (this.backlog.length > 0 && this.options.getDatabase() && Date.now() < deadline) {
      const before = this.backlog.length;
      const ranHere = !this.writing;
      await this.writeBacklog();
      // A pass of this call that wrote nothing means the database rejects the row; waiting will not help.
      if (ranHere && this.backlog.length === before) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return this.backlog.length;
  }
}
