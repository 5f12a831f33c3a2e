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
 *
 * The servers start one after the other, so each start is measured alone. The read cases then
 * run in rounds that alternate between the servers, so that a change in the machine's load
 * during the run affects both alike, and the ratio of each round is reported. The whole run is
 * done twice, the second time with the other server started first. The cases begin only when
 * both servers are idle, because on the development VM the first case of the server started
 * first ran at a fraction of the later rates while the other server was still settling.
 */
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { format, parseArgs } from 'node:util';
import { setWarningLogger } from 'node-opcua-debug';
import { allowedCpus, canPinProcesses, pinProcess } from '../modbus/cpu-affinity.js';
import { measureReads, measureSubscription, openBenchClient, type BenchClient, type SubscriptionTiming } from './client.js';
import { BENCH_TARGETS, benchNodeIds, VARIABLE_COUNT, type BenchTarget } from './fixture.js';
import { OpcUaServerProcess } from './server-process.js';

const DEFAULT_ROUNDS = 5;
const DEFAULT_ROUND_SECONDS = 2;
const MAX_ROUNDS = 100;
const MAX_ROUND_SECONDS = 600;
const MONITORED_ITEMS = 1000;
const NODES_PER_READ = [1, 100] as const;
type NodesPerRead = (typeof NODES_PER_READ)[number];
/** The adapter must serve at least this share of the bare server's single-node Reads. */
const READ_GOAL = 0.9;

const HELP = `Usage: npm run bench:opcua -- [--rounds N] [--seconds SECONDS] [--no-pinning]

Starts the adapter's OPC UA server and a bare node-opcua server with ${VARIABLE_COUNT} Double variables, each
in its own process on 127.0.0.1, and measures start time, memory, Reads of ${NODES_PER_READ.join(' and ')} nodes
per request over one session, and a subscription of ${MONITORED_ITEMS} monitored items.

  --rounds N          read rounds; each round measures every case on both servers (default ${DEFAULT_ROUNDS}, or OPCUA_BENCH_ROUNDS)
  --seconds SECONDS   measurement time of one case in one round (default ${DEFAULT_ROUND_SECONDS}, or OPCUA_BENCH_SECONDS)
  --no-pinning        leave CPU placement to the scheduler (default: client on the first allowed CPU,
                      servers on the second, with taskset)
  --help              print this text`;

class UsageError extends Error {}

interface BenchOptions {
  rounds: number;
  roundSeconds: number;
  pinning: boolean;
}

/** Requests and CPU time of one read case, summed over the rounds. */
interface ReadTotals {
  requests: number;
  seconds: number;
  serverCpuSeconds: number;
  clientCpuSeconds: number;
  /** Reads per second of each round, in round order. */
  perRound: number[];
}

interface RunningTarget {
  target: BenchTarget;
  server: OpcUaServerProcess;
  client: BenchClient;
}

/** Figures of one server over both passes. */
interface TargetFigures {
  target: BenchTarget;
  starts: Array<{ startMs: number; readyMs: number; maxLoopDelayMs: number; rssMiB: number }>;
  reads: Record<NodesPerRead, ReadTotals>;
  subscriptions: SubscriptionTiming[];
  rssEndMiB: number[];
}

function parseNumber(name: string, text: string | undefined, fallback: number, maximum: number, integer: boolean): number {
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || value > maximum || (integer && !Number.isInteger(value))) {
    throw new UsageError(`invalid ${name} "${text}": use ${integer ? 'a whole number' : 'a number'} above 0 and at most ${maximum}`);
  }
  return value;
}

function parseOptions(): BenchOptions | null {
  let values: { rounds?: string; seconds?: string; 'no-pinning'?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: { rounds: { type: 'string' }, seconds: { type: 'string' }, 'no-pinning': { type: 'boolean' }, help: { type: 'boolean' } },
      strict: true,
    }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n\n${HELP}`);
  }
  if (values.help) return null;
  return {
    rounds: parseNumber('--rounds', values.rounds ?? process.env.OPCUA_BENCH_ROUNDS, DEFAULT_ROUNDS, MAX_ROUNDS, true),
    roundSeconds: parseNumber('--seconds', values.seconds ?? process.env.OPCUA_BENCH_SECONDS, DEFAULT_ROUND_SECONDS, MAX_ROUND_SECONDS, false),
    pinning: !values['no-pinning'],
  };
}

const mebibytes = (bytes: number) => bytes / 2 ** 20;
const cpuSeconds = (start: NodeJS.CpuUsage, end: NodeJS.CpuUsage) => (end.user - start.user + end.system - start.system) / 1e6;
const emptyTotals = (): ReadTotals => ({ requests: 0, seconds: 0, serverCpuSeconds: 0, clientCpuSeconds: 0, perRound: [] });

/** Runs one read case for `seconds` and adds it to the totals. */
async function measureRound(running: RunningTarget, totals: ReadTotals, count: NodesPerRead, seconds: number): Promise<void> {
  const nodeIds = benchNodeIds(running.target, count);
  const before = await running.server.stats();
  const clientBefore = process.cpuUsage();
  const started = performance.now();
  const readsPerSecond = await measureReads(running.client.session, nodeIds, seconds);
  const elapsed = (performance.now() - started) / 1000;
  const clientAfter = process.cpuUsage();
  const after = await running.server.stats();

  totals.requests += readsPerSecond * elapsed;
  totals.seconds += elapsed;
  totals.serverCpuSeconds += cpuSeconds(before.cpu, after.cpu);
  totals.clientCpuSeconds += cpuSeconds(clientBefore, clientAfter);
  totals.perRound.push(readsPerSecond);
  console.error(`${running.target.padEnd(7)} ${String(count).padStart(3)} node(s) per Read: ${Math.round(readsPerSecond)} Reads/s`);
}

/** CPU share below which a server counts as idle, in % of one core. */
const IDLE_CPU_PERCENT = 5;
const SETTLE_TIMEOUT_MS = 30_000;

/**
 * Waits until no server process uses more than IDLE_CPU_PERCENT of a core. A server keeps
 * working for seconds after it listens (garbage from loading its information model, the
 * certificate store's folder scan), and on a shared CPU that work would slow the other server's
 * first cases.
 */
async function waitUntilIdle(running: RunningTarget[]): Promise<void> {
  const deadline = performance.now() + SETTLE_TIMEOUT_MS;
  while (performance.now() < deadline) {
    const before = await Promise.all(running.map((each) => each.server.stats()));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const after = await Promise.all(running.map((each) => each.server.stats()));
    const busiest = Math.max(...after.map((stats, index) => (cpuSeconds(before[index]?.cpu ?? stats.cpu, stats.cpu) / 0.5) * 100));
    if (busiest < IDLE_CPU_PERCENT) return;
  }
  console.error(`NOTE: a server still used more than ${IDLE_CPU_PERCENT} % CPU ${SETTLE_TIMEOUT_MS / 1000} s after its start; measuring anyway`);
}

/** Starts the servers in `order`, measures every case on both, and stops them. */
async function runPass(order: readonly BenchTarget[], figures: Map<BenchTarget, TargetFigures>, options: BenchOptions, serverCpu: number | null): Promise<void> {
  const running: RunningTarget[] = [];
  const figuresOf = (target: BenchTarget) => {
    const found = figures.get(target);
    if (!found) throw new Error(`no figures for server ${target}`);
    return found;
  };
  try {
    for (const target of order) {
      const server = await OpcUaServerProcess.start(target);
      if (serverCpu !== null) pinProcess(server.pid, serverCpu);
      const { startMs, readyMs, maxLoopDelayMs, rssBytes } = server.started;
      figuresOf(target).starts.push({ startMs, readyMs, maxLoopDelayMs, rssMiB: mebibytes(rssBytes) });
      running.push({ target, server, client: await openBenchClient(server.started.port) });
    }
    await waitUntilIdle(running);
    for (const each of running) {
      for (const count of NODES_PER_READ) await measureReads(each.client.session, benchNodeIds(each.target, count), 1);
    }
    for (let round = 0; round < options.rounds; round += 1) {
      // Alternate which server goes first, so neither always measures right after the other.
      const roundOrder = round % 2 === 0 ? running : [...running].reverse();
      for (const count of NODES_PER_READ) {
        for (const each of roundOrder) await measureRound(each, figuresOf(each.target).reads[count], count, options.roundSeconds);
      }
    }
    for (const each of running) {
      const subscription = await measureSubscription(each.client.session, benchNodeIds(each.target, MONITORED_ITEMS));
      figuresOf(each.target).subscriptions.push(subscription);
      figuresOf(each.target).rssEndMiB.push(mebibytes((await each.server.stats()).rssBytes));
      console.error(`${each.target.padEnd(7)} ${MONITORED_ITEMS} monitored items: all first values in ${subscription.allValuesMs.toFixed(0)} ms`);
    }
  } finally {
    for (const each of running) await each.client.close().catch(() => undefined);
    await Promise.all(running.map((each) => each.server.stop()));
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
const rate = (totals: ReadTotals) => totals.requests / totals.seconds;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

function printResults(figures: TargetFigures[]): void {
  console.log('Means over both passes, except Reads/s, which are totals over all rounds.');
  console.log('');
  console.log('| server | start ms | longest event-loop stall ms | process ready ms | RSS after start MiB | Reads/s, 1 node | server / client CPU | Reads/s, 100 nodes | server / client CPU | 1,000 items created ms | all first values ms | RSS at end MiB |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const { target, starts, reads, subscriptions, rssEndMiB } of figures) {
    const cpu = (totals: ReadTotals) => `${number((totals.serverCpuSeconds / totals.seconds) * 100)} / ${number((totals.clientCpuSeconds / totals.seconds) * 100)} %`;
    console.log(
      `| ${target} | ${number(mean(starts.map((start) => start.startMs)))} | ${number(mean(starts.map((start) => start.maxLoopDelayMs)))} | ` +
        `${number(mean(starts.map((start) => start.readyMs)))} | ${number(mean(starts.map((start) => start.rssMiB)))} | ` +
        `${number(rate(reads[1]))} | ${cpu(reads[1])} | ${number(rate(reads[100]))} | ${cpu(reads[100])} | ` +
        `${number(mean(subscriptions.map((timing) => timing.createdMs)))} | ${number(mean(subscriptions.map((timing) => timing.allValuesMs)))} | ${number(mean(rssEndMiB))} |`,
    );
  }
  const adapter = figures.find((each) => each.target === 'adapter');
  const bare = figures.find((each) => each.target === 'bare');
  if (!adapter || !bare) return;

  console.log('');
  console.log('| figure | adapter / bare | per round (min – median – max) |');
  console.log('| --- | --- | --- |');
  for (const count of NODES_PER_READ) {
    const ratios = adapter.reads[count].perRound.map((value, index) => value / (bare.reads[count].perRound[index] ?? Number.NaN));
    console.log(`| Reads/s, ${count} node${count === 1 ? '' : 's'} | ${percent(rate(adapter.reads[count]) / rate(bare.reads[count]))} | ${percent(Math.min(...ratios))} – ${percent(median(ratios))} – ${percent(Math.max(...ratios))} |`);
  }
  const ratioOfMeans = (pick: (each: TargetFigures) => number[]) => number(mean(pick(adapter)) / mean(pick(bare)), 2);
  console.log(`| start time | ${ratioOfMeans((each) => each.starts.map((start) => start.startMs))}× | |`);
  console.log(`| RSS after start | ${ratioOfMeans((each) => each.starts.map((start) => start.rssMiB))}× | |`);
  console.log(`| 1,000 items, all first values | ${ratioOfMeans((each) => each.subscriptions.map((timing) => timing.allValuesMs))}× | |`);
  console.log('');
  const ratio = rate(adapter.reads[1]) / rate(bare.reads[1]);
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
  console.log(
    `${VARIABLE_COUNT} variables per server; 2 passes (each server started first once) of ${options.rounds} rounds of ` +
      `${options.roundSeconds} s per read case and server, alternating servers, after 1 s of unrecorded reads; one session, closed loop`,
  );
  const { clientCpu, serverCpu, line } = placement(options.pinning);
  console.log(line);
  console.log('');
  if (clientCpu !== null) pinProcess(process.pid, clientCpu);
  const loadBefore = loadavg()[0] ?? 0;

  const figures = new Map<BenchTarget, TargetFigures>(
    BENCH_TARGETS.map((target) => [target, { target, starts: [], reads: { 1: emptyTotals(), 100: emptyTotals() }, subscriptions: [], rssEndMiB: [] }]),
  );
  for (const order of [BENCH_TARGETS, [...BENCH_TARGETS].reverse()]) {
    console.error(`pass with ${order.join(' started before ')}`);
    await runPass(order, figures, options, serverCpu);
  }

  printResults([...figures.values()]);
  // Other processes slow both servers; a load average above the CPU count makes the run suspect.
  const loadAfter = loadavg()[0] ?? 0;
  const busy = Math.max(loadBefore, loadAfter) > cpuCount ? ' NOTE: above the CPU count, other processes competed for CPU' : '';
  console.log(`load average (1 min): ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after${busy}`);
}

await main().catch((error: unknown) => {
  const usage = error instanceof UsageError;
  console.error(usage ? error.message : `OPC UA benchmark failed: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = usage ? 2 : 1;
});
