import { makeEUInformation } from 'node-opcua-data-access';
import type { EUInformation } from 'node-opcua-types';

/**
 * UNECE Recommendation 20 common codes for the units that pump configurations use. OPC UA
 * EUInformation carries the code as UnitId, so a client can recognise the unit without parsing
 * the display name.
 */
const UNECE_CODES: Record<string, { code: string; description: string }> = {
  Hz: { code: 'HTZ', description: 'hertz' },
  'l/s': { code: 'G51', description: 'litre per second' },
  'l/min': { code: 'L2', description: 'litre per minute' },
  'm³/h': { code: 'MQH', description: 'cubic metre per hour' },
  'm3/h': { code: 'MQH', description: 'cubic metre per hour' },
  rpm: { code: 'RPM', description: 'revolutions per minute' },
  '%': { code: 'P1', description: 'percent' },
  m: { code: 'MTR', description: 'metre' },
  bar: { code: 'BAR', description: 'bar' },
};

/** Returns the EngineeringUnits value for a configured unit; an unknown unit gets UnitId -1, as OPC UA Part 8 prescribes. */
export function engineeringUnits(unit: string): EUInformation {
  const known = UNECE_CODES[unit];
  if (known) return makeEUInformation(known.code, unit, known.description);
  const information = makeEUInformation('', unit, unit);
  information.unitId = -1;
  return information;
}
