import type { EndpointAddress } from './endpoint-url.js';
import { CheckFailure, timedOut } from './check-failure.js';

/**
 * Turns a node-opcua connection error into a CheckFailure that names what failed and what to
 * check. node-opcua 2.182 wraps socket errors into new Error objects whose message quotes the
 * errno code (for example "connect ECONNREFUSED 127.0.0.1:4840"), without a cause, so the
 * message text is the only source.
 */
export function connectionFailure(error: unknown, step: string, address: EndpointAddress, timeoutMs: number): CheckFailure {
  if (error instanceof CheckFailure) return error;
  const text = errorText(error);
  const target = `${address.host}:${address.port}`;

  if (/ECONNREFUSED/.test(text)) {
    return new CheckFailure(
      'CONNECTION_REFUSED',
      `${step} on ${address.url} failed: ${target} refused the connection (ECONNREFUSED), so nothing listens on port ${address.port}. Check that the adapter runs and that the port in the URL is its OPC UA port (OPCUA_PORT, default 4840)`,
      { cause: error },
    );
  }
  const unreachable = /EHOSTUNREACH|ENETUNREACH|EHOSTDOWN|ENETDOWN/.exec(text);
  if (unreachable) {
    return new CheckFailure(
      'HOST_UNREACHABLE',
      `${step} on ${address.url} failed: host ${address.host} is unreachable (${unreachable[0]}). Check the host in the URL, the network route and the firewalls between this machine and the adapter`,
      { cause: error },
    );
  }
  const notFound = /ENOTFOUND|EAI_AGAIN|EAI_NONAME/.exec(text);
  if (notFound) {
    return new CheckFailure(
      'HOST_NOT_FOUND',
      `${step} on ${address.url} failed: host name "${address.host}" was not found (${notFound[0]}). Check its spelling or give the adapter's IP address in the URL`,
      { cause: error },
    );
  }
  if (/ETIMEDOUT|Timeout/i.test(text)) return timedOut(step, address.url, timeoutMs);
  return new CheckFailure(
    'CONNECTION_FAILED',
    `${step} on ${address.url} failed: ${causeLine(text)}. Check that the URL names the adapter's OPC UA port, or run again with --verbose for node-opcua's details`,
    { cause: error },
  );
}

/** Returns the error's message with its OPC UA status code name when it has one. */
export function errorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const statusCode = (error as { statusCode?: { name?: string } }).statusCode;
  const name = statusCode?.name;
  return name && !error.message.includes(name) ? `${error.message} (${name})` : error.message;
}

/**
 * Returns the line that states the failure. node-opcua's connection messages span several lines of
 * advice, and the line that starts with "Err =" quotes the underlying error.
 */
function causeLine(text: string): string {
  const lines = text.split('\n').map((line) => line.trim()).filter((line) => line.length > 0);
  const errorLine = lines.find((line) => line.startsWith('Err ='));
  return (errorLine ?? lines[0] ?? 'unknown error').replace(/^Err = \(?|\)$/g, '');
}
