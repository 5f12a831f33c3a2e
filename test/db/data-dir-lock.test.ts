import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { lockDataDir } from '../../src/db/data-dir-lock.js';
import { isAdapterError } from '../../src/errors.js';

describe('data directory lock', () => {
  const folders: string[] = [];
  const folder = () => {
    const created = mkdtempSync(join(tmpdir(), 'calejo-lock-'));
    folders.push(created);
    return created;
  };
  afterEach(() => folders.splice(0).forEach((each) => rmSync(each, { recursive: true, force: true })));

  it('writes and releases the lock file', () => {
    const dataDir = folder();
    const release = lockDataDir(dataDir);
    expect(readFileSync(join(dataDir, 'adapter.lock'), 'utf8').trim()).toBe(String(process.pid));
    release();
    expect(existsSync(join(dataDir, 'adapter.lock'))).toBe(false);
  });

  it('rejects a directory another process holds', async () => {
    const dataDir = folder();
    const other = spawn('sleep', ['30']);
    try {
      writeFileSync(join(dataDir, 'adapter.lock'), `${other.pid}\n`);
      let caught: unknown;
      try {
        lockDataDir(dataDir);
      } catch (error) {
        caught = error;
      }
      expect(isAdapterError(caught, 'DATA_DIR_LOCKED')).toBe(true);
      expect((caught as Error).message).toContain(String(other.pid));
      expect((caught as Error).message).toContain('CALEJO_DATA_DIR');
    } finally {
      other.kill();
    }
  });

  it('takes over a lock left by a dead process', async () => {
    const dataDir = folder();
    const dead = spawn('true');
    await new Promise((resolve) => dead.once('exit', resolve));
    writeFileSync(join(dataDir, 'adapter.lock'), `${dead.pid}\n`);
    const release = lockDataDir(dataDir);
    expect(readFileSync(join(dataDir, 'adapter.lock'), 'utf8').trim()).toBe(String(process.pid));
    release();
  });
});
