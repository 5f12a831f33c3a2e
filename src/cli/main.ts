#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { AUDIT_VERIFY_HELP, auditVerify } from './audit-verify.js';
import { EXIT } from './exit-codes.js';
import { HEALTH_CHECK_HELP, healthCheck } from './health-check.js';

const HELP = `Usage: calejo-cli <command> [options]

Commands:
  audit verify [--json]   check the audit log's hash chain
  health [--url URL]      check a running adapter's detailed health

Run calejo-cli <command> --help for a command's options.`;

/** Entry point of the operations CLI that the scripts in scripts/ wrap. */
async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { json: { type: 'boolean' }, help: { type: 'boolean' }, url: { type: 'string' }, timeout: { type: 'string' } } });
  } catch (error) {
    process.stderr.write(`calejo-cli: ${(error as Error).message}\n\n${HELP}\n`);
    return EXIT.UNKNOWN;
  }
  const { values, positionals } = parsed;
  const command = positionals.join(' ');
  const write = (text: string) => process.stdout.write(text);

  if (command === 'audit verify') {
    if (values.help) {
      write(`${AUDIT_VERIFY_HELP}\n`);
      return EXIT.OK;
    }
    return auditVerify({ json: values.json === true, databaseUrl: process.env.DATABASE_URL, write });
  }
  if (command === 'health') {
    if (values.help) {
      write(`${HEALTH_CHECK_HELP}\n`);
      return EXIT.OK;
    }
    const timeoutSeconds = Number(values.timeout ?? '5');
    if (!/^\d+(\.\d+)?$/.test(values.timeout ?? '5') || timeoutSeconds <= 0 || timeoutSeconds > 300) {
      process.stderr.write(`calejo-cli: invalid --timeout "${values.timeout}": give seconds from 0.1 to 300\n`);
      return EXIT.UNKNOWN;
    }
    const url = values.url ?? process.env.CALEJO_URL ?? 'http://localhost:8080';
    return healthCheck({ url, timeoutSeconds, json: values.json === true, write });
  }
  if (command === '' && values.help) {
    write(`${HELP}\n`);
    return EXIT.OK;
  }
  process.stderr.write(`unknown command "${command}"\n\n${HELP}\n`);
  return EXIT.UNKNOWN;
}

process.exitCode = await main(process.argv.slice(2));
