import type { ISessionContext, Namespace, UAObject, UAVariable } from 'node-opcua-address-space';
import { StatusCodes, type StatusCode } from 'node-opcua-status-code';
import { DataType, Variant } from 'node-opcua-variant';
import type { AdapterConfig } from '../config/load.js';
import { encodeStatusWord } from '../modbus/register-layout.js';
import { PUMP_MODE_CODES } from '../station/pipeline.js';
import type { StationSnapshot } from '../station/snapshot.js';
import { engineeringUnits } from './engineering-units.js';
import type { FeedbackStore } from './feedback.js';
import { PUMP_STATIONS_FOLDER, pumpNodeId, stationNodeId } from './node-ids.js';
import { PublishedVariable } from './published-variable.js';
import { STATION_COMMANDS, type StationCommand, type StationCommandHandler } from './station-commands.js';

type StationConfig = AdapterConfig['stations'][number];
type PumpConfig = StationConfig['pumps'][number];

export interface AddressSpaceDependencies {
  namespace: Namespace;
  objectsFolder: UAObject;
  commands: StationCommandHandler;
  feedback: FeedbackStore;
  /** Whether the session of `context` may write feedback variables. */
  canWriteFeedback: (context: ISessionContext) => boolean;
}

/**
 * Values that need no update: minimumSamplingInterval 0 makes every variable exception-based,
 * so a subscriber gets a change as soon as the snapshot sets it, without polling.
 */
const ON_CHANGE = 0;
/**
 * Access level of every variable the adapter publishes. node-opcua makes a new variable writable
 * unless its accessLevel is set, and a client must never overwrite a published setpoint.
 */
const READ_ONLY = 'CurrentRead';
/** Feedback variables are read through a getter, which the server samples at this interval. */
const FEEDBACK_SAMPLING_MS = 100;

interface PumpVariables {
  pumpId: string;
  effectiveSetpoint: PublishedVariable;
  mode: PublishedVariable;
  modeCode: PublishedVariable;
  minimum: PublishedVariable;
  maximum: PublishedVariable;
  planValue: PublishedVariable;
}

/** The variables of one station object, updated from its snapshots. */
export class StationNodes {
  constructor(
    private readonly station: Record<'statusWord' | 'emergencyStopActive' | 'emergencyStopState' | 'heartbeat' | 'recovering' | 'failsafeActive' | 'planStale' | 'databaseUnreachable' | 'persistencePending', PublishedVariable>,
    private readonly pumps: PumpVariables[],
  ) {}

  /**
   * Publishes a snapshot. The plan value is Uncertain while the database is unreachable, because
   * it is the last value read, and Bad when no plan row covers now. Every other value is what the
   * adapter publishes on all surfaces, so it is Good.
   */
  apply(snapshot: StationSnapshot): void {
    const at = snapshot.updatedAt;
    const station = this.station;
    station.statusWord.publish(encodeStatusWord(snapshot), at);
    station.emergencyStopActive.publish(snapshot.emergencyStopActive, at);
    station.emergencyStopState.publish(snapshot.stopState, at);
    station.heartbeat.publish(snapshot.heartbeat & 0xffff, at);
    station.recovering.publish(snapshot.recovering, at);
    station.failsafeActive.publish(snapshot.failsafeActive, at);
    station.planStale.publish(snapshot.planStale, at);
    station.databaseUnreachable.publish(snapshot.databaseUnreachable, at);
    station.persistencePending.publish(snapshot.persistencePending, at);

    for (const pump of snapshot.pumps) {
      const nodes = this.pumps.find((candidate) => candidate.pumpId === pump.pumpId);
      if (!nodes) continue;
      nodes.effectiveSetpoint.publish(pump.setpoint, at);
      nodes.mode.publish(pump.mode, at);
      nodes.modeCode.publish(PUMP_MODE_CODES[pump.mode], at);
      nodes.minimum.publish(pump.minimum, at);
      nodes.maximum.publish(pump.maximum, at);
      nodes.planValue.publish(pump.planValue ?? Number.NaN, at, planValueStatus(pump.planValue, snapshot.databaseUnreachable));
    }
  }
}

function planValueStatus(planValue: number | null, databaseUnreachable: boolean): StatusCode {
  if (planValue === null) return StatusCodes.BadNoData;
  return databaseUnreachable ? StatusCodes.UncertainLastUsableValue : StatusCodes.Good;
}

/**
 * Builds Objects/PumpStations with one object per configured station, its pumps below
 * `Pumps`, and the station's emergency-stop methods. Returns the nodes by station id.
 */
export function buildStationNodes(stations: readonly StationConfig[], dependencies: AddressSpaceDependencies): Map<string, StationNodes> {
  const { namespace } = dependencies;
  const folder = namespace.addFolder(dependencies.objectsFolder, {
    nodeId: `s=${PUMP_STATIONS_FOLDER}`,
    browseName: PUMP_STATIONS_FOLDER,
    description: 'Pump stations served by the Calejo Control Adapter',
  });

  const result = new Map<string, StationNodes>();
  for (const station of stations) {
    result.set(station.id, buildStation(station, folder, dependencies));
  }
  return result;
}

function buildStation(station: StationConfig, folder: UAObject, dependencies: AddressSpaceDependencies): StationNodes {
  const { namespace } = dependencies;
  const object = namespace.addObject({
    organizedBy: folder,
    nodeId: stationNodeId(station.id),
    browseName: station.id,
    displayName: station.name ?? station.id,
  });
  const variable = (name: string, dataType: DataType, description: string) => addPublishedVariable(namespace, object, stationNodeId(station.id, name), name, dataType, description);
  addConstant(namespace, object, stationNodeId(station.id, 'Name'), 'Name', station.name ?? station.id);
  addConstant(namespace, object, stationNodeId(station.id, 'UnitId'), 'UnitId', station.unit_id, DataType.UInt16);

  const stationVariables = {
    statusWord: variable('StatusWord', DataType.UInt16, 'Status bits as in Modbus register 40001: 0 emergency stop, 1 recovering, 2 failsafe, 3 plan stale, 4 database unreachable'),
    emergencyStopActive: variable('EmergencyStopActive', DataType.Boolean, 'True while the emergency stop is latched, and while its stored state is being restored'),
    emergencyStopState: variable('EmergencyStopState', DataType.String, 'State of the emergency-stop machine: restoring, operational, stopped, held or recovering'),
    heartbeat: variable('Heartbeat', DataType.UInt16, 'Counts up once a second and wraps from 65535 to 0'),
    recovering: variable('Recovering', DataType.Boolean, 'True while the pumps ramp back to the plan after Resume'),
    failsafeActive: variable('FailsafeActive', DataType.Boolean, 'True when at least one pump publishes its failsafe setpoint'),
    planStale: variable('PlanStale', DataType.Boolean, 'True when at least one pump has no plan row covering now, or the newest plan row is too old'),
    databaseUnreachable: variable('DatabaseUnreachable', DataType.Boolean, 'True while the adapter cannot read its database'),
    persistencePending: variable('PersistencePending', DataType.Boolean, 'True while an accepted stop, clear or resume is not yet committed to the database'),
  };
  addFeedbackVariable(dependencies, object, `${station.id}.WetWellLevel`, 'WetWellLevel', DataType.Double, 'Wet-well level measured by SCADA, in metres');

  for (const command of Object.keys(STATION_COMMANDS) as StationCommand[]) {
    addCommandMethod(dependencies, object, station.id, command);
  }

  // addFolder accepts only a folder as parent, and the station is an object.
  const pumpsFolder = namespace.addObject({ componentOf: object, typeDefinition: 'FolderType', nodeId: stationNodeId(station.id, 'Pumps'), browseName: 'Pumps' });
  const pumps = station.pumps.map((pump) => buildPump(station.id, pump, pumpsFolder, dependencies));
  return new StationNodes(stationVariables, pumps);
}

function buildPump(stationId: string, pump: PumpConfig, folder: UAObject, dependencies: AddressSpaceDependencies): PumpVariables {
  const { namespace } = dependencies;
  const object = namespace.addObject({
    organizedBy: folder,
    nodeId: pumpNodeId(stationId, pump.id),
    browseName: pump.id,
    displayName: pump.name ?? pump.id,
  });
  const nodeId = (name: string) => pumpNodeId(stationId, pump.id, name);
  const variable = (name: string, dataType: DataType, description: string) => addPublishedVariable(namespace, object, nodeId(name), name, dataType, description);
  addConstant(namespace, object, nodeId('Name'), 'Name', pump.name ?? pump.id);
  addConstant(namespace, object, nodeId('ControlVariable'), 'ControlVariable', pump.control_variable);

  const setpoint = namespace.addAnalogDataItem({
    componentOf: object,
    nodeId: nodeId('EffectiveSetpoint'),
    browseName: 'EffectiveSetpoint',
    description: `Setpoint the adapter publishes, within [Minimum, Maximum], in ${pump.unit}`,
    dataType: 'Double',
    minimumSamplingInterval: ON_CHANGE,
    engineeringUnitsRange: { low: pump.minimum, high: pump.maximum },
    engineeringUnits: engineeringUnits(pump.unit),
    accessLevel: READ_ONLY,
    userAccessLevel: READ_ONLY,
    value: { dataType: DataType.Double, value: pump.stop_setpoint },
  });
  addFeedbackVariable(dependencies, object, `${stationId}.${pump.id}.MeasuredSpeed`, 'MeasuredSpeed', DataType.Double, 'Pump speed measured by SCADA, in Hz');
  addFeedbackVariable(dependencies, object, `${stationId}.${pump.id}.MeasuredFlow`, 'MeasuredFlow', DataType.Double, 'Flow measured by SCADA, in l/s');
  addFeedbackVariable(dependencies, object, `${stationId}.${pump.id}.Running`, 'Running', DataType.Boolean, 'Whether SCADA reports the pump running');

  return {
    pumpId: pump.id,
    effectiveSetpoint: new PublishedVariable(setpoint as unknown as UAVariable, DataType.Double),
    mode: variable('Mode', DataType.String, 'Source of the setpoint: plan, override, failsafe, stopped (also held after a clear) or recovering'),
    modeCode: variable('ModeCode', DataType.UInt16, 'Mode as the Modbus pump block encodes it: 0 plan, 1 override, 2 failsafe, 3 stopped or held, 4 recovering'),
    minimum: variable('Minimum', DataType.Double, `Lowest setpoint the adapter publishes, in ${pump.unit}`),
    maximum: variable('Maximum', DataType.Double, `Highest setpoint the adapter publishes, in ${pump.unit}`),
    planValue: variable('PlanValue', DataType.Double, `Target of the plan row covering now, before clamping, in ${pump.unit}; Bad when no row covers now`),
  };
}

function addPublishedVariable(namespace: Namespace, parent: UAObject, nodeId: string, browseName: string, dataType: DataType, description: string): PublishedVariable {
  const variable = namespace.addVariable({
    componentOf: parent,
    nodeId,
    browseName,
    description,
    dataType: DataType[dataType],
    accessLevel: READ_ONLY,
    userAccessLevel: READ_ONLY,
    minimumSamplingInterval: ON_CHANGE,
    value: { dataType, value: initialValue(dataType) },
  });
  return new PublishedVariable(variable, dataType);
}

function initialValue(dataType: DataType): number | boolean | string {
  if (dataType === DataType.Boolean) return false;
  if (dataType === DataType.String) return '';
  return 0;
}

function addConstant(namespace: Namespace, parent: UAObject, nodeId: string, browseName: string, value: string | number, dataType: DataType = DataType.String): void {
  namespace.addVariable({
    propertyOf: parent,
    nodeId,
    browseName,
    dataType: DataType[dataType],
    accessLevel: READ_ONLY,
    userAccessLevel: READ_ONLY,
    value: { dataType, value },
  });
}

/**
 * Adds a variable that SCADA writes. Writes go to the feedback store after a check of the value,
 * and only sessions that `canWriteFeedback` admits may write; others get BadUserAccessDenied.
 */
function addFeedbackVariable(dependencies: AddressSpaceDependencies, parent: UAObject, key: string, browseName: string, dataType: DataType.Double | DataType.Boolean, description: string): void {
  const { namespace, feedback } = dependencies;
  const options = {
    componentOf: parent,
    nodeId: `s=${key}`,
    browseName,
    description,
    dataType: DataType[dataType],
    accessLevel: 'CurrentRead | CurrentWrite',
    userAccessLevel: 'CurrentRead | CurrentWrite',
    minimumSamplingInterval: FEEDBACK_SAMPLING_MS,
    value: {
      get: (): Variant | StatusCode => {
        const stored = feedback.get(key);
        return stored ? new Variant({ dataType, value: stored.value }) : StatusCodes.BadWaitingForInitialData;
      },
      set: (variant: Variant): StatusCode => {
        const value: unknown = variant.value;
        const valid = dataType === DataType.Boolean ? typeof value === 'boolean' : typeof value === 'number' && Number.isFinite(value);
        if (!valid) return dataType === DataType.Boolean ? StatusCodes.BadTypeMismatch : StatusCodes.BadOutOfRange;
        const now = new Date();
        feedback.record(key, { value: value as number | boolean, sourceTimestamp: now, receivedAt: now });
        return StatusCodes.Good;
      },
    },
  };
  const variable = namespace.addVariable(options);
  // OPC UA role permissions would need the adapter's roles mirrored into the address space. A
  // check against the session's identity keeps the users table the one source of truth.
  variable.isUserWritable = (context: ISessionContext) => dependencies.canWriteFeedback(context);
}

function addCommandMethod(dependencies: AddressSpaceDependencies, station: UAObject, stationId: string, command: StationCommand): void {
  const method = dependencies.namespace.addMethod(station, {
    nodeId: stationNodeId(stationId, command),
    browseName: command,
    description: STATION_COMMANDS[command].description,
    inputArguments: [{ name: 'Reason', dataType: DataType.String, description: { text: 'Why the command is given; written to the audit log (at most 500 characters)' } }],
    outputArguments: [
      { name: 'State', dataType: DataType.String, description: { text: 'Emergency-stop state after the command' } },
      { name: 'Persisted', dataType: DataType.Boolean, description: { text: 'False when the command is in force but its database write is still retried' } },
    ],
  });
  method.bindMethod((inputArguments: Variant[], context: ISessionContext) => dependencies.commands.call(command, stationId, inputArguments, context));
}
