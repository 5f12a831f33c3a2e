import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Runs one statement with the psql client, as operators and the optimizer would, and returns the unaligned output. */
export async function psql(url: string, sql: string): Promise<string> {
  const { stdout } = await run('psql', [url, '-v', 'ON_ERROR_STOP=1', '-At', '-c', sql], { timeout: 10_000 });
  return stdout.trim();
}
