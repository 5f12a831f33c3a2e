import type { OPCUAClient, OPCUAClientOptions } from 'node-opcua-client';
import { CLIENT_APPLICATION_NAME, type ClientPki } from './client-pki.js';

/**
 * Client settings shared by the discovery and the session step: the store's certificate, one
 * connection attempt without retries (an operator's check reports the first failure), and
 * `timeoutMs` for the transport and each request.
 */
export function baseClientOptions(pki: ClientPki, timeoutMs: number): OPCUAClientOptions {
  return {
    applicationName: CLIENT_APPLICATION_NAME,
    applicationUri: pki.applicationUri,
    clientCertificateManager: pki.manager,
    certificateFile: pki.certificateFile,
    privateKeyFile: pki.privateKeyFile,
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    transportTimeout: timeoutMs,
    defaultTransactionTimeout: timeoutMs,
    keepSessionAlive: false,
  };
}

/** Disconnects within `timeoutMs`; a client that does not close in time is left to the process exit. */
export async function closeClient(client: OPCUAClient, timeoutMs: number): Promise<void> {
  // A failed or slow disconnect changes no result of the check, so its error is ignored.
  const disconnected = client.disconnect().catch(() => undefined);
  const gaveUp = new Promise((resolve) => setTimeout(resolve, timeoutMs).unref());
  await Promise.race([disconnected, gaveUp]);
}
