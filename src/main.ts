#!/usr/bin/env node
import { loadConfig, type AdapterConfig } from './config/load.js';
import { createLogger, type AdapterLogger } from './log.js';
import { Adapter, VERSION } from './runtime/adapter.js';

/**
 * Entry point of `npm start`. Start-up problems an operator must fix (configuration, ports,
 * database settings) end the process with exit code 1 and one line on stderr that names what to
 * change. An unreachable PostgreSQL is not one of them: the adapter runs and keeps retrying.
 */
async function main(): Promise<void> {
  let config: AdapterConfig;
  let logger: AdapterLogger;
  try {
    config = loadConfig();
    logger = createLogger({ level: config.logLevel });
  } catch (error) {
    exitWithMessage(error);
  }

  logger.info(
    { version: VERSION, config: config.source, demo: config.isDemo, database: config.databaseUrl ? 'postgres' : 'embedded', stations: config.stations.length },
    'Calejo Control Adapter starting',
  );
  let adapter: Adapter;
  try {
    adapter = new Adapter(config, logger);
  } catch (error) {
    exitWithMessage(error);
  }

  let stopping = false;
  const shutdown = async (signal: string, exitCode: number) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    await adapter.stop();
    logger.info('stopped');
    process.exit(exitCode);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM', 0));
  process.on('SIGINT', () => void shutdown('SIGINT', 0));
  adapter.onEscalation((error) => {
    logger.critical({ err: error }, 'root supervisor gave up; exiting');
    process.stderr.write(`calejo: ${error.message}\n`);
    void shutdown('escalation', 1);
  });

  try {
    await adapter.start();
  } catch {
    // The escalation listener above has reported the cause and is shutting down.
    return;
  }
  logger.info({ ports: adapter.ports }, 'Calejo Control Adapter running');
}

function exitWithMessage(error: unknown): never {
  process.stderr.write(`calejo: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}

await main();
