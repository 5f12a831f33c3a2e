import { X509Certificate } from 'node:crypto';
import { split_der } from 'node-opcua-crypto';

const DAY_MS = 24 * 3600 * 1000;

/** Fields of an application instance certificate that an operator compares and watches. */
export interface CertificateSummary {
  subject: string;
  /** SHA-1 fingerprint, 40 lowercase hex digits, as node-opcua names its certificate files. */
  thumbprint: string;
  notBefore: Date;
  notAfter: Date;
  /** Whole days until notAfter; negative once the certificate has expired. */
  daysLeft: number;
  /** URI from the subjectAltName, which OPC UA requires to equal the ApplicationUri. */
  applicationUri: string | null;
}

/** Summarizes a DER certificate, or the first (leaf) certificate of a DER chain. */
export function summarizeCertificate(der: Buffer, now = new Date()): CertificateSummary {
  const [leaf] = split_der(der);
  const certificate = new X509Certificate(leaf ?? der);
  const notAfter = new Date(certificate.validTo);
  const uri = /URI:([^,\s]+)/.exec(certificate.subjectAltName ?? '');
  return {
    subject: certificate.subject.split('\n').join(', '),
    thumbprint: certificate.fingerprint.replaceAll(':', '').toLowerCase(),
    notBefore: new Date(certificate.validFrom),
    notAfter,
    daysLeft: Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS),
    applicationUri: uri?.[1] ?? null,
  };
}
