import type { Queryable } from '../db/database.js';
import type { AdapterLogger } from '../log.js';
import { LogThrottle } from './log-throttle.js';

/** One measured value from SCADA, as a row of pump_feedback. */
export interface FeedbackRow {
  stationId: string;
  /** Null for a station value such as the wet-well level. */
  pumpId: string | null;
  variable: string;
  value: number;
  receivedAt: Date;
  sourceAddress: string | null;
  /** Modbus table and address, such as "holding 200", or "opcua". */
  register: string;
  /** The protocol the value came in over; Modbus when not given. */
  source?: 'modbus' | 'opcua';
}

export interface FeedbackRecorderOptions {
  /** The current database, or null while it is down. */
  getDatabase: () => Queryable | null;
  logger: AdapterLogger;
  /** Buffered rows are inserted at least this often. */
  flushIntervalMs: number;
  /** Rows per INSERT; a full batch is inserted without waiting for the interval. */
  batchRows: number;
  /** Rows kept while the database is unreachable. Beyond it the oldest rows are dropped and counted. */
  maxBufferedRows: number;
}

/** Delay before the first retry of a failed insert; it doubles per failure up to MAX_RETRY_MS. */
const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 5000;
const WARNING_INTERVAL_MS = 10_000;
const COLUMNS_PER_ROW = 8;

/**
 * Stores feedback from SCADA in pump_feedback in batches, so that a client writing many values
 * per second costs one INSERT per interval instead of one per value. Memory stays bounded during
 * an outage: past maxBufferedRows the oldest rows are dropped, and the count is logged.
 */
export class FeedbackRecorder {
  private rows: FeedbackRow[] = [];
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | null = null;
  private retryDelayMs = 0;
  private retryAt = 0;
  private droppedSinceWarning = 0;
  private totalDropped = 0;
  private readonly throttle = new LogThrottle(WARNING_INTERVAL_MS);
  private readonly logger: AdapterLogger;

  constructor(private readonly options: FeedbackRecorderOptions) {
    this.logger = options.logger.child({ component: 'modbus' });
  }

  /** Starts the interval timer. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.flush(), this.options.flushIntervalMs);
    this.timer.unref();
  }

  /** Rows waiting for their INSERT, including the batch being inserted. */
  get bufferedCount(): number {
    return this.rows.length + this.inFlight;
  }

  get droppedCount(): number {
    return this.totalDropped;
  }

  /** Buffers rows. Database problems do not throw here, because the write happens later and only delays the rows. */
  record(rows: readonly FeedbackRow[]): void {
    for (const row of rows) this.rows.push(row);

    const excess = this.bufferedCount - this.options.maxBufferedRows;
    if (excess > 0) {
      const dropped = Math.min(excess, this.rows.length);
      this.rows.splice(0, dropped);
      this.droppedSinceWarning += dropped;
      this.totalDropped += dropped;
      this.warnDropped();
    }

    if (this.rows.length >= this.options.batchRows) void this.flush(true);
  }

  /**
   * Inserts buffered rows, one batch after another, until none are left (with `fullBatchesOnly`,
   * until less than a batch is left) or an insert fails.
   */
  flush(fullBatchesOnly = false): Promise<void> {
    if (this.flushing) return this.flushing;
    this.flushing = this.insertBatches(fullBatchesOnly).finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  /** Stops the timer and tries to insert what is left, for at most `timeoutMs`. */
  async stop(timeoutMs = 3000): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    this.retryAt = 0;
    const deadline = Date.now() + timeoutMs;
    while (this.rows.length > 0 && Date.now() < deadline) {
      await this.flush();
      if (this.rows.length > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(100, Math.max(0, deadline - Date.now()))));
    }
    if (this.bufferedCount > 0) {
      this.logger.error({ rows: this.bufferedCount }, 'feedback rows not stored because the database stayed unavailable at shutdown');
    }
  }

  private async insertBatches(fullBatchesOnly: boolean): Promise<void> {
    const minimumRows = fullBatchesOnly ? this.options.batchRows : 1;
    while (this.rows.length >= minimumRows && Date.now() >= this.retryAt) {
      const database = this.options.getDatabase();
      if (!database) {
        this.scheduleRetry(new Error('the database is not connected'));
        return;
      }

      const batch = this.rows.splice(0, this.options.batchRows);
      this.inFlight = batch.length;
      try {
        await insertFeedback(database, batch);
        this.retryDelayMs = 0;
      } catch (error) {
        if (isRowError(error)) {
          // Retrying rows that the database rejects for their content would block every later row.
          this.logger.error({ err: error, rows: batch.length }, 'feedback rows dropped because the database rejected them');
          this.totalDropped += batch.length;
          continue;
        }
        this.rows.unshift(...batch);
        this.scheduleRetry(error);
        return;
      } finally {
        this.inFlight = 0;
      }
    }
  }

  private scheduleRetry(error: unknown): void {
    this.retryDelayMs = Math.min(MAX_RETRY_MS, this.retryDelayMs === 0 ? FIRST_RETRY_MS : this.retryDelayMs * 2);
    this.retryAt = Date.now() + this.retryDelayMs;
    const suppressed = this.throttle.admit('insert-failed');
    if (suppressed !== null) {
      this.logger.error(
        { err: error, buffered_rows: this.bufferedCount, retry_ms: this.retryDelayMs, suppressed_repeats: suppressed },
        'storing feedback rows failed; they stay buffered and the insert is retried',
      );
    }
  }

  private warnDropped(): void {
    if (this.throttle.admit('rows-dropped') === null) return;
    this.logger.warning(
      { dropped_rows: this.droppedSinceWarning, total_dropped_rows: this.totalDropped, max_buffered_rows: this.options.maxBufferedRows },
      'feedback buffer full while the database is unavailable, so the oldest rows were dropped',
    );
    this.droppedSinceWarning = 0;
  }
}

/** Inserts rows with one multi-row INSERT. */
async function insertFeedback(database: Queryable, rows: readonly FeedbackRow[]): Promise<void> {
  const values: unknown[] = [];
  const tuples = rows.map((row, index) => {
    values.push(row.stationId, row.pumpId, row.variable, row.value, row.receivedAt, row.source ?? 'modbus', row.sourceAddress, row.register);
    const base = index * COLUMNS_PER_ROW;
    return `(${Array.from({ length: COLUMNS_PER_ROW }, (_, column) => `$${base + column + 1}`).join(', ')})`;
  });
  await database.query(
    `INSERT INTO pump_feedback (station_id, pump_id, variable, value, received_at, source, source_address, register)
     VALUES ${tuples.join(', ')}`,
    values,
  );
}

/** Integrity (23xxx) and data (22xxx) errors come from the rows themselves, so a retry cannot help. */
function isRowError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('23') || code.startsWith('22'));
}
