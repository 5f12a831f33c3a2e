/**
 * Counts login attempts per client address in a sliding one-minute window, across all usernames,
 * so one address cannot guess passwords for many accounts faster than the per-account lockout can count.
 */
export class LoginRateLimiter {
  private readonly attempts = new Map<string, number[]>();
  /** Addresses rejected in the current window, so only the first rejection of a burst is audited. */
  private readonly rejected = new Set<string>();

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Records an attempt. Returns the seconds to wait when the address is over its limit (else 0),
   * and whether this is the first rejection since the address was last allowed.
   */
  take(address: string): { waitSeconds: number; firstRejection: boolean } {
    const now = this.now();
    const windowStart = now - 60_000;
    const recent = (this.attempts.get(address) ?? []).filter((at) => at > windowStart);
    if (recent.length >= this.perMinute) {
      this.attempts.set(address, recent);
      const oldest = recent[0] ?? now;
      const firstRejection = !this.rejected.has(address);
      this.rejected.add(address);
      return { waitSeconds: Math.max(1, Math.ceil((oldest + 60_000 - now) / 1000)), firstRejection };
    }
    this.rejected.delete(address);
    recent.push(now);
    this.attempts.set(address, recent);
    if (this.attempts.size > 10_000) this.forgetIdle(windowStart);
    return { waitSeconds: 0, firstRejection: false };
  }

  /** Bounds memory when many addresses try once and never return. */
  private forgetIdle(windowStart: number): void {
    for (const [address, times] of this.attempts) {
      if ((times.at(-1) ?? 0) <= windowStart) {
        this.attempts.delete(address);
        this.rejected.delete(address);
      }
    }
  }
}
