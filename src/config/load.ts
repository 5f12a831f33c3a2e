import { readFileSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { parseDocument, type YAMLError } from 'yaml';
import type { z } from 'zod';
import { AdapterError } from '../errors.js';
import { PACKAGE_ROOT } from '../paths.js';
import { validatedConfigSchema, type ConfigFile, type ModbusSettings, type PumpConfig, type StationConfig } from './schema.js';

export const DEMO_CONFIG_PATH = join(PACKAGE_ROOT, 'config', 'demo.yaml');

/** Configuration after the YAML file and the environment are merged and checked. */
export interface AdapterConfig {
  /** Path of the YAML file, or the shipped demo file when CALEJO_CONFIG is unset. */
  source: string;
  isDemo: boolean;
  databaseUrl: string | undefined;
  dataDir: string;
  bindAddress: string;
  httpPort: number;
  modbusPort: number;
  /** Limits and storage settings of the Modbus server; its port is modbusPort. */
  modbus: Omit<ModbusSettings, 'port'>;
  opcuaPort: number;
  opcua: OpcUaSettings;
  logLevel: string;
  adminPassword: string | undefined;
  jwtSecret: string | undefined;
  backupDir: string;
  certsDir: string;
  logDir: string | undefined;
  tokenTtlSeconds: number;
  security: SecurityPolicy;
  databaseGraceSeconds: number;
  /** 0 when the plan staleness check is off. */
  planStalenessSeconds: number;
  seedDemoPlans: boolean;
  stations: Array<Omit<StationConfig, 'pumps'> & { pumps: PumpConfig[] }>;
}

/** OPC UA server settings besides the port; see the `opcua:` keys of the YAML file. */
export interface OpcUaSettings {
  applicationName: string;
  applicationUri: string;
  allowAnonymous: boolean;
  allowSecurityNone: boolean;
  maxSessions: number;
  maxSubscriptionsPerSession: number;
  maxMonitoredItemsPerSubscription: number;
}

/** Login and password rules shared by the REST login and OPC UA user tokens. */
export interface SecurityPolicy {
  maxFailedLogins: number;
  failedLoginWindowSeconds: number;
  lockoutSeconds: number;
  loginAttemptsPerMinute: number;
  passwordMinLength: number;
}

type Environment = Record<string, string | undefined>;

/**
 * Loads the configuration named by CALEJO_CONFIG (or the demo file) and applies the environment
 * variables, which override the file. Throws CONFIG_INVALID with every problem in one line.
 */
export function loadConfig(environment: Environment = process.env): AdapterConfig {
  const configured = nonEmpty(environment.CALEJO_CONFIG);
  const source = configured ? resolve(configured) : DEMO_CONFIG_PATH;
  const file = parseConfigText(readConfigText(source), source);

  return {
    source,
    isDemo: configured === undefined,
    databaseUrl: databaseUrlFromEnvironment(environment),
    dataDir: resolve(nonEmpty(environment.CALEJO_DATA_DIR) ?? './data'),
    bindAddress: nonEmpty(environment.BIND_ADDRESS) ?? file.bind_address,
    httpPort: portFromEnvironment(environment, 'HTTP_PORT') ?? file.http.port,
    modbusPort: portFromEnvironment(environment, 'MODBUS_PORT') ?? file.modbus.port,
    modbus: withoutPort(file.modbus),
    opcuaPort: portFromEnvironment(environment, 'OPCUA_PORT') ?? file.opcua.port,
    opcua: {
      applicationName: file.opcua.application_name,
      applicationUri: file.opcua.application_uri,
      allowAnonymous: file.opcua.allow_anonymous,
      allowSecurityNone: file.opcua.allow_security_none,
      maxSessions: file.opcua.max_sessions,
      maxSubscriptionsPerSession: file.opcua.max_subscriptions_per_session,
      maxMonitoredItemsPerSubscription: file.opcua.max_monitored_items_per_subscription,
    },
    logLevel: nonEmpty(environment.LOG_LEVEL) ?? 'info',
    adminPassword: nonEmpty(environment.CALEJO_ADMIN_PASSWORD),
    jwtSecret: nonEmpty(environment.JWT_SECRET),
    backupDir: resolve(nonEmpty(environment.BACKUP_DIR) ?? '/var/backup/calejo'),
    certsDir: resolve(nonEmpty(environment.CERTS_DIR) ?? './certs'),
    logDir: nonEmpty(environment.LOG_DIR),
    tokenTtlSeconds: file.security.token_ttl_seconds,
    security: {
      maxFailedLogins: file.security.max_failed_logins,
      failedLoginWindowSeconds: file.security.failed_login_window_seconds,
      lockoutSeconds: file.security.lockout_seconds,
      loginAttemptsPerMinute: file.security.login_attempts_per_minute,
      passwordMinLength: file.security.password_min_length,
    },
    databaseGraceSeconds: file.watchdog.database_grace_seconds,
    planStalenessSeconds: file.watchdog.plan_staleness_seconds,
    seedDemoPlans: file.demo.seed_plans,
    stations: applyStationDefaults(file.stations),
  };
}

/** Fills in each pump's defaults that depend on other keys: stop_setpoint defaults to minimum. */
export function applyStationDefaults(stations: ConfigFile['stations']): AdapterConfig['stations'] {
  return stations.map((station) => ({
    ...station,
    pumps: station.pumps.map((pump) => ({ ...pump, stop_setpoint: pump.stop_setpoint ?? pump.minimum })),
  }));
}

function withoutPort({ port: _port, ...settings }: ModbusSettings): Omit<ModbusSettings, 'port'> {
  return settings;
}

function readConfigText(source: string): string {
  try {
    return readFileSync(source, 'utf8');
  } catch (error) {
    throw new AdapterError(
      'CONFIG_NOT_FOUND',
      `cannot read configuration file ${source} (${(error as NodeJS.ErrnoException).code ?? String(error)}); set CALEJO_CONFIG to a readable YAML file or unset it for the demo configuration`,
      { cause: error },
    );
  }
}

/** Parses and validates YAML text; exported so tests can check messages without writing files. */
export function parseConfigText(text: string, source: string): ConfigFile {
  const document = parseDocument(text, { uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new AdapterError('CONFIG_INVALID', `invalid configuration ${source}${describeYamlError(document.errors[0], text)}`);
  }

  const result = validatedConfigSchema.safeParse(document.toJS());
  if (!result.success) {
    throw new AdapterError('CONFIG_INVALID', `invalid configuration ${source}: ${describeIssues(result.error.issues)}`, {
      details: { issues: result.error.issues.map((issue) => ({ key: formatPath(issue.path), message: issue.message })) },
    });
  }
  return result.data;
}

function describeYamlError(error: YAMLError | undefined, text: string): string {
  if (!error) return ': YAML syntax error';
  const where = error.linePos?.[0] ? ` at line ${error.linePos[0].line}` : '';
  if (error.code === 'DUPLICATE_KEY') {
    const key = /^[^:\n]*/.exec(text.slice(error.pos[0]))?.[0].trim() ?? '';
    return `${where}: duplicate key "${key}"; remove one of the duplicate keys`;
  }
  // The yaml library appends a source excerpt after the first line; the line number replaces it.
  return `${where}: ${error.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? 'YAML syntax error'}`;
}

function describeIssues(issues: z.core.$ZodIssue[]): string {
  return issues.map((issue) => `${formatPath(issue.path) || '(top level)'}: ${describeIssue(issue)}`).join('; ');
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((key) => `"${key}"`).join(', ')}; remove or correct ${issue.keys.length > 1 ? 'them' : 'it'}`;
  }
  return issue.message;
}

/** Formats a path as the YAML reader sees it: stations[0].pumps[1].minimum. */
function formatPath(path: PropertyKey[]): string {
  return path
    .map((part, index) => (typeof part === 'number' ? `[${part}]` : `${index === 0 ? '' : '.'}${String(part)}`))
    .join('');
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

/** Schemes that node-postgres reads as a PostgreSQL connection string. */
const DATABASE_URL_SCHEMES: ReadonlySet<string> = new Set(['postgres:', 'postgresql:', 'socket:']);

/**
 * Checks the form of DATABASE_URL at start. The database child retries an unreachable server
 * without limit, and a malformed value would never connect. The message hides the user
 * information and any password parameter.
 */
function databaseUrlFromEnvironment(environment: Environment): string | undefined {
  const raw = nonEmpty(environment.DATABASE_URL);
  // node-postgres reads a leading slash as a socket directory followed by the database name.
  if (raw === undefined || raw.startsWith('/')) return raw;
  const fix = 'set it to postgres://USER:PASSWORD@HOST:5432/DATABASE, or unset it to use the embedded database';
  let url: URL;
  try {
    // An empty host, as in postgres://user@/calejo?host=/run/postgresql, is valid for node-postgres but not for URL.
    url = new URL(raw.replace('@/', '@placeholder/'));
  } catch {
    throw new AdapterError('CONFIG_INVALID', `invalid DATABASE_URL "${hideCredentials(raw)}": not a URL; ${fix}`);
  }
  if (!DATABASE_URL_SCHEMES.has(url.protocol)) {
    throw new AdapterError('CONFIG_INVALID', `invalid DATABASE_URL "${hideCredentials(raw)}": scheme "${url.protocol}" is not postgres:; ${fix}`);
  }
  return raw;
}

/**
 * Replaces the user information before the last "@" (from "//", or from the start when the value
 * has no "//") and the value of a password parameter with ***.
 */
function hideCredentials(connectionString: string): string {
  let masked = connectionString;
  const at = masked.lastIndexOf('@');
  if (at >= 0) {
    const slashes = masked.indexOf('//');
    const start = slashes >= 0 && slashes < at ? slashes + 2 : 0;
    masked = `${masked.slice(0, start)}***${masked.slice(at)}`;
  }
  return masked.replace(/([?&]password=)[^&#]*/gi, '$1***');
}

function portFromEnvironment(environment: Environment, name: string): number | undefined {
  const raw = nonEmpty(environment[name]);
  if (raw === undefined) return undefined;
  const port = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || port > 65535) {
    throw new AdapterError('CONFIG_INVALID', `invalid ${name} "${raw}": use a port number from 0 to 65535`);
  }
  return port;
}
