import { readdirSync, readFileSync } from 'node:fs';

/** /proc/<pid>/stat counts USER_HZ ticks, which are 100 per second on x86-64 and arm64 Linux (getconf CLK_TCK). */
const TICKS_PER_SECOND = 100;

/** CPU time in ticks of every process on the machine, by pid. */
export type ProcessCpuSample = Map<number, number>;

/**
 * Reads user plus system time of every process from /proc/<pid>/stat, or returns null where
 * /proc does not exist (outside Linux). A process that exits while it is read is skipped.
 */
export function sampleProcessCpu(): ProcessCpuSample | null {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return null;
  }

  const sample: ProcessCpuSample = new Map();
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // The command name in brackets may contain spaces, so fields are counted from its closing bracket.
    // After it come state (field 3) and so on, and utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    sample.set(Number(entry), Number(fields[11]) + Number(fields[12]));
  }
  return sample;
}

/**
 * Returns the CPU time that processes other than `excludedPids` used between two samples, as a
 * percentage of one core over `seconds`. It is a lower bound, because a process that exited
 * before the second sample is not counted.
 */
export function otherProcessesCpuPercent(
  start: ProcessCpuSample,
  end: ProcessCpuSample,
  excludedPids: ReadonlySet<number>,
  seconds: number,
): number {
  let ticks = 0;
  for (const [pid, endTicks] of end) {
    if (excludedPids.has(pid)) continue;
    // A pid missing from the first sample belongs to a process started in between.
    ticks += endTicks - (start.get(pid) ?? 0);
  }
  return (ticks / TICKS_PER_SECOND / seconds) * 100;
}
