/**
 * Cache of values read from the user, role and API-token tables, kept until one of those tables
 * changes.
 *
 * An entry is fresh only if it was read from the database connection that is current now, and no
 * change was announced since its read began. Every change announces itself:
 * the routes that write these tables call `invalidate()` after their commit, and triggers send a
 * NOTIFY on `identity_changed` for writes made elsewhere (psql). A reconnect gives a new connection
 * object, so a change whose NOTIFY was lost with the old connection cannot leave a fresh entry.
 *
 * A stale entry is still returned by `lastKnown`, for authorizing while the database is out.
 */
export class IdentityCache<Value> {
  private generation = 0;
  private readonly entries = new Map<string, { value: Value; source: object; generation: number }>();

  constructor(private readonly maxEntries = 10_000) {}

  /** Returns the value read for `key` from `source` since the last change, or undefined. */
  fresh(key: string, source: object | null): Value | undefined {
    const entry = this.entries.get(key);
    if (!entry || source === null || entry.source !== source || entry.generation !== this.generation) return undefined;
    return entry.value;
  }

  /** Returns the value last read for `key`, however old. */
  lastKnown(key: string): Value | undefined {
    return this.entries.get(key)?.value;
  }

  /**
   * Reads `key` with `load` and keeps the result. A change announced while the read ran may not
   * be in its result, so such a result is kept as last known but not as fresh. A null result
   * (unknown, deactivated, revoked) removes the entry.
   */
  async read(key: string, source: object, load: () => Promise<Value | null>): Promise<Value | null> {
    const startedAt = this.generation;
    const value = await load();
    if (value === null) {
      this.entries.delete(key);
      return null;
    }
    // Keys are user ids and token digests that passed a signature or digest check, so the map
    // stays small and this bound is only a backstop.
    if (this.entries.size >= this.maxEntries && !this.entries.has(key)) this.entries.clear();
    this.entries.set(key, { value, source, generation: startedAt === this.generation ? startedAt : -1 });
    return value;
  }

  /** Marks every entry stale. */
  invalidate(): void {
    this.generation += 1;
  }

  /** Forgets `key`, for a value known to be gone. */
  delete(key: string): void {
    this.entries.delete(key);
  }
}
