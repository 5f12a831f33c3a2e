#!/usr/bin/env node
// Must stay the first import: it keeps node-opcua's console output off stdout.
import { showLibraryOutput } from './opcua-client/library-output.js';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { EXIT } from './exit-codes.js';
import { CheckFailure } from './opcua-client/check-failure.js';
import { defaultPkiDir } from './opcua-client/default-pki-dir.js';
import { parseEndpointUrl } from './opcua-client/endpoint-url.js';
import { PASSWORD_VARIABLE, requirePasswordSource } from './opcua-client/password.js';
import { formatJson, formatText, type CheckReport } from './opcua-client/report.js';
import type { CheckOptions } from './opcua-client/run-check.js';

const DEFAULT_TIMEOUT_SECONDS = 5;
const MAX_TIMEOUT_SECONDS = 600;

const HELP = `Usage: opcua-client connect URL [--username NAME] [--json] [--timeout SECONDS]
                          [--pki-dir DIR] [--trust-server-certificate] [--verbose]

Checks an OPC UA server such as the adapter's. Connects to URL (opc.tcp://HOST:PORT, port 4840
when left out), calls GetEndpoints over a SecurityPolicy None channel, which needs no trust, and
prints the server's application name and URI, the expiry of its certificate and each endpoint's
security policy, security mode and user token types.

Options:
  --username NAME    also open a session as NAME with Basic256Sha256 SignAndEncrypt and read the
                     server's state and current time (Server_ServerStatus). The password comes
                     from ${PASSWORD_VARIABLE}, or from a prompt when stdin is a terminal; the
                     command line takes none.
  --pki-dir DIR      this client's certificate store: its own certificate and key in own/, server
                     certificates it trusts in trusted/certs/, rejected ones in rejected/. Created
                     on the first run. Default: ${defaultPkiDir()}
  --trust-server-certificate
                     trust the certificate the server presents; use it only after comparing its
                     SHA-1 thumbprint with the adapter's certificate_thumbprint
  --timeout SECONDS  time limit of each network request (connect, GetEndpoints, login, read),
                     default ${DEFAULT_TIMEOUT_SECONDS}
  --json             print one JSON document instead of text, also when the check fails (exit 2)
  --verbose          copy node-opcua's own warnings and errors to stderr

A session needs trust on both sides. This client trusts the server once the server certificate is
in DIR/trusted/certs/. The adapter trusts this client once an administrator moves the client
certificate from CERTS_DIR/pki/rejected/ to CERTS_DIR/pki/trusted/certs/ on the adapter host
(/app/certs in the container); the first session attempt puts it into rejected/.

Exit codes: 0 the server answered (and the session worked), 2 the server was unreachable, refused
the connection or timed out, or a certificate or the user was rejected, 3 bad arguments or the
check could not run (no password, unusable --pki-dir).`;

/** Parses the command line; returns null for --help and throws a RangeError naming a bad value. */
function parseOptions(argv: string[]): CheckOptions | null {
  if (argv.some((argument) => argument === '--password' || argument.startsWith('--password='))) {
    throw new RangeError(`--password is not accepted, because shell history and the process list would show it: set ${PASSWORD_VARIABLE} or answer the prompt`);
  }
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      username: { type: 'string' },
      json: { type: 'boolean' },
      timeout: { type: 'string', default: String(DEFAULT_TIMEOUT_SECONDS) },
      'pki-dir': { type: 'string' },
      'trust-server-certificate': { type: 'boolean' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return null;

  const [command, url] = positionals;
  if (command !== 'connect' || url === undefined || positionals.length !== 2) throw new RangeError('expected: opcua-client connect URL');
  const timeout = Number(values.timeout);
  if (!Number.isFinite(timeout) || timeout < 0.1 || timeout > MAX_TIMEOUT_SECONDS) {
    throw new RangeError(`invalid --timeout "${values.timeout}": give the seconds as a number from 0.1 to ${MAX_TIMEOUT_SECONDS}`);
  }
  if (values.username !== undefined && values.username.trim() === '') throw new RangeError('invalid --username "": give the name of an adapter user');
  return {
    address: parseEndpointUrl(url),
    username: values.username ?? null,
    json: values.json === true,
    timeoutMs: Math.round(timeout * 1000),
    pkiDir: values['pki-dir'] ? resolve(values['pki-dir']) : defaultPkiDir(),
    trustServerCertificate: values['trust-server-certificate'] === true,
    verbose: values.verbose === true,
  };
}

async function main(argv: string[]): Promise<number> {
  let options: CheckOptions | null;
  try {
    options = parseOptions(argv);
  } catch (error) {
    process.stderr.write(`opcua-client: ${(error as Error).message}\n\n${HELP}\n`);
    return EXIT.UNKNOWN;
  }
  if (options === null) {
    process.stdout.write(`${HELP}\n`);
    return EXIT.OK;
  }
  showLibraryOutput(options.verbose);

  const report: CheckReport = { endpointUrl: options.address.url, discovery: null, session: null, pki: null, failure: null };
  try {
    if (options.username) requirePasswordSource(options.username);
    // node-opcua takes seconds to load, so --help and argument errors return before it is imported.
    const { runCheck } = await import('./opcua-client/run-check.js');
    await runCheck(options, report);
  } catch (error) {
    report.failure = error instanceof CheckFailure ? error : new CheckFailure('UNEXPECTED_ERROR', `the check stopped with an unexpected error: ${(error as Error).message}`, { cause: error });
    if (options.verbose && !(error instanceof CheckFailure)) process.stderr.write(`${(error as Error).stack ?? ''}\n`);
  } finally {
    await report.pki?.manager.dispose().catch(() => undefined); // the check's result is already known
  }

  process.stdout.write(options.json ? formatJson(report) : formatText(report));
  if (report.failure) process.stderr.write(`opcua-client: ${report.failure.message}\n`);
  return report.failure ? report.failure.exitCode : EXIT.OK;
}

// Exit explicitly: a client that timed out can leave a socket or a file watcher open.
process.exit(await main(process.argv.slice(2)));
