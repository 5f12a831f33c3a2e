/**
 * Finds the map size from which register mapping in the worker pool pays off. For maps of 10 to 100,000 published values
 * it maps one station snapshot after another, inline and through RegisterMapper with the worker
 * pool, and reports per snapshot:
 *
 * - main-thread busy time (event-loop utilization of this thread, in µs per snapshot): the time
 *   during which the Modbus server could not respond to a request. This is what a worker can save.
 * - latency: from publish() to the new registers being in the image.
 *
 * Run it with `npx tsx bench/modbus/mapping.ts` (`--help` for the options).
 */
import { availableParallelism, cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createLogger } from '../../src/log.js';
import { RegisterImage } from '../../src/modbus/register-image.js';
import { RegisterMapper } from '../../src/modbus/register-mapper.js';
import type { RegisterMapEntry } from '../../src/modbus/register-map.js';
import { MappingPool } from '../../src/workers/mapping-pool.js';
import { makePump, makeStation } from '../../test/modbus/station-fixture.js';

const SIZES = [10, 100, 1000, 2000, 5000, 10_000, 100_000] as const;
const DEFAULT_SECONDS_PER_CASE = 2;

const HELP = `Usage: npx tsx bench/modbus/mapping.ts [--seconds SECONDS]

Maps station snapshots of ${SIZES.join(', ')} published register values inline and in the worker pool.

  --seconds SECONDS  time per case (default ${DEFAULT_SECONDS_PER_CASE})
  --help             print this text`;

interface CaseResult {
  values: number;
  path: 'inline' | 'worker';
  snapshots: number;
  mainThreadMicroseconds: number;
  latencyP50Microseconds: number;
  latencyP99Microseconds: number;
}

/** Builds a map of `count` uint16 values: holding registers first, then input registers past 65,536. */
function entriesFor(count: number): RegisterMapEntry[] {
  return Array.from({ length: count }, (_, index): RegisterMapEntry => {
    const table = index < 0x10000 ? 'holding' : 'input';
    return {
      label: `bench value ${index}`,
      table,
      address: index % 0x10000,
      type: 'uint16',
      order: index % 2 === 0 ? 'ABCD' : 'BADC',
      scale: 10,
      offset: 0,
      writable: false,
      value: 'setpoint',
      pumpIndex: index % 4,
      pumpId: `pump-${index % 4}`,
    };
  });
}

function snapshot(heartbeat: number) {
  return makeStation({
    heartbeat,
    pumps: Array.from({ length: 4 }, (_, index) => makePump({ pumpId: `pump-${index}`, setpoint: 20 + index + (heartbeat % 10) / 10, maximum: 60 })),
  });
}

function percentile(sorted: number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? Number.NaN;
}

/** Publishes one snapshot after another for `seconds`, each after the previous one reached the image. */
async function measure(values: number, path: 'inline' | 'worker', seconds: number, pool: MappingPool): Promise<CaseResult> {
  const image = new RegisterImage();
  image.defineStation(1, { allowEmergencyStopCoil: false, map: { defaultLayout: false, pumpIds: ['pump-0', 'pump-1', 'pump-2', 'pump-3'], entries: entriesFor(values) } });
  const mapper = new RegisterMapper({
    image,
    logger: createLogger({ level: 'silent' }),
    workerThreshold: path === 'worker' ? 1 : Number.MAX_SAFE_INTEGER,
    createPool: () => pool,
  });
  // The first snapshot changes the stop state from unknown, so it is encoded inline on both paths.
  mapper.publish(snapshot(0));

  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  const utilizationStart = performance.eventLoopUtilization();
  let heartbeat = 1;
  while (performance.now() < deadline) {
    const started = performance.now();
    mapper.publish(snapshot(heartbeat));
    await mapper.settle();
    latencies.push((performance.now() - started) * 1000);
    heartbeat += 1;
    // Yielding lets the loop go idle as it does between snapshots in the adapter.
    await new Promise((resolve) => setImmediate(resolve));
  }
  const utilization = performance.eventLoopUtilization(utilizationStart);

  latencies.sort((a, b) => a - b);
  return {
    values,
    path,
    snapshots: latencies.length,
    mainThreadMicroseconds: (utilization.active * 1000) / latencies.length,
    latencyP50Microseconds: percentile(latencies, 0.5),
    latencyP99Microseconds: percentile(latencies, 0.99),
  };
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });

async function main(): Promise<void> {
  const { values: options } = parseArgs({ options: { seconds: { type: 'string' }, help: { type: 'boolean' } }, strict: true });
  if (options.help) {
    console.log(HELP);
    return;
  }
  const seconds = options.seconds === undefined ? DEFAULT_SECONDS_PER_CASE : Number(options.seconds);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 600) {
    console.error(`invalid --seconds "${options.seconds}": use a number above 0 and at most 600`);
    process.exitCode = 2;
    return;
  }

  console.log(`Register mapping benchmark, ${new Date().toISOString()}`);
  console.log(`Node ${process.version}, ${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown CPU'}), ${seconds} s per case, 1 worker thread`);
  const pool = new MappingPool({ maxThreads: 1 });
  const results: CaseResult[] = [];
  try {
    // Warm up both paths so that V8 has optimized the encoder in this thread and in the worker.
    for (const path of ['inline', 'worker'] as const) await measure(1000, path, 0.5, pool);
    for (const values of SIZES) {
      for (const path of ['inline', 'worker'] as const) {
        const result = await measure(values, path, seconds, pool);
        results.push(result);
        console.error(`${path.padEnd(6)} ${String(values).padStart(6)} values: ${oneDecimal.format(result.mainThreadMicroseconds)} µs main thread per snapshot`);
      }
    }
  } finally {
    await pool.close();
  }

  console.log('');
  console.log('| values | path | snapshots | main thread µs/snapshot | latency p50 µs | latency p99 µs |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const result of results) {
    console.log(
      `| ${integer.format(result.values)} | ${result.path} | ${integer.format(result.snapshots)} | ${oneDecimal.format(result.mainThreadMicroseconds)} | ${oneDecimal.format(result.latencyP50Microseconds)} | ${oneDecimal.format(result.latencyP99Microseconds)} |`,
    );
  }
  console.log('');
  for (const values of SIZES) {
    const inline = results.find((result) => result.values === values && result.path === 'inline');
    const worker = results.find((result) => result.values === values && result.path === 'worker');
    if (!inline || !worker) continue;
    const saves = worker.mainThreadMicroseconds < inline.mainThreadMicroseconds;
    console.log(
      `${integer.format(values)} values: the worker ${saves ? 'saves' : 'costs'} ${oneDecimal.format(Math.abs(inline.mainThreadMicroseconds - worker.mainThreadMicroseconds))} µs of main-thread time per snapshot`,
    );
  }
}

await main();
