import { createActor, type Actor } from 'xstate';
import type { Database } from '../db/database.js';
import { AdapterError } from '../errors.js';
import type { AdapterLogger } from '../log.js';
import { emergencyStopMachine, type EmergencyStopState } from '../machines/emergency-stop.js';
import type { AdapterConfig } from '../config/load.js';
import { computePumpOutput, type PumpLimits, type PumpMode } from '../station/pipeline.js';
import { readActivePlanValues, readLastPlanWrite } from '../station/plan-store.js';
import type { StationSnapshot } from '../station/snapshot.js';
import { readStopState, type CommandOrigin, type StopCommandKind } from '../station/stop-store.js';
import { PersistenceQueue } from '../station/persistence-queue.js';

type StationConfig = AdapterConfig['stations'][number];

export interface StationActorDependencies {
  /** The current database, or null while the database child is down. */
  getDatabase: () => Database | null;
  logger: AdapterLogger;
  now?: () => Date;
  /** How long a command waits for its database commit before its result reports "pending". */
  persistTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  rampIntervalMs?: number;
  /** Time without a successful database read before every pump goes to failsafe. Default 30 s. */
  databaseGraceMs?: number;
  /** Age of the newest plan row before the pumps go to failsafe; 0 turns the check off. */
  planStalenessMs?: number;
}

/** Cause for which the watchdog keeps the pumps at their failsafe setpoints. */
export type WatchdogReason = 'database_unreachable' | 'plan_stale';

export interface CommandResult {
  stationId: string;
  state: EmergencyStopState;
  /** False when the command was accepted in memory but its database write is still being retried. */
  persisted: boolean;
  /** False when the command changed nothing, such as a second stop of a stopped station. */
  changed: boolean;
}

interface PumpRuntime {
  pumpId: string;
  name: string | null;
  controlVariable: 'speed' | 'flow' | 'on_off';
  unit: string;
  limits: PumpLimits;
  setpoint: number;
  mode: PumpMode;
}

/**
 * One pump station: its emergency-stop machine, its pumps' setpoint pipeline, and the snapshot
 * that every protocol image is encoded from. Commands switch the published outputs synchronously,
 * in the call that accepts them, and only then write to the database.
 */
export class StationActor {
  readonly stationId: string;
  readonly unitId: number;
  readonly allowModbusEmergencyStop: boolean;

  private readonly config: StationConfig;
  private readonly dependencies: Required<Omit<StationActorDependencies, 'getDatabase' | 'logger'>> & Pick<StationActorDependencies, 'getDatabase'>;
  private readonly logger: AdapterLogger;
  private readonly machine: Actor<typeof emergencyStopMachine>;
  private readonly pumps: PumpRuntime[];
  private readonly queue: PersistenceQueue;
  private readonly listeners = new Set<(snapshot: StationSnapshot) => void>();

  private planValues = new Map<string, number>();
  private heartbeat = 0;
  private databaseUnreachable = false;
  private lastDatabaseContactMs: number;
  private lastPlanWriteMs: number | null = null;
  private watchdog: WatchdogReason | null = null;
  private lastComputedAt: number;
  private snapshot: StationSnapshot;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private rampTimer: NodeJS.Timeout | undefined;
  private planRefresh: Promise<void> | undefined;
  private planRefreshRequested = false;
  private previousState: EmergencyStopState = 'restoring';

  constructor(config: StationConfig, dependencies: StationActorDependencies) {
    this.config = config;
    this.stationId = config.id;
    this.unitId = config.unit_id;
    this.allowModbusEmergencyStop = config.allow_modbus_emergency_stop;
    this.logger = dependencies.logger.child({ component: 'station', station_id: config.id });
    this.dependencies = {
      getDatabase: dependencies.getDatabase,
      now: dependencies.now ?? (() => new Date()),
      persistTimeoutMs: dependencies.persistTimeoutMs ?? 3000,
      heartbeatIntervalMs: dependencies.heartbeatIntervalMs ?? 1000,
      rampIntervalMs: dependencies.rampIntervalMs ?? 100,
      databaseGraceMs: dependencies.databaseGraceMs ?? 30_000,
      planStalenessMs: dependencies.planStalenessMs ?? 0,
    };
    this.pumps = config.pumps.map((pump) => ({
      pumpId: pump.id,
      name: pump.name ?? null,
      controlVariable: pump.control_variable,
      unit: pump.unit,
      limits: {
        minimum: pump.minimum,
        maximum: pump.maximum,
        maxRatePerSecond: pump.max_rate_per_second,
        failsafeSetpoint: pump.failsafe_setpoint,
        stopSetpoint: pump.stop_setpoint,
        onOff: pump.control_variable === 'on_off',
      },
      setpoint: pump.stop_setpoint,
      mode: 'stopped',
    }));
    this.queue = new PersistenceQueue({
      stationId: this.stationId,
      getDatabase: dependencies.getDatabase,
      logger: this.logger,
      onPendingChanged: () => this.publish(),
    });

    this.machine = createActor(emergencyStopMachine);
    this.lastComputedAt = this.dependencies.now().getTime();
    this.lastDatabaseContactMs = this.lastComputedAt;
    this.snapshot = this.buildSnapshot();
    this.machine.subscribe((machineSnapshot) => this.onStateChanged(machineSnapshot.value as EmergencyStopState));
  }

  /** Starts publishing the stop image and the heartbeat; `restore` then reads the stored state. */
  start(): void {
    this.machine.start();
    this.recompute();
    this.heartbeatTimer = setInterval(() => this.onHeartbeat(), this.dependencies.heartbeatIntervalMs);
  }

  /** Reads the stored emergency-stop state and the active plan; until then the stop image stays. */
  async restore(): Promise<void> {
    const database = this.requireDatabase('restore the emergency-stop state');
    const state = await readStopState(database, this.stationId);
    this.machine.send({ type: 'RESTORED', state });
    this.logger.info({ restored_state: state, state: this.state }, 'emergency-stop state restored from database');
    await this.refreshPlans();
  }

  /** Stops timers and waits up to `timeoutMs` for pending database writes. */
  async stop(timeoutMs = 5000): Promise<void> {
    clearInterval(this.heartbeatTimer);
    clearInterval(this.rampTimer);
    await this.queue.drain(timeoutMs);
    this.machine.stop();
  }

  get state(): EmergencyStopState {
    return this.machine.getSnapshot().value as EmergencyStopState;
  }

  getSnapshot(): StationSnapshot {
    return this.snapshot;
  }

  /** Calls `listener` synchronously with every new snapshot; returns the unsubscribe function. */
  subscribe(listener: (snapshot: StationSnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Stops the station. The published outputs switch to the stop image before this returns its
   * promise, and the promise settles when the stop is committed or the persist timeout passes.
   * A repeated stop is idempotent, so it is audited but opens no new stop record.
   */
  activateEmergencyStop(origin: CommandOrigin): Promise<CommandResult> {
    const before = this.state;
    this.machine.send({ type: 'ACTIVATE_EMERGENCY_STOP' });
    const changed = this.state !== before;
    this.logger.warning({ actor: origin.actor, source: origin.source, reason: origin.reason, changed }, 'emergency stop activated');
    return this.persist('activate', origin, changed);
  }

  /** Releases the latch; the station becomes held and keeps its pumps at the stop setpoint. */
  clearEmergencyStop(origin: CommandOrigin): Promise<CommandResult> {
    if (this.state !== 'stopped') {
      throw new AdapterError(
        'INVALID_STATE_TRANSITION',
        `station ${this.stationId} has no latched emergency stop to clear (state ${this.state})`,
        { details: { station_id: this.stationId, state: this.state } },
      );
    }
    this.machine.send({ type: 'CLEAR_EMERGENCY_STOP' });
    this.logger.info({ actor: origin.actor, source: origin.source }, 'emergency stop cleared; station held until resumed');
    return this.persist('clear', origin, true);
  }

  /** Starts recovery from held: pumps ramp from the stop setpoint to the plan at their rate limits. */
  resume(origin: CommandOrigin): Promise<CommandResult> {
    if (this.state !== 'held') {
      throw new AdapterError(
        'INVALID_STATE_TRANSITION',
        `station ${this.stationId} cannot resume from state ${this.state}; clear the emergency stop first, resume applies only to a held station`,
        { details: { station_id: this.stationId, state: this.state } },
      );
    }
    const database = this.dependencies.getDatabase();
    const checksPassed = database !== null && !this.databaseUnreachable;
    if (!checksPassed) {
      throw new AdapterError('DATABASE_UNAVAILABLE', `station ${this.stationId} cannot resume while the database is unreachable; the station stays held`);
    }
    this.machine.send({ type: 'RESUME', checksPassed });
    this.logger.info({ actor: origin.actor, source: origin.source }, 'recovery started');
    return this.persist('resume', origin, true);
  }

  /** Re-reads the active plan rows. Concurrent calls coalesce into at most one extra read. */
  refreshPlans(): Promise<void> {
    if (this.planRefresh) {
      this.planRefreshRequested = true;
      return this.planRefresh;
    }
    this.planRefresh = this.readPlans().finally(() => {
      this.planRefresh = undefined;
      if (this.planRefreshRequested) {
        this.planRefreshRequested = false;
        void this.refreshPlans();
      }
    });
    return this.planRefresh;
  }

  private async readPlans(): Promise<void> {
    const database = this.dependencies.getDatabase();
    if (!database) {
      this.setDatabaseUnreachable(true);
      return;
    }
    try {
      this.planValues = await readActivePlanValues(database, this.stationId, this.dependencies.now());
      this.lastPlanWriteMs = (await readLastPlanWrite(database, this.stationId))?.getTime() ?? null;
      this.lastDatabaseContactMs = this.dependencies.now().getTime();
      this.setDatabaseUnreachable(false);
    } catch (error) {
      this.logger.error({ err: error }, 'reading the active plan failed; keeping the last plan values until the grace period ends');
      this.setDatabaseUnreachable(true);
    }
    this.recompute();
  }

  private setDatabaseUnreachable(unreachable: boolean): void {
    if (unreachable !== this.databaseUnreachable) {
      this.logger[unreachable ? 'error' : 'info']({ database_unreachable: unreachable }, unreachable ? 'database unreachable' : 'database reachable again');
    }
    this.databaseUnreachable = unreachable;
  }

  private persist(kind: StopCommandKind, origin: CommandOrigin, changed: boolean): Promise<CommandResult> {
    const committed = this.queue.enqueue({ kind, stationId: this.stationId, origin, acceptedAt: this.dependencies.now() });
    const stateAtAcceptance = this.state;
    return waitAtMost(committed, this.dependencies.persistTimeoutMs).then((persisted) => ({
      stationId: this.stationId,
      state: stateAtAcceptance,
      persisted,
      changed,
    }));
  }

  private onStateChanged(next: EmergencyStopState): void {
    if (next === this.previousState) return;
    this.logger.info({ previous_state: this.previousState, state: next }, `station state ${this.previousState} -> ${next}`);
    this.previousState = next;

    clearInterval(this.rampTimer);
    this.rampTimer = undefined;
    if (next === 'recovering') {
      this.rampTimer = setInterval(() => this.recompute(), this.dependencies.rampIntervalMs);
    }
    this.recompute();
  }

  private onHeartbeat(): void {
    this.heartbeat = (this.heartbeat + 1) % 65536;
    if (this.state !== 'restoring') void this.refreshPlans();
    this.recompute();
  }

  /**
   * Decides whether the pumps must leave the plan for their failsafe setpoints: the database has
   * been unreachable longer than the grace period, or the optimizer's newest row is too old.
   */
  private evaluateWatchdog(nowMs: number): WatchdogReason | null {
    if (this.databaseUnreachable && nowMs - this.lastDatabaseContactMs > this.dependencies.databaseGraceMs) {
      return 'database_unreachable';
    }
    const stalenessMs = this.dependencies.planStalenessMs;
    if (stalenessMs > 0 && this.lastPlanWriteMs !== null && nowMs - this.lastPlanWriteMs > stalenessMs) {
      return 'plan_stale';
    }
    return null;
  }

  private setWatchdog(next: WatchdogReason | null): void {
    if (next === this.watchdog) return;
    const previous = this.watchdog;
    this.watchdog = next;
    if (next) {
      this.logger.error({ reason: next }, `watchdog: pumps switched to failsafe setpoints (${next})`);
    } else {
      this.logger.info({ previous_reason: previous }, 'watchdog: cause cleared, pumps return to the plan');
    }
    // Audited once per episode, when it starts and when it ends, not on every tick. Queued so an
    // episode that starts because the database is down is still recorded once it returns.
    void this.queue.enqueueAudit({
      eventType: next ? 'FAILSAFE_ACTIVATED' : 'FAILSAFE_CLEARED',
      severity: next ? 'HIGH' : 'MEDIUM',
      source: 'system',
      stationId: this.stationId,
      details: { reason: next ?? previous },
      occurredAt: this.dependencies.now(),
    });
  }

  /** Runs every pump through the pipeline and publishes; ends recovery once every ramp is done. */
  private recompute(): void {
    const state = this.state;
    const nowMs = this.dependencies.now().getTime();
    const elapsedSeconds = Math.max(0, (nowMs - this.lastComputedAt) / 1000);
    this.lastComputedAt = nowMs;
    this.setWatchdog(this.evaluateWatchdog(nowMs));

    let ramping = false;
    for (const pump of this.pumps) {
      const output = computePumpOutput({
        planValue: this.watchdog ? null : (this.planValues.get(pump.pumpId) ?? null),
        stopState: state,
        limits: pump.limits,
        previousSetpoint: pump.setpoint,
        elapsedSeconds,
      });
      pump.setpoint = output.setpoint;
      pump.mode = output.mode;
      ramping ||= output.ramping;
    }
    this.publish();

    if (state === 'recovering' && !ramping) {
      this.machine.send({ type: 'RECOVERY_COMPLETE' });
      this.auditRecoveryCompleted();
    }
  }

  private auditRecoveryCompleted(): void {
    void this.queue.enqueueAudit({ eventType: 'RECOVERY_COMPLETED', severity: 'LOW', source: 'system', stationId: this.stationId, occurredAt: this.dependencies.now() });
  }

  private publish(): void {
    this.snapshot = this.buildSnapshot();
    for (const listener of this.listeners) {
      try {
        listener(this.snapshot);
      } catch (error) {
        // One failing surface must not keep the stop from reaching the others.
        this.logger.error({ err: error }, 'a snapshot listener threw');
      }
    }
  }

  private buildSnapshot(): StationSnapshot {
    const state = this.machine.getSnapshot().value as EmergencyStopState;
    return {
      stationId: this.stationId,
      name: this.config.name ?? null,
      unitId: this.unitId,
      stopState: state,
      emergencyStopActive: state === 'stopped' || state === 'restoring',
      recovering: state === 'recovering',
      failsafeActive: this.pumps.some((pump) => pump.mode === 'failsafe'),
      planStale: this.watchdog === 'plan_stale' || this.pumps.some((pump) => !this.planValues.has(pump.pumpId)),
      databaseUnreachable: this.databaseUnreachable,
      heartbeat: this.heartbeat,
      persistencePending: this.queue.pendingCount > 0,
      pumps: this.pumps.map((pump) => ({
        pumpId: pump.pumpId,
        name: pump.name,
        controlVariable: pump.controlVariable,
        unit: pump.unit,
        setpoint: pump.setpoint,
        mode: pump.mode,
        minimum: pump.limits.minimum,
        maximum: pump.limits.maximum,
        planValue: this.planValues.get(pump.pumpId) ?? null,
      })),
      updatedAt: this.dependencies.now(),
    };
  }

  private requireDatabase(purpose: string): Database {
    const database = this.dependencies.getDatabase();
    if (!database) {
      throw new AdapterError('DATABASE_UNAVAILABLE', `station ${this.stationId} cannot ${purpose}: the database is not connected`);
    }
    return database;
  }
}

/** Resolves true when `promise` settles within `timeoutMs`, false otherwise. */
async function waitAtMost(promise: Promise<void>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
