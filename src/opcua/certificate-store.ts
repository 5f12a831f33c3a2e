import { createHash, X509Certificate } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import { StatusCodes, type StatusCode, type StatusCodeCallback } from 'node-opcua-status-code';
import { LogThrottle } from '../modbus/log-throttle.js';

type Certificate = Buffer;

/** A client certificate that the store did not accept, as the audit row describes it. */
export interface RejectedCertificate {
  thumbprint: string;
  subject: string;
  applicationUri: string | null;
  status: string;
  /** Repeats of the same certificate since its last report. */
  suppressedRepeats: number;
}

/** A client that retries every few seconds would otherwise write an audit row per attempt. */
const REPORT_INTERVAL_MS = 10 * 60 * 1000;

/**
 * The server's store of client application certificates (trusted/, rejected/, issuers/ below its
 * root folder). It never trusts an unknown certificate by itself: node-opcua copies it to
 * rejected/, and an operator trusts it by moving the file to trusted/certs/. Each rejection is
 * reported once per certificate and interval.
 */
export class ClientCertificateStore extends OPCUACertificateManager {
  private readonly throttle = new LogThrottle(REPORT_INTERVAL_MS);

  private readonly trustedCertificatesFolder: string;

  constructor(
    rootFolder: string,
    private readonly onRejected: (certificate: RejectedCertificate) => void,
  ) {
    super({ rootFolder, automaticallyAcceptUnknownCertificate: false });
    this.trustedCertificatesFolder = join(rootFolder, 'trusted', 'certs');
  }

  override checkCertificate(certificateChain: Certificate | Certificate[]): Promise<StatusCode>;
  override checkCertificate(certificateChain: Certificate | Certificate[], callback: StatusCodeCallback): void;
  override checkCertificate(certificateChain: Certificate | Certificate[], callback?: StatusCodeCallback): Promise<StatusCode> | void {
    const check = super.checkCertificate.bind(this) as (chain: Certificate | Certificate[]) => Promise<StatusCode>;
    const verdict = check(certificateChain)
      .then((status) => this.recheckMovedCertificate(certificateChain, status, check))
      .then((status) => {
        if (status.isNotGood()) this.report(certificateChain, status);
        return status;
      });
    if (!callback) return verdict;
    verdict.then(
      (status) => callback(null, status),
      (error: unknown) => callback(error as Error),
    );
  }

  /**
   * Trusts an untrusted certificate again when an operator has moved it to trusted/certs/.
   * node-opcua's index of the folders follows them through file watchers, which lag under load
   * and stop when the system runs out of inotify instances, so the folders are read again here.
   * A client that retried while the move was under way may also have got its certificate written
   * to rejected/ once more. node-opcua rejects a certificate that is in both folders, so that
   * copy is removed.
   */
  private async recheckMovedCertificate(
    certificateChain: Certificate | Certificate[],
    status: StatusCode,
    check: (chain: Certificate | Certificate[]) => Promise<StatusCode>,
  ): Promise<StatusCode> {
    const leaf = Array.isArray(certificateChain) ? certificateChain[0] : certificateChain;
    if (!leaf || !status.equals(StatusCodes.BadCertificateUntrusted) || !(await this.isInTrustedFolder(leaf))) return status;
    await this.reloadCertificates();
    const reloaded = await check(certificateChain);
    if (!reloaded.equals(StatusCodes.BadCertificateUntrusted)) return reloaded;
    await this.trustCertificate(leaf);
    return check(certificateChain);
  }

  private async isInTrustedFolder(der: Buffer): Promise<boolean> {
    const thumbprint = describeCertificate(der).thumbprint;
    const files = await readdir(this.trustedCertificatesFolder).catch(() => [] as string[]);
    for (const file of files) {
      const content = await readFile(join(this.trustedCertificatesFolder, file)).catch(() => null);
      if (content && thumbprintOf(content) === thumbprint) return true;
    }
    return false;
  }

  private report(certificateChain: Certificate | Certificate[], status: StatusCode): void {
    const leaf = Array.isArray(certificateChain) ? certificateChain[0] : certificateChain;
    if (!leaf) return;
    const described = describeCertificate(leaf);
    const suppressed = this.throttle.admit(described.thumbprint);
    if (suppressed === null) return;
    this.onRejected({ ...described, status: status.name, suppressedRepeats: suppressed });
  }
}

function describeCertificate(der: Buffer): Omit<RejectedCertificate, 'status' | 'suppressedRepeats'> {
  try {
    const certificate = new X509Certificate(der);
    const uri = (certificate.subjectAltName ?? '')
      .split(', ')
      .find((entry) => entry.startsWith('URI:'))
      ?.slice('URI:'.length);
    return {
      thumbprint: certificate.fingerprint.replaceAll(':', '').toLowerCase(),
      subject: certificate.subject.replaceAll('\n', ', '),
      applicationUri: uri ?? null,
    };
  } catch {
    // A certificate that does not parse is still reported, by a hash of its bytes.
    return { thumbprint: createHash('sha1').update(der).digest('hex'), subject: '(unparsable certificate)', applicationUri: null };
  }
}

/** SHA-1 thumbprint of a PEM or DER certificate file's content, or null when it is no certificate. */
function thumbprintOf(content: Buffer): string | null {
  try {
    return new X509Certificate(content).fingerprint.replaceAll(':', '').toLowerCase();
  } catch {
    // Other files in the folder, such as a README, are not certificates and are skipped.
    return null;
  }
}
