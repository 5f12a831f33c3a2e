import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { createPostgresDatabase, type TestDatabase } from '../helpers/databases.js';
import { auditRows, createUser, TEST_PASSWORD } from '../opcua/users.js';
import { startInProcessAdapter, type InProcessAdapter } from '../station/adapter-fixture.js';

const CONFIG = `
demo:
  seed_plans: false
stations:
  - id: station001
    unit_id: 1
    pumps:
      - { id: pump1, control_variable: speed, unit: Hz, minimum: 10, maximum: 50, max_rate_per_second: 100, failsafe_setpoint: 20 }
`;

/** The endpoints the adapter offers by default: three policies, each in Sign and SignAndEncrypt. */
const EXPECTED_ENDPOINTS = ['Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss'].flatMap((policy) =>
  ['Sign', 'SignAndEncrypt'].map((mode) => `${policy} ${mode}`),
);

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

interface JsonReport {
  ok: boolean;
  server: { application_name: string; application_uri: string } | null;
  server_certificate: { thumbprint: string; not_after: string; days_left: number } | null;
  endpoints: Array<{ endpoint_url: string; security_policy: string; security_mode: string; user_token_types: string[] }> | null;
  session: { username: string; server_state: string; current_time: string; clock_offset_ms: number } | null;
  client_certificate: { file: string; thumbprint: string; created: boolean } | null;
  error: { code: string; message: string } | null;
}

function thumbprintOf(pemFile: string): string {
  return new X509Certificate(readFileSync(pemFile)).fingerprint.replaceAll(':', '').toLowerCase();
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

describe('opcua-client connect against the adapter', () => {
  let database: TestDatabase;
  let running: InProcessAdapter;
  let url: string;
  let certsDir: string;
  /** HOME of the CLI runs, so that its default certificate store lands in a temporary folder. */
  let home: string;
  let clientCertificateFile: string;
  const listeners: Server[] = [];

  /** Runs the CLI from source as the README documents, with stdin a pipe (not a terminal). */
  function opcuaClient(args: string[], environment: Record<string, string> = {}): Promise<CliResult> {
    const startedAt = Date.now();
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', join(PACKAGE_ROOT, 'src', 'cli', 'opcua-client.ts'), ...args],
        { cwd: PACKAGE_ROOT, timeout: 30_000, env: { PATH: process.env.PATH, HOME: home, ...environment } },
        (error, stdout, stderr) => resolve({ code: error ? Number((error as { code?: number }).code ?? -1) : 0, stdout, stderr, elapsedMs: Date.now() - startedAt }),
      );
    });
  }

  beforeAll(async () => {
    database = await createPostgresDatabase();
    running = await startInProcessAdapter(CONFIG, database.url!, {}, database.dataDir);
    await createUser(running.database(), 'operator1', 'operator');
    url = `opc.tcp://127.0.0.1:${running.adapter.ports.opcua}`;
    certsDir = join(database.dataDir, 'certs');
    home = mkdtempSync(join(tmpdir(), 'calejo-opcua-client-home-'));
    clientCertificateFile = join(home, '.config', 'calejo', 'opcua-client', 'pki', 'own', 'certs', 'client_certificate.pem');
  });

  afterAll(async () => {
    for (const listener of listeners) listener.close();
    await running?.stop();
    await database?.drop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  // The first six tests walk through the first use in order: discovery, then trust on both sides,
  // then sessions. Each relies on the certificate stores that the tests before it left behind.

  it('lists the endpoints the adapter offers', async () => {
    const result = await opcuaClient(['connect', url]);

    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Server: +Calejo Control Adapter$/m);
    expect(result.stdout).toMatch(/^Application URI: +urn:calejo:control-adapter$/m);
    const listed = [...result.stdout.matchAll(/^ {2}(\S+) +(Sign|SignAndEncrypt|None) +(.+)$/gm)];
    expect(listed.map((line) => `${line[1]} ${line[2]}`).sort()).toEqual([...EXPECTED_ENDPOINTS].sort());
    for (const line of listed) expect(line[3]).toContain('UserName');
    const serverCertificate = new X509Certificate(readFileSync(join(certsDir, 'server.pem')));
    expect(result.stdout).toContain(thumbprintOf(join(certsDir, 'server.pem')));
    expect(result.stdout).toMatch(new RegExp(`^ {2}Expires: +${new Date(serverCertificate.validTo).toISOString()} \\(18\\d\\d days left\\)$`, 'm'));
    // The client's certificate goes to the default store under HOME, not into the checkout.
    expect(existsSync(clientCertificateFile)).toBe(true);
    expect(existsSync(join(PACKAGE_ROOT, 'pki'))).toBe(false);
  });

  it('prints one parseable JSON document with --json', async () => {
    const result = await opcuaClient(['connect', url, '--json']);

    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as JsonReport;
    expect(report.ok).toBe(true);
    expect(report.error).toBeNull();
    expect(report.session).toBeNull();
    expect(report.server).toMatchObject({ application_name: 'Calejo Control Adapter', application_uri: 'urn:calejo:control-adapter' });
    expect(report.endpoints?.map((endpoint) => `${endpoint.security_policy} ${endpoint.security_mode}`).sort()).toEqual([...EXPECTED_ENDPOINTS].sort());
    expect(report.endpoints?.every((endpoint) => endpoint.endpoint_url === url)).toBe(true);
    expect(report.server_certificate?.thumbprint).toBe(thumbprintOf(join(certsDir, 'server.pem')));
    expect(report.server_certificate?.days_left).toBeGreaterThan(1800);
    expect(report.client_certificate).toMatchObject({ file: clientCertificateFile, thumbprint: thumbprintOf(clientCertificateFile), created: false });
  });

  it('sends no password to an untrusted server', async () => {
    const result = await opcuaClient(['connect', url, '--username', 'operator1'], { OPCUA_PASSWORD: TEST_PASSWORD });

    expect(result.code).toBe(2);
    const serverThumbprint = thumbprintOf(join(certsDir, 'server.pem'));
    expect(result.stderr).toContain(`does not trust the server certificate "O=Calejo, CN=Calejo Control Adapter" (SHA-1 ${serverThumbprint})`);
    expect(result.stderr).toContain('--trust-server-certificate');
    const clientRejected = join(home, '.config', 'calejo', 'opcua-client', 'pki', 'rejected');
    expect(readdirSync(clientRejected)).toEqual([`Calejo Control Adapter[${serverThumbprint}].pem`]);
    // The client stopped before OpenSecureChannel: the adapter saw neither its certificate nor a login.
    const clientThumbprint = thumbprintOf(clientCertificateFile);
    expect(readdirSync(join(certsDir, 'pki', 'rejected')).filter((name) => name.includes(clientThumbprint))).toEqual([]);
    expect((await auditRows(running.database(), 'LOGIN_SUCCEEDED')).filter((row) => row.source === 'opcua')).toEqual([]);
    expect(await auditRows(running.database(), 'INVALID_AUTHENTICATION')).toEqual([]);
  });

  it('explains a client certificate the adapter does not trust', async () => {
    const result = await opcuaClient(['connect', url, '--username', 'operator1', '--trust-server-certificate'], { OPCUA_PASSWORD: TEST_PASSWORD });

    expect(result.code).toBe(2);
    const clientThumbprint = thumbprintOf(clientCertificateFile);
    expect(result.stderr).toContain("the server rejected this client's certificate (BadSecurityChecksFailed)");
    expect(result.stderr).toContain(`Client certificate: ${clientCertificateFile}`);
    expect(result.stderr).toContain(`SHA-1 thumbprint:   ${clientThumbprint}`);
    expect(result.stderr).toContain('moves that file to CERTS_DIR/pki/trusted/certs/');
    // The file name the message gives is the one the adapter wrote.
    const rejected = readdirSync(join(certsDir, 'pki', 'rejected')).filter((name) => name.includes(clientThumbprint));
    expect(rejected).toHaveLength(1);
    expect(result.stderr).toContain(`CERTS_DIR/pki/rejected/${rejected[0]}`);
    expect(result.stderr).toContain(`mv '/app/certs/pki/rejected/${rejected[0]}' /app/certs/pki/trusted/certs/`);
    // --trust-server-certificate moved the server certificate into the client's trusted folder.
    expect(readdirSync(join(home, '.config', 'calejo', 'opcua-client', 'pki', 'trusted', 'certs'))).toEqual([
      `Calejo Control Adapter[${thumbprintOf(join(certsDir, 'server.pem'))}].pem`,
    ]);
  });

  it('reads the server status once the adapter trusts the client', async () => {
    const clientThumbprint = thumbprintOf(clientCertificateFile);
    const rejectedName = readdirSync(join(certsDir, 'pki', 'rejected')).find((name) => name.includes(clientThumbprint))!;
    renameSync(join(certsDir, 'pki', 'rejected', rejectedName), join(certsDir, 'pki', 'trusted', 'certs', rejectedName));

    // node-opcua notices the move through a file watcher, which can lag under load. The adapter
    // rereads the folders when it rejects a certificate that is trusted on disk, so one retry is enough.
    let result = await opcuaClient(['connect', url, '--username', 'operator1'], { OPCUA_PASSWORD: TEST_PASSWORD });
    if (result.stderr.includes('BadSecurityChecksFailed')) result = await opcuaClient(['connect', url, '--username', 'operator1'], { OPCUA_PASSWORD: TEST_PASSWORD });

    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Session: +operator1, Basic256Sha256 SignAndEncrypt$/m);
    expect(result.stdout).toMatch(/^Server state: +Running$/m);
    const currentTime = /^Current time: +(\S+) \(clock offset [+-]\d+ ms\)$/m.exec(result.stdout)?.[1];
    expect(Math.abs(Date.parse(currentTime ?? '') - Date.now())).toBeLessThan(60_000);

    const json = await opcuaClient(['connect', url, '--username', 'operator1', '--json'], { OPCUA_PASSWORD: TEST_PASSWORD });
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as JsonReport;
    expect(report.session).toMatchObject({ username: 'operator1', server_state: 'Running' });
    expect(Math.abs(report.session!.clock_offset_ms)).toBeLessThan(5_000);
    const logins = await auditRows(running.database(), 'LOGIN_SUCCEEDED');
    expect(logins.filter((row) => row.actor === 'operator1' && row.source === 'opcua').length).toBeGreaterThanOrEqual(2);
  });

  it('reports a wrong password', async () => {
    const result = await opcuaClient(['connect', url, '--username', 'operator1', '--json'], { OPCUA_PASSWORD: 'not-the-password-1' });

    expect(result.code).toBe(2);
    const report = JSON.parse(result.stdout) as JsonReport;
    expect(report.ok).toBe(false);
    expect(report.endpoints).toHaveLength(EXPECTED_ENDPOINTS.length);
    expect(report.error?.code).toBe('USER_REJECTED');
    expect(result.stderr).toMatch(/the server rejected the login of user "operator1" \(Bad(UserAccessDenied|IdentityTokenRejected)\)/);
    expect(result.stderr).toContain('OPCUA_PASSWORD');
    const failures = await auditRows(running.database(), 'INVALID_AUTHENTICATION');
    expect(failures.map((row) => [row.actor, row.source, row.details.reason])).toEqual([['operator1', 'opcua', 'wrong_password']]);
  });

  it('exits 2 when the port refuses connections', async () => {
    const closed = createServer();
    const port = await listen(closed);
    await new Promise((resolve) => closed.close(resolve));

    const result = await opcuaClient(['connect', `opc.tcp://127.0.0.1:${port}`, '--json']);

    expect(result.code).toBe(2);
    expect((JSON.parse(result.stdout) as JsonReport).error?.code).toBe('CONNECTION_REFUSED');
    expect(result.stderr).toContain(`127.0.0.1:${port} refused the connection (ECONNREFUSED)`);
    expect(result.stderr).toContain('OPCUA_PORT');
  });

  it('exits 2 after --timeout on a silent port', async () => {
    const silent = createServer(() => undefined);
    listeners.push(silent);
    const port = await listen(silent);

    const result = await opcuaClient(['connect', `opc.tcp://127.0.0.1:${port}`, '--timeout', '1']);

    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`GetEndpoints on opc.tcp://127.0.0.1:${port} timed out after 1 s`);
    // Node start-up and module loading take a few seconds of this on a loaded machine.
    expect(result.elapsedMs).toBeLessThan(15_000);
  });

  it('keeps node-opcua messages off stdout', async () => {
    // An HTTP server in place of OPC UA: node-opcua reads its response as a huge chunk and logs an error.
    const http = createServer((socket) => socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'));
    listeners.push(http);
    const port = await listen(http);

    const [quiet, verbose] = await Promise.all([
      opcuaClient(['connect', `opc.tcp://127.0.0.1:${port}`, '--json', '--timeout', '1']),
      opcuaClient(['connect', `opc.tcp://127.0.0.1:${port}`, '--json', '--timeout', '1', '--verbose']),
    ]);

    for (const result of [quiet, verbose]) {
      expect(result.code).toBe(2);
      expect((JSON.parse(result.stdout) as JsonReport).ok).toBe(false);
    }
    expect(quiet.stderr).not.toContain('node-opcua:');
    expect(verbose.stderr).toContain('node-opcua: ');
  });

  it.each([
    { name: 'an http:// URL', args: ['connect', 'http://127.0.0.1:4840'], message: 'invalid URL "http://127.0.0.1:4840": it must start with opc.tcp://' },
    { name: 'a port above 65535', args: ['connect', 'opc.tcp://127.0.0.1:70000'], message: 'invalid URL "opc.tcp://127.0.0.1:70000"' },
    { name: 'a missing URL', args: ['connect'], message: 'expected: opcua-client connect URL' },
    { name: 'a bad --timeout', args: ['connect', 'opc.tcp://127.0.0.1:4840', '--timeout', 'abc'], message: 'invalid --timeout "abc"' },
    { name: '--password', args: ['connect', 'opc.tcp://127.0.0.1:4840', '--username', 'operator1', '--password', 'secret'], message: '--password is not accepted' },
    { name: 'no password source', args: ['connect', 'opc.tcp://127.0.0.1:4840', '--username', 'operator1'], message: 'no password for user "operator1": set OPCUA_PASSWORD' },
  ])('exits 3 on $name', async ({ args, message }) => {
    const result = await opcuaClient(args);

    expect(result.code).toBe(3);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(message);
  });

  it('documents the exit codes in --help', async () => {
    const result = await opcuaClient(['--help']);

    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Usage: opcua-client connect URL');
    expect(result.stdout).toMatch(/Exit codes: 0 .*2 .*3 bad arguments/s);
  });

  it('is a package bin with a shebang', () => {
    const manifest = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };

    expect(manifest.bin['opcua-client']).toBe('dist/src/cli/opcua-client.js');
    // tsc copies the first line of the source into dist/src/cli/opcua-client.js.
    expect(readFileSync(join(PACKAGE_ROOT, 'src', 'cli', 'opcua-client.ts'), 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
  });
});
