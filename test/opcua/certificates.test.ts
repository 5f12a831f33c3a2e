import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAdapterError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { ensureServerCertificate, type CertificateRequest } from '../../src/opcua/certificates.js';

const run = promisify(execFile);

describe('server certificate in CERTS_DIR', () => {
  let certsDir: string;
  let request: CertificateRequest;

  beforeEach(() => {
    certsDir = join(mkdtempSync(join(tmpdir(), 'calejo-certs-test-')), 'certs');
    request = { certsDir, applicationUri: 'urn:calejo:control-adapter', applicationName: 'Calejo Control Adapter', ipAddresses: ['10.1.2.3'], logger: createLogger({ level: 'silent' }) };
  });

  afterEach(() => {
    rmSync(join(certsDir, '..'), { recursive: true, force: true });
  });

  it('creates server.pem, server.key and ca.crt', async () => {
    const started = performance.now();
    const created = await ensureServerCertificate(request);
    const elapsedMs = performance.now() - started;
    expect(elapsedMs).toBeLessThan(5000);
    expect(created.created).toBe(true);

    const certificate = new X509Certificate(readFileSync(join(certsDir, 'server.pem')));
    expect(certificate.subjectAltName).toContain('URI:urn:calejo:control-adapter');
    expect(certificate.subjectAltName).toContain('IP Address:10.1.2.3');
    expect(certificate.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(created.thumbprint).toBe(certificate.fingerprint.replaceAll(':', '').toLowerCase());
    expect(statSync(join(certsDir, 'server.key')).mode & 0o777).toBe(0o600);
    expect(certificate.checkPrivateKey(createPrivateKey(readFileSync(join(certsDir, 'server.key'))))).toBe(true);

    // The client-certificate store uses the server's key instead of generating its own.
    expect(readFileSync(join(certsDir, 'pki', 'own', 'private', 'private_key.pem'), 'utf8')).toBe(readFileSync(join(certsDir, 'server.key'), 'utf8'));

    const { stdout } = await run('openssl', ['verify', '-CAfile', join(certsDir, 'ca.crt'), join(certsDir, 'server.pem')]);
    expect(stdout).toContain(': OK');
    const { stdout: dates } = await run('openssl', ['x509', '-in', join(certsDir, 'server.pem'), '-enddate', '-noout']);
    expect(dates).toMatch(/^notAfter=/);
  });

  it('reuses an existing certificate', async () => {
    const first = await ensureServerCertificate(request);
    const second = await ensureServerCertificate(request);
    expect(second.created).toBe(false);
    expect(second.thumbprint).toBe(first.thumbprint);
  });

  it('recreates a missing ca.crt', async () => {
    await ensureServerCertificate(request);
    unlinkSync(join(certsDir, 'ca.crt'));
    await ensureServerCertificate(request);
    expect(readFileSync(join(certsDir, 'ca.crt'), 'utf8')).toBe(readFileSync(join(certsDir, 'server.pem'), 'utf8'));
  });

  it('rejects a certificate without its key', async () => {
    await ensureServerCertificate(request);
    unlinkSync(join(certsDir, 'server.key'));
    const error = await ensureServerCertificate(request).catch((caught: unknown) => caught);
    expect(isAdapterError(error, 'CERTIFICATE_INVALID')).toBe(true);
    expect((error as Error).message).toContain('server.key is missing');
  });

  it('rejects an unreadable server.pem', async () => {
    await ensureServerCertificate(request);
    writeFileSync(join(certsDir, 'server.pem'), 'not a certificate');
    const error = await ensureServerCertificate(request).catch((caught: unknown) => caught);
    expect(isAdapterError(error, 'CERTIFICATE_INVALID')).toBe(true);
  });
});
