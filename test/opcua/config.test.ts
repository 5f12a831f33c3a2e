import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfigText } from '../../src/config/load.js';
import { isAdapterError } from '../../src/errors.js';

const STATIONS = [
  { id: 'station001', unit_id: 1, pumps: [{ id: 'pump1', control_variable: 'speed', unit: 'Hz', minimum: 0, maximum: 50, max_rate_per_second: 1, failsafe_setpoint: 20 }] },
];

describe('opcua section of the configuration', () => {
  it('defaults to secure settings', () => {
    const file = parseConfigText(stringify({ stations: STATIONS }), 'test.yaml');
    expect(file.opcua).toEqual({
      port: 4840,
      application_name: 'Calejo Control Adapter',
      application_uri: 'urn:calejo:control-adapter',
      allow_anonymous: false,
      allow_security_none: false,
      max_sessions: 50,
      max_subscriptions_per_session: 10,
      max_monitored_items_per_subscription: 10_000,
    });
  });

  it('names the key of an invalid value', () => {
    const error = (() => {
      try {
        return parseConfigText(stringify({ opcua: { application_uri: 'calejo adapter', max_sessions: 0 }, stations: STATIONS }), 'test.yaml');
      } catch (caught) {
        return caught;
      }
    })();
    expect(isAdapterError(error, 'CONFIG_INVALID')).toBe(true);
    expect((error as Error).message).toContain('opcua.application_uri');
    expect((error as Error).message).toContain('opcua.max_sessions');
  });

  it('rejects an unknown key', () => {
    expect(() => parseConfigText(stringify({ opcua: { allow_anonymus: true }, stations: STATIONS }), 'test.yaml')).toThrow(/opcua: unknown key "allow_anonymus"/);
  });
});
