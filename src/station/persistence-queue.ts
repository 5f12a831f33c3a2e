import type { Database } from '../db/database.js';
import type { AdapterLogger } from '../log.js';
import { persistStopCommand, type StopCommandRecord } from './stop-store.js';

interface QueuedCommand {
  record: StopCommandRecord;
  resolve: () => void;
  attempts: number;
}

const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 5000;

/**
 * Writes a station's accepted stop, clear and resume commands to the database in acceptance
 * order, retrying each until it commits. A failed write never undoes a command: the station keeps
 * the state it entered, and the command stays at the head of the queue.
 */
export class PersistenceQueue {
  private readonly commands: QueuedCommand[] = [];
  private running = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private wakeRetry: (() => void) | undefined;
  private closed = false;

  constructor(
    private readonly options: {
      stationId: string;
      getDatabase: () => Database | null;
      logger: AdapterLogger;
      onPendingChanged: () => void;
    },
  ) {}

  get pendingCount(): number {
    return this.commands.length;
  }

  /** Queues a command; the promise resolves once it is committed. */
  enqueue(record: StopCommandRecord): Promise<void> {
    const committed = new Promise<void>((resolve) => {
      this.commands.push({ record, resolve, attempts: 0 });
    });
    this.options.onPendingChanged();
    void this.run();
    return committed;
  }

  /** Waits up to `timeoutMs` for the queue to empty, then stops retrying; returns what is left. */
  async drain(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (this.commands.length > 0 && Date.now() < deadline) {
      this.wakeRetry?.();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.wakeRetry?.();
    if (this.commands.length > 0) {
      this.options.logger.critical(
        { pending: this.commands.map((command) => command.record.kind) },
        'shutting down with emergency-stop commands not written to the database; the station restarts from the last stored state',
      );
    }
    return this.commands.length;
  }

  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.commands.length > 0 && !this.closed) {
        const head = this.commands[0];
        if (!head) break;
        if (await this.tryWrite(head)) {
          this.commands.shift();
          head.resolve();
          this.options.onPendingChanged();
        } else {
          await this.waitBeforeRetry(head.attempts);
        }
      }
    } finally {
      this.running = false;
    }
  }

  private async tryWrite(command: QueuedCommand): Promise<boolean> {
    command.attempts += 1;
    const database = this.options.getDatabase();
    if (!database) {
      if (command.attempts === 1) this.options.logger.error({ command: command.record.kind }, 'database not connected; emergency-stop command stays in force and will be written when it returns');
      return false;
    }
    try {
      await persistStopCommand(database, command.record);
      if (command.attempts > 1) {
        this.options.logger.info({ command: command.record.kind, attempts: command.attempts }, 'emergency-stop command written after retries');
      }
      return true;
    } catch (error) {
      // Log the first failure and then every tenth, so an outage does not flood the log.
      if (command.attempts === 1 || command.attempts % 10 === 0) {
        this.options.logger.error({ err: error, command: command.record.kind, attempts: command.attempts }, 'writing emergency-stop command failed; the command stays in force and will be retried');
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
