import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * Returns the CPUs this process may run on, from Cpus_allowed_list in /proc/self/status, or null
 * where that file does not exist (outside Linux).
 */
export function allowedCpus(): number[] | null {
  let status: string;
  try {
    status = readFileSync('/proc/self/status', 'utf8');
  } catch {
    return null;
  }
  const list = /^Cpus_allowed_list:\s*(\S+)$/m.exec(status)?.[1];
  if (!list) return null;

  // The list has the form "0-3,6,8-9".
  const cpus: number[] = [];
  for (const part of list.split(',')) {
    const [first, last = first] = part.split('-').map(Number);
    if (first === undefined || last === undefined || !Number.isInteger(first) || !Number.isInteger(last)) return null;
    for (let cpu = first; cpu <= last; cpu += 1) cpus.push(cpu);
  }
  return cpus;
}

/** Returns whether util-linux taskset can be run, which pinProcess needs. */
export function canPinProcesses(): boolean {
  try {
    execFileSync('taskset', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Restricts every thread of process `pid` to `cpu` with `taskset -a -p`. Threads that the process
 * creates later inherit the restriction. Throws when taskset fails.
 */
export function pinProcess(pid: number, cpu: number): void {
  execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' });
}
