import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { AdapterError } from '../errors.js';
import type { AdapterLogger } from '../log.js';
import type { StopCommandRecord } from './stop-store.js';

const originSchema = z.object({
  source: z.enum(['rest', 'opcua', 'modbus', 'cli', 'ui', 'system']),
  actor: z.string().nullable(),
  actorRole: z.string().nullable(),
  sourceAddress: z.string().nullable(),
  reason: z.string().nullable(),
  operator: z.string().nullable(),
});

const journalSchema = z.object({
  version: z.literal(1),
  commands: z.array(
    z.object({
      stationId: z.string().min(1),
      kind: z.enum(['activate', 'clear', 'resume']),
      acceptedAt: z.iso.datetime(),
      origin: originSchema,
    }),
  ),
});

/**
 * Journal file in the data directory with the stop, clear and resume commands that the database
 * has not committed yet, so that a restart during a database outage does not lose them. The
 * station write queues record their pending commands here only once a write fails or is slow, so
 * a normal stop costs no file write. Each save replaces the file atomically (write, fsync,
 * rename, fsync of the folder), and an empty journal removes the file.
 */
export class CommandJournal {
  private readonly commands = new Map<string, StopCommandRecord[]>();

  constructor(
    readonly path: string,
    private readonly logger: AdapterLogger,
  ) {}

  /**
   * Reads the file, if there is one, and returns its commands per station in the order they were
   * accepted. A file that cannot be parsed stops the start, because guessing could undo a stop.
   */
  load(): Map<string, StopCommandRecord[]> {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      throw error;
    }
    let parsed: z.infer<typeof journalSchema>;
    try {
      parsed = journalSchema.parse(JSON.parse(text));
    } catch (error) {
      throw new AdapterError(
        'CONFIG_INVALID',
        `invalid pending-command journal ${this.path}: ${(error as Error).message.split('\n')[0]}; it contains emergency-stop commands not yet written to the database, so check the stations' state by hand, then move the file away and start again`,
        { cause: error },
      );
    }
    this.commands.clear();
    for (const entry of parsed.commands) {
      const record: StopCommandRecord = { kind: entry.kind, stationId: entry.stationId, origin: entry.origin, acceptedAt: new Date(entry.acceptedAt) };
      this.commands.set(entry.stationId, [...(this.commands.get(entry.stationId) ?? []), record]);
    }
    if (parsed.commands.length > 0) {
      this.logger.warning({ path: this.path, commands: parsed.commands.length, stations: [...this.commands.keys()] }, 'pending emergency-stop commands found from an earlier run; they apply before the stored state');
    }
    return new Map(this.commands);
  }

  /** Replaces the station's pending commands and saves the file; does nothing when they are unchanged. */
  record(stationId: string, commands: readonly StopCommandRecord[]): void {
    const previous = this.commands.get(stationId) ?? [];
    if (previous.length === commands.length && previous.every((command, index) => command === commands[index])) return;
    if (commands.length === 0) this.commands.delete(stationId);
    else this.commands.set(stationId, [...commands]);
    this.save();
  }

  private save(): void {
    const all = [...this.commands.values()].flat();
    if (all.length === 0) {
      rmSync(this.path, { force: true });
      return;
    }
    const document = {
      version: 1,
      commands: all.map((command) => ({ stationId: command.stationId, kind: command.kind, acceptedAt: command.acceptedAt.toISOString(), origin: command.origin })),
    };
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const temporary = `${this.path}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(document)}\n`, { mode: 0o600 });
    syncPath(temporary);
    renameSync(temporary, this.path);
    syncPath(dirname(this.path));
  }
}

/** Flushes a file or folder to disk, so that a rename is durable once this returns. */
function syncPath(path: string): void {
  const descriptor = openSync(path, 'r');
  try {
    fsyncSync(descriptor);
  } finally {
    closeSync(descriptor);
  }
}
