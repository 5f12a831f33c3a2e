/** Exit codes of the CLI and the scripts, in the convention of Nagios-style monitoring checks. */
export const EXIT = {
  OK: 0,
  WARNING: 1,
  CRITICAL: 2,
  UNKNOWN: 3,
} as const;
