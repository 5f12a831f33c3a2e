import { MessageSecurityMode, OPCUAClient, SecurityPolicy, UserTokenType, type EndpointDescription } from 'node-opcua-client';
import { withDeadline } from './check-failure.js';
import { summarizeCertificate, type CertificateSummary } from './certificate-summary.js';
import { baseClientOptions, closeClient } from './client-options.js';
import type { ClientPki } from './client-pki.js';
import { connectionFailure } from './connection-errors.js';
import type { EndpointAddress } from './endpoint-url.js';

export interface EndpointSummary {
  endpointUrl: string;
  /** Short policy name, such as Basic256Sha256. */
  securityPolicy: string;
  securityMode: string;
  securityLevel: number;
  /** Token types users may log in with: Anonymous, UserName, Certificate, IssuedToken. */
  userTokenTypes: string[];
}

export interface Discovery {
  server: { applicationName: string; applicationUri: string; productUri: string };
  endpoints: EndpointSummary[];
  /** The DER certificate the endpoints carry; null when the server sent none. */
  serverCertificate: Buffer | null;
  certificate: CertificateSummary | null;
}

const DISCOVERY_STEP = 'GetEndpoints';

/**
 * Connects over a SecurityPolicy None channel and calls GetEndpoints. OPC UA allows discovery on
 * such a channel even when the server offers no None endpoint for sessions, as the adapter does
 * by default, so this step needs no trust on either side.
 */
export async function discoverEndpoints(address: EndpointAddress, pki: ClientPki, timeoutMs: number): Promise<Discovery> {
  const client = OPCUAClient.create({
    ...baseClientOptions(pki, timeoutMs),
    securityMode: MessageSecurityMode.None,
    securityPolicy: SecurityPolicy.None,
  });
  try {
    await withDeadline(client.connect(address.url), timeoutMs, DISCOVERY_STEP, address.url);
    const endpoints = await withDeadline(client.getEndpoints(), timeoutMs, DISCOVERY_STEP, address.url);
    return summarizeDiscovery(endpoints);
  } catch (error) {
    throw connectionFailure(error, DISCOVERY_STEP, address, timeoutMs);
  } finally {
    await closeClient(client, timeoutMs);
  }
}

function summarizeDiscovery(endpoints: EndpointDescription[]): Discovery {
  const first = endpoints[0];
  const serverCertificate = endpoints.find((endpoint) => endpoint.serverCertificate && endpoint.serverCertificate.length > 0)?.serverCertificate ?? null;
  return {
    server: {
      applicationName: first?.server.applicationName.text ?? '',
      applicationUri: first?.server.applicationUri ?? '',
      productUri: first?.server.productUri ?? '',
    },
    endpoints: endpoints.map(summarizeEndpoint),
    serverCertificate,
    certificate: serverCertificate ? summarizeCertificate(serverCertificate) : null,
  };
}

function summarizeEndpoint(endpoint: EndpointDescription): EndpointSummary {
  const tokenTypes = (endpoint.userIdentityTokens ?? []).map((token) => UserTokenType[token.tokenType] ?? String(token.tokenType));
  return {
    endpointUrl: endpoint.endpointUrl ?? '',
    securityPolicy: shortPolicyName(endpoint.securityPolicyUri ?? ''),
    securityMode: MessageSecurityMode[endpoint.securityMode] ?? String(endpoint.securityMode),
    securityLevel: endpoint.securityLevel,
    userTokenTypes: [...new Set(tokenTypes)],
  };
}

/** Returns the part after '#' of a policy URI such as http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256. */
export function shortPolicyName(uri: string): string {
  return uri.split('#')[1] ?? uri;
}
