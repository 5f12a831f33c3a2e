import {
  AttributeIds,
  MessageSecurityMode,
  OPCUAClient,
  SecurityPolicy,
  ServerState,
  UserTokenType,
  VariableIds,
} from 'node-opcua-client';
import { ServerStatusDataType } from 'node-opcua-types';
import { PKI_FOLDER } from '../../opcua/certificates.js';
import { CheckFailure, withDeadline } from './check-failure.js';
import { baseClientOptions, closeClient } from './client-options.js';
import { verifyServerCertificate, type ClientPki } from './client-pki.js';
import { connectionFailure, errorText } from './connection-errors.js';
import { shortPolicyName, type Discovery } from './discovery.js';
import type { EndpointAddress } from './endpoint-url.js';

/** Security of the session the check opens. SignAndEncrypt keeps the password and the values private on the wire. */
const SESSION_POLICY = SecurityPolicy.Basic256Sha256;
const SESSION_MODE = MessageSecurityMode.SignAndEncrypt;
const SESSION_STEP = 'opening a Basic256Sha256 SignAndEncrypt session';
const SERVER_STATUS_NODE = `ns=0;i=${VariableIds.Server_ServerStatus}`;
const READ_STEP = `reading Server_ServerStatus (${SERVER_STATUS_NODE})`;

export interface SessionRequest {
  address: EndpointAddress;
  discovery: Discovery;
  pki: ClientPki;
  username: string;
  password: string;
  trustServerCertificate: boolean;
  timeoutMs: number;
}

export interface SessionStatus {
  username: string;
  securityPolicy: string;
  securityMode: string;
  /** ServerState name from Server_ServerStatus, such as Running. */
  serverState: string;
  currentTime: Date | null;
  startTime: Date | null;
  /** Server time minus local time at the middle of the read, in whole milliseconds. */
  clockOffsetMs: number | null;
  softwareVersion: string;
}

/**
 * Opens a session as `username` and reads Server_ServerStatus (ns=0;i=2256). The server
 * certificate is checked against this client's store first, so the password goes only to a
 * trusted server.
 */
export async function checkSession(request: SessionRequest): Promise<SessionStatus> {
  const { address, discovery, pki, timeoutMs } = request;
  requireEndpoint(discovery, address);
  if (!discovery.serverCertificate) {
    throw new CheckFailure('ENDPOINT_NOT_OFFERED', `${address.url} sent no server certificate with its endpoints, so a secured session cannot be opened`);
  }
  await verifyServerCertificate(pki, discovery.serverCertificate, request.trustServerCertificate);

  const client = OPCUAClient.create({
    ...baseClientOptions(pki, timeoutMs),
    securityMode: SESSION_MODE,
    securityPolicy: SESSION_POLICY,
    // The certificate verified above; without it node-opcua would fetch and check it again.
    serverCertificate: discovery.serverCertificate,
    requestedSessionTimeout: Math.max(timeoutMs, 10_000),
  });
  try {
    try {
      await withDeadline(client.connect(address.url), timeoutMs, SESSION_STEP, address.url);
    } catch (error) {
      throw rejectedClientCertificate(error, pki) ?? connectionFailure(error, SESSION_STEP, address, timeoutMs);
    }

    const loginStep = `logging in as ${request.username}`;
    let session;
    try {
      const identity = { type: UserTokenType.UserName, userName: request.username, password: request.password } as const;
      session = await withDeadline(client.createSession(identity), timeoutMs, loginStep, address.url);
    } catch (error) {
      throw rejectedUser(error, request.username) ?? connectionFailure(error, loginStep, address, timeoutMs);
    }

    const sentAt = Date.now();
    let dataValue;
    try {
      dataValue = await withDeadline(session.read({ nodeId: SERVER_STATUS_NODE, attributeId: AttributeIds.Value }), timeoutMs, READ_STEP, address.url);
    } catch (error) {
      throw error instanceof CheckFailure ? error : new CheckFailure('STATUS_READ_FAILED', `${READ_STEP} on ${address.url} failed: ${errorText(error)}`, { cause: error });
    }
    const receivedAt = Date.now();
    // The status is read already, so a failed or slow close changes nothing.
    await withDeadline(session.close(), timeoutMs, 'closing the session', address.url).catch(() => undefined);
    const status: unknown = dataValue.value.value;
    if (!dataValue.statusCode.isGood() || !(status instanceof ServerStatusDataType)) {
      throw new CheckFailure('STATUS_READ_FAILED', `${READ_STEP} on ${address.url} returned ${dataValue.statusCode.name} and no ServerStatus value`);
    }
    return {
      username: request.username,
      securityPolicy: shortPolicyName(SESSION_POLICY),
      securityMode: MessageSecurityMode[SESSION_MODE],
      serverState: ServerState[status.state] ?? String(status.state),
      currentTime: status.currentTime,
      startTime: status.startTime,
      clockOffsetMs: status.currentTime ? Math.round(status.currentTime.getTime() - (sentAt + receivedAt) / 2) : null,
      softwareVersion: status.buildInfo.softwareVersion ?? '',
    };
  } finally {
    await closeClient(client, timeoutMs);
  }
}

function requireEndpoint(discovery: Discovery, address: EndpointAddress): void {
  const policy = shortPolicyName(SESSION_POLICY);
  const endpoint = discovery.endpoints.find((candidate) => candidate.securityPolicy === policy && candidate.securityMode === MessageSecurityMode[SESSION_MODE]);
  if (!endpoint) {
    throw new CheckFailure('ENDPOINT_NOT_OFFERED', `${address.url} offers no ${policy} SignAndEncrypt endpoint, which --username needs; check the server's security settings`);
  }
  if (!endpoint.userTokenTypes.includes('UserName')) {
    throw new CheckFailure('ENDPOINT_NOT_OFFERED', `the ${policy} SignAndEncrypt endpoint of ${address.url} accepts no user names (only ${endpoint.userTokenTypes.join(', ') || 'no tokens'})`);
  }
}

/**
 * Explains BadSecurityChecksFailed on OpenSecureChannel. The adapter returns it for a client
 * certificate it does not trust, and stores the certificate in CERTS_DIR/pki/rejected/ for an
 * administrator to move to trusted/certs/. Other certificate faults (expired, wrong URI) return
 * the same code, so the message names the usual cause without ruling out the others.
 */
function rejectedClientCertificate(error: unknown, pki: ClientPki): CheckFailure | null {
  if (!errorText(error).includes('BadSecurityChecksFailed')) return null;
  const { thumbprint, subject } = pki.certificate;
  const commonName = /CN=([^,]+)/.exec(subject)?.[1] ?? '';
  const rejected = `CERTS_DIR/${PKI_FOLDER}/rejected`;
  const trusted = `CERTS_DIR/${PKI_FOLDER}/trusted/certs`;
  return new CheckFailure(
    'CLIENT_CERTIFICATE_REJECTED',
    [
      `the server rejected this client's certificate (BadSecurityChecksFailed), most likely because it does not trust it yet.`,
      `Client certificate: ${pki.certificateFile}`,
      `SHA-1 thumbprint:   ${thumbprint}`,
      `The adapter stored a copy as ${rejected}/${commonName}[${thumbprint}].pem (CERTS_DIR is /app/certs in the container).`,
      `After checking the thumbprint, an administrator moves that file to ${trusted}/ on the adapter, for example:`,
      `  mv '/app/certs/${PKI_FOLDER}/rejected/${commonName}[${thumbprint}].pem' /app/certs/${PKI_FOLDER}/trusted/certs/`,
      `Then run this check again; the adapter needs no restart. If the certificate is trusted already, check its validity`,
      `(${pki.certificate.notBefore.toISOString()} to ${pki.certificate.notAfter.toISOString()}) and both clocks.`,
    ].join('\n'),
    { cause: error },
  );
}

/** node-opcua reports a rejected user name or password with one of these status codes. */
const USER_REJECTION = /BadUserAccessDenied|BadIdentityTokenRejected|BadIdentityTokenInvalid|BadUserSignatureInvalid/;

function rejectedUser(error: unknown, username: string): CheckFailure | null {
  const match = USER_REJECTION.exec(errorText(error));
  if (!match) return null;
  return new CheckFailure(
    'USER_REJECTED',
    `the server rejected the login of user "${username}" (${match[0]}): check the user name and OPCUA_PASSWORD, and that the user is active and not locked out after repeated failures`,
    { cause: error },
  );
}
