import { X509Certificate } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, relative } from 'node:path';
import { CertificatePurpose, createSelfSignedCertificate, generatePrivateKeyFile, pemToPrivateKey } from 'node-opcua-crypto';
import { AdapterError } from '../errors.js';
import type { AdapterLogger } from '../log.js';

/** File names in CERTS_DIR that the operations guide uses (`openssl x509 -in server.pem`). */
export const SERVER_CERTIFICATE_FILE = 'server.pem';
export const SERVER_KEY_FILE = 'server.key';
export const CA_CERTIFICATE_FILE = 'ca.crt';
/** node-opcua's client-certificate store: trusted/, rejected/, issuers/ below this folder. */
export const PKI_FOLDER = 'pki';
/** node-opcua's store of user certificates for X509 identity tokens, with the same layout. */
export const USER_PKI_FOLDER = 'user-pki';

/** Validity of a created certificate: five years, after which `rotate-certificates` must run. */
const VALIDITY_DAYS = 5 * 365;
const KEY_BITS = 2048;

export interface ServerCertificate {
  certificateFile: string;
  privateKeyFile: string;
  /** SHA-1 fingerprint as OPC UA clients show it: 40 lowercase hex digits. */
  thumbprint: string;
  notAfter: Date;
  created: boolean;
}

export interface CertificateRequest {
  certsDir: string;
  applicationUri: string;
  applicationName: string;
  /** IP addresses the certificate names besides 127.0.0.1, such as a specific bind address. */
  ipAddresses: string[];
  logger: AdapterLogger;
}

/**
 * Returns the server's application instance certificate from CERTS_DIR, creating a self-signed
 * one with a new 2048-bit RSA key when neither file exists. Creation runs in-process through
 * node-opcua-crypto (no openssl, no network) and took under a second on the development VM. A
 * self-signed certificate is its own issuer, so `ca.crt` is a copy of it and
 * `openssl verify -CAfile ca.crt server.pem` succeeds. An operator who installs a certificate
 * from the site's CA replaces both files.
 */
export async function ensureServerCertificate(request: CertificateRequest): Promise<ServerCertificate> {
  const { certsDir } = request;
  const certificateFile = join(certsDir, SERVER_CERTIFICATE_FILE);
  const privateKeyFile = join(certsDir, SERVER_KEY_FILE);
  const caFile = join(certsDir, CA_CERTIFICATE_FILE);
  mkdirSync(certsDir, { recursive: true, mode: 0o700 });

  const haveCertificate = existsSync(certificateFile);
  const haveKey = existsSync(privateKeyFile);
  if (haveCertificate !== haveKey) {
    const missing = haveCertificate ? privateKeyFile : certificateFile;
    throw new AdapterError(
      'CERTIFICATE_INVALID',
      `${missing} is missing but its partner file exists; restore it from a backup, or remove both ${SERVER_CERTIFICATE_FILE} and ${SERVER_KEY_FILE} so that a new certificate is created (OPC UA clients must then trust the new one)`,
      { details: { certs_dir: certsDir } },
    );
  }

  const created = !haveCertificate;
  if (created) await createCertificate(request, certificateFile, privateKeyFile);
  for (const store of [PKI_FOLDER, USER_PKI_FOLDER]) linkStoreKey(join(certsDir, store), privateKeyFile);
  const certificate = readCertificate(certificateFile);
  if (!existsSync(caFile) && certificate.checkIssued(certificate)) copyFileSync(certificateFile, caFile);

  const uris = (certificate.subjectAltName ?? '').split(', ').filter((entry) => entry.startsWith('URI:'));
  if (!uris.includes(`URI:${request.applicationUri}`)) {
    request.logger.warning(
      { certificate: certificateFile, application_uri: request.applicationUri, certificate_uris: uris },
      `server certificate does not name application URI ${request.applicationUri}; clients may reject the server. Rotate the certificate or set opcua.application_uri to the URI in the certificate`,
    );
  }
  return {
    certificateFile,
    privateKeyFile,
    thumbprint: certificate.fingerprint.replaceAll(':', '').toLowerCase(),
    notAfter: new Date(certificate.validTo),
    created,
  };
}

async function createCertificate(request: CertificateRequest, certificateFile: string, privateKeyFile: string): Promise<void> {
  // Both files are written under temporary names and renamed, so a crash leaves no half pair.
  const keyTemporary = `${privateKeyFile}.tmp`;
  const certificateTemporary = `${certificateFile}.tmp`;
  await generatePrivateKeyFile(keyTemporary, KEY_BITS);
  chmodSync(keyTemporary, 0o600);
  const privateKey = await pemToPrivateKey(readFileSync(keyTemporary, 'utf8'));
  const now = new Date();
  const { cert } = await createSelfSignedCertificate({
    privateKey,
    notBefore: new Date(now.getTime() - 24 * 3600 * 1000),
    validity: VALIDITY_DAYS,
    subject: `/CN=${request.applicationName}/O=Calejo`,
    dns: [...new Set([hostname(), 'localhost'])],
    ip: [...new Set(['127.0.0.1', ...request.ipAddresses])],
    applicationUri: request.applicationUri,
    purpose: CertificatePurpose.ForApplication,
  });
  writeFileSync(certificateTemporary, cert, { mode: 0o644 });
  renameSync(keyTemporary, privateKeyFile);
  renameSync(certificateTemporary, certificateFile);
  request.logger.info({ certificate: certificateFile, private_key: privateKeyFile }, 'created a self-signed OPC UA application instance certificate');
}

/**
 * Links a certificate store's own key to server.key. A node-opcua store generates another RSA
 * key at its first start when it has none, which costs CPU time and leaves a key that nothing
 * uses.
 */
function linkStoreKey(storeRoot: string, privateKeyFile: string): void {
  const folder = join(storeRoot, 'own', 'private');
  const storeKey = join(folder, 'private_key.pem');
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  if (lstatSync(storeKey, { throwIfNoEntry: false })) return;
  symlinkSync(relative(folder, privateKeyFile), storeKey);
}

function readCertificate(file: string): X509Certificate {
  try {
    return new X509Certificate(readFileSync(file));
  } catch (error) {
    throw new AdapterError('CERTIFICATE_INVALID', `cannot read ${file} as an X.509 certificate (${(error as Error).message}); replace it with a PEM certificate or remove it and its key to create a new one`, {
      cause: error,
    });
  }
}
