import { format, stripVTControlCharacters } from 'node:util';
import { setDebugLogger, setErrorLogger, setTraceLogger, setWarningLogger } from 'node-opcua-debug';
import type { AdapterLogger } from '../log.js';

interface CallerContext {
  filename?: string;
  callerline?: number;
}

type Level = 'debug' | 'warning';

/** Messages node-opcua prints while its modules load, before a server has a logger to give. */
const early: Array<{ level: Level; context: unknown; parts: unknown[] }> = [];
const EARLY_LIMIT = 50;
let target: AdapterLogger | null = null;

/**
 * Sends node-opcua's own messages to the adapter's JSON log instead of coloured console lines on
 * stdout. Its warnings (an untrusted certificate, an RSA padding notice) repeat what the adapter
 * logs and audits itself, so they go to debug. Its errors go to warning, because the server keeps
 * running after them. Its debug and trace output appears only with DEBUG set and is dropped.
 * The hooks are process-wide and installed when this module loads, so this module must be
 * imported before any other node-opcua module.
 */
export function routeLibraryLogs(logger: AdapterLogger): void {
  target = logger.child({ library: 'node-opcua' });
  for (const message of early.splice(0)) write(message.level, message.context, message.parts);
}

function write(level: Level, context: unknown, parts: unknown[]): void {
  if (!target) {
    if (early.length < EARLY_LIMIT) early.push({ level, context, parts });
    return;
  }
  const caller = (context ?? {}) as CallerContext;
  const text = stripVTControlCharacters(format(...parts)).trim();
  target[level]({ file: caller.filename, line: caller.callerline }, text.length > 2000 ? `${text.slice(0, 2000)}…` : text);
}

setWarningLogger((context?: unknown, ...parts: unknown[]) => write('debug', context, parts));
setErrorLogger((context?: unknown, ...parts: unknown[]) => write('warning', context, parts));
setDebugLogger(() => undefined);
setTraceLogger(() => undefined);
