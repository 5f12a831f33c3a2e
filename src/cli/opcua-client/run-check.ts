import { openClientPki } from './client-pki.js';
import { discoverEndpoints } from './discovery.js';
import type { EndpointAddress } from './endpoint-url.js';
import { readPassword } from './password.js';
import type { CheckReport } from './report.js';
import { checkSession } from './session-check.js';

/** The check's settings, parsed and validated from the command line. */
export interface CheckOptions {
  address: EndpointAddress;
  username: string | null;
  json: boolean;
  timeoutMs: number;
  pkiDir: string;
  trustServerCertificate: boolean;
  verbose: boolean;
}

/** Runs discovery and, with --username, the session; each step fills its part of the report. */
export async function runCheck(options: CheckOptions, report: CheckReport): Promise<void> {
  report.pki = await openClientPki(options.pkiDir);
  report.discovery = await discoverEndpoints(options.address, report.pki, options.timeoutMs);
  if (!options.username) return;
  // Asked after discovery, so that an unreachable server fails before anyone types a password.
  const password = await readPassword(options.username);
  report.session = await checkSession({
    address: options.address,
    discovery: report.discovery,
    pki: report.pki,
    username: options.username,
    password,
    trustServerCertificate: options.trustServerCertificate,
    timeoutMs: options.timeoutMs,
  });
}
