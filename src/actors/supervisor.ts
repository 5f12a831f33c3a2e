import { createActor, type Actor } from 'xstate';
import { isAdapterError, type ErrorCode } from '../errors.js';
import type { AdapterLogger } from '../log.js';
import { supervisorMachine, type ChildRecord, type SupervisorPolicy } from '../machines/supervisor.js';

/** A running child, as its `start` function returns it. */
export interface ChildHandle {
  stop(): Promise<void>;
  /** Registers the handler the child calls when it fails after a successful start. */
  onFailure?(handler: (error: Error) => void): void;
}

/**
 * A child specification, in OTP's terms. Children start in list order, each after the previous
 * one is running, and stop in reverse order.
 */
export interface ChildSpec {
  id: string;
  start(): Promise<ChildHandle>;
  /** How long `stop` may take before the supervisor stops waiting for it, in ms. Default 5000. */
  shutdownTimeoutMs?: number;
}

export const DEFAULT_POLICY: SupervisorPolicy = {
  intensity: 5,
  periodMs: 60_000,
  backoffInitialMs: 500,
  backoffMaxMs: 15_000,
};

/** Error codes that a restart cannot fix; the supervisor escalates them at once instead of retrying. */
const PERMANENT_ERRORS: ReadonlySet<ErrorCode> = new Set([
  'LISTEN_FAILED',
  'DATA_DIR_LOCKED',
  'CONFIG_INVALID',
  'MIGRATION_FAILED',
  'DATABASE_REJECTED',
  'EMBEDDED_DATABASE_FAILED',
]);

function isPermanent(error: unknown): boolean {
  return isAdapterError(error) && PERMANENT_ERRORS.has(error.code);
}

/** A restart or an escalation, as the supervisor logs it, for the audit log. */
export type SupervisionReport =
  | { kind: 'restart'; supervisorId: string; childId: string; restarts: number; delayMs: number; reason: string; at: Date }
  | { kind: 'escalation'; supervisorId: string; childId: string; failures: number; reason: string; at: Date };

export class SupervisorEscalation extends Error {
  constructor(
    readonly supervisorId: string,
    readonly childId: string,
    reason: string,
  ) {
    super(`supervisor ${supervisorId} gave up on child ${childId}: ${reason}`);
    this.name = 'SupervisorEscalation';
  }
}

/**
 * Runs children under the supervisor machine: it starts them, reports their failures to the
 * machine, and carries out the restarts and the escalation that the machine decides.
 */
export class Supervisor {
  readonly id: string;
  private readonly specs: ChildSpec[];
  private readonly logger: AdapterLogger;
  private readonly machine: Actor<typeof supervisorMachine>;
  private readonly handles = new Map<string, ChildHandle>();
  private readonly restartTimers = new Map<string, NodeJS.Timeout>();
  /** Bumped on every start attempt, so a failure reported by an old instance is ignored. */
  private readonly generations = new Map<string, number>();
  private readonly escalationListeners = new Set<(error: SupervisorEscalation) => void>();
  /** Callers of `start` waiting for a child's first successful start. */
  private readonly startWaiters = new Map<string, { resolve: () => void; reject: (error: Error) => void }>();
  private stopping = false;
  private escalation: SupervisorEscalation | undefined;

  constructor(options: {
    id: string;
    children: ChildSpec[];
    logger: AdapterLogger;
    policy?: Partial<SupervisorPolicy>;
    /** Called with each restart and escalation after it is logged. */
    onReport?: (report: SupervisionReport) => void;
  }) {
    this.id = options.id;
    this.specs = options.children;
    this.logger = options.logger.child({ component: 'supervisor', supervisor: options.id });
    this.machine = createActor(supervisorMachine, { input: { policy: { ...DEFAULT_POLICY, ...options.policy } } });

    this.machine.on('restartScheduled', (event) => {
      this.logger.warning(
        { child: event.childId, restarts: event.restarts, delay_ms: event.delayMs, reason: event.reason },
        `restarting child ${event.childId} in ${event.delayMs} ms`,
      );
      options.onReport?.({ kind: 'restart', supervisorId: this.id, childId: event.childId, restarts: event.restarts, delayMs: event.delayMs, reason: event.reason, at: new Date() });
      const timer = setTimeout(() => {
        this.restartTimers.delete(event.childId);
        void this.startChild(event.childId);
      }, event.delayMs);
      this.restartTimers.set(event.childId, timer);
    });
    this.machine.on('escalated', (event) => {
      this.escalation = new SupervisorEscalation(this.id, event.childId, event.reason);
      this.logger.critical({ child: event.childId, failures: event.failures, reason: event.reason }, 'restart intensity exceeded; escalating');
      options.onReport?.({ kind: 'escalation', supervisorId: this.id, childId: event.childId, failures: event.failures, reason: event.reason, at: new Date() });
      this.rejectStartWaiters(this.escalation);
      for (const listener of this.escalationListeners) listener(this.escalation);
    });
    this.machine.start();
  }

  /** Calls `listener` once if this supervisor gives up; its parent restarts or stops it. */
  onEscalation(listener: (error: SupervisorEscalation) => void): void {
    this.escalationListeners.add(listener);
  }

  /**
   * Starts every child in order. Resolves when all are running; rejects with the escalation when
   * a child keeps failing to start.
   */
  async start(): Promise<void> {
    for (const spec of this.specs) {
      await new Promise<void>((resolve, reject) => {
        this.startWaiters.set(spec.id, { resolve, reject });
        void this.startChild(spec.id);
      });
    }
  }

  /** Children's supervision records, for health reports. */
  describe(): { status: 'supervising' | 'escalated' | 'stopped'; children: Record<string, ChildRecord> } {
    const snapshot = this.machine.getSnapshot();
    return { status: snapshot.value as 'supervising' | 'escalated' | 'stopped', children: snapshot.context.children };
  }

  /** Stops every child in reverse start order, waiting for each up to its shutdown timeout. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.rejectStartWaiters(new Error(`supervisor ${this.id} stopped before all children started`));
    if (this.machine.getSnapshot().status === 'active') this.machine.send({ type: 'STOP' });
    for (const timer of this.restartTimers.values()) clearTimeout(timer);
    this.restartTimers.clear();

    for (const spec of [...this.specs].reverse()) {
      const handle = this.handles.get(spec.id);
      if (!handle) continue;
      this.handles.delete(spec.id);
      await this.stopHandle(spec, handle);
    }
    this.logger.info('all children stopped');
  }

  private rejectStartWaiters(error: Error): void {
    for (const waiter of this.startWaiters.values()) waiter.reject(error);
    this.startWaiters.clear();
  }

  private async startChild(childId: string): Promise<void> {
    const spec = this.specs.find((candidate) => candidate.id === childId);
    if (!spec) return;
    if (this.stopping || this.escalation) {
      this.rejectStartWaiters(this.escalation ?? new Error(`supervisor ${this.id} stopped before child ${childId} started`));
      return;
    }
    const generation = (this.generations.get(childId) ?? 0) + 1;
    this.generations.set(childId, generation);
    this.machine.send({ type: 'CHILD_STARTING', childId });

    let handle: ChildHandle;
    try {
      handle = await spec.start();
    } catch (error) {
      this.logger.error({ child: childId, err: error }, `child ${childId} failed to start`);
      this.reportFailure(childId, error);
      return;
    }
    if (this.stopping) {
      await this.stopHandle(spec, handle);
      this.rejectStartWaiters(new Error(`supervisor ${this.id} stopped before child ${childId} started`));
      return;
    }

    this.handles.set(childId, handle);
    handle.onFailure?.((error) => {
      if (this.generations.get(childId) !== generation || this.handles.get(childId) !== handle) return;
      this.logger.error({ child: childId, err: error }, `child ${childId} failed`);
      this.handles.delete(childId);
      void this.stopHandle(spec, handle);
      this.reportFailure(childId, error);
    });
    this.machine.send({ type: 'CHILD_STARTED', childId, at: Date.now() });
    this.logger.info({ child: childId, generation }, `child ${childId} running`);
    this.startWaiters.get(childId)?.resolve();
    this.startWaiters.delete(childId);
  }

  private reportFailure(childId: string, error: unknown): void {
    if (this.stopping || this.machine.getSnapshot().status !== 'active') return;
    const reason = error instanceof Error ? error.message : String(error);
    this.machine.send({ type: 'CHILD_FAILED', childId, reason, at: Date.now(), permanent: isPermanent(error) });
  }

  private async stopHandle(spec: ChildSpec, handle: ChildHandle): Promise<void> {
    const timeoutMs = spec.shutdownTimeoutMs ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        handle.stop(),
        new Promise<void>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`did not stop within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (error) {
      this.logger.error({ child: spec.id, err: error }, `stopping child ${spec.id} failed`);
    } finally {
      clearTimeout(timer);
    }
  }
}
