import type { ISessionContext } from 'node-opcua-address-space';
import { StatusCodes, type StatusCode } from 'node-opcua-status-code';
import type { CallMethodResultOptions } from 'node-opcua-types';
import { DataType, Variant } from 'node-opcua-variant';
import type { CommandResult } from '../actors/station.js';
import type { StationRegistry } from '../actors/station-registry.js';
import { writeAuditEvent } from '../audit/audit-log.js';
import type { CredentialService, UserIdentity } from '../auth/credentials.js';
import type { Permission } from '../auth/roles.js';
import type { Database } from '../db/database.js';
import { isAdapterError } from '../errors.js';
import type { AdapterLogger } from '../log.js';
import type { CommandOrigin } from '../station/stop-store.js';
import type { SessionDirectory, SessionPrincipal } from './sessions.js';

/** The emergency-stop methods of each station object, by browse name. */
export const STATION_COMMANDS = {
  EmergencyStop: { permission: 'emergency_stop', description: 'Activates and latches the emergency stop of the station.' },
  ClearEmergencyStop: { permission: 'clear_emergency_stop', description: 'Releases the latch; the pumps stay at their stop setpoints until Resume.' },
  Resume: { permission: 'clear_emergency_stop', description: 'Starts recovery of a held station: the pumps ramp back to the plan.' },
} as const satisfies Record<string, { permission: Permission; description: string }>;

export type StationCommand = keyof typeof STATION_COMMANDS;

/** Maximum length of a reason, as for the REST commands. */
const MAX_REASON_LENGTH = 500;
/** How long a call waits for the user row before it authorizes from the login instead. */
const IDENTITY_LOOKUP_TIMEOUT_MS = 1000;

export interface StationCommandDependencies {
  stations: StationRegistry;
  sessions: SessionDirectory;
  credentials: CredentialService;
  getDatabase: () => Database | null;
  logger: AdapterLogger;
}

/**
 * Runs the station methods for OPC UA clients. Each call is authorized with the user's
 * permissions as stored in the database at that moment. It then enters the station actor exactly
 * as the REST command does, so the stop, its persistence and its audit rows are the same.
 */
export class StationCommandHandler {
  constructor(private readonly dependencies: StationCommandDependencies) {}

  async call(command: StationCommand, stationId: string, inputArguments: Variant[], context: ISessionContext): Promise<CallMethodResultOptions> {
    const reasonArgument = inputArguments[0]?.value as unknown;
    if (reasonArgument !== undefined && reasonArgument !== null && typeof reasonArgument !== 'string') {
      return { statusCode: StatusCodes.BadInvalidArgument, inputArgumentResults: [StatusCodes.BadTypeMismatch] };
    }
    const reason = typeof reasonArgument === 'string' && reasonArgument.length > 0 ? reasonArgument : null;
    if (reason !== null && reason.length > MAX_REASON_LENGTH) {
      return { statusCode: StatusCodes.BadInvalidArgument, inputArgumentResults: [StatusCodes.BadOutOfRange] };
    }

    const permission = STATION_COMMANDS[command].permission;
    const principal = this.dependencies.sessions.principalOf(context.session);
    const identity = principal?.kind === 'user' ? await this.currentIdentity(principal.identity) : null;
    if (!principal || !identity || !identity.permissions.includes(permission)) {
      await this.auditDenied(command, stationId, permission, principal, identity);
      return { statusCode: StatusCodes.BadUserAccessDenied };
    }

    const actor = this.dependencies.stations.get(stationId);
    if (!actor) return { statusCode: StatusCodes.BadResourceUnavailable };
    const origin: CommandOrigin = {
      source: 'opcua',
      actor: identity.username,
      actorRole: identity.role,
      sourceAddress: principal.sourceAddress,
      reason,
      operator: null,
    };

    let result: CommandResult;
    try {
      if (command === 'EmergencyStop') result = await actor.activateEmergencyStop(origin);
      else if (command === 'ClearEmergencyStop') result = await actor.clearEmergencyStop(origin);
      else result = await actor.resume(origin);
    } catch (error) {
      return { statusCode: this.statusOf(error, command, stationId) };
    }
    return {
      statusCode: StatusCodes.Good,
      outputArguments: [new Variant({ dataType: DataType.String, value: result.state }), new Variant({ dataType: DataType.Boolean, value: result.persisted })],
    };
  }

  /**
   * Returns the user's identity as stored in the database now, or null when the user was
   * deactivated. An emergency stop must stay possible during a database outage, so when the user
   * table cannot be read in time, the permissions from the session's login apply.
   */
  private async currentIdentity(atLogin: UserIdentity): Promise<UserIdentity | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`user table not read within ${IDENTITY_LOOKUP_TIMEOUT_MS} ms`)), IDENTITY_LOOKUP_TIMEOUT_MS);
    });
    try {
      return await Promise.race([this.dependencies.credentials.currentIdentity(atLogin.userId), timeout]);
    } catch (error) {
      // NOTE: a user deactivated during a database outage keeps the permissions of the login until the database returns.
      this.dependencies.logger.warning({ err: error, username: atLogin.username }, 'user table unreadable; authorizing the OPC UA call from the session login');
      return atLogin;
    } finally {
      clearTimeout(timer);
    }
  }

  private statusOf(error: unknown, command: StationCommand, stationId: string): StatusCode {
    if (isAdapterError(error, 'INVALID_STATE_TRANSITION')) {
      this.dependencies.logger.info({ station_id: stationId, method: command, reason: error.message }, `OPC UA ${command} rejected: ${error.message}`);
      return StatusCodes.BadInvalidState;
    }
    if (isAdapterError(error, 'DATABASE_UNAVAILABLE')) {
      this.dependencies.logger.warning({ station_id: stationId, method: command }, `OPC UA ${command} rejected: ${error.message}`);
      return StatusCodes.BadResourceUnavailable;
    }
    this.dependencies.logger.error({ err: error, station_id: stationId, method: command }, `OPC UA ${command} failed`);
    return StatusCodes.BadInternalError;
  }

  private async auditDenied(command: StationCommand, stationId: string, permission: Permission, principal: SessionPrincipal | null, identity: UserIdentity | null): Promise<void> {
    const username = identity?.username ?? (principal?.kind === 'read_only' ? principal.username : null);
    let denial: string = identity ? 'missing_permission' : 'user_deactivated';
    if (principal?.kind === 'read_only') denial = principal.reason;
    this.dependencies.logger.info({ station_id: stationId, method: command, username, reason: denial }, `OPC UA ${command} denied: ${denial}`);
    const database = this.dependencies.getDatabase();
    if (!database) return;
    await writeAuditEvent(database, {
      eventType: 'ACCESS_DENIED',
      severity: 'MEDIUM',
      source: 'opcua',
      actor: username,
      actorRole: identity?.role ?? null,
      sourceAddress: principal?.sourceAddress ?? null,
      stationId,
      details: { method: command, permission, reason: denial },
    }).catch((error: unknown) => this.dependencies.logger.error({ err: error, station_id: stationId }, 'writing the ACCESS_DENIED audit row failed'));
  }
}
