import { EXIT } from './exit-codes.js';

export const HEALTH_CHECK_HELP = `Usage: calejo-cli health [--url URL] [--timeout SECONDS] [--json]

Reads GET /api/v1/health/detailed from a running adapter and prints one summary line, then the
database, protocol servers, stations and OPC UA certificate.
--url      the adapter's REST address (default: CALEJO_URL, or http://localhost:8080)
--timeout  seconds to wait for the response (default 5)
--json     print the adapter's document instead of text
Exit codes: 0 healthy, 1 degraded or the OPC UA certificate expires within 30 days,
2 unhealthy, 3 could not check (adapter unreachable, invalid answer or arguments).`;

/** Days before the OPC UA server certificate expires from which the check warns. */
const CERTIFICATE_WARNING_DAYS = 30;

interface DetailedHealth {
  status: 'healthy' | 'degraded' | 'unhealthy';
  version: string;
  database: { status: string; kind: string; description: string; error?: string };
  protocols: Record<string, { listening: boolean; address: string | null; port: number | null }>;
  stations: Array<{ station_id: string; state: string; failsafe_active: boolean; persistence_pending: boolean }>;
  certificates: { opcua_server: { days_to_expiry: number | null } };
}

/** Runs the check against the adapter at `url` and returns the exit code; output goes to `write`. */
export async function healthCheck(options: { url: string; timeoutSeconds: number; json: boolean; write: (text: string) => void }): Promise<number> {
  let endpoint: URL;
  try {
    endpoint = new URL('/api/v1/health/detailed', options.url);
  } catch {
    options.write(`UNKNOWN: invalid --url "${options.url}"; give the adapter's address, such as http://localhost:8080\n`);
    return EXIT.UNKNOWN;
  }

  let response: Response;
  try {
    response = await fetch(endpoint, { signal: AbortSignal.timeout(options.timeoutSeconds * 1000) });
  } catch (error) {
    const reason = (error as Error).name === 'TimeoutError' ? `no response within ${options.timeoutSeconds} s` : describeFetchFailure(error);
    options.write(`UNKNOWN: cannot reach the adapter at ${endpoint.origin}: ${reason}; check that it runs and --url is right\n`);
    return EXIT.UNKNOWN;
  }
  let health: DetailedHealth;
  try {
    health = (await response.json()) as DetailedHealth;
    if (!health.status || !health.database || !Array.isArray(health.stations)) throw new Error('fields status, database or stations missing');
  } catch (error) {
    options.write(`UNKNOWN: ${endpoint.href} responded ${response.status} without a health document (${(error as Error).message}); is --url the adapter's REST address?\n`);
    return EXIT.UNKNOWN;
  }

  const certificateDays = health.certificates?.opcua_server?.days_to_expiry ?? null;
  const certificateExpiring = certificateDays !== null && certificateDays < CERTIFICATE_WARNING_DAYS;
  let code: number = EXIT.OK;
  if (health.status === 'unhealthy') code = EXIT.CRITICAL;
  else if (health.status === 'degraded' || certificateExpiring) code = EXIT.WARNING;

  if (options.json) {
    options.write(`${JSON.stringify(health)}\n`);
    return code;
  }
  const label = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'][code];
  options.write(`${label}: adapter ${health.version} at ${endpoint.origin} is ${health.status}\n`);
  options.write(`database: ${health.database.status} (${health.database.kind} ${health.database.description})${health.database.error ? `: ${health.database.error}` : ''}\n`);
  for (const [name, protocol] of Object.entries(health.protocols ?? {})) {
    options.write(`${name}: ${protocol.listening ? `listening on ${protocol.address}:${protocol.port}` : 'not listening'}\n`);
  }
  for (const station of health.stations) {
    const flags = [station.failsafe_active ? 'failsafe' : null, station.persistence_pending ? 'write pending' : null].filter(Boolean).join(', ');
    options.write(`station ${station.station_id}: ${station.state}${flags ? ` (${flags})` : ''}\n`);
  }
  if (certificateDays !== null) {
    options.write(`opcua certificate: expires in ${certificateDays} days${certificateExpiring ? `, under ${CERTIFICATE_WARNING_DAYS}; renew it` : ''}\n`);
  }
  return code;
}

/** Returns the socket error behind a failed fetch, such as ECONNREFUSED, or the message. */
function describeFetchFailure(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message;
}
