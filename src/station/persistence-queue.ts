import { writeAuditEvent, type AuditEvent } from '../audit/audit-log.js';
import type { Database } from '../db/database.js';
import type { AdapterLogger } from '../log.js';
import type { PersistedStopState } from '../machines/emergency-stop.js';
import { storeOverrideExpiry, type OverrideExpiry } from './override-store.js';
import { persistStopCommand, type StopCommandRecord } from './stop-store.js';

type QueuedWrite =
  | { kind: 'command'; record: StopCommandRecord; resolve: () => void; attempts: number }
  | { kind: 'audit'; event: AuditEvent; resolve: () => void; attempts: number }
  | { kind: 'override_expiry'; expiry: OverrideExpiry; resolve: () => void; attempts: number };

function describeWrite(write: QueuedWrite): string {
  if (write.kind === 'command') return write.record.kind;
  if (write.kind === 'audit') return write.event.eventType;
  return `expiry of override ${write.expiry.overrideId}`;
}

const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 5000;
/** Time after which a command write still running is recorded in the journal, because a hung database may not fail it for a long time. */
const JOURNAL_AFTER_MS = 500;

/** Store for a queue's pending commands once the database does not commit them. */
export interface PendingCommandJournal {
  record(stationId: string, commands: readonly StopCommandRecord[]): void;
}

/**
 * Writes a station's accepted stop, clear and resume commands, the ends of overrides that ran
 * out, and the audit rows the station raises by itself, to the database in the order they happened, retrying each until it commits.
 * A failed write never undoes a command: the station keeps the state it entered, and the write
 * stays at the head of the queue. Audit rows carry the time of the event, not of the write, so a
 * failsafe episode that starts during an outage is recorded when it started.
 */
export class PersistenceQueue {
  private readonly writes: QueuedWrite[] = [];
  private running = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private wakeRetry: (() => void) | undefined;
  private closed = false;
  private readonly pendingListeners = new Set<() => void>();

  /**
   * One queue serves every incarnation of a station's actor, so a command accepted by an actor
   * that then crashed is still written, and its successor restores the state it implies.
   */
  constructor(
    private readonly options: {
      stationId: string;
      getDatabase: () => Database | null;
      logger: AdapterLogger;
      journal?: PendingCommandJournal;
      /** Commands an earlier run accepted and the database did not commit, oldest first. */
      journaledCommands?: readonly StopCommandRecord[];
    },
  ) {
    for (const record of options.journaledCommands ?? []) {
      this.writes.push({ kind: 'command', record, resolve: () => undefined, attempts: 0 });
    }
    if (this.writes.length > 0) this.runSoon();
  }

  /** Records the pending commands in the journal, so that a restart keeps them. */
  private journalPendingCommands(): void {
    const journal = this.options.journal;
    if (!journal) return;
    const commands = this.writes.flatMap((write) => (write.kind === 'command' ? [write.record] : []));
    try {
      journal.record(this.options.stationId, commands);
    } catch (error) {
      this.options.logger.critical({ err: error, pending: commands.length }, 'recording pending emergency-stop commands in the journal failed; a restart before the database returns loses them');
    }
  }

  /** Calls `listener` whenever the number of pending commands changes; returns the unsubscribe function. */
  onPendingChanged(listener: () => void): () => void {
    this.pendingListeners.add(listener);
    return () => this.pendingListeners.delete(listener);
  }

  /**
   * Returns the stop state that the newest pending command leads to, or null when none is
   * pending. It wins over the database's stored state, which does not yet contain that command.
   */
  impliedStopState(): PersistedStopState | null {
    const commands = this.writes.filter((write) => write.kind === 'command');
    const newest = commands.at(-1);
    if (!newest) return null;
    const implied: Record<StopCommandRecord['kind'], PersistedStopState> = { activate: 'stopped', clear: 'held', resume: 'operational' };
    return implied[newest.record.kind];
  }

  private notifyPendingChanged(): void {
    for (const listener of this.pendingListeners) listener();
  }

  /** Stop, clear and resume commands not yet committed; audit rows do not count. */
  get pendingCount(): number {
    return this.writes.filter((write) => write.kind === 'command').length;
  }

  /** Queues a command; the promise resolves once it is committed. */
  enqueue(record: StopCommandRecord): Promise<void> {
    const committed = new Promise<void>((resolve) => {
      this.writes.push({ kind: 'command', record, resolve, attempts: 0 });
    });
    this.notifyPendingChanged();
    this.runSoon();
    return committed;
  }

  /** Queues an audit row behind any earlier command; the promise resolves once it is committed. */
  enqueueAudit(event: AuditEvent): Promise<void> {
    const stamped: AuditEvent = { ...event, occurredAt: event.occurredAt ?? new Date() };
    const committed = new Promise<void>((resolve) => {
      this.writes.push({ kind: 'audit', event: stamped, resolve, attempts: 0 });
    });
    this.runSoon();
    return committed;
  }

  /** Ends the wait before the next retry, so that writes queued during an outage go out as soon as it ends. */
  retryNow(): void {
    this.wakeRetry?.();
  }

  /**
   * Queues the end of an override that ran out, with its OVERRIDE_EXPIRED row; the promise resolves
   * once it is committed. Until then the row stays open in the database.
   */
  enqueueOverrideExpiry(expiry: OverrideExpiry): Promise<void> {
    const committed = new Promise<void>((resolve) => {
      this.writes.push({ kind: 'override_expiry', expiry, resolve, attempts: 0 });
    });
    this.runSoon();
    return committed;
  }

  /** Returns the audit rows not yet committed, oldest first. */
  pendingAuditEvents(): AuditEvent[] {
    const events: AuditEvent[] = [];
    for (const write of this.writes) {
      if (write.kind === 'audit') events.push(write.event);
    }
    return events;
  }

  /** Ids of the overrides whose end is queued but not yet committed. A restore must not apply them. */
  pendingOverrideExpiries(): Set<string> {
    const ids = new Set<string>();
    for (const write of this.writes) {
      if (write.kind === 'override_expiry') ids.add(write.expiry.overrideId);
    }
    return ids;
  }

  /** Waits up to `timeoutMs` for the queue to empty and keeps retrying afterwards; returns what is left. */
  async flush(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (this.writes.length > 0 && Date.now() < deadline) {
      this.wakeRetry?.();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return this.writes.length;
  }

  /** Waits up to `timeoutMs` for the queue to empty, then stops retrying; returns what is left. */
  async drain(timeoutMs: number): Promise<number> {
    await this.flush(timeoutMs);
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.wakeRetry?.();
    if (this.writes.length > 0) {
      this.journalPendingCommands();
      this.options.logger.critical(
        { pending: this.writes.map(describeWrite) },
        'shutting down with writes not committed to the database; emergency-stop commands are kept in the journal and apply at the next start, override ends and audit rows are lost',
      );
    }
    return this.writes.length;
  }

  /**
   * Starts writing once the caller's synchronous work is done, so that a system-wide stop switches
   * every station's outputs before the first station's write reaches the database.
   */
  private runSoon(): void {
    queueMicrotask(() => void this.run());
  }

  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.writes.length > 0 && !this.closed) {
        const head = this.writes[0];
        if (!head) break;
        const slow = head.kind === 'command' ? setTimeout(() => this.journalPendingCommands(), JOURNAL_AFTER_MS) : undefined;
        const written = await this.tryWrite(head);
        clearTimeout(slow);
        if (written) {
          this.writes.shift();
          head.resolve();
          if (head.kind === 'command') {
            this.notifyPendingChanged();
            this.journalPendingCommands();
          }
        } else {
          this.journalPendingCommands();
          await this.waitBeforeRetry(head.attempts);
        }
      }
    } finally {
      this.running = false;
    }
  }

  private async tryWrite(write: QueuedWrite): Promise<boolean> {
    write.attempts += 1;
    const label = describeWrite(write);
    const database = this.options.getDatabase();
    if (!database) {
      if (write.attempts === 1) this.options.logger.error({ write: label }, 'database not connected; the write stays queued and the station keeps its state');
      return false;
    }
    try {
      if (write.kind === 'command') await persistStopCommand(database, write.record);
      else if (write.kind === 'audit') await writeAuditEvent(database, write.event);
      else await storeOverrideExpiry(database, write.expiry);
      if (write.attempts > 1) {
        this.options.logger.info({ write: label, attempts: write.attempts }, `${label} written after retries`);
      }
      return true;
    } catch (error) {
      // Log the first failure and then every tenth, so an outage does not flood the log.
      if (write.attempts === 1 || write.attempts % 10 === 0) {
        this.options.logger.error({ err: error, write: label, attempts: write.attempts }, `writing ${label} failed; it stays queued and will be retried`);
      }
      return false;
    }
  }

  private waitBeforeRetry(attempts: number): Promise<void> {
    const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(attempts - 1, 10));
    return new Promise((resolve) => {
      this.wakeRetry = () => {
        clearTimeout(this.retryTimer);
        resolve();
      };
      this.retryTimer = setTimeout(resolve, delay);
    });
  }
}
