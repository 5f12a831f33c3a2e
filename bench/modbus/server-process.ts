import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export type ServerTarget = 'adapter' | 'raw';

export const SERVER_TARGETS: readonly ServerTarget[] = ['adapter', 'raw'];

export function isServerTarget(value: unknown): value is ServerTarget {
  return value === 'adapter' || value === 'raw';
}

/** Messages from the benchmark to a server process. */
export type ParentMessage = { type: 'cpu-usage' } | { type: 'stop' };

/** Messages from a server process to the benchmark. */
export type ServerMessage = { type: 'listening'; port: number } | { type: 'cpu-usage'; usage: NodeJS.CpuUsage };

const START_TIMEOUT_MS = 15_000;
const REPLY_TIMEOUT_MS = 5_000;
const STOP_TIMEOUT_MS = 5_000;

const ENTRY_POINT = fileURLToPath(new URL('./server-main.ts', import.meta.url));

/**
 * One benchmark server running in its own Node process. fork() passes on this process's
 * execArgv, which under tsx contains its loader, so the child can run the TypeScript entry point.
 */
export class ServerProcess {
  /** Exit code or signal of the process, such as "code 1" or "signal SIGTERM", or null while it runs. */
  private exitDescription: string | null = null;

  private constructor(
    readonly target: ServerTarget,
    readonly port: number,
    private readonly child: ChildProcess,
  ) {
    child.once('exit', (code, signal) => {
      this.exitDescription = signal === null ? `code ${code}` : `signal ${signal}`;
    });
  }

  static async start(target: ServerTarget): Promise<ServerProcess> {
    const child = fork(ENTRY_POINT, [target], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    try {
      const message = await receive(child, 'listening', START_TIMEOUT_MS, `the ${target} server process to listen`);
      return new ServerProcess(target, message.port, child);
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
  }

  get pid(): number {
    // A child that reported its port has been spawned, so it has a pid.
    return this.child.pid!;
  }

  /** Throws when the server process has exited, naming how it exited. */
  assertRunning(): void {
    if (this.exitDescription !== null) {
      throw new Error(`the ${this.target} server process exited with ${this.exitDescription} during the benchmark`);
    }
  }

  /** Returns the user and system CPU time that the server process has used so far, in µs. */
  async cpuUsage(): Promise<NodeJS.CpuUsage> {
    const reply = receive(this.child, 'cpu-usage', REPLY_TIMEOUT_MS, `CPU usage from the ${this.target} server process`);
    this.child.send({ type: 'cpu-usage' } satisfies ParentMessage);
    return (await reply).usage;
  }

  /** Asks the server to close and waits for its process to exit. It is killed if it does not exit in time. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;

    const exited = once(this.child, 'exit');
    if (this.child.connected) this.child.send({ type: 'stop' } satisfies ParentMessage);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }
}

/** Resolves with the next message of type `type` from `child`, or rejects when it exits or `timeoutMs` passes. */
function receive<T extends ServerMessage['type']>(
  child: ChildProcess,
  type: T,
  timeoutMs: number,
  description: string,
): Promise<Extract<ServerMessage, { type: T }>> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      child.off('error', onError);
    };
    const onMessage = (message: ServerMessage): void => {
      if (message.type !== type) return;
      cleanup();
      resolve(message as Extract<ServerMessage, { type: T }>);
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      cleanup();
      reject(new Error(`server process exited (code ${code}, signal ${signal}) while waiting for ${description}`));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(new Error(`server process failed while waiting for ${description}: ${error.message}`, { cause: error }));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${description}`));
    }, timeoutMs);

    child.on('message', onMessage);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}
