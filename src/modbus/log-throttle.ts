/**
 * Limits a repeated event to one per interval and key, so that a misbehaving or malicious client
 * cannot flood the log or the audit log. Keys may contain client addresses, so the number of keys
 * is bounded: beyond maxKeys the key admitted longest ago is forgotten, and its next event is
 * admitted as if it were the first.
 */
export class LogThrottle {
  private readonly lastLogged = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxKeys = 1024,
  ) {}

  /**
   * Returns the number of repeats suppressed since the last admitted event when the event for
   * `key` should be logged now, or null when it should be skipped. Repeats after the last
   * admitted event are only reported by the next one, so a burst that stops is never counted.
   */
  admit(key: string): number | null {
    const now = this.now();
    const entry = this.lastLogged.get(key);
    if (entry && now - entry.at < this.intervalMs) {
      entry.suppressed += 1;
      return null;
    }

    const suppressed = entry?.suppressed ?? 0;
    // Deleting first moves the key to the end of the insertion order, which the eviction relies on.
    this.lastLogged.delete(key);
    this.lastLogged.set(key, { at: now, suppressed: 0 });
    if (this.lastLogged.size > this.maxKeys) {
      const oldest = this.lastLogged.keys().next().value;
      if (oldest !== undefined) this.lastLogged.delete(oldest);
    }
    return suppressed;
  }
}
