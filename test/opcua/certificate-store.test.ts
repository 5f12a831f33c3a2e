import { copyFileSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StatusCodes } from 'node-opcua-client';
import { convertPEMtoDER } from 'node-opcua-crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClientCertificateStore, type RejectedCertificate } from '../../src/opcua/certificate-store.js';
import { createClientPki, type ClientPki } from './client.js';

describe('client certificate store', () => {
  let root: string;
  let store: ClientCertificateStore;
  let client: ClientPki;
  let reports: RejectedCertificate[];

  beforeEach(async () => {
    root = join(mkdtempSync(join(tmpdir(), 'calejo-store-test-')), 'pki');
    reports = [];
    store = new ClientCertificateStore(root, (rejected) => reports.push(rejected));
    await store.initialize();
    client = await createClientPki('scada-store');
  });

  afterEach(async () => {
    await store.dispose();
    rmSync(join(root, '..'), { recursive: true, force: true });
    client.remove();
  });

  const certificate = () => convertPEMtoDER(readFileSync(client.certificateFile, 'utf8'));
  const rejectedFiles = () => readdirSync(join(root, 'rejected')).filter((file) => file.includes(client.thumbprint));

  it('rejects an unknown certificate and reports it once', async () => {
    expect(await store.checkCertificate(certificate())).toBe(StatusCodes.BadCertificateUntrusted);
    expect(await store.checkCertificate(certificate())).toBe(StatusCodes.BadCertificateUntrusted);
    expect(rejectedFiles()).toHaveLength(1);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ thumbprint: client.thumbprint, applicationUri: client.applicationUri, status: 'BadCertificateUntrusted', suppressedRepeats: 0 });
  });

  it('trusts a certificate moved to trusted at once', async () => {
    expect(await store.checkCertificate(certificate())).toBe(StatusCodes.BadCertificateUntrusted);
    const file = rejectedFiles()[0]!;
    // Checked right after the move, before the folder watcher can have updated the store's index.
    renameSync(join(root, 'rejected', file), join(root, 'trusted', 'certs', file));

    expect(await store.checkCertificate(certificate())).toBe(StatusCodes.Good);
    expect(rejectedFiles()).toEqual([]);
  });

  it('trusts a certificate that is in trusted and rejected', async () => {
    expect(await store.checkCertificate(certificate())).toBe(StatusCodes.BadCertificateUntrusted);
    // The state a retrying client leaves behind when it connects while an operator moves the file.
    copyFileSync(join(root, 'rejected', rejectedFiles()[0]!), join(root, 'trusted', 'certs', 'scada-store.pem'));

    expect(await store.checkCertificate(certificate())).toBe(StatusCodes.Good);
    expect(rejectedFiles()).toEqual([]);
    expect(reports).toHaveLength(1);
  });
});
