import { pino, type Logger, type LevelWithSilentOrString } from 'pino';

/**
 * Level names follow syslog wording (WARNING, CRITICAL) because operators grep the JSON lines for
 * "ERROR|WARNING|CRITICAL". pino's numeric values are kept so that tools reading numbers still work.
 */
const LEVELS = { trace: 10, debug: 20, info: 30, warning: 40, error: 50, critical: 60 } as const;

export type AdapterLogger = Logger<keyof typeof LEVELS>;

export function createLogger(options: { level?: LevelWithSilentOrString; destination?: NodeJS.WritableStream } = {}): AdapterLogger {
  const level = options.level ?? 'info';
  if (level !== 'silent' && !(level in LEVELS)) {
    throw new Error(`invalid LOG_LEVEL "${level}": use one of ${Object.keys(LEVELS).join(', ')} or silent`);
  }
  return pino(
    {
      level,
      customLevels: LEVELS,
      useOnlyCustomLevels: true,
      base: { service: 'calejo-control-adapter' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label.toUpperCase() }),
      },
    },
    options.destination ?? process.stdout,
  ) as AdapterLogger;
}
