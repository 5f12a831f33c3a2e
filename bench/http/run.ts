/**
 * REST throughput and latency of the adapter against a bare Koa app, for GET /api/v1/health and
 * GET /api/v1/pump-stations/station001/emergency-stop-status, with 1 and 50 connections. Run it
 * with `npm run bench:http`. autocannon generates the load from this process. The adapter, on a
 * fresh PostgreSQL database created and dropped here, and the bare app each run in their own
 * process. Results go to stdout as a Markdown table, progress to stderr.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { allowedCpus, canPinProcesses, pinProcess } from '../modbus/cpu-affinity.js';
import { adapterEnvironment, startAdapter } from '../../test/helpers/adapter-process.js';
import { createPostgresDatabase } from '../../test/helpers/databases.js';
import { login } from '../../test/helpers/rest.js';

const PATHS = ['/api/v1/health', '/api/v1/pump-stations/station001/emergency-stop-status'] as const;
const CONNECTION_COUNTS = [1, 50] as const;

interface Measurement {
  target: 'adapter' | 'bare koa';
  path: string;
  connections: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
}

const { values: options } = parseArgs({ options: { duration: { type: 'string', default: '5' }, help: { type: 'boolean', default: false } } });
if (options.help) {
  process.stdout.write('Usage: npm run bench:http -- [--duration SECONDS]\n');
  process.exit(0);
}
const duration = Number(options.duration);
if (!Number.isFinite(duration) || duration < 1 || duration > 600) {
  process.stderr.write(`invalid --duration ${options.duration}; give whole seconds from 1 to 600\n`);
  process.exit(2);
}

function startBareKoa(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', new URL('./bare-koa.ts', import.meta.url).pathname], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`bare Koa app exited with ${code}`)));
    createInterface({ input: child.stdout! }).once('line', (line) => resolve({ child, port: (JSON.parse(line) as { port: number }).port }));
  });
}

async function measure(target: Measurement['target'], baseUrl: string, path: string, connections: number, token: string | null): Promise<Measurement> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  // A short warm-up lets the JIT and the connection pools settle before the measured run.
  await autocannon({ url: `${baseUrl}${path}`, connections, duration: 1, headers });
  const result = await autocannon({ url: `${baseUrl}${path}`, connections, duration, headers });
  return {
    target,
    path,
    connections,
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

const database = await createPostgresDatabase();
const results: Measurement[] = [];
const cpuList = allowedCpus();
const pinned = canPinProcesses() && cpuList !== null && cpuList.length >= 2;
let adapter: Awaited<ReturnType<typeof startAdapter>> | undefined;
let bare: Awaited<ReturnType<typeof startBareKoa>> | undefined;
try {
  adapter = await startAdapter(adapterEnvironment({ DATABASE_URL: database.url ?? undefined, CALEJO_DATA_DIR: database.dataDir, LOG_LEVEL: 'info' }));
  bare = await startBareKoa();
  if (pinned && cpuList) {
    // The load generator gets one CPU and the server under test the other, as in bench/modbus.
    pinProcess(process.pid, cpuList[0]!);
    pinProcess(adapter.process.pid!, cpuList[1]!);
    pinProcess(bare.child.pid!, cpuList[1]!);
  }
  const token = await login(adapter.baseUrl);
  for (const path of PATHS) {
    for (const connections of CONNECTION_COUNTS) {
      process.stderr.write(`measuring ${path} with ${connections} connection(s)\n`);
      results.push(await measure('bare koa', `http://127.0.0.1:${bare.port}`, path, connections, null));
      results.push(await measure('adapter', adapter.baseUrl, path, connections, path.includes('pump-stations') ? token : null));
    }
  }
} finally {
  bare?.child.kill('SIGTERM');
  await adapter?.stop();
  await database.drop();
}

const lines = [
  `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${duration} s per case, ${pinned ? 'load generator and server pinned to different CPUs' : 'not pinned'}`,
  '',
  '| path | connections | target | req/s | p50 ms | p99 ms | errors | non-2xx | adapter / bare |',
  '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
];
for (const result of results) {
  const reference = results.find((each) => each.target === 'bare koa' && each.path === result.path && each.connections === result.connections);
  const ratio = result.target === 'adapter' && reference ? `${((100 * result.requestsPerSecond) / reference.requestsPerSecond).toFixed(0)} %` : '';
  lines.push(
    `| ${result.path} | ${result.connections} | ${result.target} | ${Math.round(result.requestsPerSecond)} | ${result.p50Ms} | ${result.p99Ms} | ${result.errors} | ${result.non2xx} | ${ratio} |`,
  );
}
process.stdout.write(`${lines.join('\n')}\n`);
