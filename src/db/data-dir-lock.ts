import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AdapterError } from '../errors.js';

/**
 * Takes `<dataDir>/adapter.lock` for this process, because PGlite has no lock of its own and two
 * adapters on one embedded database would corrupt it. A lock left by a process that no longer
 * runs (after kill -9) is taken over. Returns the release function.
 */
export function lockDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, 'adapter.lock');

  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return () => rmSync(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number(readFileSync(path, 'utf8').trim());
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isRunning(owner)) {
      throw new AdapterError(
        'DATA_DIR_LOCKED',
        `data directory ${dataDir} is in use by adapter process ${owner}; stop that process or set CALEJO_DATA_DIR to another directory`,
      );
    }
    rmSync(path, { force: true });
  }
  throw new AdapterError('DATA_DIR_LOCKED', `cannot lock data directory ${dataDir}; remove ${path} if no adapter is running`);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
