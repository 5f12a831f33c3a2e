/**
 * Tracks conditions that last for a while, such as a pump's clamped plan value, so that each is
 * audited and alerted once when it starts and once when it ends, and never on every tick.
 */
export class EpisodeTracker<Details> {
  private readonly open = new Map<string, Details>();

  /**
   * Records whether the condition `key` is true now. Returns 'started' or 'ended' on a change, with
   * the details it started with, and null while nothing changes.
   */
  update(key: string, active: boolean, details: Details): { change: 'started' | 'ended'; details: Details } | null {
    const started = this.open.get(key);
    if (active && started === undefined) {
      this.open.set(key, details);
      return { change: 'started', details };
    }
    if (!active && started !== undefined) {
      this.open.delete(key);
      return { change: 'ended', details: started };
    }
    return null;
  }

  isOpen(key: string): boolean {
    return this.open.has(key);
  }

  /** Replaces the open episodes with `open`, such as those the audit log shows open at a restart. */
  restore(open: ReadonlyMap<string, Details>): void {
    this.open.clear();
    for (const [key, details] of open) this.open.set(key, details);
  }
}
