import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import {
  AttributeIds,
  MessageSecurityMode,
  OPCUAClient,
  SecurityPolicy,
  UserTokenType,
  type ClientSession,
  type UserIdentityInfo,
} from 'node-opcua-client';

/** A client application's certificate store in a temporary folder, as a SCADA client has one. */
export interface ClientPki {
  name: string;
  applicationUri: string;
  root: string;
  certificateFile: string;
  privateKeyFile: string;
  thumbprint: string;
  remove(): void;
}

/** Creates a client certificate store and a self-signed client application certificate in it. */
export async function createClientPki(name: string): Promise<ClientPki> {
  const folder = mkdtempSync(join(tmpdir(), `calejo-opcua-client-${name}-`));
  const root = join(folder, 'pki');
  const applicationUri = `urn:calejo:test-client:${name}`;
  const manager = new OPCUACertificateManager({ rootFolder: root, automaticallyAcceptUnknownCertificate: false });
  await manager.initialize();
  const certificateFile = join(root, 'own', 'certs', 'client_certificate.pem');
  await manager.createSelfSignedCertificate({
    applicationUri,
    subject: `/CN=${name}/O=Calejo tests`,
    dns: ['localhost'],
    startDate: new Date(Date.now() - 24 * 3600 * 1000),
    validity: 30,
    outputFile: certificateFile,
  });
  await manager.dispose();
  const thumbprint = new X509Certificate(readFileSync(certificateFile)).fingerprint.replaceAll(':', '').toLowerCase();
  return {
    name,
    applicationUri,
    root,
    certificateFile,
    privateKeyFile: join(root, 'own', 'private', 'private_key.pem'),
    thumbprint,
    remove: () => rmSync(folder, { recursive: true, force: true }),
  };
}

/** Trusts the client's certificate on the server, as an operator does by copying it to trusted/certs. */
export function trustClientOnServer(pki: ClientPki, certsDir: string): void {
  const trusted = join(certsDir, 'pki', 'trusted', 'certs');
  mkdirSync(trusted, { recursive: true });
  copyFileSync(pki.certificateFile, join(trusted, `${pki.name}.pem`));
}

/** Trusts the adapter's server certificate in the client's store. */
export function trustServerOnClient(pki: ClientPki, certsDir: string): void {
  const trusted = join(pki.root, 'trusted', 'certs');
  mkdirSync(trusted, { recursive: true });
  copyFileSync(join(certsDir, 'server.pem'), join(trusted, 'calejo-server.pem'));
}

export interface Connection {
  client: OPCUAClient;
  session: ClientSession;
  close(): Promise<void>;
}

export interface ConnectOptions {
  securityMode?: MessageSecurityMode;
  securityPolicy?: SecurityPolicy;
  /** Username and password, or anonymous when omitted. */
  user?: { username: string; password: string };
}

/**
 * Connects with a fresh client (its store re-read from disk, so certificates copied in since are
 * seen) and opens a session. Defaults to Basic256Sha256 SignAndEncrypt.
 */
export async function connect(pki: ClientPki, port: number, options: ConnectOptions = {}): Promise<Connection> {
  const manager = new OPCUACertificateManager({ rootFolder: pki.root, automaticallyAcceptUnknownCertificate: false });
  await manager.initialize();
  const client = OPCUAClient.create({
    applicationName: pki.name,
    applicationUri: pki.applicationUri,
    clientCertificateManager: manager,
    certificateFile: pki.certificateFile,
    privateKeyFile: pki.privateKeyFile,
    securityMode: options.securityMode ?? MessageSecurityMode.SignAndEncrypt,
    securityPolicy: options.securityPolicy ?? SecurityPolicy.Basic256Sha256,
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    requestedSessionTimeout: 60_000,
  });
  try {
    await client.connect(`opc.tcp://127.0.0.1:${port}`);
    const identity: UserIdentityInfo = options.user
      ? { type: UserTokenType.UserName, userName: options.user.username, password: options.user.password }
      : { type: UserTokenType.Anonymous };
    const session = await client.createSession(identity);
    return {
      client,
      session,
      async close() {
        await session.close().catch(() => undefined);
        await client.disconnect();
        await manager.dispose();
      },
    };
  } catch (error) {
    await client.disconnect().catch(() => undefined);
    await manager.dispose();
    throw error;
  }
}

/** Reads one variable's value. Throws with the status code when it is not Good, so a failing test shows the cause. */
export async function readValue(session: ClientSession, nodeId: string): Promise<unknown> {
  const dataValue = await session.read({ nodeId, attributeId: AttributeIds.Value });
  if (!dataValue.statusCode.isGood()) throw new Error(`reading ${nodeId} returned ${dataValue.statusCode.toString()}`);
  return dataValue.value.value as unknown;
}

export const NS = 'ns=1;s=';
export { MessageSecurityMode, SecurityPolicy };
