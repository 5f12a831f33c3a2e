import type { AdapterError } from '../errors.js';
import type { AdapterLogger } from '../log.js';
import type { Database } from './database.js';
import { describeDatabaseFailure } from './connection-errors.js';

/** One database outage, from the loss of the connection (or the adapter's start) to the next connection. */
export interface DatabaseOutage {
  /** Whether the adapter started without a connection or lost a working one. */
  beganWith: 'start' | 'connection_lost';
  since: Date;
  durationMs: number;
  failedAttempts: number;
  lastError: string | null;
}

/** The connector's state, for /status and /health. */
export interface DatabaseConnectionStatus {
  connected: boolean;
  /** Failed attempts since the last connection; 0 while connected. */
  failedAttempts: number;
  lastError: string | null;
  /** Start of the current outage; null while connected. */
  downSince: Date | null;
  /** When the next attempt starts; null while connected or while an attempt runs. */
  nextAttemptAt: Date | null;
}

export interface DatabaseConnectorOptions {
  /** Location of the data without credentials, such as "postgres 10.0.0.5:5432/calejo"; every log line names it. */
  target: string;
  open(): Promise<Database>;
  /** Runs after every open, before the connection is handed out: migrations and the like. */
  prepare(database: Database): Promise<void>;
  /** Returns the error that stops the adapter, or null when a later attempt may succeed. */
  classify(error: unknown): AdapterError | null;
  /** Called with each prepared connection, and with the outage that it ends, if there was one. */
  onConnected(database: Database, outage: DatabaseOutage | null): void;
  /** Called when the connection handed out is lost or closed. */
  onDisconnected(): void;
  logger: AdapterLogger;
  /** Delay after the first failed attempt, doubled after each further one. Default 500 ms. */
  initialDelayMs?: number;
  /** Maximum delay between attempts. Default 10 s. */
  maxDelayMs?: number;
}

/**
 * Keeps the adapter connected to its database. It connects and prepares the database, retries a
 * failure with exponential backoff for as long as it lasts, and reconnects after a lost
 * connection in the same way. A failure that `classify` marks as permanent ends the attempts
 * and goes to the `onFailure` handler, so that the supervisor stops the adapter.
 */
export class DatabaseConnector {
  private readonly logger: AdapterLogger;
  private readonly initialDelayMs: number;
  private readonly maxDelayMs: number;
  private database: Database | null = null;
  private attempts: Promise<void> = Promise.resolve();
  private stopped = false;
  private failure: AdapterError | null = null;
  private readonly failureHandlers = new Set<(error: AdapterError) => void>();
  private failedAttempts = 0;
  private lastError: string | null = null;
  /** Start of the current outage in epoch ms; null while connected. */
  private downSince: number | null = Date.now();
  /** True when the current outage began with a lost connection rather than at start. */
  private lost = false;
  private nextAttemptAt: number | null = null;
  private retryTimer: NodeJS.Timeout | undefined;
  private wakeRetry: (() => void) | undefined;
  private endFirstAttempt: (() => void) | undefined;

  constructor(private readonly options: DatabaseConnectorOptions) {
    this.logger = options.logger;
    this.initialDelayMs = options.initialDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 10_000;
  }

  /**
   * Starts connecting. Resolves when the first attempt has ended, or after `waitMs`, whichever
   * comes first, while the attempts go on. Rejects when the first attempt fails permanently.
   */
  async start(waitMs: number): Promise<void> {
    const firstAttempt = new Promise<void>((resolve) => (this.endFirstAttempt = resolve));
    this.attempts = this.connectUntilConnected();
    let timer: NodeJS.Timeout | undefined;
    const waited = Number.isFinite(waitMs) ? new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs))) : new Promise<void>(() => undefined);
    await Promise.race([firstAttempt, waited]);
    clearTimeout(timer);
    if (this.failure) throw this.failure;
  }

  /** Registers the handler for a permanent failure after `start` has resolved. */
  onFailure(handler: (error: AdapterError) => void): void {
    this.failureHandlers.add(handler);
    if (this.failure) handler(this.failure);
  }

  describe(): DatabaseConnectionStatus {
    return {
      connected: this.database !== null,
      failedAttempts: this.failedAttempts,
      lastError: this.lastError,
      downSince: this.downSince === null ? null : new Date(this.downSince),
      nextAttemptAt: this.nextAttemptAt === null ? null : new Date(this.nextAttemptAt),
    };
  }

  /** Ends the attempts, waits for one in progress, and closes the connection. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.wakeRetry?.();
    await this.attempts;
    const database = this.database;
    this.database = null;
    if (!database) return;
    this.options.onDisconnected();
    await database.close();
    this.logger.info({ database: this.options.target }, 'database closed');
  }

  private async connectUntilConnected(): Promise<void> {
    while (!this.stopped) {
      const outcome = await this.attempt();
      this.endFirstAttempt?.();
      this.endFirstAttempt = undefined;
      if (outcome !== 'retry') return;
      await this.waitBeforeRetry();
    }
  }

  private async attempt(): Promise<'connected' | 'retry' | 'ended'> {
    let database: Database;
    try {
      database = await this.options.open();
    } catch (error) {
      return this.attemptFailed(error);
    }

    // A loss during preparation fails this attempt; after the hand-out, it starts a reconnect.
    let lostWhilePreparing: Error | null = null;
    database.onConnectionLost((error) => {
      if (this.database === database) this.connectionLost(database, error);
      else lostWhilePreparing ??= error;
    });
    try {
      await this.options.prepare(database);
      if (lostWhilePreparing) throw lostWhilePreparing;
    } catch (error) {
      await database.close().catch(() => undefined); // the preparation's error is the one to report
      return this.attemptFailed(error);
    }
    if (this.stopped) {
      await database.close();
      return 'ended';
    }

    this.connected(database);
    return 'connected';
  }

  private attemptFailed(error: unknown): 'retry' | 'ended' {
    if (this.stopped) return 'ended';
    const permanent = this.options.classify(error);
    if (permanent) {
      this.failure = permanent;
      this.lastError = permanent.message;
      this.logger.error({ database: this.options.target, err: permanent }, `database failure that a retry cannot fix: ${permanent.message}`);
      for (const handler of this.failureHandlers) handler(permanent);
      return 'ended';
    }

    this.failedAttempts += 1;
    this.lastError = describeDatabaseFailure(error);
    const delayMs = Math.min(this.maxDelayMs, this.initialDelayMs * 2 ** Math.min(this.failedAttempts - 1, 20));
    this.nextAttemptAt = Date.now() + delayMs;
    // The message and code only: the whole error object of a driver may carry connection settings.
    this.logger.error(
      { database: this.options.target, attempt: this.failedAttempts, next_attempt_in_ms: delayMs, error: this.lastError, code: (error as NodeJS.ErrnoException).code },
      `connecting to ${this.options.target} failed (attempt ${this.failedAttempts}): ${this.lastError}; next attempt in ${delayMs} ms`,
    );
    return 'retry';
  }

  private waitBeforeRetry(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wakeRetry = resolve;
      this.retryTimer = setTimeout(resolve, Math.max(0, (this.nextAttemptAt ?? 0) - Date.now()));
    }).then(() => {
      this.wakeRetry = undefined;
      this.nextAttemptAt = null;
    });
  }

  private connected(database: Database): void {
    const now = Date.now();
    const since = this.downSince ?? now;
    const outage: DatabaseOutage | null =
      this.lost || this.failedAttempts > 0
        ? { beganWith: this.lost ? 'connection_lost' : 'start', since: new Date(since), durationMs: now - since, failedAttempts: this.failedAttempts, lastError: this.lastError }
        : null;
    this.database = database;
    this.failedAttempts = 0;
    this.lastError = null;
    this.downSince = null;
    this.lost = false;
    if (outage) {
      this.logger.info(
        { database: this.options.target, failed_attempts: outage.failedAttempts, outage_ms: outage.durationMs, down_since: outage.since.toISOString() },
        `${this.options.target} reachable again after ${outage.failedAttempts} failed attempts in ${Math.round(outage.durationMs / 1000)} s`,
      );
    }
    this.options.onConnected(database, outage);
  }

  private connectionLost(database: Database, error: Error): void {
    if (this.stopped || this.database !== database) return;
    this.database = null;
    this.lost = true;
    this.downSince = Date.now();
    this.lastError = describeDatabaseFailure(error);
    this.logger.error({ database: this.options.target, error: this.lastError }, `connection to ${this.options.target} lost: ${this.lastError}; reconnecting`);
    this.options.onDisconnected();
    void database.close().catch(() => undefined); // the connection is gone already; the loss is what matters
    this.attempts = this.connectUntilConnected();
  }
}
