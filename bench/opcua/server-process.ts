import { fork, type ChildProcess } from 'node:child_process';
import { on, once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { BenchTarget } from './fixture.js';
import type { ParentMessage, ServerMessage } from './messages.js';

const START_TIMEOUT_MS = 60_000;
const REPLY_TIMEOUT_MS = 5_000;
const STOP_TIMEOUT_MS = 10_000;
const ENTRY_POINT = fileURLToPath(new URL('./server-main.ts', import.meta.url));

type Listening = Extract<ServerMessage, { type: 'listening' }>;

/**
 * One benchmark server in its own Node process. fork() passes on this process's execArgv, which
 * under tsx contains its loader, so the child can run the TypeScript entry point.
 */
export class OpcUaServerProcess {
  private constructor(
    readonly target: BenchTarget,
    readonly started: Listening,
    private readonly child: ChildProcess,
  ) {}

  static async start(target: BenchTarget): Promise<OpcUaServerProcess> {
    // node-opcua prints to stdout; that goes to stderr here, so stdout holds only the results.
    const child = fork(ENTRY_POINT, [target], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    child.stdout?.pipe(process.stderr);
    try {
      return new OpcUaServerProcess(target, await receive(child, 'listening', START_TIMEOUT_MS, `the ${target} server to listen`), child);
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
  }

  get pid(): number {
    // A child that reported listening has been spawned, so it has a pid.
    return this.child.pid!;
  }

  async stats(): Promise<Extract<ServerMessage, { type: 'stats' }>> {
    const reply = receive(this.child, 'stats', REPLY_TIMEOUT_MS, `statistics from the ${this.target} server`);
    this.child.send({ type: 'stats' } satisfies ParentMessage);
    return reply;
  }

  /** Asks the server to stop and waits for its exit; kills it when it does not exit in time. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const killer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    try {
      const exited = once(child, 'exit');
      if (child.connected) child.send({ type: 'stop' } satisfies ParentMessage);
      await exited;
    } finally {
      clearTimeout(killer);
    }
  }
}

/** Resolves with the next message of type `type`; rejects when the process exits or `timeoutMs` passes. */
async function receive<T extends ServerMessage['type']>(child: ChildProcess, type: T, timeoutMs: number, description: string): Promise<Extract<ServerMessage, { type: T }>> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`timed out after ${timeoutMs} ms waiting for ${description}`)), timeoutMs);
  const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
    controller.abort(new Error(`server process exited (code ${code}, signal ${signal}) while waiting for ${description}`));
  child.once('exit', onExit);
  try {
    for await (const [message] of on(child, 'message', { signal: controller.signal }) as AsyncIterable<[ServerMessage]>) {
      if (message.type === type) return message as Extract<ServerMessage, { type: T }>;
    }
    throw new Error(`the IPC channel closed while waiting for ${description}`);
  } catch (error) {
    throw controller.signal.aborted ? (controller.signal.reason as Error) : error;
  } finally {
    clearTimeout(timer);
    child.off('exit', onExit);
  }
}
