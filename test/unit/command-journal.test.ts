import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isAdapterError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { CommandJournal } from '../../src/station/command-journal.js';
import type { StopCommandRecord } from '../../src/station/stop-store.js';

const logger = createLogger({ level: 'silent' });

function command(stationId: string, kind: StopCommandRecord['kind'], at: string): StopCommandRecord {
  return { stationId, kind, acceptedAt: new Date(at), origin: { source: 'rest', actor: 'alice', actorRole: 'operator', sourceAddress: '127.0.0.1', reason: 'drill', operator: null } };
}

describe('CommandJournal', () => {
  it('reads back what it saved, per station and in order', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'calejo-journal-')), 'pending.json');
    const journal = new CommandJournal(path, logger);
    journal.record('s1', [command('s1', 'activate', '2030-01-01T00:00:00.000Z'), command('s1', 'clear', '2030-01-01T00:00:05.000Z')]);
    journal.record('s2', [command('s2', 'activate', '2030-01-01T00:00:01.000Z')]);

    const loaded = new CommandJournal(path, logger).load();
    expect(loaded.get('s1')?.map((each) => each.kind)).toEqual(['activate', 'clear']);
    expect(loaded.get('s1')?.[1]?.acceptedAt.toISOString()).toBe('2030-01-01T00:00:05.000Z');
    expect(loaded.get('s2')?.[0]?.origin.reason).toBe('drill');
  });

  it('removes the file once nothing is pending', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'calejo-journal-')), 'pending.json');
    const journal = new CommandJournal(path, logger);
    journal.record('s1', [command('s1', 'activate', '2030-01-01T00:00:00.000Z')]);
    expect(existsSync(path)).toBe(true);
    journal.record('s1', []);
    expect(existsSync(path)).toBe(false);
  });

  it('keeps other stations when one is written', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'calejo-journal-')), 'pending.json');
    const journal = new CommandJournal(path, logger);
    journal.record('s1', [command('s1', 'activate', '2030-01-01T00:00:00.000Z')]);
    journal.record('s2', [command('s2', 'activate', '2030-01-01T00:00:01.000Z')]);
    journal.record('s1', []);
    const saved = JSON.parse(readFileSync(path, 'utf8')) as { commands: Array<{ stationId: string }> };
    expect(saved.commands.map((each) => each.stationId)).toEqual(['s2']);
  });

  it('rejects an unreadable file with its path', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'calejo-journal-')), 'pending.json');
    writeFileSync(path, '{"version":1,"commands":[{"stationId":"s1","kind":"pause"}]}');
    let caught: unknown;
    try {
      new CommandJournal(path, logger).load();
    } catch (error) {
      caught = error;
    }
    expect(isAdapterError(caught, 'CONFIG_INVALID')).toBe(true);
    expect(String((caught as Error).message)).toContain(path);
  });

  it('returns nothing without a file', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'calejo-journal-')), 'missing.json');
    expect(new CommandJournal(path, logger).load().size).toBe(0);
  });
});
