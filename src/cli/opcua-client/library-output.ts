import { format, stripVTControlCharacters } from 'node:util';
import { setDebugLogger, setErrorLogger, setTraceLogger, setWarningLogger } from 'node-opcua-debug';

/**
 * Keeps node-opcua's own console output off stdout, which carries only the check's report. The
 * CLI explains each failure itself, so the library's messages are dropped unless --verbose sends
 * them to stderr. Messages from before the choice wait in a short buffer. The hooks are
 * process-wide, so this module must be imported before any other node-opcua module.
 */
const EARLY_LIMIT = 50;
const early: string[] = [];
let mode: 'buffer' | 'stderr' | 'drop' = 'buffer';

/** Sends node-opcua's messages to stderr (with --verbose) or drops them, including the buffered ones. */
export function showLibraryOutput(verbose: boolean): void {
  mode = verbose ? 'stderr' : 'drop';
  const buffered = early.splice(0);
  if (verbose) for (const line of buffered) process.stderr.write(line);
}

function write(parts: unknown[]): void {
  if (mode === 'drop') return;
  const line = `node-opcua: ${stripVTControlCharacters(format(...parts)).trim()}\n`;
  if (mode === 'stderr') process.stderr.write(line);
  else if (early.length < EARLY_LIMIT) early.push(line);
}

setWarningLogger((_context?: unknown, ...parts: unknown[]) => write(parts));
setErrorLogger((_context?: unknown, ...parts: unknown[]) => write(parts));
setDebugLogger(() => undefined);
setTraceLogger(() => undefined);

// A few node-opcua modules (node-opcua-pki among them) call console.log directly. The CLI writes
// its own output with process.stdout.write, so the console methods carry only library output.
for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
  console[method] = (...parts: unknown[]) => write(parts);
}
