import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/paths.js';

const require = createRequire(import.meta.url);
const TSX_LOADER = require.resolve('tsx');

export interface RunningAdapter {
  process: ChildProcess;
  httpPort: number;
  modbusPort: number;
  opcuaPort: number;
  /** Every JSON log line printed so far. */
  logs: Array<Record<string, unknown>>;
  stderr: () => string;
  baseUrl: string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<number | null>;
  /** SIGKILL, as a crash or power cut would end the process. */
  kill(): Promise<void>;
}

export interface AdapterExit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Environment for a test adapter: ephemeral ports on loopback unless the test sets them, and
 * certificates in the data directory (or a fresh temporary folder), never in the working tree.
 */
export function adapterEnvironment(overrides: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const dataDir = overrides.CALEJO_DATA_DIR;
  const environment: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    HTTP_PORT: '0',
    MODBUS_PORT: '0',
    OPCUA_PORT: '0',
    CERTS_DIR: dataDir ? join(dataDir, 'certs') : mkdtempSync(join(tmpdir(), 'calejo-certs-')),
    BIND_ADDRESS: '127.0.0.1',
    LOG_LEVEL: 'info',
    CALEJO_ADMIN_PASSWORD: 'test-admin-password-1',
  };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete environment[key];
    else environment[key] = value;
  }
  return environment;
}

function spawnAdapter(environment: NodeJS.ProcessEnv, options: SpawnOptions = {}): ChildProcess {
  return spawn(process.execPath, ['--import', TSX_LOADER, join(PACKAGE_ROOT, 'src', 'main.ts')], {
    cwd: PACKAGE_ROOT,
    env: environment,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...options,
  });
}

/** Starts the adapter and resolves once it logs that it is running, with the bound ports. */
export async function startAdapter(environment: NodeJS.ProcessEnv, timeoutMs = 45_000): Promise<RunningAdapter> {
  const child = spawnAdapter(environment);
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  let buffered = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));

  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const ports = await new Promise<{ http: number; modbus: number; opcua: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`adapter did not start within ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.msg === 'Calejo Control Adapter running') {
          clearTimeout(timer);
          const bound = entry.ports as { http: number; modbus: number; opcua: number };
          resolve(bound);
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`adapter exited with code ${code} before it was running; stderr: ${stderr}`));
    });
  });

  return {
    process: child,
    httpPort: ports.http,
    modbusPort: ports.modbus,
    opcuaPort: ports.opcua,
    logs,
    stderr: () => stderr,
    baseUrl: `http://127.0.0.1:${ports.http}`,
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Runs the adapter expecting it to exit by itself, as it does on a start-up error. */
export function runAdapterToExit(environment: NodeJS.ProcessEnv, options: SpawnOptions = {}, timeoutMs = 45_000): Promise<AdapterExit> {
  const child = spawnAdapter(environment, options);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`adapter did not exit within ${timeoutMs} ms; stdout: ${stdout.slice(-2000)}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
