import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Supervisor, SupervisorEscalation, type ChildHandle, type ChildSpec, type SupervisionReport } from '../../src/actors/supervisor.js';
import { AdapterError, type ErrorCode } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import type { SupervisorPolicy } from '../../src/machines/supervisor.js';

const logger = createLogger({ level: 'silent' });

/** Short backoffs keep the real-timer tests fast: 10, 20, 40, 40 ms. */
const POLICY: SupervisorPolicy = { intensity: 3, periodMs: 60_000, backoffInitialMs: 10, backoffMaxMs: 40 };

interface FakeChildOptions {
  /** Errors thrown by the first start calls, in order. Later calls succeed. */
  startErrors?: Error[];
  /** Error thrown by every start call. */
  alwaysFailWith?: Error;
  /** Time each start call takes before it settles, in ms. */
  startDelayMs?: number;
  /** Never resolve `stop`, to exercise the shutdown timeout. */
  stopHangs?: boolean;
  shutdownTimeoutMs?: number;
}

/** A child whose start, stop and failure reports are recorded in a shared event log. */
class FakeChild {
  readonly spec: ChildSpec;
  startCalls = 0;
  stopCalls = 0;
  /** Failure handlers registered by the supervisor, one per successful start. */
  readonly failureHandlers: Array<(error: Error) => void> = [];

  constructor(
    readonly id: string,
    private readonly events: string[],
    private readonly options: FakeChildOptions = {},
  ) {
    this.spec = { id, start: () => this.start(), shutdownTimeoutMs: options.shutdownTimeoutMs };
  }

  /** Reports a failure through the handler of the latest running instance. */
  fail(error = new Error(`${this.id} connection lost`)): void {
    const handler = this.failureHandlers.at(-1);
    if (!handler) throw new Error(`${this.id} has no failure handler because it never started`);
    handler(error);
  }

  private async start(): Promise<ChildHandle> {
    this.startCalls += 1;
    const attempt = this.startCalls;
    this.events.push(`start ${this.id}`);
    if (this.options.startDelayMs) await delay(this.options.startDelayMs);

    const error = this.options.alwaysFailWith ?? this.options.startErrors?.[attempt - 1];
    if (error) {
      this.events.push(`start failed ${this.id}`);
      throw error;
    }
    this.events.push(`running ${this.id}`);
    return {
      stop: async () => {
        this.stopCalls += 1;
        this.events.push(`stop ${this.id}`);
        if (this.options.stopHangs) await new Promise<void>(() => undefined);
      },
      onFailure: (handler) => {
        this.failureHandlers.push(handler);
      },
    };
  }
}

const supervisors: Supervisor[] = [];

function createSupervisor(children: FakeChild[], policy: Partial<SupervisorPolicy> = {}): Supervisor {
  const supervisor = new Supervisor({ id: 'test', children: children.map((child) => child.spec), logger, policy: { ...POLICY, ...policy } });
  supervisors.push(supervisor);
  return supervisor;
}

/** Returns the rejection reason of `promise`. Fails the test when it resolves. */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

/** Settles to 'resolved', 'rejected' or, after `timeoutMs`, 'pending'. */
async function outcomeWithin(promise: Promise<unknown>, timeoutMs: number): Promise<'resolved' | 'rejected' | 'pending'> {
  return Promise.race([
    promise.then(
      () => 'resolved' as const,
      () => 'rejected' as const,
    ),
    delay(timeoutMs).then(() => 'pending' as const),
  ]);
}

beforeEach(() => {
  // xstate's development build warns when stop() sends STOP to a machine that already escalated.
  vi.spyOn(console, 'warn').mockImplementation(() => undefined);
});

afterEach(async () => {
  for (const supervisor of supervisors.splice(0)) await supervisor.stop();
  vi.restoreAllMocks();
});

describe('start order', () => {
  it('starts children in list order', async () => {
    const events: string[] = [];
    const children = ['database', 'stations', 'http'].map((id) => new FakeChild(id, events, { startDelayMs: 5 }));
    await createSupervisor(children).start();
    expect(events).toEqual(['start database', 'running database', 'start stations', 'running stations', 'start http', 'running http']);
  });

  it('marks every child running', async () => {
    const events: string[] = [];
    const supervisor = createSupervisor([new FakeChild('database', events), new FakeChild('http', events)]);
    await supervisor.start();
    expect(supervisor.describe()).toMatchObject({
      status: 'supervising',
      children: {
        database: { status: 'running', restarts: 0, lastError: null },
        http: { status: 'running', restarts: 0, lastError: null },
      },
    });
  });
});

describe('child start rejects', () => {
  it('retries until start succeeds', async () => {
    const events: string[] = [];
    const flaky = new FakeChild('database', events, { startErrors: [new Error('refused'), new Error('refused')] });
    const supervisor = createSupervisor([flaky]);
    await supervisor.start();
    expect(flaky.startCalls).toBe(3);
    expect(supervisor.describe().children.database).toMatchObject({ status: 'running', restarts: 2, lastError: 'refused' });
  });

  it('waits backoff between attempts', async () => {
    const events: string[] = [];
    const flaky = new FakeChild('database', events, { startErrors: [new Error('refused'), new Error('refused')] });
    const startedAt = performance.now();
    await createSupervisor([flaky]).start();
    // Backoffs of 10 ms and 20 ms, with 1 ms of slack for timer rounding.
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(29);
  });

  it('holds later children until retry succeeds', async () => {
    const events: string[] = [];
    const flaky = new FakeChild('database', events, { startErrors: [new Error('refused')] });
    const http = new FakeChild('http', events);
    await createSupervisor([flaky, http]).start();
    expect(events).toEqual(['start database', 'start failed database', 'start database', 'running database', 'start http', 'running http']);
  });

  it('rejects start after intensity', async () => {
    const events: string[] = [];
    const broken = new FakeChild('database', events, { alwaysFailWith: new Error('refused') });
    const supervisor = createSupervisor([broken]);
    const error = await rejectionOf(supervisor.start());
    expect(error).toBeInstanceOf(SupervisorEscalation);
    expect((error as SupervisorEscalation).supervisorId).toBe('test');
    expect((error as SupervisorEscalation).childId).toBe('database');
    expect((error as SupervisorEscalation).message).toBe('supervisor test gave up on child database: refused');
    expect(broken.startCalls).toBe(4);
    expect(supervisor.describe().status).toBe('escalated');
  });

  it('calls escalation listener once', async () => {
    const events: string[] = [];
    const supervisor = createSupervisor([new FakeChild('database', events, { alwaysFailWith: new Error('refused') })]);
    const listener = vi.fn();
    supervisor.onEscalation(listener);
    const error = await rejectionOf(supervisor.start());
    expect(listener).toHaveBeenCalledTimes(1);
    expect(listener).toHaveBeenCalledWith(error);
  });

  it('skips later children on escalation', async () => {
    const events: string[] = [];
    const http = new FakeChild('http', events);
    const supervisor = createSupervisor([new FakeChild('database', events, { alwaysFailWith: new Error('refused') }), http]);
    await rejectionOf(supervisor.start());
    expect(http.startCalls).toBe(0);
  });
});

describe('permanent start error', () => {
  const permanentCodes: ErrorCode[] = ['LISTEN_FAILED', 'CONFIG_INVALID', 'MIGRATION_FAILED'];

  it.each(permanentCodes)('%s escalates without retry', async (code) => {
    const events: string[] = [];
    const child = new FakeChild('modbus', events, { alwaysFailWith: new AdapterError(code, 'cannot listen on 127.0.0.1:502 (EACCES)') });
    const supervisor = createSupervisor([child]);
    const error = await rejectionOf(supervisor.start());
    expect(error).toBeInstanceOf(SupervisorEscalation);
    expect((error as SupervisorEscalation).message).toContain('cannot listen on 127.0.0.1:502 (EACCES)');
    await delay(60);
    expect(child.startCalls).toBe(1);
    expect(supervisor.describe().children.modbus?.restarts).toBe(0);
  });

  it('DATABASE_UNAVAILABLE is retried', async () => {
    const events: string[] = [];
    const child = new FakeChild('database', events, { startErrors: [new AdapterError('DATABASE_UNAVAILABLE', 'connection refused')] });
    await createSupervisor([child]).start();
    expect(child.startCalls).toBe(2);
  });
});

describe('running child fails', () => {
  it('stops and restarts child', async () => {
    const events: string[] = [];
    const child = new FakeChild('http', events);
    const supervisor = createSupervisor([child]);
    await supervisor.start();

    child.fail();
    expect(child.stopCalls).toBe(1);
    await vi.waitFor(() => expect(child.startCalls).toBe(2), { timeout: 1000, interval: 5 });
    await vi.waitFor(() => expect(supervisor.describe().children.http?.status).toBe('running'), { timeout: 1000, interval: 5 });
    expect(events).toEqual(['start http', 'running http', 'stop http', 'start http', 'running http']);
  });

  it('records restart and error', async () => {
    const events: string[] = [];
    const child = new FakeChild('http', events);
    const supervisor = createSupervisor([child]);
    await supervisor.start();

    child.fail(new Error('socket closed'));
    expect(supervisor.describe().children.http).toMatchObject({ status: 'restarting', restarts: 1, lastError: 'socket closed' });
  });

  it('ignores failure from replaced instance', async () => {
    const events: string[] = [];
    const child = new FakeChild('http', events);
    const supervisor = createSupervisor([child]);
    await supervisor.start();

    const firstHandler = child.failureHandlers[0];
    if (!firstHandler) throw new Error('child registered no failure handler');
    firstHandler(new Error('first failure'));
    await vi.waitFor(() => expect(child.failureHandlers).toHaveLength(2), { timeout: 1000, interval: 5 });

    firstHandler(new Error('late report from the old instance'));
    await delay(40);
    expect(child.startCalls).toBe(2);
    expect(child.stopCalls).toBe(1);
    expect(supervisor.describe().children.http?.restarts).toBe(1);
  });

  it('leaves sibling running', async () => {
    const events: string[] = [];
    const database = new FakeChild('database', events);
    const http = new FakeChild('http', events);
    const supervisor = createSupervisor([database, http]);
    await supervisor.start();

    http.fail();
    await vi.waitFor(() => expect(http.startCalls).toBe(2), { timeout: 1000, interval: 5 });
    expect(database.startCalls).toBe(1);
    expect(database.stopCalls).toBe(0);
  });

  it('escalates after too many failures', async () => {
    const events: string[] = [];
    const child = new FakeChild('http', events);
    const supervisor = createSupervisor([child], { intensity: 1 });
    const listener = vi.fn();
    supervisor.onEscalation(listener);
    await supervisor.start();

    child.fail(new Error('first'));
    await vi.waitFor(() => expect(child.failureHandlers).toHaveLength(2), { timeout: 1000, interval: 5 });
    child.fail(new Error('second'));

    expect(listener).toHaveBeenCalledTimes(1);
    const escalation = listener.mock.calls[0]?.[0] as unknown;
    expect(escalation).toBeInstanceOf(SupervisorEscalation);
    expect((escalation as SupervisorEscalation).childId).toBe('http');
    expect((escalation as SupervisorEscalation).message).toContain('second');
    expect(supervisor.describe().status).toBe('escalated');
  });

  it('does not restart after escalation', async () => {
    const events: string[] = [];
    const child = new FakeChild('http', events);
    const supervisor = createSupervisor([child], { intensity: 0 });
    await supervisor.start();

    child.fail();
    await delay(40);
    expect(child.startCalls).toBe(1);
    expect(child.stopCalls).toBe(1);
  });
});

describe('reports', () => {
  it('reports each restart and escalation', async () => {
    const reports: SupervisionReport[] = [];
    const child = new FakeChild('http', []);
    const supervisor = new Supervisor({ id: 'test', children: [child.spec], logger, policy: { ...POLICY, intensity: 1 }, onReport: (report) => reports.push(report) });
    supervisors.push(supervisor);
    await supervisor.start();

    child.fail(new Error('socket closed'));
    await vi.waitFor(() => expect(child.failureHandlers).toHaveLength(2), { timeout: 1000, interval: 5 });
    child.fail(new Error('socket closed again'));

    expect(reports).toHaveLength(2);
    expect(reports[0]).toMatchObject({ kind: 'restart', supervisorId: 'test', childId: 'http', restarts: 1, delayMs: 10, reason: 'socket closed' });
    expect(reports[1]).toMatchObject({ kind: 'escalation', supervisorId: 'test', childId: 'http', failures: 2, reason: 'socket closed again' });
    expect(reports[1]!.at.getTime()).toBeGreaterThanOrEqual(reports[0]!.at.getTime());
  });
});

describe('stop', () => {
  it('stops children in reverse order', async () => {
    const events: string[] = [];
    const children = ['database', 'stations', 'http'].map((id) => new FakeChild(id, events));
    const supervisor = createSupervisor(children);
    await supervisor.start();
    events.length = 0;

    await supervisor.stop();
    expect(events).toEqual(['stop http', 'stop stations', 'stop database']);
    expect(supervisor.describe().status).toBe('stopped');
  });

  it('stops each child once', async () => {
    const events: string[] = [];
    const child = new FakeChild('http', events);
    const supervisor = createSupervisor([child]);
    await supervisor.start();
    await supervisor.stop();
    await supervisor.stop();
    expect(child.stopCalls).toBe(1);
  });

  it('cancels pending restart', async () => {
    const events: string[] = [];
    const child = new FakeChild('http', events);
    const supervisor = createSupervisor([child], { backoffInitialMs: 30 });
    await supervisor.start();

    child.fail();
    await supervisor.stop();
    await delay(60);
    expect(child.startCalls).toBe(1);
  });

  it('gives up on hung stop', async () => {
    const events: string[] = [];
    const hung = new FakeChild('http', events, { stopHangs: true, shutdownTimeoutMs: 30 });
    const database = new FakeChild('database', events);
    const supervisor = createSupervisor([database, hung]);
    await supervisor.start();

    const startedAt = performance.now();
    await supervisor.stop();
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(29);
    expect(database.stopCalls).toBe(1);
  });

  it('stops children after escalation', async () => {
    const events: string[] = [];
    const database = new FakeChild('database', events);
    const http = new FakeChild('http', events, { alwaysFailWith: new AdapterError('LISTEN_FAILED', 'port in use') });
    const supervisor = createSupervisor([database, http]);
    await rejectionOf(supervisor.start());

    await supervisor.stop();
    expect(database.stopCalls).toBe(1);
  });

  it('stops child whose start finishes late', async () => {
    const events: string[] = [];
    const slow = new FakeChild('http', events, { startDelayMs: 30 });
    const supervisor = createSupervisor([slow]);
    void supervisor.start().catch(() => undefined);
    await delay(5);

    await supervisor.stop();
    await vi.waitFor(() => expect(slow.stopCalls).toBe(1), { timeout: 1000, interval: 5 });
  });

  it('settles start stopped mid-retry', async () => {
    const events: string[] = [];
    const broken = new FakeChild('database', events, { alwaysFailWith: new Error('refused') });
    const supervisor = createSupervisor([broken], { backoffInitialMs: 50, backoffMaxMs: 50 });
    const started = supervisor.start();
    await vi.waitFor(() => expect(broken.startCalls).toBe(1), { timeout: 1000, interval: 5 });

    await supervisor.stop();
    expect(await outcomeWithin(started, 200)).not.toBe('pending');
  });

  it('settles start stopped mid-start', async () => {
    const events: string[] = [];
    const slow = new FakeChild('http', events, { startDelayMs: 30 });
    const supervisor = createSupervisor([slow]);
    const started = supervisor.start();
    await delay(5);

    await supervisor.stop();
    expect(await outcomeWithin(started, 200)).not.toBe('pending');
  });
});

describe('describe', () => {
  it('shows restart counts per child', async () => {
    const events: string[] = [];
    const database = new FakeChild('database', events, { startErrors: [new Error('refused')] });
    const http = new FakeChild('http', events);
    const modbus = new FakeChild('modbus', events);
    const supervisor = createSupervisor([database, http, modbus]);
    await supervisor.start();

    http.fail(new Error('socket closed'));
    await vi.waitFor(() => expect(http.failureHandlers).toHaveLength(2), { timeout: 1000, interval: 5 });
    http.fail(new Error('socket closed again'));
    await vi.waitFor(() => expect(http.failureHandlers).toHaveLength(3), { timeout: 1000, interval: 5 });
    await vi.waitFor(() => expect(supervisor.describe().children.http?.status).toBe('running'), { timeout: 1000, interval: 5 });

    const { children } = supervisor.describe();
    expect(children.database?.restarts).toBe(1);
    expect(children.http?.restarts).toBe(2);
    expect(children.modbus?.restarts).toBe(0);
    expect(children.http?.lastError).toBe('socket closed again');
  });
});
