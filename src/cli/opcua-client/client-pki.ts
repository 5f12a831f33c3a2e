import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import { convertPEMtoDER } from 'node-opcua-crypto';
import { CheckFailure } from './check-failure.js';
import { summarizeCertificate, type CertificateSummary } from './certificate-summary.js';

/** ApplicationName of this client; node-opcua names a rejected certificate file after its CN. */
export const CLIENT_APPLICATION_NAME = 'calejo-opcua-client';
const VALIDITY_DAYS = 5 * 365;
/** A new certificate starts a day back, so a server whose clock runs behind still accepts it. */
const BACKDATE_MS = 24 * 3600 * 1000;

/** This client's certificate store: its own certificate and key, and the server certificates it trusts. */
export interface ClientPki {
  rootDir: string;
  manager: OPCUACertificateManager;
  certificateFile: string;
  privateKeyFile: string;
  applicationUri: string;
  certificate: CertificateSummary;
  /** True when this run created the certificate. */
  created: boolean;
}

/**
 * Opens the store in `rootDir` and creates the client's key and self-signed certificate on the
 * first run. The ApplicationUri comes from the certificate, because a server rejects a session
 * whose ApplicationUri differs from the URI in the client certificate.
 */
export async function openClientPki(rootDir: string): Promise<ClientPki> {
  const manager = new OPCUACertificateManager({ rootFolder: rootDir, automaticallyAcceptUnknownCertificate: false });
  const certificateFile = join(rootDir, 'own', 'certs', 'client_certificate.pem');
  try {
    mkdirSync(rootDir, { recursive: true, mode: 0o700 });
    // Creates the store's folders and, when missing, a 2048-bit RSA key in own/private/.
    await manager.initialize();
    const created = !existsSync(certificateFile);
    if (created) {
      const host = hostname();
      await manager.createSelfSignedCertificate({
        applicationUri: `urn:${host}:calejo:opcua-client`,
        subject: `/CN=${CLIENT_APPLICATION_NAME}@${host}/O=Calejo`,
        dns: [host],
        startDate: new Date(Date.now() - BACKDATE_MS),
        validity: VALIDITY_DAYS,
        outputFile: certificateFile,
      });
    }
    const certificate = summarizeCertificate(convertPEMtoDER(readFileSync(certificateFile, 'utf8')));
    if (!certificate.applicationUri) throw new Error(`${certificateFile} has no URI in its subjectAltName; delete it to have a new one created`);
    return { rootDir, manager, certificateFile, privateKeyFile: manager.privateKey, applicationUri: certificate.applicationUri, certificate, created };
  } catch (error) {
    await manager.dispose().catch(() => undefined); // the store failure is the error to report
    throw new CheckFailure(
      'CLIENT_PKI_FAILED',
      `the client certificate store ${rootDir} cannot be used: ${(error as Error).message}. Give a writable folder with --pki-dir`,
      { cause: error },
    );
  }
}

/**
 * Checks the server certificate against the store's trusted certificates before a password is
 * sent, and first trusts it when `trust` is set. node-opcua copies an untrusted certificate into
 * rejected/, from where an operator moves it to trusted/certs/ as on the server side.
 */
export async function verifyServerCertificate(pki: ClientPki, der: Buffer, trust: boolean): Promise<void> {
  if (trust) await pki.manager.trustCertificate(der);
  const status = await pki.manager.checkCertificate(der);
  if (status.isGood()) return;

  const server = summarizeCertificate(der);
  const identity = `the server certificate "${server.subject}" (SHA-1 ${server.thumbprint})`;
  if (status.name === 'BadCertificateUntrusted') {
    throw new CheckFailure(
      'SERVER_CERTIFICATE_UNTRUSTED',
      [
        `this client does not trust ${identity} yet, so it sent no password (${status.name}).`,
        `A copy of the certificate is in ${pki.manager.rejectedFolder}.`,
        `Compare its thumbprint with certificate_thumbprint in the adapter's "OPC UA server listening" log line`,
        `(openssl x509 -in CERTS_DIR/server.pem -noout -fingerprint -sha1 prints it in upper case with colons),`,
        `then move the file to ${pki.manager.trustedFolder} or run again with --trust-server-certificate.`,
      ].join('\n'),
    );
  }
  if (status.name === 'BadCertificateTimeInvalid') {
    throw new CheckFailure(
      'SERVER_CERTIFICATE_UNTRUSTED',
      `${identity} is valid from ${server.notBefore.toISOString()} to ${server.notAfter.toISOString()}, which excludes now (${status.name}); renew the adapter's certificate or correct the clock of this machine or the server`,
    );
  }
  throw new CheckFailure('SERVER_CERTIFICATE_UNTRUSTED', `this client rejected ${identity} with ${status.name}; check the certificate and its issuers in ${pki.rootDir}`);
}
