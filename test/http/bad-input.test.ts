import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adapterEnvironment, startAdapter, type RunningAdapter } from '../helpers/adapter-process.js';
import { createPostgresDatabase, type TestDatabase } from '../helpers/databases.js';
import { call, login } from '../helpers/rest.js';
import { psql } from '../helpers/psql.js';

/** Sends raw bytes as the body, so malformed JSON reaches the server as a client would send it. */
function rawPost(port: number, path: string, token: string, body: string | Buffer, contentType = 'application/json'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      { host: '127.0.0.1', port, path, method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': contentType, 'content-length': Buffer.byteLength(body) } },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, type: String(response.headers['content-type']), body: text }));
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

describe('bad input over REST', () => {
  let database: TestDatabase;
  let adapter: RunningAdapter;
  let token: string;

  async function userCount(): Promise<number> {
    return Number(await psql(database.url!, 'SELECT count(*) FROM users'));
  }

  beforeAll(async () => {
    database = await createPostgresDatabase();
    adapter = await startAdapter(adapterEnvironment({ DATABASE_URL: database.url ?? undefined, CALEJO_DATA_DIR: database.dataDir }));
    token = await login(adapter.baseUrl);
  });

  afterAll(async () => {
    await adapter?.stop();
    await database?.drop();
  });

  it('answers each kind of bad body with a 4xx problem and stores nothing', async () => {
    const before = await userCount();
    const cases: Array<{ name: string; body: string | Buffer; contentType?: string; status: number; mentions: string }> = [
      { name: 'malformed JSON', body: '{"username": "x", "role": ', status: 400, mentions: 'JSON' },
      { name: 'wrong type', body: JSON.stringify({ username: 42, role: 'viewer' }), status: 400, mentions: 'username' },
      { name: 'unknown field', body: JSON.stringify({ username: 'valid-name', role: 'viewer', is_admin: true }), status: 400, mentions: 'is_admin' },
      { name: 'unknown role', body: JSON.stringify({ username: 'valid-name', role: 'root' }), status: 400, mentions: 'role' },
      { name: 'SQL in the username', body: JSON.stringify({ username: "x'; DROP TABLE users; --", role: 'viewer' }), status: 400, mentions: 'username' },
      { name: 'NUL character', body: JSON.stringify({ username: 'nul\u0000name', role: 'viewer' }), status: 400, mentions: 'NUL' },
      { name: 'oversized body', body: JSON.stringify({ username: 'big', role: 'viewer', full_name: 'x'.repeat(70 * 1024) }), status: 413, mentions: 'at most 65536 bytes' },
      { name: 'form encoding', body: 'username=x&role=viewer', contentType: 'application/x-www-form-urlencoded', status: 415, mentions: 'application/json' },
      { name: 'JSON array', body: '[1,2,3]', status: 400, mentions: 'body' },
    ];
    for (const each of cases) {
      const response = await rawPost(adapter.httpPort, '/api/v1/users', token, each.body, each.contentType);
      expect({ name: each.name, status: response.status }).toEqual({ name: each.name, status: each.status });
      expect(response.type).toContain('application/problem+json');
      expect(JSON.parse(response.body).detail, each.name).toContain(each.mentions);
    }
    expect(await userCount()).toBe(before);
  });

  it('plan upload over the byte limit', async () => {
    // 400 rows, the row bound, of full-precision values and +00:00 offsets are about 70 KB.
    const rows = Array.from({ length: 400 }, (_, index) => ({
      station_id: 'station001',
      pump_id: 'pump1',
      interval_start: new Date(Date.UTC(2031, 0, 1, 0, index * 15)).toISOString().replace('Z', '+00:00'),
      interval_end: new Date(Date.UTC(2031, 0, 1, 0, index * 15 + 15)).toISOString().replace('Z', '+00:00'),
      target_value: 31.12345678901234 + index / 7,
    }));
    const body = JSON.stringify({ plan_version: 'opt-2031-01-01', rows });
    expect(body.length).toBeGreaterThan(65_536);

    const response = await rawPost(adapter.httpPort, '/api/v1/plans', token, body);
    expect(response.status).toBe(413);
    const detail = String(JSON.parse(response.body).detail);
    expect(detail).toContain('at most 65536 bytes');
    expect(detail).toContain('send fewer rows per request');
    expect(await psql(database.url!, "SELECT count(*) FROM pump_plans WHERE plan_version = 'opt-2031-01-01'")).toBe('0');

    const fewer = await rawPost(adapter.httpPort, '/api/v1/plans', token, JSON.stringify({ plan_version: 'opt-2031-01-01', rows: rows.slice(0, 300) }));
    expect(fewer.status).toBe(201);
  });

  it('treats SQL-looking filter values as plain values', async () => {
    const injected = await call(adapter.baseUrl, token, 'GET', `/api/v1/audit-log?actor=${encodeURIComponent("admin' OR '1'='1")}`);
    expect(injected.status).toBe(200);
    expect(injected.body.entries).toEqual([]);
    const badSeverity = await call(adapter.baseUrl, token, 'GET', '/api/v1/audit-log?severity=HIGH;DROP');
    expect(badSeverity.status).toBe(400);
    const badTime = await call(adapter.baseUrl, token, 'GET', '/api/v1/audit-log?from=yesterday');
    expect(badTime.status).toBe(400);
    expect(badTime.body.detail).toContain('ISO 8601');
    const unknownParameter = await call(adapter.baseUrl, token, 'GET', '/api/v1/audit-log?order=desc');
    expect(unknownParameter.status).toBe(400);
    expect(unknownParameter.body.detail).toContain('order');
  });

  it('rejects a chunked body that is not JSON', async () => {
    const response = await new Promise<{ status: number }>((resolve, reject) => {
      const outgoing = request(
        { host: '127.0.0.1', port: adapter.httpPort, path: '/api/v1/pump-stations/station003/emergency-stop', method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' } },
        (incoming) => {
          incoming.resume();
          resolve({ status: incoming.statusCode ?? 0 });
        },
      );
      outgoing.on('error', reject);
      // No Content-Length: Node sends the body chunked.
      outgoing.write('{"reason":"pump on fire"}');
      outgoing.end();
    });
    expect(response.status).toBe(415);
    const station = await call(adapter.baseUrl, token, 'GET', '/api/v1/pump-stations/station003/emergency-stop-status');
    expect(station.body.active).toBe(false);
  });

  it('answers a NUL in a path id and a wrong method with 4xx', async () => {
    const nul = await call(adapter.baseUrl, token, 'GET', '/api/v1/users/%00');
    expect(nul.status).toBe(400);
    const wrongMethod = await call(adapter.baseUrl, token, 'PATCH', '/api/v1/pump-stations/station001/emergency-stop');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toContain('POST');
  });

  it('keeps serving after all of that', async () => {
    const health = await call(adapter.baseUrl, null, 'GET', '/api/v1/health');
    expect(health.status).toBe(200);
    expect((await call(adapter.baseUrl, token, 'GET', '/api/v1/users')).status).toBe(200);
    expect(adapter.process.exitCode).toBeNull();
  });

  it('pages the audit log with a cursor and exports it', async () => {
    for (let index = 0; index < 3; index += 1) await login(adapter.baseUrl);
    const first = await call(adapter.baseUrl, token, 'GET', '/api/v1/audit-log?limit=2');
    expect(first.status).toBe(200);
    const firstEntries = first.body.entries as Array<{ chain_position: number }>;
    expect(firstEntries).toHaveLength(2);
    const second = await call(adapter.baseUrl, token, 'GET', `/api/v1/audit-log?limit=2&cursor=${first.body.next_cursor as string}`);
    const secondEntries = second.body.entries as Array<{ chain_position: number }>;
    expect(secondEntries[0]!.chain_position).toBe(firstEntries[1]!.chain_position + 1);

    const csv = await fetch(`${adapter.baseUrl}/api/v1/audit-log/export?format=csv&event_type=USER_CREATED`, { headers: { authorization: `Bearer ${token}` } });
    expect(csv.headers.get('content-type')).toContain('text/csv');
    const lines = (await csv.text()).trim().split('\r\n');
    expect(lines[0]).toBe('id,chain_position,timestamp,event_type,severity,actor,actor_role,source,source_address,station_id,details,previous_hash,row_hash');
    expect(lines.slice(1).every((line) => line.includes(',USER_CREATED,'))).toBe(true);

    const jsonl = await fetch(`${adapter.baseUrl}/api/v1/audit-log/export?format=jsonl`, { headers: { authorization: `Bearer ${token}` } });
    const rows = (await jsonl.text()).trim().split('\n').map((line) => JSON.parse(line) as { event_type: string });
    expect(rows.length).toBeGreaterThan(3);

    const verified = await call(adapter.baseUrl, token, 'GET', '/api/v1/audit-log/verify');
    expect(verified.body).toMatchObject({ ok: true, first_bad_row: null });
    expect(verified.body.rows_checked).toBeGreaterThanOrEqual(rows.length);
  });

  it('serves metrics that the Prometheus text-format parser accepts', async () => {
    // The pumps may still ramp after the start, so REST reads bracket the scrape.
    const pumpOneSetpoint = async () => {
      const station = await call(adapter.baseUrl, token, 'GET', '/api/v1/pump-stations/station001');
      return (station.body.pumps as Array<{ pump_id: string; setpoint: number }>).find((pump) => pump.pump_id === 'pump1')!.setpoint;
    };
    const before = await pumpOneSetpoint();
    const response = await fetch(`${adapter.baseUrl}/api/v1/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    // Debian's python3-prometheus-client is the reference parser; it raises on any malformed line.
    const parser = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
families = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    families[family.name] = [[sample.name, sample.labels, sample.value] for sample in family.samples]
print(json.dumps(families))
`;
    const parsed = await new Promise<string>((resolve, reject) => {
      const child = execFile('/usr/bin/python3', ['-c', parser], { timeout: 20_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
      );
      child.stdin?.end(text);
    });
    const families = JSON.parse(parsed) as Record<string, Array<[string, Record<string, string>, number]>>;
    const setpoints = families.calejo_pump_setpoint ?? [];
    expect(setpoints.length).toBe(9);
    const after = await pumpOneSetpoint();
    const published = setpoints.find(([, labels]) => labels.station === 'station001' && labels.pump === 'pump1')?.[2];
    expect(published).toBeGreaterThanOrEqual(Math.min(before, after) - 1e-9);
    expect(published).toBeLessThanOrEqual(Math.max(before, after) + 1e-9);
    expect(families.calejo_emergency_stop_active?.map(([, labels, value]) => `${labels.station}=${value}`).sort()).toEqual(['station001=0', 'station002=0', 'station003=0']);
    expect(families.calejo_http_request_duration_seconds?.some(([name, labels]) => name.endsWith('_count') && labels.route === '/api/v1/users')).toBe(true);
    expect(Object.keys(families)).toEqual(expect.arrayContaining(['calejo_audit_write_duration_seconds', 'calejo_process_resident_memory_bytes', 'calejo_nodejs_eventloop_lag_seconds']));
  });
});
