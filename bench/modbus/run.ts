/**
 * Modbus TCP throughput and latency of the adapter's ModbusTcpServer against a minimal node:net
 * server that sends the same response bytes. Run it with `npm run bench:modbus`, and see
 * `--help` for the options. Results go to stdout as Markdown tables, progress to stderr.
 *
 * Each server runs in its own child process and the load generator runs in this process. In one
 * process, a client callback and a server callback could never run at the same time, so every
 * request's latency would also contain the client's work and the figures would measure the
 * client as much as the server. With separate processes on a machine with at least two cores,
 * client and server each get a core and the kernel's loopback work shares the two. Only one
 * server is under load at a time, and the other one's process stays idle.
 *
 * On Linux the load generator is pinned to the first allowed CPU and the servers to the second.
 * Left to itself, the scheduler sometimes ran client and server on the same CPU for a whole case,
 * judging by their CPU figures, and that changes the figures several-fold. With this benchmark
 * on a 2-vCPU Xeon VM (Node 20.20), one connection reached about 12,000 requests per second
 * across CPUs and 66,000 to 84,000 on one CPU. The likely reason is that a wake-up on the same
 * CPU is a plain context switch, while one across CPUs needs an inter-processor interrupt,
 * often to an idle CPU.
 */
import { availableParallelism, cpus, totalmem } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { allowedCpus, canPinProcesses, pinProcess } from './cpu-affinity.js';
import { BENCH_REGISTER_COUNTS, prepareExchange, type BenchRegisterCount } from './fixture.js';
import { ClosedLoopLoad } from './load.js';
import { otherProcessesCpuPercent, sampleProcessCpu } from './other-cpu.js';
import { formatDisturbanceLines, formatGoalLines, formatRatioTable, formatResultsTable, type CaseResult } from './report.js';
import { SERVER_TARGETS, ServerProcess } from './server-process.js';

const CONNECTION_COUNTS = [1, 8] as const;

const DEFAULT_DURATION_SECONDS = 3;
const DEFAULT_WARMUP_SECONDS = 1;
/** Upper limit of --duration and --warmup, so that a typo cannot start a run of hours. */
const MAX_PHASE_SECONDS = 600;

const HELP = `Usage: npm run bench:modbus -- [--duration SECONDS] [--warmup SECONDS] [--no-pinning]

Measures FC3 reads of ${BENCH_REGISTER_COUNTS.join(' and ')} registers over ${CONNECTION_COUNTS.join(' and ')} connections
against the adapter's Modbus server and a raw node:net server, on 127.0.0.1.

  --duration SECONDS  measurement time per case (default ${DEFAULT_DURATION_SECONDS}, or MODBUS_BENCH_DURATION_S)
  --warmup SECONDS    unrecorded load time per case, and per server and register count before the
                      first case (default ${DEFAULT_WARMUP_SECONDS}, or MODBUS_BENCH_WARMUP_S)
  --no-pinning        leave CPU placement to the scheduler (default: client on the first allowed CPU,
                      servers on the second, with taskset)
  --help              print this text`;

interface BenchOptions {
  durationSeconds: number;
  warmupSeconds: number;
  pinning: boolean;
}

class UsageError extends Error {}

function parseSeconds(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined || text === '') return fallback;
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > MAX_PHASE_SECONDS) {
    throw new UsageError(`invalid ${name} "${text}": use a number of seconds above 0 and at most ${MAX_PHASE_SECONDS}`);
  }
  return seconds;
}

/** Reads the options from the command line, falling back to the environment and then the defaults. */
function parseOptions(): BenchOptions | null {
  let values: { duration?: string; warmup?: string; 'no-pinning'?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: { duration: { type: 'string' }, warmup: { type: 'string' }, 'no-pinning': { type: 'boolean' }, help: { type: 'boolean' } },
      strict: true,
    }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n\n${HELP}`);
  }
  if (values.help) return null;

  return {
    durationSeconds: parseSeconds('--duration', values.duration ?? process.env.MODBUS_BENCH_DURATION_S, DEFAULT_DURATION_SECONDS),
    warmupSeconds: parseSeconds('--warmup', values.warmup ?? process.env.MODBUS_BENCH_WARMUP_S, DEFAULT_WARMUP_SECONDS),
    pinning: !values['no-pinning'],
  };
}

function cpuPercent(start: NodeJS.CpuUsage, end: NodeJS.CpuUsage, seconds: number): number {
  const microseconds = end.user - start.user + (end.system - start.system);
  return (microseconds / 1e6 / seconds) * 100;
}

/**
 * Runs one case and reports a server that exited as such, instead of as the connection error
 * that its exit causes.
 */
async function runCase(
  servers: readonly ServerProcess[],
  server: ServerProcess,
  registerCount: BenchRegisterCount,
  connections: number,
  options: BenchOptions,
): Promise<CaseResult> {
  server.assertRunning();
  try {
    return await measureCase(servers, server, registerCount, connections, options);
  } catch (error) {
    server.assertRunning();
    throw error;
  }
}

/** Runs warmup and measurement of one case on fresh connections, and closes them afterwards. */
async function measureCase(
  servers: readonly ServerProcess[],
  server: ServerProcess,
  registerCount: BenchRegisterCount,
  connections: number,
  options: BenchOptions,
): Promise<CaseResult> {
  const load = await ClosedLoopLoad.open(server.port, connections, prepareExchange(registerCount));
  try {
    load.start();
    await sleep(options.warmupSeconds * 1000);

    // Reading every /proc/<pid>/stat takes a few ms, so the machine is sampled outside the
    // client's window. The server's CPU time is sampled just outside it too, which makes the
    // server's window a few hundred µs longer, negligible against seconds of measurement.
    const processCpuStart = sampleProcessCpu();
    const serverCpuStart = await server.cpuUsage();
    load.beginMeasurement();
    await sleep(options.durationSeconds * 1000);
    const measurement = load.endMeasurement();
    const serverCpuEnd = await server.cpuUsage();
    const processCpuEnd = sampleProcessCpu();

    const ownPids = new Set([process.pid, ...servers.map((candidate) => candidate.pid)]);
    return {
      target: server.target,
      registerCount,
      connections,
      measurement,
      serverCpuPercent: cpuPercent(serverCpuStart, serverCpuEnd, measurement.seconds),
      otherCpuPercent:
        processCpuStart && processCpuEnd ? otherProcessesCpuPercent(processCpuStart, processCpuEnd, ownPids, measurement.seconds) : null,
    };
  } finally {
    await load.stop();
  }
}

/**
 * Pins this process and the servers to two different CPUs. Returns a line for the output that
 * names the CPUs, or the reason why the placement is left to the scheduler.
 */
function pinToCpus(servers: readonly ServerProcess[], pinning: boolean): string {
  if (!pinning) return 'CPU placement: left to the scheduler (--no-pinning)';
  const cpus = allowedCpus();
  const [clientCpu, serverCpu] = cpus ?? [];
  if (clientCpu === undefined || serverCpu === undefined) {
    return 'NOTE: CPU placement left to the scheduler, because fewer than 2 CPUs are allowed or /proc/self/status is missing';
  }
  if (!canPinProcesses()) {
    return 'NOTE: CPU placement left to the scheduler, because taskset (util-linux) is not installed';
  }

  pinProcess(process.pid, clientCpu);
  for (const server of servers) pinProcess(server.pid, serverCpu);
  return `CPU placement: client on CPU ${clientCpu}, servers on CPU ${serverCpu} (taskset)`;
}

/**
 * Loads each server with 8 connections of every register count before the first case, so that
 * V8 has optimized the request path of both servers and of the client before anything is recorded.
 */
async function warmUpServers(servers: readonly ServerProcess[], options: BenchOptions): Promise<void> {
  for (const server of servers) {
    for (const registerCount of BENCH_REGISTER_COUNTS) {
      const load = await ClosedLoopLoad.open(server.port, Math.max(...CONNECTION_COUNTS), prepareExchange(registerCount));
      load.start();
      await sleep(options.warmupSeconds * 1000);
      await load.stop();
    }
  }
}

/** Starts one process per target. If one fails, the others are stopped, because their IPC channels would keep this process alive. */
async function startServers(): Promise<ServerProcess[]> {
  const outcomes = await Promise.allSettled(SERVER_TARGETS.map((target) => ServerProcess.start(target)));
  const servers = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
  const failure = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failure) {
    await Promise.all(servers.map((server) => server.stop()));
    throw failure.reason;
  }
  return servers;
}

function describeMachine(): string {
  const model = cpus()[0]?.model ?? 'unknown CPU';
  const memoryGiB = (totalmem() / 2 ** 30).toFixed(1);
  const cpuCount = availableParallelism();
  return `Node ${process.version}, ${cpuCount} CPU${cpuCount === 1 ? '' : 's'} (${model}), ${memoryGiB} GiB memory`;
}

async function main(): Promise<void> {
  const options = parseOptions();
  if (!options) {
    console.log(HELP);
    return;
  }

  const caseCount = BENCH_REGISTER_COUNTS.length * CONNECTION_COUNTS.length * SERVER_TARGETS.length;
  console.log(`Modbus TCP FC3 benchmark, ${new Date().toISOString()}`);
  console.log(describeMachine());
  console.log(
    `${caseCount} cases, each ${options.warmupSeconds} s warmup + ${options.durationSeconds} s measured, after ` +
      `${options.warmupSeconds} s of load per server and register count; closed loop: one request in flight per connection`,
  );

  const servers = await startServers();
  const results: CaseResult[] = [];
  try {
    console.log(pinToCpus(servers, options.pinning));
    console.log('');
    await warmUpServers(servers, options);

    for (const registerCount of BENCH_REGISTER_COUNTS) {
      for (const connections of CONNECTION_COUNTS) {
        for (const server of servers) {
          const result = await runCase(servers, server, registerCount, connections, options);
          results.push(result);
          console.error(
            `${server.target.padEnd(7)} ${String(registerCount).padStart(3)} registers ${connections} connection(s): ` +
              `${Math.round(result.measurement.requestsPerSecond)} requests/s`,
          );
        }
      }
    }
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }

  console.log(formatResultsTable(results));
  console.log('');
  console.log(formatRatioTable(results));
  console.log('');
  for (const line of formatDisturbanceLines(results)) console.log(line);
  for (const line of formatGoalLines(results)) console.log(line);
}

try {
  await main();
} catch (error) {
  if (error instanceof UsageError) {
    console.error(error.message);
    process.exitCode = 2;
  } else {
    console.error('Modbus benchmark failed:', error);
    process.exitCode = 1;
  }
}
