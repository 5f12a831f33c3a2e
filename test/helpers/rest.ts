/** Logs in as the first administrator and returns the token. */
export async function login(baseUrl: string, password = 'test-admin-password-1', username = 'admin'): Promise<string> {
  const response = await fetch(`${baseUrl}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (response.status !== 200) throw new Error(`login failed with ${response.status}: ${await response.text()}`);
  const body = (await response.json()) as { token: string };
  return body.token;
}

export async function call(
  baseUrl: string,
  token: string | null,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${baseUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  const contentType = response.headers.get('content-type') ?? '';
  const isJson = contentType.includes('json') && !contentType.includes('ndjson');
  // Exports and metrics are not one JSON document; their text is returned as `raw`.
  let parsed: Record<string, unknown> = {};
  if (text) parsed = isJson ? (JSON.parse(text) as Record<string, unknown>) : { raw: text };
  return { status: response.status, body: parsed, headers: response.headers };
}
