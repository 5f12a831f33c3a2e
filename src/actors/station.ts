import { createActor, type Actor } from 'xstate';
import type { Database } from '../db/database.js';
import { AdapterError } from '../errors.js';
import type { AdapterLogger } from '../log.js';
import { emergencyStopMachine, STOP_IMAGE_STATES, type EmergencyStopState } from '../machines/emergency-stop.js';
import type { AdapterConfig } from '../config/load.js';
import { computePumpOutput, guardLimits, rateLimitSeconds, type PumpLimits, type PumpMode } from '../station/pipeline.js';
import { readPlanState, type PlanState } from '../station/plan-store.js';
import { flagFutureTimestamps, PLAN_CLOCK_TOLERANCE_MS, type FutureTimestampedRows } from '../station/plan-clock.js';
import type { StationSnapshot } from '../station/snapshot.js';
import { readStopState, type CommandOrigin, type StopCommandKind } from '../station/stop-store.js';
import { PersistenceQueue } from '../station/persistence-queue.js';
import { AlertEvents } from '../station/alert-events.js';
import { evaluatePumpEpisodeConditions } from '../station/episode-conditions.js';
import { EpisodeRecorder } from '../station/episode-recorder.js';
import { readOpenEpisodes } from '../station/episode-store.js';
import { evaluateWatchdogConditions, selectWatchdogReason, type WatchdogReason } from '../station/watchdog.js';
import { clearStoredOverride, readOpenOverrides, storeOverride, type EndedOverride, type PumpOverride } from '../station/override-store.js';
import { validateOverride, type OverrideRequest } from '../station/override-rules.js';
import { waitAtMost } from '../station/wait.js';

type StationConfig = AdapterConfig['stations'][number];

export type { WatchdogReason } from '../station/watchdog.js';

export interface StationActorDependencies {
  /** The current database, or null while the database child is down. */
  getDatabase: () => Database | null;
  logger: AdapterLogger;
  /** Wall clock: plan intervals, override expiry, audit timestamps. */
  now?: () => Date;
  /** Monotonic clock in ms: rate limits and the database grace period, which a clock step must not move. */
  monotonicNow?: () => number;
  /** How long a command waits for its database commit before its result reports "pending". */
  persistTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** Tick interval while a pump moves toward its target at its rate limit. */
  rampIntervalMs?: number;
  /** Time without a successful database read before every pump goes to failsafe. Default 30 s. */
  databaseGraceMs?: number;
  /** Age of the newest plan row before the pumps go to failsafe; 0 turns the check off. */
  planStalenessMs?: number;
  /** How far a plan row's created_at may lie ahead of the wall clock and still rank by it. Default 60 s. */
  planClockToleranceMs?: number;
  /** Maximum duration of a manual override, in ms. Default 7 days. */
  maxOverrideMs?: number;
  /** The station's write queue; pass one that outlives this actor so a restart loses no command. */
  queue?: PersistenceQueue;
  alerts?: AlertEvents;
  /**
   * When true, no timers run and the caller drives the station with `tick()` and
   * `refreshPlans()`. For tests with an injected clock.
   */
  manualTicks?: boolean;
}

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
  targetSetpoint: number;
  mode: PumpMode;
  /** True when the previous evaluation left the pump short of its target, so the ramp timer runs. */
  ramping: boolean;
}

/** Upper bound of a timer delay; the heartbeat re-reads plans anyway, so later boundaries can wait. */
const MAX_BOUNDARY_DELAY_MS = 3_600_000;

/**
 * One pump station: its emergency-stop machine, its pumps' setpoint pipeline, and the snapshot
 * that every protocol image is encoded from. Commands switch the published outputs synchronously,
 * in the call that accepts them, and only then write to the database. An exception in the
 * station's own work halts it on the stop image and is reported to its supervisor.
 */
export class StationActor {
  readonly stationId: string;
  readonly unitId: number;
  readonly allowModbusEmergencyStop: boolean;

  private readonly config: StationConfig;
  private readonly dependencies: Required<Omit<StationActorDependencies, 'getDatabase' | 'logger' | 'queue' | 'alerts'>> &
    Pick<StationActorDependencies, 'getDatabase'>;
  private readonly logger: AdapterLogger;
  private readonly machine: Actor<typeof emergencyStopMachine>;
  private readonly pumps: PumpRuntime[];
  private readonly queue: PersistenceQueue;
  private readonly ownsQueue: boolean;
  private readonly unsubscribeQueue: () => void;
  private readonly alerts: AlertEvents;
  private readonly listeners = new Set<(snapshot: StationSnapshot) => void>();
  private readonly failureHandlers = new Set<(error: Error) => void>();
  private readonly episodes: EpisodeRecorder;

  private planValues = new Map<string, number>();
  private readonly overrides = new Map<string, PumpOverride>();
  private heartbeat = 0;
  private databaseUnreachable = false;
  private lastDatabaseContactMs: number;
  private lastPlanWriteMs: number | null = null;
  private nextPlanBoundary: Date | null = null;
  private watchdog: WatchdogReason | null = null;
  private lastComputedMs: number;
  private snapshot: StationSnapshot;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private rampTimer: NodeJS.Timeout | undefined;
  private boundaryTimer: NodeJS.Timeout | undefined;
  private planRefresh: Promise<void> | undefined;
  private planRefreshRequested = false;
  /** Set while marking future-stamped plan rows fails, so the failure is logged once, not every second. */
  private futureMarkFailing = false;
  private restoring: Promise<void> | undefined;
  /**
   * Set once the stored stop state, overrides and open episodes were read. A stop accepted before
   * that moves the machine out of `restoring`, so the machine state cannot tell.
   */
  private storedStateLoaded = false;
  private previousState: EmergencyStopState = 'restoring';
  /** Set once the actor failed or stopped; from then on it publishes only the stop image. */
  private halted = false;

  constructor(config: StationConfig, dependencies: StationActorDependencies) {
    this.config = config;
    this.stationId = config.id;
    this.unitId = config.unit_id;
    this.allowModbusEmergencyStop = config.allow_modbus_emergency_stop;
    this.logger = dependencies.logger.child({ component: 'station', station_id: config.id });
    this.dependencies = {
      getDatabase: dependencies.getDatabase,
      now: dependencies.now ?? (() => new Date()),
      monotonicNow: dependencies.monotonicNow ?? (() => performance.now()),
      persistTimeoutMs: dependencies.persistTimeoutMs ?? 3000,
      heartbeatIntervalMs: dependencies.heartbeatIntervalMs ?? 1000,
      rampIntervalMs: dependencies.rampIntervalMs ?? 100,
      databaseGraceMs: dependencies.databaseGraceMs ?? 30_000,
      planStalenessMs: dependencies.planStalenessMs ?? 0,
      planClockToleranceMs: dependencies.planClockToleranceMs ?? PLAN_CLOCK_TOLERANCE_MS,
      maxOverrideMs: dependencies.maxOverrideMs ?? 7 * 86_400_000,
      manualTicks: dependencies.manualTicks ?? false,
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
      targetSetpoint: pump.stop_setpoint,
      mode: 'stopped',
      ramping: false,
    }));
    this.ownsQueue = dependencies.queue === undefined;
    this.queue = dependencies.queue ?? new PersistenceQueue({ stationId: this.stationId, getDatabase: dependencies.getDatabase, logger: this.logger });
    this.unsubscribeQueue = this.queue.onPendingChanged(() => this.publish());
    this.alerts = dependencies.alerts ?? new AlertEvents(this.logger);
    this.episodes = new EpisodeRecorder({ stationId: this.stationId, queue: this.queue, alerts: this.alerts, logger: this.logger });

    this.machine = createActor(emergencyStopMachine);
    this.lastComputedMs = this.dependencies.monotonicNow();
    this.lastDatabaseContactMs = this.lastComputedMs;
    this.snapshot = this.buildSnapshot();
    this.machine.subscribe((machineSnapshot) => this.guarded(() => this.onStateChanged(machineSnapshot.value as EmergencyStopState)));
  }

  /** Starts publishing the stop image and the heartbeat; `restore` then reads the stored state. */
  start(): void {
    this.machine.start();
    this.recompute();
    if (!this.dependencies.manualTicks) {
      this.heartbeatTimer = setInterval(() => this.guarded(() => this.onHeartbeat()), this.dependencies.heartbeatIntervalMs);
    }
  }

  /**
   * Reads the stored emergency-stop state, the open overrides, the open audit episodes and the
   * active plan; until then the stop image stays. A command still waiting in the write queue wins
   * over the stored state, because the database does not contain it yet. Concurrent calls share
   * one read.
   */
  restore(): Promise<void> {
    if (this.storedStateLoaded || this.halted) return this.refreshPlans();
    this.restoring ??= this.readStoredState().finally(() => {
      this.restoring = undefined;
    });
    return this.restoring;
  }

  private async readStoredState(): Promise<void> {
    const database = this.requireDatabase('restore the emergency-stop state');
    // A command pending now may commit while the reads below run, after the stop state was read.
    // It then shows in neither the stored state nor the queue, so the state it implies is kept.
    const pendingBeforeRead = this.queue.impliedStopState();
    // Taken before the audit log is read, so that a row written in between is seen at least once.
    const pendingAudit = this.queue.pendingAuditEvents();
    const stored = await readStopState(database, this.stationId);
    const overrides = this.restoreOverrides(await readOpenOverrides(database, this.stationId));
    const openEpisodes = await readOpenEpisodes(database, this.stationId, pendingAudit);
    await this.readPlans();
    if (this.halted) return;
    this.episodes.restore(openEpisodes);
    this.storedStateLoaded = true;

    // A stop accepted while the reads ran is newer than anything stored, so the station keeps it.
    // The overrides and episodes read above apply all the same.
    if (this.state !== 'restoring') {
      this.logger.info({ stored_state: stored, state: this.state, overrides: overrides.length }, 'stored state read after a newer command; the station keeps its state');
      this.guarded(() => this.recompute());
      return;
    }
    const pending = this.queue.impliedStopState() ?? pendingBeforeRead;
    const state = pending ?? stored;
    this.machine.send({ type: 'RESTORED', state });
    this.logger.info({ stored_state: stored, pending_state: pending, state: this.state, overrides: overrides.length }, 'emergency-stop state restored from database');
  }

  /**
   * Applies the stored open overrides that have not run out. One whose end is still queued from an
   * earlier incarnation is skipped, and one that ran out while no actor watched is ended now, so
   * that a wall clock set back later cannot bring either back. Returns the applied overrides.
   */
  private restoreOverrides(open: PumpOverride[]): PumpOverride[] {
    const wall = this.dependencies.now();
    const ending = this.queue.pendingOverrideExpiries();
    this.overrides.clear();
    for (const override of open) {
      if (ending.has(override.overrideId)) continue;
      if (override.expiresAt.getTime() <= wall.getTime()) {
        this.endExpiredOverride(override);
        continue;
      }
      this.overrides.set(override.pumpId, override);
    }
    return [...this.overrides.values()];
  }

  /** Stops timers, switches to the stop image, and waits up to `timeoutMs` for its own queue. */
  async stop(timeoutMs = 5000): Promise<void> {
    this.halt();
    if (this.ownsQueue) await this.queue.drain(timeoutMs);
    this.unsubscribeQueue();
    this.machine.stop();
  }

  /** Registers the handler called once if the station's own work throws; the supervisor restarts it. */
  onFailure(handler: (error: Error) => void): void {
    this.failureHandlers.add(handler);
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

  /** Starts recovery from held: pumps ramp from the stop setpoint to their targets at their rate limits. */
  resume(origin: CommandOrigin): Promise<CommandResult> {
    if (this.state !== 'held') {
      throw new AdapterError(
        'INVALID_STATE_TRANSITION',
        `station ${this.stationId} cannot resume from state ${this.state}; clear the emergency stop first, resume applies only to a held station`,
        { details: { station_id: this.stationId, state: this.state } },
      );
    }
    const database = this.dependencies.getDatabase();
    const checksPassed = database !== null && !this.databaseUnreachable && !this.halted;
    if (!checksPassed) {
      throw new AdapterError('DATABASE_UNAVAILABLE', `station ${this.stationId} cannot resume while the database is unreachable; the station stays held`);
    }
    this.machine.send({ type: 'RESUME', checksPassed });
    this.logger.info({ actor: origin.actor, source: origin.source }, 'recovery started');
    return this.persist('resume', origin, true);
  }

  /**
   * Sets a manual override after validating it, storing it durably first: an override that the
   * database did not accept would vanish at the next restart. The pump moves to the value at its
   * rate limit.
   */
  async setOverride(pumpId: string, request: OverrideRequest, origin: CommandOrigin): Promise<PumpOverride> {
    const pump = this.requirePump(pumpId);
    const now = this.dependencies.now();
    validateOverride({ stationId: this.stationId, pumpId, limits: pump.limits, request, now, maxOverrideMs: this.dependencies.maxOverrideMs });
    const database = this.requireDatabase(`set an override on pump ${pumpId}`);

    const stored = await storeOverride(database, {
      stationId: this.stationId,
      pumpId,
      value: request.value,
      expiresAt: request.expiresAt,
      setAt: now,
      origin,
      limits: pump.limits,
    });
    this.overrides.set(pumpId, stored);
    this.logger.info({ pump_id: pumpId, value: stored.value, expires_at: stored.expiresAt.toISOString(), actor: origin.actor }, 'manual override set');
    this.guarded(() => {
      this.scheduleBoundary();
      this.recompute();
    });
    return stored;
  }

  /**
   * Ends a pump's manual override; the pump returns to its plan at its rate limit. An override
   * that already ran out is not cleared: the call fails with OVERRIDE_NOT_FOUND, and its message
   * gives the expiry time.
   */
  async clearOverride(pumpId: string, origin: CommandOrigin): Promise<string> {
    this.requirePump(pumpId);
    const database = this.requireDatabase(`clear the override of pump ${pumpId}`);
    const outcome = await clearStoredOverride(database, { stationId: this.stationId, pumpId, at: this.dependencies.now(), origin });
    this.overrides.delete(pumpId);
    this.guarded(() => this.recompute());
    if (!outcome.cleared) {
      throw new AdapterError('OVERRIDE_NOT_FOUND', `pump ${pumpId} at station ${this.stationId} has no active override to clear${describeLastOverride(outcome.lastEnded)}`, {
        details: {
          station_id: this.stationId,
          pump_id: pumpId,
          last_override: outcome.lastEnded
            ? { override_id: outcome.lastEnded.overrideId, end_reason: outcome.lastEnded.endReason, ended_at: outcome.lastEnded.endedAt.toISOString() }
            : null,
        },
      });
    }
    this.logger.info({ pump_id: pumpId, override_id: outcome.overrideId, actor: origin.actor }, 'manual override cleared');
    return outcome.overrideId;
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

  /** Runs the pipeline once; timers call it, and tests with an injected clock call it directly. */
  tick(): void {
    this.guarded(() => this.recompute());
  }

  private async readPlans(): Promise<void> {
    const at = this.guarded(() => this.dependencies.now());
    if (at === undefined) return;
    const database = this.dependencies.getDatabase();

    let read: PlanState | null = null;
    if (database) {
      try {
        read = await readPlanState(database, this.stationId, at, this.dependencies.planClockToleranceMs);
      } catch (error) {
        this.logger.error({ err: error }, 'reading the active plan failed; keeping the last plan values until the grace period ends');
      }
      if (read?.unmarkedFutureRows) read = await this.markFutureTimestamps(database, at, read);
    }

    this.guarded(() => {
      if (read) {
        this.planValues = read.values;
        // Rows without a write time that counts leave nothing to vouch for the plan, so it is stale.
        this.lastPlanWriteMs = read.lastWrite?.getTime() ?? (read.hasRows ? Number.NEGATIVE_INFINITY : null);
        this.nextPlanBoundary = read.nextBoundary;
        this.lastDatabaseContactMs = this.dependencies.monotonicNow();
      }
      this.setDatabaseUnreachable(read === null);
      this.scheduleBoundary();
      this.recompute();
    });
  }

  /**
   * Marks the plan rows stamped in the future, then re-reads the plan so that the marks count. If
   * marking fails, the first read is kept: it already ranks those rows by insertion order, and
   * they count as a write only once marked.
   */
  private async markFutureTimestamps(database: Database, at: Date, read: PlanState): Promise<PlanState> {
    const toleranceMs = this.dependencies.planClockToleranceMs;
    try {
      const marked = await flagFutureTimestamps(database, this.stationId, at, toleranceMs);
      this.futureMarkFailing = false;
      if (marked) this.guarded(() => this.reportFutureTimestamps(marked, at));
      return await readPlanState(database, this.stationId, at, toleranceMs);
    } catch (error) {
      if (!this.futureMarkFailing) {
        this.logger.error({ err: error }, 'marking plan rows stamped in the future failed; retrying at every plan read, and until then they rank by insertion order and do not count as a write');
      }
      this.futureMarkFailing = true;
      return read;
    }
  }

  private reportFutureTimestamps(marked: FutureTimestampedRows, at: Date): void {
    const aheadSeconds = Math.round((marked.latestCreatedAt.getTime() - at.getTime()) / 1000);
    const message =
      `station ${this.stationId}: ${marked.count} plan row(s) for ${marked.pumpIds.join(', ')} have a created_at up to ${aheadSeconds} s ahead of the adapter's clock; ` +
      'they rank by insertion order and count as written now; check the clocks of the optimizer, the database and the adapter';
    const details = { rows: marked.count, plan_ids: marked.planIds, pump_ids: marked.pumpIds, latest_created_at: marked.latestCreatedAt.toISOString(), ahead_seconds: aheadSeconds };
    this.logger.warning(details, message);
    this.alerts.raise({ type: 'PLAN_FUTURE_TIMESTAMP_DETECTED', severity: 'MEDIUM', stationId: this.stationId, pumpId: null, message, details, occurredAt: at });
  }

  private setDatabaseUnreachable(unreachable: boolean): void {
    if (unreachable !== this.databaseUnreachable) {
      this.logger[unreachable ? 'error' : 'info']({ database_unreachable: unreachable }, unreachable ? 'database unreachable' : 'database reachable again');
    }
    this.databaseUnreachable = unreachable;
  }

  /**
   * Re-reads the plan right after the next interval boundary or override expiry, so that a new
   * interval applies on time and not up to one heartbeat late.
   */
  private scheduleBoundary(): void {
    if (this.dependencies.manualTicks || this.halted) return;
    clearTimeout(this.boundaryTimer);
    this.boundaryTimer = undefined;

    const candidates = [this.nextPlanBoundary, ...[...this.overrides.values()].map((override) => override.expiresAt)];
    const times = candidates.filter((time): time is Date => time !== null).map((time) => time.getTime());
    if (times.length === 0) return;
    // One millisecond after the boundary, because intervals start inclusive and end exclusive.
    const delayMs = Math.min(MAX_BOUNDARY_DELAY_MS, Math.max(0, Math.min(...times) - this.dependencies.now().getTime() + 1));
    this.boundaryTimer = setTimeout(() => this.guarded(() => void this.refreshPlans()), delayMs);
  }

  private persist(kind: StopCommandKind, origin: CommandOrigin, changed: boolean): Promise<CommandResult> {
    const committed = this.queue.enqueue({ kind, stationId: this.stationId, origin, acceptedAt: this.safeNow() });
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
    const previous = this.previousState;
    this.previousState = next;
    // Publishing comes first: a log line is a blocking write to stdout, and a stop must not wait for it.
    this.recompute();
    this.logger.info({ previous_state: previous, state: next }, `station state ${previous} -> ${next}`);
  }

  private onHeartbeat(): void {
    this.heartbeat = (this.heartbeat + 1) % 65536;
    if (!this.storedStateLoaded) {
      // A restore that failed at start, or while the database was away, is retried here.
      if (this.dependencies.getDatabase()) {
        this.restore().catch((error: unknown) => this.logger.error({ err: error }, 'restoring the station state failed; the stop image stays and the next heartbeat retries'));
      } else {
        this.setDatabaseUnreachable(true);
      }
    } else {
      void this.refreshPlans();
    }
    this.recompute();
  }

  /** Runs every pump through the pipeline and publishes; ends recovery once every ramp is done. */
  private recompute(): void {
    if (this.halted) return;
    const state = this.state;
    const wall = this.dependencies.now();
    const monotonicMs = this.dependencies.monotonicNow();
    const elapsedSeconds = Math.max(0, (monotonicMs - this.lastComputedMs) / 1000);
    this.lastComputedMs = monotonicMs;

    this.expireOverrides(wall);
    const conditions = evaluateWatchdogConditions({
      monotonicMs,
      databaseUnreachable: this.databaseUnreachable,
      lastDatabaseContactMs: this.lastDatabaseContactMs,
      databaseGraceMs: this.dependencies.databaseGraceMs,
      wallMs: wall.getTime(),
      lastPlanWriteMs: this.lastPlanWriteMs,
      planStalenessMs: this.dependencies.planStalenessMs,
    });
    // Until the stored state is read, the station publishes the stop image whatever the watchdog
    // decides, so a database outage then is no failsafe episode, and no open episode is known yet.
    const stateKnown = this.storedStateLoaded && state !== 'restoring';
    if (stateKnown) this.setWatchdog(selectWatchdogReason(conditions), state);
    if (state === 'recovering' && this.watchdog === 'database_unreachable') {
      // Recovery requires a reachable database; losing it is a fault that latches a new stop.
      this.fault('database unreachable past the grace period during recovery');
      return;
    }

    // Episodes are audited only while the pumps can publish them: a stopped or held station
    // publishes its stop values, so an outage or a missing plan then changes no setpoint.
    const trackEpisodes = stateKnown && (state === 'operational' || state === 'recovering');
    if (trackEpisodes) this.episodes.trackStation(conditions, wall);

    let ramping = false;
    for (const pump of this.pumps) {
      const planValue = this.planValues.get(pump.pumpId) ?? null;
      const overrideValue = this.overrides.get(pump.pumpId)?.value ?? null;
      const output = computePumpOutput({
        planValue,
        overrideValue,
        watchdog: this.watchdog,
        stopState: state,
        limits: pump.limits,
        previousSetpoint: pump.setpoint,
        elapsedSeconds: rateLimitSeconds(elapsedSeconds, pump.ramping, this.dependencies.rampIntervalMs / 1000),
      });
      pump.setpoint = output.setpoint;
      pump.targetSetpoint = output.targetSetpoint;
      pump.mode = output.mode;
      pump.ramping = output.ramping;
      ramping ||= output.ramping;
      if (trackEpisodes) this.episodes.trackPump(pump, evaluatePumpEpisodeConditions({ planValue, overrideValue }, pump.limits), conditions, wall);
    }
    this.publish();
    this.scheduleRamp(ramping);

    if (state === 'recovering' && !ramping) {
      this.machine.send({ type: 'RECOVERY_COMPLETE' });
      void this.queue.enqueueAudit({ eventType: 'RECOVERY_COMPLETED', severity: 'LOW', source: 'system', stationId: this.stationId, occurredAt: wall });
    }
  }

  /** Runs the ramp tick only while some pump is still moving toward its target. */
  private scheduleRamp(ramping: boolean): void {
    if (this.dependencies.manualTicks) return;
    if (ramping && !this.rampTimer) {
      this.rampTimer = setInterval(() => this.guarded(() => this.recompute()), this.dependencies.rampIntervalMs);
    } else if (!ramping && this.rampTimer) {
      clearInterval(this.rampTimer);
      this.rampTimer = undefined;
    }
  }

  /**
   * Drops the overrides that ran out and queues the end of their rows. Once dropped, an override
   * stays gone even if the wall clock is set back before its expiry.
   */
  private expireOverrides(wall: Date): void {
    for (const override of this.overrides.values()) {
      if (override.expiresAt.getTime() > wall.getTime()) continue;
      this.overrides.delete(override.pumpId);
      this.logger.info({ pump_id: override.pumpId, override_id: override.overrideId }, 'manual override expired; the pump returns to its plan at its rate limit');
      this.endExpiredOverride(override);
    }
  }

  /** Queues the end of an override's row as expired, with its OVERRIDE_EXPIRED audit row. */
  private endExpiredOverride(override: PumpOverride): void {
    void this.queue.enqueueOverrideExpiry({
      stationId: this.stationId,
      pumpId: override.pumpId,
      overrideId: override.overrideId,
      value: override.value,
      expiresAt: override.expiresAt,
    });
  }

  /** Moves the station to stopped after a fault and stores that stop like any other. */
  private fault(reason: string): void {
    this.logger.critical({ reason }, 'station fault; emergency stop latched');
    this.alerts.raise({
      type: 'STATION_FAULT',
      severity: 'CRITICAL',
      stationId: this.stationId,
      pumpId: null,
      message: `station ${this.stationId}: ${reason}; emergency stop latched, clear and resume when the cause is fixed`,
      details: { reason },
      occurredAt: this.safeNow(),
    });
    this.machine.send({ type: 'FAULT', reason });
    void this.persist('activate', { source: 'system', actor: null, actorRole: null, sourceAddress: null, reason: `fault: ${reason}`, operator: null }, true);
  }

  /** Logs a change of the watchdog's verdict; the episode recorder audits each cause. */
  private setWatchdog(next: WatchdogReason | null, state: EmergencyStopState): void {
    if (next === this.watchdog) return;
    const previous = this.watchdog;
    this.watchdog = next;
    if (next && STOP_IMAGE_STATES.has(state)) {
      this.logger.error({ previous_reason: previous, reason: next, state }, `watchdog: ${next}; the station is ${state}, so its pumps keep their stop setpoints`);
    } else if (next) {
      this.logger.error({ previous_reason: previous, reason: next }, `watchdog: pumps switched to failsafe setpoints (${previous ?? 'none'} -> ${next})`);
    } else {
      this.logger.info({ previous_reason: previous }, `watchdog: ${previous ?? 'none'} cleared, pumps return to their targets at their rate limits`);
    }
  }

  /**
   * Runs the station's own work. When it throws, the actor halts on the stop image and reports to
   * its supervisor, which restarts the station from the state the database holds.
   */
  private guarded<T>(work: () => T): T | undefined {
    if (this.halted) return undefined;
    try {
      return work();
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      this.logger.error({ err: failure }, 'station actor failed; publishing the stop image until it is restarted');
      this.halt();
      for (const handler of this.failureHandlers) handler(failure);
      return undefined;
    }
  }

  /** Stops every timer and publishes the stop image for good. */
  private halt(): void {
    if (this.halted) return;
    this.halted = true;
    clearInterval(this.heartbeatTimer);
    clearInterval(this.rampTimer);
    clearTimeout(this.boundaryTimer);
    this.rampTimer = undefined;
    for (const pump of this.pumps) {
      pump.setpoint = guardLimits(pump.limits.stopSetpoint, pump.limits);
      pump.mode = 'stopped';
    }
    this.publish();
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
    // A halted actor publishes the stop image, as a station that has not yet restored its state.
    const state = this.halted ? 'restoring' : (this.machine.getSnapshot().value as EmergencyStopState);
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
      watchdog: this.watchdog,
      heartbeat: this.heartbeat,
      persistencePending: this.queue.pendingCount > 0,
      pumps: this.pumps.map((pump) => {
        const override = this.overrides.get(pump.pumpId);
        return {
          pumpId: pump.pumpId,
          name: pump.name,
          controlVariable: pump.controlVariable,
          unit: pump.unit,
          setpoint: pump.setpoint,
          mode: pump.mode,
          minimum: pump.limits.minimum,
          maximum: pump.limits.maximum,
          planValue: this.planValues.get(pump.pumpId) ?? null,
          targetSetpoint: pump.targetSetpoint,
          override: override ? { value: override.value, expiresAt: override.expiresAt, reason: override.reason, setBy: override.setBy } : null,
        };
      }),
      updatedAt: this.safeNow(),
    };
  }

  /** Returns the wall clock, or the system clock when the injected one throws, for timestamps on the failure path. */
  private safeNow(): Date {
    try {
      return this.dependencies.now();
    } catch {
      return new Date(); // the injected clock's error is reported by the work that called it
    }
  }

  private requirePump(pumpId: string): PumpRuntime {
    const pump = this.pumps.find((candidate) => candidate.pumpId === pumpId);
    if (!pump) {
      const known = this.pumps.map((candidate) => candidate.pumpId).join(', ');
      throw new AdapterError('PUMP_NOT_FOUND', `pump "${pumpId}" not found at station ${this.stationId}; its pumps are ${known}`, {
        details: { station_id: this.stationId, pump_id: pumpId },
      });
    }
    return pump;
  }

  private requireDatabase(purpose: string): Database {
    const database = this.dependencies.getDatabase();
    if (!database) {
      throw new AdapterError('DATABASE_UNAVAILABLE', `station ${this.stationId} cannot ${purpose}: the database is not connected`);
    }
    return database;
  }
}

/** Describes why a clear found nothing: the pump's last override and how it ended, or nothing. */
function describeLastOverride(last: EndedOverride | null): string {
  if (!last) return '';
  const ending = last.endReason === 'expired' ? 'expired' : `was ${last.endReason}`;
  return `; its last override ${last.overrideId} ${ending} at ${last.endedAt.toISOString()}`;
}
