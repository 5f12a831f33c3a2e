/** IANA-registered port of OPC UA over TCP, which the adapter also listens on by default. */
export const DEFAULT_OPCUA_PORT = 4840;

export interface EndpointAddress {
  /** The URL with its port made explicit. */
  url: string;
  host: string;
  port: number;
}

/** Parses an opc.tcp:// endpoint URL; throws a RangeError that names the value and the expected form. */
export function parseEndpointUrl(text: string): EndpointAddress {
  const expected = 'give it as opc.tcp://HOST:PORT with a PORT from 1 to 65535, for example opc.tcp://localhost:4840';
  if (!text.startsWith('opc.tcp://')) {
    throw new RangeError(`invalid URL "${text}": it must start with opc.tcp://; ${expected}`);
  }
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    throw new RangeError(`invalid URL "${text}": ${expected}`);
  }
  if (parsed.hostname === '') throw new RangeError(`invalid URL "${text}": the host is missing; ${expected}`);
  if (parsed.username !== '' || parsed.password !== '') {
    throw new RangeError(`invalid URL "${text}": an OPC UA URL carries no user name or password; use --username and OPCUA_PASSWORD`);
  }
  // The URL class throws on a port above 65535 but accepts 0.
  const port = parsed.port === '' ? DEFAULT_OPCUA_PORT : Number(parsed.port);
  if (port < 1) throw new RangeError(`invalid URL "${text}": ${expected}`);
  const path = parsed.pathname === '/' ? '' : parsed.pathname;
  return { url: `opc.tcp://${parsed.hostname}:${port}${path}`, host: parsed.hostname, port };
}
