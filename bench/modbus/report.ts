import type { BenchRegisterCount } from './fixture.js';
import type { LoadMeasurement } from './load.js';
import type { ServerTarget } from './server-process.js';

/** The figures of one target, register count and connection count. */
export interface CaseResult {
  target: ServerTarget;
  registerCount: BenchRegisterCount;
  connections: number;
  measurement: LoadMeasurement;
  /** Server process CPU time over the window, as a percentage of one core. */
  serverCpuPercent: number;
  /**
   * CPU time of all other processes on the machine over the window, as a percentage of one core,
   * or null outside Linux. Client and server have a CPU each, so other work takes CPU from them.
   */
  otherCpuPercent: number | null;
}

/**
 * Other processes' CPU use above which a case is reported as disturbed, as a percentage of one
 * core. Without other load it stayed at 1 to 3 % on a 2-vCPU VM, from npm, tsx and kernel threads.
 */
const DISTURBANCE_THRESHOLD_PERCENT = 10;

/** Minimum adapter/raw throughput ratios that the adapter's Modbus server is meant to reach. */
export const THROUGHPUT_GOALS: ReadonlyArray<{ registerCount: BenchRegisterCount; connections: number; minRatio: number }> = [
  { registerCount: 10, connections: 1, minRatio: 0.9 },
  { registerCount: 10, connections: 8, minRatio: 0.8 },
];

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const twoDecimals = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const oneDecimal = new Intl.NumberFormat('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });

/** Formats a measured ratio with one decimal, so that 89.6 % is not shown as a goal of 90 % reached. */
function percent(ratio: number): string {
  return `${oneDecimal.format(ratio * 100)} %`;
}

function goalPercent(ratio: number): string {
  return `${integer.format(ratio * 100)} %`;
}

/** Formats rows as a Markdown table, so the output can be pasted into docs/benchmarks.md. */
function markdownTable(header: string[], rows: string[][]): string {
  return [header, header.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

export function formatResultsTable(results: readonly CaseResult[]): string {
  const header = ['server', 'registers', 'connections', 'requests/s', 'p50 µs', 'p99 µs', 'server CPU', 'client CPU', 'other CPU', 'server CPU µs/request'];
  const rows = results.map((result) => [
    result.target,
    String(result.registerCount),
    String(result.connections),
    integer.format(result.measurement.requestsPerSecond),
    oneDecimal.format(result.measurement.p50Microseconds),
    oneDecimal.format(result.measurement.p99Microseconds),
    `${integer.format(result.serverCpuPercent)} %`,
    `${integer.format(result.measurement.clientCpuPercent)} %`,
    result.otherCpuPercent === null ? 'n/a' : `${integer.format(result.otherCpuPercent)} %`,
    oneDecimal.format(serverCpuPerRequest(result)),
  ]);
  return markdownTable(header, rows);
}

/** Returns the server's CPU time per response in µs: its share of one core divided by requests per second. */
function serverCpuPerRequest(result: CaseResult): number {
  return (result.serverCpuPercent / 100 / result.measurement.requestsPerSecond) * 1e6;
}

function findResult(results: readonly CaseResult[], target: ServerTarget, registerCount: number, connections: number): CaseResult | undefined {
  return results.find((result) => result.target === target && result.registerCount === registerCount && result.connections === connections);
}

export function formatRatioTable(results: readonly CaseResult[]): string {
  const header = ['registers', 'connections', 'adapter requests/s', 'raw requests/s', 'adapter/raw', 'goal', 'server CPU/request adapter:raw'];
  const rows: string[][] = [];
  for (const adapter of results.filter((result) => result.target === 'adapter')) {
    const raw = findResult(results, 'raw', adapter.registerCount, adapter.connections);
    if (!raw) continue;
    const goal = THROUGHPUT_GOALS.find((candidate) => candidate.registerCount === adapter.registerCount && candidate.connections === adapter.connections);
    rows.push([
      String(adapter.registerCount),
      String(adapter.connections),
      integer.format(adapter.measurement.requestsPerSecond),
      integer.format(raw.measurement.requestsPerSecond),
      percent(adapter.measurement.requestsPerSecond / raw.measurement.requestsPerSecond),
      goal ? `≥ ${goalPercent(goal.minRatio)}` : '',
      `${twoDecimals.format(serverCpuPerRequest(adapter) / serverCpuPerRequest(raw))}×`,
    ]);
  }
  return markdownTable(header, rows);
}

function isDisturbed(result: CaseResult): boolean {
  return result.otherCpuPercent !== null && result.otherCpuPercent > DISTURBANCE_THRESHOLD_PERCENT;
}

/** Returns a NOTE line for each case during which other processes used more CPU than the threshold. */
export function formatDisturbanceLines(results: readonly CaseResult[]): string[] {
  return results
    .filter(isDisturbed)
    .map(
      (result) =>
        `NOTE: other processes used ${integer.format(result.otherCpuPercent ?? 0)} % of a core during ${result.target}, ` +
        `${result.registerCount} registers, ${result.connections} connection(s), so its figures may be low; run again on an idle machine`,
    );
}

/** Returns one line per throughput goal, starting with "GOAL MISSED" when the adapter is below it. */
export function formatGoalLines(results: readonly CaseResult[]): string[] {
  return THROUGHPUT_GOALS.map((goal) => {
    const scope = `${goal.connections} connection${goal.connections === 1 ? '' : 's'}, ${goal.registerCount} registers`;
    const adapter = findResult(results, 'adapter', goal.registerCount, goal.connections);
    const raw = findResult(results, 'raw', goal.registerCount, goal.connections);
    if (!adapter || !raw) return `GOAL NOT MEASURED (${scope}): a case is missing from this run`;

    const ratio = adapter.measurement.requestsPerSecond / raw.measurement.requestsPerSecond;
    const disturbed = isDisturbed(adapter) || isDisturbed(raw) ? ' (other processes competed for CPU, see NOTE above)' : '';
    const figures = `adapter reached ${percent(ratio)} of the raw server's throughput, goal ≥ ${goalPercent(goal.minRatio)}${disturbed}`;
    return ratio < goal.minRatio ? `GOAL MISSED (${scope}): ${figures}` : `goal met (${scope}): ${figures}`;
  });
}
