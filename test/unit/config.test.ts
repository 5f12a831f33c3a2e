import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { DEMO_CONFIG_PATH, loadConfig, parseConfigText } from '../../src/config/load.js';
import { AdapterError, isAdapterError } from '../../src/errors.js';

const SOURCE = 'site.yaml';

interface PumpInput {
  [key: string]: unknown;
}

interface StationInput {
  id: string;
  unit_id: number;
  pumps: PumpInput[];
  [key: string]: unknown;
}

interface ConfigInput {
  stations: StationInput[];
  [key: string]: unknown;
}

function speedPump(id: string, overrides: Partial<PumpInput> = {}): PumpInput {
  return {
    id,
    control_variable: 'speed',
    unit: 'Hz',
    minimum: 10,
    maximum: 50,
    max_rate_per_second: 2,
    failsafe_setpoint: 30,
    ...overrides,
  };
}

/** Builds two valid stations (unit ids 1 and 2) with two pumps each. Each test breaks one key. */
function validConfig(): ConfigInput {
  return {
    stations: [
      { id: 'north', unit_id: 1, pumps: [speedPump('pump1'), speedPump('pump2')] },
      { id: 'south', unit_id: 2, pumps: [speedPump('pump1'), speedPump('pump2')] },
    ],
  };
}

function firstPump(config: ConfigInput): PumpInput {
  const pump = config.stations[0]?.pumps[0];
  if (!pump) throw new Error('validConfig() has no stations[0].pumps[0]');
  return pump;
}

/** Runs `action` and returns the AdapterError it throws. Fails the test when nothing is thrown. */
function captureAdapterError(action: () => unknown): AdapterError {
  try {
    action();
  } catch (error) {
    if (error instanceof AdapterError) return error;
    throw new Error(`expected an AdapterError, got ${String(error)}`, { cause: error });
  }
  throw new Error('expected an AdapterError, but nothing was thrown');
}

function parseError(text: string): AdapterError {
  return captureAdapterError(() => parseConfigText(text, SOURCE));
}

function configError(config: ConfigInput): AdapterError {
  return parseError(stringify(config));
}

const temporaryDirectory = mkdtempSync(join(tmpdir(), 'calejo-config-test-'));

afterAll(() => {
  rmSync(temporaryDirectory, { recursive: true, force: true });
});

let fileCounter = 0;

function writeConfigFile(text: string): string {
  fileCounter += 1;
  const path = join(temporaryDirectory, `config-${fileCounter}.yaml`);
  writeFileSync(path, text, 'utf8');
  return path;
}

describe('shipped demo configuration', () => {
  const config = loadConfig({});

  it('loads from the demo file', () => {
    expect(config.source).toBe(DEMO_CONFIG_PATH);
    expect(config.isDemo).toBe(true);
  });

  it('has three stations', () => {
    expect(config.stations.map((station) => station.id)).toEqual(['station001', 'station002', 'station003']);
  });

  it('uses unit ids 1, 2, 3', () => {
    expect(config.stations.map((station) => station.unit_id)).toEqual([1, 2, 3]);
  });

  it('has two to four pumps per station', () => {
    expect(config.stations.map((station) => station.pumps.length)).toEqual([2, 3, 4]);
    for (const station of config.stations) {
      expect(station.pumps.length).toBeGreaterThanOrEqual(2);
      expect(station.pumps.length).toBeLessThanOrEqual(4);
    }
  });

  it('defaults stop_setpoint to minimum', () => {
    const pumps = config.stations.flatMap((station) => station.pumps);
    expect(pumps).toHaveLength(9);
    for (const pump of pumps) {
      expect(pump.stop_setpoint).toBe(pump.minimum);
    }
  });

  it('keeps file ports and bind address', () => {
    expect(config.httpPort).toBe(8080);
    expect(config.modbusPort).toBe(502);
    expect(config.opcuaPort).toBe(4840);
    expect(config.bindAddress).toBe('0.0.0.0');
  });

  it('seeds demo plans', () => {
    expect(config.seedDemoPlans).toBe(true);
  });

  it('allows Modbus stop on station001 only', () => {
    expect(config.stations.map((station) => station.allow_modbus_emergency_stop)).toEqual([true, false, false]);
  });
});

describe('valid configuration text', () => {
  it('parses the minimal config', () => {
    const file = parseConfigText(stringify(validConfig()), SOURCE);
    expect(file.stations).toHaveLength(2);
  });

  it('fills section defaults', () => {
    const file = parseConfigText(stringify(validConfig()), SOURCE);
    expect(file.http.port).toBe(8080);
    expect(file.modbus.port).toBe(502);
    expect(file.opcua.port).toBe(4840);
    expect(file.bind_address).toBe('0.0.0.0');
    expect(file.security.token_ttl_seconds).toBe(3600);
    expect(file.demo.seed_plans).toBe(false);
    expect(file.stations[0]?.allow_modbus_emergency_stop).toBe(false);
  });

  it('leaves unset stop_setpoint undefined', () => {
    const file = parseConfigText(stringify(validConfig()), SOURCE);
    expect(file.stations[0]?.pumps[0]?.stop_setpoint).toBeUndefined();
  });

  it('accepts stop_setpoint at maximum', () => {
    const config = validConfig();
    firstPump(config).stop_setpoint = 50;
    const file = parseConfigText(stringify(config), SOURCE);
    expect(file.stations[0]?.pumps[0]?.stop_setpoint).toBe(50);
  });

  it('accepts failsafe at both limits', () => {
    const config = validConfig();
    firstPump(config).failsafe_setpoint = 10;
    const secondPump = config.stations[0]?.pumps[1];
    if (!secondPump) throw new Error('validConfig() has no stations[0].pumps[1]');
    secondPump.failsafe_setpoint = 50;
    expect(() => parseConfigText(stringify(config), SOURCE)).not.toThrow();
  });

  it('accepts on_off pump with 0..1', () => {
    const config = validConfig();
    config.stations[0]?.pumps.push({
      id: 'valve',
      control_variable: 'on_off',
      unit: 'on/off',
      minimum: 0,
      maximum: 1,
      max_rate_per_second: 1,
      failsafe_setpoint: 0,
    });
    expect(() => parseConfigText(stringify(config), SOURCE)).not.toThrow();
  });
});

describe('unknown keys', () => {
  it('rejects unknown top-level key', () => {
    const error = parseError(`colour: red\n${stringify(validConfig())}`);
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain(SOURCE);
    expect(error.message).toContain('(top level)');
    expect(error.message).toContain('unknown key "colour"');
    expect(error.message).toContain('remove or correct it');
  });

  it('rejects unknown pump key', () => {
    const config = validConfig();
    const secondPump = config.stations[1]?.pumps[1];
    if (!secondPump) throw new Error('validConfig() has no stations[1].pumps[1]');
    secondPump.speeed = 3;
    const error = configError(config);
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain('stations[1].pumps[1]: unknown key "speeed"');
    expect(error.message).toContain('remove or correct it');
  });

  it('names several unknown keys', () => {
    const config = validConfig();
    config.stations[0] = { ...config.stations[0]!, colour: 'red', size: 3 };
    const error = configError(config);
    expect(error.message).toContain('stations[0]: unknown keys "colour", "size"');
    expect(error.message).toContain('remove or correct them');
  });

  it('rejects unknown key in http section', () => {
    const error = parseError(`http:\n  prot: 8080\n${stringify(validConfig())}`);
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain('http: unknown key "prot"');
  });
});

describe('wrong value types', () => {
  it('rejects string maximum', () => {
    const config = validConfig();
    firstPump(config).maximum = 'fifty';
    const error = configError(config);
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain('stations[0].pumps[0].maximum');
    expect(error.message).toContain('expected number');
  });

  it('rejects quoted unit_id', () => {
    const config = validConfig();
    (config.stations[1] as Record<string, unknown>).unit_id = '2';
    const error = configError(config);
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain('stations[1].unit_id');
    expect(error.message).toContain('expected number');
  });

  it('rejects string http port', () => {
    const error = parseError(`http:\n  port: eighty\n${stringify(validConfig())}`);
    expect(error.message).toContain('http.port');
    expect(error.message).toContain('expected number');
  });

  it('rejects unknown control_variable', () => {
    const config = validConfig();
    firstPump(config).control_variable = 'pressure';
    const error = configError(config);
    expect(error.message).toContain('stations[0].pumps[0].control_variable');
  });

  it('rejects empty document', () => {
    const error = parseError('');
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain('(top level)');
    expect(error.message).toContain('expected object');
  });

  it('rejects missing stations', () => {
    const error = parseError('bind_address: 127.0.0.1\n');
    expect(error.message).toContain('stations');
  });

  it('rejects .nan minimum', () => {
    const text = stringify(validConfig()).replace('minimum: 10', 'minimum: .nan');
    const error = parseError(text);
    expect(error.message).toContain('stations[0].pumps[0].minimum');
  });

  it('rejects zero max_rate_per_second', () => {
    const config = validConfig();
    firstPump(config).max_rate_per_second = 0;
    const error = configError(config);
    expect(error.message).toContain('stations[0].pumps[0].max_rate_per_second');
  });

  it.each([0, 248, 1.5])('rejects unit_id %s', (unitId) => {
    const config = validConfig();
    config.stations[0]!.unit_id = unitId;
    const error = configError(config);
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain('stations[0].unit_id');
  });

  it.each(['', '-leading-dash', 'has space', 'x'.repeat(64)])('rejects station id "%s"', (id) => {
    const config = validConfig();
    config.stations[0]!.id = id;
    const error = configError(config);
    expect(error.message).toContain('stations[0].id');
    expect(error.message).toContain('must be 1-63 letters');
  });
});

describe('pump limits', () => {
  it('rejects minimum above maximum', () => {
    const config = validConfig();
    Object.assign(firstPump(config), { minimum: 60, maximum: 50, failsafe_setpoint: 55 });
    const error = configError(config);
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain('stations[0].pumps[0].minimum');
    expect(error.message).toContain('minimum 60 is above maximum 50');
    expect(error.message).toContain('lower minimum or raise maximum');
  });

  it('rejects failsafe above maximum', () => {
    const config = validConfig();
    firstPump(config).failsafe_setpoint = 51;
    const error = configError(config);
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain('stations[0].pumps[0].failsafe_setpoint');
    expect(error.message).toContain('failsafe_setpoint 51 is outside [10, 50]');
    expect(error.message).toContain("choose a value within the pump's limits");
  });

  it('rejects failsafe below minimum', () => {
    const config = validConfig();
    firstPump(config).failsafe_setpoint = 9.5;
    const error = configError(config);
    expect(error.message).toContain('stations[0].pumps[0].failsafe_setpoint');
    expect(error.message).toContain('failsafe_setpoint 9.5 is outside [10, 50]');
  });

  it('rejects stop_setpoint below minimum', () => {
    const config = validConfig();
    const pump = config.stations[1]?.pumps[1];
    if (!pump) throw new Error('validConfig() has no stations[1].pumps[1]');
    pump.stop_setpoint = 0;
    const error = configError(config);
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain('stations[1].pumps[1].stop_setpoint');
    expect(error.message).toContain('stop_setpoint 0 is outside [10, 50]');
    expect(error.message).toContain("choose a value within the pump's limits");
  });

  it('rejects stop_setpoint above maximum', () => {
    const config = validConfig();
    firstPump(config).stop_setpoint = 50.1;
    const error = configError(config);
    expect(error.message).toContain('stations[0].pumps[0].stop_setpoint');
  });

  it('rejects on_off pump with 0..2', () => {
    const config = validConfig();
    Object.assign(firstPump(config), { control_variable: 'on_off', minimum: 0, maximum: 2, failsafe_setpoint: 0 });
    const error = configError(config);
    expect(error.message).toContain('stations[0].pumps[0].maximum');
    expect(error.message).toContain('on_off pump needs minimum 0 and maximum 1');
  });

  it('lists every issue in one message', () => {
    const config = validConfig();
    firstPump(config).failsafe_setpoint = 99;
    firstPump(config).stop_setpoint = -1;
    const error = configError(config);
    expect(error.message).toContain('stations[0].pumps[0].failsafe_setpoint');
    expect(error.message).toContain('stations[0].pumps[0].stop_setpoint');
    expect(error.details.issues).toHaveLength(2);
  });

  it('lists range error beside type error', () => {
    const config = validConfig();
    firstPump(config).failsafe_setpoint = 99;
    const otherPump = config.stations[1]?.pumps[0];
    if (!otherPump) throw new Error('validConfig() has no stations[1].pumps[0]');
    otherPump.maximum = 'fifty';
    const error = configError(config);
    expect(error.message).toContain('stations[1].pumps[0].maximum');
    expect(error.message).toContain('stations[0].pumps[0].failsafe_setpoint');
  });

  it('puts key paths in details', () => {
    const config = validConfig();
    firstPump(config).failsafe_setpoint = 99;
    const error = configError(config);
    expect(error.details.issues).toEqual([
      { key: 'stations[0].pumps[0].failsafe_setpoint', message: expect.stringContaining('outside [10, 50]') },
    ]);
  });
});

describe('duplicate ids', () => {
  it('rejects duplicate unit id', () => {
    const config = validConfig();
    config.stations[1]!.unit_id = 1;
    const error = configError(config);
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain('stations[1].unit_id');
    expect(error.message).toContain('duplicate unit id 1 (also stations[0])');
    expect(error.message).toContain('give each station its own Modbus unit id');
  });

  it('rejects duplicate station id', () => {
    const config = validConfig();
    config.stations[1]!.id = 'north';
    const error = configError(config);
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain('stations[1].id');
    expect(error.message).toContain('duplicate station id "north" (also stations[0])');
    expect(error.message).toContain('give each station its own id');
  });

  it('rejects duplicate pump id', () => {
    const config = validConfig();
    config.stations[1]!.pumps[1]!.id = 'pump1';
    const error = configError(config);
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain('stations[1].pumps[1].id');
    expect(error.message).toContain('duplicate pump id "pump1" in station "south"');
    expect(error.message).toContain('give each pump of a station its own id');
  });

  it('allows same pump id across stations', () => {
    expect(() => parseConfigText(stringify(validConfig()), SOURCE)).not.toThrow();
  });
});

describe('YAML errors', () => {
  it('reports syntax error line', () => {
    const error = parseError('stations:\n  - id: north\n  bad: : :\n');
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain(SOURCE);
    expect(error.message).toMatch(/at line \d+/);
  });

  it('reports duplicate key line', () => {
    const text = `http:\n  port: 8080\nmodbus:\n  port: 502\nhttp:\n  port: 9090\n${stringify(validConfig())}`;
    const error = parseError(text);
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain('at line 5');
    expect(error.message).toContain('remove one of the duplicate keys');
  });

  it('names duplicated key', () => {
    const text = `http:\n  port: 8080\nmodbus:\n  port: 502\nhttp:\n  port: 9090\n${stringify(validConfig())}`;
    const error = parseError(text);
    expect(error.message).toContain('"http"');
  });

  it('reports nested duplicate key', () => {
    const text = stringify(validConfig()).replace('        unit: Hz\n', '        unit: Hz\n        unit: l/s\n');
    expect(text).toContain('        unit: Hz\n        unit: l/s\n');
    const error = parseError(text);
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain('at line 8');
    expect(error.message).toContain('duplicate key "unit"');
  });
});

describe('environment overrides', () => {
  const path = writeConfigFile(stringify({ ...validConfig(), http: { port: 8081 }, modbus: { port: 1502 }, opcua: { port: 4841 }, bind_address: '127.0.0.1' }));

  it('uses file values without env', () => {
    const config = loadConfig({ CALEJO_CONFIG: path });
    expect(config.source).toBe(path);
    expect(config.isDemo).toBe(false);
    expect(config.httpPort).toBe(8081);
    expect(config.modbusPort).toBe(1502);
    expect(config.opcuaPort).toBe(4841);
    expect(config.bindAddress).toBe('127.0.0.1');
    expect(config.databaseUrl).toBeUndefined();
    expect(config.dataDir).toBe(resolve('./data'));
  });

  it('overrides ports from env', () => {
    const config = loadConfig({ CALEJO_CONFIG: path, HTTP_PORT: '9080', MODBUS_PORT: '5020', OPCUA_PORT: '48400' });
    expect(config.httpPort).toBe(9080);
    expect(config.modbusPort).toBe(5020);
    expect(config.opcuaPort).toBe(48400);
  });

  it('accepts port 0 and 65535', () => {
    const config = loadConfig({ CALEJO_CONFIG: path, HTTP_PORT: '0', MODBUS_PORT: '65535' });
    expect(config.httpPort).toBe(0);
    expect(config.modbusPort).toBe(65535);
  });

  it('overrides bind address', () => {
    const config = loadConfig({ CALEJO_CONFIG: path, BIND_ADDRESS: '::1' });
    expect(config.bindAddress).toBe('::1');
  });

  it('resolves CALEJO_DATA_DIR', () => {
    const config = loadConfig({ CALEJO_CONFIG: path, CALEJO_DATA_DIR: 'relative/data' });
    expect(config.dataDir).toBe(resolve('relative/data'));
  });

  it('takes DATABASE_URL', () => {
    const url = 'postgres://calejo@127.0.0.1:5432/calejo';
    const config = loadConfig({ CALEJO_CONFIG: path, DATABASE_URL: url });
    expect(config.databaseUrl).toBe(url);
  });

  it.each([
    'postgres://user@/calejo?host=/run/postgresql',
    'postgresql://user:p%40ss@db.example:5432/calejo?sslmode=verify-full',
    'postgres://user@my_db:5432/calejo',
    '/run/postgresql calejo',
  ])('accepts DATABASE_URL %s', (url) => {
    expect(loadConfig({ CALEJO_CONFIG: path, DATABASE_URL: url }).databaseUrl).toBe(url);
  });

  it.each([
    ['postgres://calejo:hunter2@db:99999/calejo', 'not a URL'],
    ['calejo:hunter2@db:5432/calejo', 'scheme "calejo:" is not postgres:'],
    ['http://calejo:hunter2@db/calejo', 'scheme "http:" is not postgres:'],
    ['postgres://db:port/calejo?password=hunter2', 'not a URL'],
  ])('rejects DATABASE_URL %s', (url, reason) => {
    let error: unknown;
    try {
      loadConfig({ CALEJO_CONFIG: path, DATABASE_URL: url });
    } catch (caught) {
      error = caught;
    }
    expect(isAdapterError(error, 'CONFIG_INVALID')).toBe(true);
    const message = (error as Error).message;
    expect(message).toContain('invalid DATABASE_URL');
    expect(message).toContain(reason);
    expect(message).toContain('set it to postgres://USER:PASSWORD@HOST:5432/DATABASE');
    expect(message).not.toContain('hunter2');
  });

  it('ignores blank env values', () => {
    const config = loadConfig({ CALEJO_CONFIG: path, HTTP_PORT: '', MODBUS_PORT: '  ', BIND_ADDRESS: ' ', DATABASE_URL: '' });
    expect(config.httpPort).toBe(8081);
    expect(config.modbusPort).toBe(1502);
    expect(config.bindAddress).toBe('127.0.0.1');
    expect(config.databaseUrl).toBeUndefined();
  });

  it('defaults stop_setpoint to minimum', () => {
    const config = loadConfig({ CALEJO_CONFIG: path });
    expect(config.stations[0]?.pumps[0]?.stop_setpoint).toBe(10);
  });

  it('keeps explicit stop_setpoint', () => {
    const input = validConfig();
    firstPump(input).stop_setpoint = 25;
    const config = loadConfig({ CALEJO_CONFIG: writeConfigFile(stringify(input)) });
    expect(config.stations[0]?.pumps[0]?.stop_setpoint).toBe(25);
    expect(config.stations[0]?.pumps[1]?.stop_setpoint).toBe(10);
  });

  it.each([
    ['MODBUS_PORT', 'abc'],
    ['MODBUS_PORT', '70000'],
    ['HTTP_PORT', '65536'],
    ['HTTP_PORT', '-1'],
    ['OPCUA_PORT', '80.5'],
    ['OPCUA_PORT', '1e3'],
  ])('rejects %s=%s', (name, value) => {
    const error = captureAdapterError(() => loadConfig({ CALEJO_CONFIG: path, [name]: value }));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain(name);
    expect(error.message).toContain(`"${value}"`);
    expect(error.message).toContain('0 to 65535');
  });
});

describe('configuration file access', () => {
  it('reports missing file', () => {
    const missing = join(temporaryDirectory, 'missing.yaml');
    const error = captureAdapterError(() => loadConfig({ CALEJO_CONFIG: missing }));
    expect(error.code).toBe('CONFIG_NOT_FOUND');
    expect(error.message).toContain(missing);
    expect(error.message).toContain('ENOENT');
    expect(error.message).toContain('CALEJO_CONFIG');
  });

  it('names invalid file in message', () => {
    const input = validConfig();
    firstPump(input).failsafe_setpoint = 99;
    const path = writeConfigFile(stringify(input));
    const error = captureAdapterError(() => loadConfig({ CALEJO_CONFIG: path }));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain(path);
    expect(error.message).toContain('stations[0].pumps[0].failsafe_setpoint');
  });

  it('treats blank CALEJO_CONFIG as demo', () => {
    const config = loadConfig({ CALEJO_CONFIG: '  ' });
    expect(config.isDemo).toBe(true);
    expect(config.source).toBe(DEMO_CONFIG_PATH);
  });
});
