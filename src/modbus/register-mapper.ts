import type { AdapterLogger } from '../log.js';
import type { StationSnapshot } from '../station/snapshot.js';
import type { MappingPool } from '../workers/mapping-pool.js';
import { encodeInline, type PreparedUpdate, type RegisterImage } from './register-image.js';

export interface RegisterMapperOptions {
  image: RegisterImage;
  logger: AdapterLogger;
  /**
   * Registers per batch from which the batch is encoded in the worker pool. Below it, encoding
   * inline is cheaper than handing the batch to a thread; docs/benchmarks.md has the figures.
   */
  workerThreshold: number;
  /** Creates the pool on first use, so that a map that never reaches the threshold starts no thread. */
  createPool: () => MappingPool;
}

/**
 * Keeps the register image current with the station snapshots. A station whose map publishes
 * fewer registers than workerThreshold is encoded inline, in the call that publishes its
 * snapshot. Larger maps are collected until the end of the event-loop turn and encoded in one
 * worker task.
 *
 * A snapshot that changes the emergency-stop state is always encoded inline, so the stop image
 * reaches Modbus in the turn that accepted the stop, whatever the map size. The image discards a
 * worker result older than what it already shows, so a late result cannot undo that stop.
 */
export class RegisterMapper {
  private readonly pending = new Map<number, PreparedUpdate>();
  private readonly lastStopState = new Map<number, string>();
  private readonly logger: AdapterLogger;
  private pool: MappingPool | null = null;
  private flushScheduled = false;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly options: RegisterMapperOptions) {
    this.logger = options.logger.child({ component: 'modbus' });
  }

  publish(snapshot: StationSnapshot): void {
    const update = this.options.image.prepare(snapshot);
    const stopStateChanged = this.lastStopState.get(snapshot.unitId) !== snapshot.stopState;
    this.lastStopState.set(snapshot.unitId, snapshot.stopState);

    if (stopStateChanged || update.prepared.mapping.sources.length < this.options.workerThreshold) {
      this.pending.delete(snapshot.unitId);
      const { holding, input } = encodeInline(update);
      this.options.image.apply(update, holding, input);
      return;
    }

    this.pending.set(snapshot.unitId, update);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Resolves once every worker task started so far has been applied. */
  async settle(): Promise<void> {
    while (this.flushScheduled || this.inFlight.size > 0) {
      await Promise.all([...this.inFlight]);
      if (this.flushScheduled) await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async close(): Promise<void> {
    await this.settle();
    await this.pool?.close();
    this.pool = null;
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = [...this.pending.values()];
    this.pending.clear();
    if (batch.length === 0) return;

    this.pool ??= this.options.createPool();
    const task = this.pool
      .run({ stations: batch.map((update) => ({ program: update.prepared.mapping.program, values: update.values })) })
      .then((result) => {
        batch.forEach((update, index) => {
          const encoded = result.stations[index];
          if (encoded) this.options.image.apply(update, Buffer.from(encoded.holding.buffer, encoded.holding.byteOffset, encoded.holding.byteLength), Buffer.from(encoded.input.buffer, encoded.input.byteOffset, encoded.input.byteLength));
        });
      })
      .catch((error: unknown) => {
        // The image keeps its previous registers; encoding inline keeps the snapshot from being lost.
        this.logger.error({ err: error, unit_ids: batch.map((update) => update.unitId) }, 'register mapping in the worker pool failed, so the batch is encoded inline');
        for (const update of batch) {
          const { holding, input } = encodeInline(update);
          this.options.image.apply(update, holding, input);
        }
      });
    this.inFlight.add(task);
    void task.finally(() => this.inFlight.delete(task));
  }
}
