/**
 * Limits a repeated log line to one per interval and key, so that a misbehaving or malicious
 * client cannot flood the log. Keys are fixed event names, never client addresses, so the map
 * stays small.
 */
export class LogThrottle {
  private readonly lastLogged = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Returns the number of repeats suppressed since the last logged line when the line for `key`
   * should be logged now, or null when it should be skipped. Repeats after the last logged line
   * are only reported by the next one, so a burst that stops is never counted in the log.
   */
  admit(key: string): number | null {
    const now = this.now();
    const entry = this.lastLogged.get(key);
    if (entry && now - entry.at < this.intervalMs) {
      entry.suppressed += 1;
      return null;
    }

    const suppressed = entry?.suppressed ?? 0;
    this.lastLogged.set(key, { at: now, suppressed: 0 });
    return suppressed;
  }
}
