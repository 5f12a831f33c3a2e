/**
 * OPC UA read and subscription throughput of the adapter's server against a bare node-opcua
 * server holding the same number of Double variables, measured in the same run. Run it with
 * `npm run bench:opcua`; `--help` lists the options. Results go to stdout as Markdown tables,
 * progress to stderr.
 *
 * Each server runs in its own child process and the client in this process, as in the Modbus
 * benchmark: in one process, client and server callbacks would share one event loop. On Linux the
 * client is pinned to the first allowed CPU and the servers to the second, with taskset. Both
 * servers are measured with one anonymous session over SecurityPolicy None, so the figures
 * compare request handling, not cryptography, which costs both servers the same.
 */
import { availableParallelism, cpus, totalmem } from 'node:os';
import { format, parseArgs } from 'node:util';
import { setWarningLogger } from 'node-opcua-debug';
import { allowedCpus, canPinProcesses, pinProcess } from '../modbus/cpu-affinity.js';
import { measureReads, measureSubscription, openBenchClient } from './client.js';
import { BENCH_TARGETS, benchNodeIds, VARIABLE_COUNT, type BenchTarget } from './fixture.js';
import { OpcUaServerProcess } from './server-process.js';

const DEFAULT_DURATION_SECONDS = 5;
const MAX_DURATION_SECONDS = 600;
const MONITORED_ITEMS = 1000;
const NODES_PER_READ = [1, 100] as const;
/** The adapter must serve at least this share of the bare server's single-node Reads. */
const READ_GOAL = 0.9;

const HELP = `Usage: npm run bench:opcua -- [--duration SECONDS] [--no-pinning]

Starts the adapter's OPC UA server and a bare node-opcua server with ${VARIABLE_COUNT} Double variables, each
in its own process on 127.0.0.1, and measures start time, memory, Reads of ${NODES_PER_READ.join(' and ')} nodes
per request over one session, and a subscription of ${MONITORED_ITEMS} monitored items.

  --duration SECONDS  measurement time per read case, after 1 s of unrecorded reads (default ${DEFAULT_DURATION_SECONDS}, or OPCUA_BENCH_DURATION_S)
  --no-pinning        leave CPU placement to the scheduler (default: client on the first allowed CPU,
                      servers on the second, with taskset)
  --help              print this text`;

class UsageError extends Error {}

interface TargetResult {
  target: BenchTarget;
  startMs: number;
  readyMs: number;
  maxLoopDelayMs: number;
  rssStartMiB: number;
  readsPerSecond: Record<(typeof NODES_PER_READ)[number], number>;
  serverCpuPercent: Record<(typeof NODES_PER_READ)[number], number>;
  clientCpuPercent: Record<(typeof NODES_PER_READ)[number], number>;
  subscriptionCreatedMs: number;
  subscriptionAllValuesMs: number;
  rssEndMiB: number;
}

function parseOptions(): { durationSeconds: number; pinning: boolean } | null {
  let values: { duration?: string; 'no-pinning'?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({ options: { duration: { type: 'string' }, 'no-pinning': { type: 'boolean' }, help: { type: 'boolean' } }, strict: true }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n\n${HELP}`);
  }
  if (values.help) return null;
  const text = values.duration ?? process.env.OPCUA_BENCH_DURATION_S;
  const durationSeconds = text === undefined || text === '' ? DEFAULT_DURATION_SECONDS : Number(text);
  if (!Number.isFinite(durationSeconds) || durationSeconds <= 0 || durationSeconds > MAX_DURATION_SECONDS) {
    throw new UsageError(`invalid --duration "${text}": use a number of seconds above 0 and at most ${MAX_DURATION_SECONDS}`);
  }
  return { durationSeconds, pinning: !values['no-pinning'] };
}

const mebibytes = (bytes: number) => bytes / 2 ** 20;

function cpuPercent(start: NodeJS.CpuUsage, end: NodeJS.CpuUsage, seconds: number): number {
  return ((end.user - start.user + end.system - start.system) / 1e6 / seconds) * 100;
}

/** Starts one server, measures every case against it, and stops it. */
async function measureTarget(target: BenchTarget, durationSeconds: number, pinCpu: number | null): Promise<TargetResult> {
  const server = await OpcUaServerProcess.start(target);
  try {
    if (pinCpu !== null) pinProcess(server.pid, pinCpu);
    const client = await openBenchClient(server.started.port);
    try {
      const readsPerSecond = { 1: 0, 100: 0 };
      const serverCpuPercent = { 1: 0, 100: 0 };
      const clientCpuPercent = { 1: 0, 100: 0 };
      for (const count of NODES_PER_READ) {
        const nodeIds = benchNodeIds(target, count);
        await measureReads(client.session, nodeIds, 1);
        const before = await server.stats();
        const clientBefore = process.cpuUsage();
        const started = performance.now();
        readsPerSecond[count] = await measureReads(client.session, nodeIds, durationSeconds);
        const seconds = (performance.now() - started) / 1000;
        clientCpuPercent[count] = cpuPercent(clientBefore, process.cpuUsage(), seconds);
        const after = await server.stats();
        serverCpuPercent[count] = cpuPercent(before.cpu, after.cpu, seconds);
        console.error(`${target.padEnd(7)} ${String(count).padStart(3)} node(s) per Read: ${Math.round(readsPerSecond[count])} Reads/s`);
      }
      const subscription = await measureSubscription(client.session, benchNodeIds(target, MONITORED_ITEMS));
      console.error(`${target.padEnd(7)} ${MONITORED_ITEMS} monitored items: created in ${subscription.createdMs.toFixed(0)} ms, all values in ${subscription.allValuesMs.toFixed(0)} ms`);
      const end = await server.stats();
      return {
        target,
        startMs: server.started.startMs,
        readyMs: server.started.readyMs,
        maxLoopDelayMs: server.started.maxLoopDelayMs,
        rssStartMiB: mebibytes(server.started.rssBytes),
        readsPerSecond,
        serverCpuPercent,
        clientCpuPercent,
        subscriptionCreatedMs: subscription.createdMs,
        subscriptionAllValuesMs: subscription.allValuesMs,
        rssEndMiB: mebibytes(end.rssBytes),
      };
    } finally {
      await client.close();
    }
  } finally {
    await server.stop();
  }
}

function placement(pinning: boolean): { clientCpu: number | null; serverCpu: number | null; line: string } {
  const none = { clientCpu: null, serverCpu: null };
  if (!pinning) return { ...none, line: 'CPU placement: left to the scheduler (--no-pinning)' };
  const [clientCpu, serverCpu] = allowedCpus() ?? [];
  if (clientCpu === undefined || serverCpu === undefined) return { ...none, line: 'NOTE: CPU placement left to the scheduler, because fewer than 2 CPUs are allowed' };
  if (!canPinProcesses()) return { ...none, line: 'NOTE: CPU placement left to the scheduler, because taskset (util-linux) is not installed' };
  return { clientCpu, serverCpu, line: `CPU placement: client on CPU ${clientCpu}, servers on CPU ${serverCpu} (taskset)` };
}

const number = (value: number, digits = 0) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const percent = (ratio: number) => `${(ratio * 100).toFixed(1)} %`;

function printResults(results: TargetResult[]): void {
  console.log('| server | start ms | longest event-loop stall ms | process ready ms | RSS after start MiB | Reads/s, 1 node | server / client CPU | Reads/s, 100 nodes | server / client CPU | 1,000 items created ms | all first values ms | RSS at end MiB |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const result of results) {
    console.log(
      `| ${result.target} | ${number(result.startMs)} | ${number(result.maxLoopDelayMs)} | ${number(result.readyMs)} | ${number(result.rssStartMiB)} | ${number(result.readsPerSecond[1])} | ${number(result.serverCpuPercent[1])} / ${number(result.clientCpuPercent[1])} % | ` +
        `${number(result.readsPerSecond[100])} | ${number(result.serverCpuPercent[100])} / ${number(result.clientCpuPercent[100])} % | ${number(result.subscriptionCreatedMs)} | ${number(result.subscriptionAllValuesMs)} | ${number(result.rssEndMiB)} |`,
    );
  }
  const adapter = results.find((result) => result.target === 'adapter');
  const bare = results.find((result) => result.target === 'bare');
  if (!adapter || !bare) return;

  console.log('');
  console.log('| figure | adapter / bare |');
  console.log('| --- | --- |');
  console.log(`| Reads/s, 1 node | ${percent(adapter.readsPerSecond[1] / bare.readsPerSecond[1])} |`);
  console.log(`| Reads/s, 100 nodes | ${percent(adapter.readsPerSecond[100] / bare.readsPerSecond[100])} |`);
  console.log(`| start time | ${number(adapter.startMs / bare.startMs, 2)}× |`);
  console.log(`| RSS after start | ${number(adapter.rssStartMiB / bare.rssStartMiB, 2)}× |`);
  console.log(`| 1,000 items, all first values | ${number(adapter.subscriptionAllValuesMs / bare.subscriptionAllValuesMs, 2)}× |`);
  console.log('');
  const ratio = adapter.readsPerSecond[1] / bare.readsPerSecond[1];
  const verdict = ratio >= READ_GOAL ? 'goal met' : 'GOAL MISSED';
  console.log(`${verdict} (1 node per Read): adapter reached ${percent(ratio)} of the bare server's throughput, goal ≥ ${READ_GOAL * 100} %`);
}

async function main(): Promise<void> {
  // The client's own notices ("Creating default certificate") would land between the tables.
  setWarningLogger((_context?: unknown, ...parts: unknown[]) => process.stderr.write(`${format(...parts)}\n`));
  const options = parseOptions();
  if (!options) {
    console.log(HELP);
    return;
  }
  const cpuCount = availableParallelism();
  console.log(`OPC UA benchmark, ${new Date().toISOString()}`);
  console.log(`Node ${process.version}, ${cpuCount} CPU${cpuCount === 1 ? '' : 's'} (${cpus()[0]?.model ?? 'unknown CPU'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory`);
  console.log(`${VARIABLE_COUNT} variables per server; ${options.durationSeconds} s measured per read case after 1 s of unrecorded reads; one session, closed loop`);
  const { clientCpu, serverCpu, line } = placement(options.pinning);
  console.log(line);
  console.log('');
  if (clientCpu !== null) pinProcess(process.pid, clientCpu);

  const results: TargetResult[] = [];
  for (const target of BENCH_TARGETS) results.push(await measureTarget(target, options.durationSeconds, serverCpu));
  printResults(results);
}

await main().catch((error: unknown) => {
  const usage = error instanceof UsageError;
  console.error(usage ? error.message : `OPC UA benchmark failed: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = usage ? 2 : 1;
});
