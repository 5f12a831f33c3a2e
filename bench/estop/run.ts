/**
 * Emergency-stop latency of a running adapter on PostgreSQL. Run it with `npm run bench:estop`,
 * and see `--help` for the options. Results go to stdout as a Markdown table, progress to stderr.
 *
 * Each cycle sends the REST emergency stop for station001 and measures two times. (a) runs until
 * the first Modbus FC3 read of its status word shows bit 0. (b) runs until the REST response,
 * which the adapter sends after the stop is committed to the database. The stop is then cleared,
 * leaving the station held, and the next cycle starts once the status word shows bit 0 clear.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { adapterEnvironment, startAdapter, type RunningAdapter } from '../../test/helpers/adapter-process.js';
import { login } from '../../test/helpers/rest.js';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { RestClient } from './rest-client.js';
import { StatusPoller } from './status-poller.js';

const DEFAULT_CYCLES = 1000;
const WARMUP_CYCLES = 50;
const MAX_CYCLES = 100_000;
const STATUS_EMERGENCY_STOP = 0b1;
const ADMIN_PASSWORD = 'estop-bench-admin-1';
/** The server on which the bench creates and drops its database, when DATABASE_URL is unset. */
const DEFAULT_SERVER_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

const HELP = `Usage: npm run bench:estop -- [--cycles N] [--system]

Starts the adapter (demo configuration) on a fresh PostgreSQL database, created on the server of
DATABASE_URL (default ${DEFAULT_SERVER_URL}) and dropped afterwards, and runs
${WARMUP_CYCLES} unrecorded and N recorded emergency-stop/clear cycles on station001.

  --cycles N  recorded stop/clear cycles (default ${DEFAULT_CYCLES})
  --system    use the system-wide POST/DELETE /api/v1/emergency-stop instead of the station's
  --help      print this text`;

class UsageError extends Error {}

function parseOptions(): { cycles: number; system: boolean } | null {
  let values: { cycles?: string; system?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({ options: { cycles: { type: 'string' }, system: { type: 'boolean' }, help: { type: 'boolean' } }, strict: true }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n\n${HELP}`);
  }
  if (values.help) return null;
  const cycles = values.cycles === undefined ? DEFAULT_CYCLES : Number(values.cycles);
  if (!Number.isInteger(cycles) || cycles < 1 || cycles > MAX_CYCLES) {
    throw new UsageError(`invalid --cycles "${values.cycles}": use a whole number from 1 to ${MAX_CYCLES}`);
  }
  return { cycles, system: values.system === true };
}

/** Creates a database on the server of `serverUrl`; returns its URL and the function that drops it. */
async function createBenchDatabase(serverUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `calejo_estop_bench_${randomBytes(5).toString('hex')}`;
  const runOnServer = async (sql: string) => {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await runOnServer(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => runOnServer(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

function percentile(sorted: number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? Number.NaN;
}

function row(label: string, samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const format = (ms: number) => ms.toFixed(3);
  return `| ${label} | ${format(percentile(sorted, 50))} | ${format(percentile(sorted, 99))} | ${format(sorted.at(-1) ?? Number.NaN)} |`;
}

/** Ports and bearer token of the server the cycles run against: the adapter or the reference server. */
interface Target {
  httpPort: number;
  modbusPort: number;
  token: string;
}

interface CycleResult {
  toModbus: number[];
  toResponse: number[];
  polls: number;
}

async function runCycles(target: Target, options: { cycles: number; system: boolean }): Promise<CycleResult> {
  const rest = new RestClient(target.httpPort, target.token);
  const poller = await StatusPoller.open(target.modbusPort, 1);
  const path = options.system ? '/api/v1/emergency-stop' : '/api/v1/pump-stations/station001/emergency-stop';
  const toModbus: number[] = [];
  const toResponse: number[] = [];
  const total = WARMUP_CYCLES + options.cycles;

  try {
    for (let cycle = 0; cycle < total; cycle += 1) {
      await poller.waitFor((statusWord) => (statusWord & STATUS_EMERGENCY_STOP) === 0);
      let stopSeen: Promise<number> | undefined;
      const response = await rest.send('POST', path, { reason: `estop bench cycle ${cycle}` }, () => {
        stopSeen = poller.waitFor((statusWord) => (statusWord & STATUS_EMERGENCY_STOP) !== 0);
      });
      if (response.status !== 200) throw new Error(`stop in cycle ${cycle} returned ${response.status}: ${JSON.stringify(response.body)}`);
      if (!stopSeen) throw new Error('the stop request was never handed to the socket');
      const seenAt = await stopSeen;

      if (cycle >= WARMUP_CYCLES) {
        toModbus.push(seenAt - response.sentAt);
        toResponse.push(response.receivedAt - response.sentAt);
      }
      const clear = await rest.send('DELETE', path, { reason: `estop bench cycle ${cycle}` });
      if (clear.status !== 200) throw new Error(`clear in cycle ${cycle} returned ${clear.status}: ${JSON.stringify(clear.body)}`);
      const recorded = cycle + 1 - WARMUP_CYCLES;
      if (recorded > 0 && recorded % 100 === 0) process.stderr.write(`recorded cycle ${recorded} of ${options.cycles}\n`);
    }
    return { toModbus, toResponse, polls: poller.polls };
  } finally {
    poller.close();
    rest.close();
  }
}

/** Starts bench/estop/reference-server.ts in its own process and returns its ports. */
async function startReference(databaseUrl: string, token: string): Promise<{ process: ChildProcess; httpPort: number; modbusPort: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(PACKAGE_ROOT, 'bench', 'estop', 'reference-server.ts'), databaseUrl, token], {
    cwd: PACKAGE_ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  const ports = JSON.parse(line) as { http: number; modbus: number };
  return { process: child, httpPort: ports.http, modbusPort: ports.modbus };
}

/** Formats the two intervals of one run as a Markdown table; `committed` names what (b) waits for. */
function latencyTable(run: CycleResult, committed: string): string[] {
  return [
    '| interval | p50 ms | p99 ms | max ms |',
    '| --- | ---: | ---: | ---: |',
    row('(a) request sent → first FC3 read with bit 0', run.toModbus),
    row(`(b) request sent → response (${committed})`, run.toResponse),
  ];
}

/** Formats one result row with the adapter's p50 and p99 as multiples of the reference's. */
function ratioRow(label: string, adapter: number[], reference: number[]): string {
  const sortedAdapter = [...adapter].sort((a, b) => a - b);
  const sortedReference = [...reference].sort((a, b) => a - b);
  const ratio = (p: number) => (percentile(sortedAdapter, p) / percentile(sortedReference, p)).toFixed(2);
  return `| ${label} | ${ratio(50)} | ${ratio(99)} |`;
}

async function main(): Promise<void> {
  const options = parseOptions();
  if (!options) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  const serverUrl = process.env.DATABASE_URL ?? DEFAULT_SERVER_URL;
  const database = await createBenchDatabase(serverUrl);
  const dataDir = mkdtempSync(join(tmpdir(), 'calejo-estop-bench-'));
  let adapter: RunningAdapter | undefined;
  try {
    const referenceToken = randomBytes(16).toString('hex');
    const referenceServer = await startReference(database.url, referenceToken);
    process.stderr.write(`reference server running (http ${referenceServer.httpPort}, modbus ${referenceServer.modbusPort}); ${WARMUP_CYCLES} warm-up cycles, then ${options.cycles}\n`);
    let reference: CycleResult;
    try {
      reference = await runCycles({ ...referenceServer, token: referenceToken }, options);
    } finally {
      referenceServer.process.kill('SIGTERM');
    }

    adapter = await startAdapter(adapterEnvironment({ DATABASE_URL: database.url, CALEJO_ADMIN_PASSWORD: ADMIN_PASSWORD, CALEJO_DATA_DIR: dataDir }));
    process.stderr.write(`adapter running (http ${adapter.httpPort}, modbus ${adapter.modbusPort}); ${WARMUP_CYCLES} warm-up cycles, then ${options.cycles}\n`);
    const token = await login(adapter.baseUrl, ADMIN_PASSWORD);
    const result = await runCycles({ httpPort: adapter.httpPort, modbusPort: adapter.modbusPort, token }, options);

    const cpu = cpus()[0];
    process.stdout.write(
      [
        `Emergency stop via ${options.system ? 'POST /api/v1/emergency-stop (system-wide, 3 stations)' : 'POST /api/v1/pump-stations/station001/emergency-stop'}, ${options.cycles} cycles after ${WARMUP_CYCLES} warm-up cycles`,
        `Machine: ${cpus().length} × ${cpu?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}, PostgreSQL at ${new URL(serverUrl).host}`,
        '',
        ...latencyTable(result, 'stop committed'),
        '',
        'Reference server (bench/estop/reference-server.ts: bare HTTP and Modbus servers, one INSERT per request):',
        '',
        ...latencyTable(reference, 'row committed'),
        '',
        '| adapter ÷ reference | p50 | p99 |',
        '| --- | ---: | ---: |',
        ratioRow('(a)', result.toModbus, reference.toModbus),
        ratioRow('(b)', result.toResponse, reference.toResponse),
        '',
        `Status-word reads during the adapter run: ${result.polls}`,
        '',
      ].join('\n'),
    );
  } finally {
    await adapter?.stop();
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (error) {
  process.stderr.write(`bench:estop: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = error instanceof UsageError ? 2 : 1;
}
