// Must stay the first node-opcua import: it routes the library's console output into the log.
import { routeLibraryLogs } from './library-logs.js';
import { countOpcUaResponse } from './metrics.js';
import { join } from 'node:path';
import type { ISessionContext } from 'node-opcua-address-space';
import { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import { MessageSecurityMode, SecurityPolicy } from 'node-opcua-secure-channel';
import { OPCUAServer, RegisterServerMethod } from 'node-opcua-server';
import type { StationRegistry } from '../actors/station-registry.js';
import { writeAuditEvent } from '../audit/audit-log.js';
import type { CredentialService } from '../auth/credentials.js';
import type { AdapterConfig, OpcUaSettings } from '../config/load.js';
import type { Database } from '../db/database.js';
import type { AdapterLogger } from '../log.js';
import { listenFailedError, type ListenerIdentity } from '../net/listen-error.js';
import { buildStationNodes, type StationNodes } from './address-space.js';
import { ClientCertificateStore, type RejectedCertificate } from './certificate-store.js';
import { ensureServerCertificate, PKI_FOLDER, USER_PKI_FOLDER } from './certificates.js';
import { FeedbackStore, type StoredFeedback } from './feedback.js';
import { SessionDirectory } from './sessions.js';
import { StationCommandHandler } from './station-commands.js';

export const OPCUA_LISTENER: ListenerIdentity = { server: 'OPC UA server', portVariable: 'OPCUA_PORT', suggestedPort: 4840 };

/** Security policies of the secured endpoints, each offered in Sign and SignAndEncrypt. */
const SECURE_POLICIES = [SecurityPolicy.Basic256Sha256, SecurityPolicy.Aes128_Sha256_RsaOaep, SecurityPolicy.Aes256_Sha256_RsaPss];
/** Permission a user needs to write feedback variables; feedback reaches the optimizer's plans. */
const FEEDBACK_PERMISSION = 'manage_setpoints';

export interface OpcUaServerOptions {
  settings: OpcUaSettings;
  host: string;
  /** TCP port, or 0 for an ephemeral port as tests use. */
  port: number;
  certsDir: string;
  stations: AdapterConfig['stations'];
  registry: StationRegistry;
  credentials: CredentialService;
  getDatabase: () => Database | null;
  logger: AdapterLogger;
  version: string;
  /** Receives each feedback write, for storage in pump_feedback. */
  onFeedback?: (row: StoredFeedback) => void;
}

export interface OpcUaListening {
  endpointUrl: string;
  address: string;
  port: number;
  securityPolicies: string[];
  certificateThumbprint: string;
}

/**
 * The adapter's OPC UA server: the station address space fed by station snapshots, the
 * emergency-stop methods, user tokens checked against the adapter's users, and the
 * trusted/rejected store for client certificates under CERTS_DIR/pki.
 */
export class AdapterOpcUaServer {
  private readonly logger: AdapterLogger;
  private readonly sessions: SessionDirectory;
  private readonly feedback: FeedbackStore;
  private server: OPCUAServer | null = null;
  private unsubscribe: (() => void) | null = null;

  constructor(private readonly options: OpcUaServerOptions) {
    this.logger = options.logger.child({ component: 'opcua' });
    this.sessions = new SessionDirectory(options.credentials, this.logger);
    this.feedback = new FeedbackStore(options.onFeedback);
  }

  get sessionCount(): number {
    return this.server?.currentSessionCount ?? 0;
  }

  /** Creates or loads the certificate, builds the address space and listens. Rejects with LISTEN_FAILED or CERTIFICATE_INVALID. */
  async start(): Promise<OpcUaListening> {
    const { settings, certsDir } = this.options;
    routeLibraryLogs(this.logger);
    const startedAt = performance.now();
    const phases: Record<string, number> = {};
    const phaseDone = (name: string) => (phases[name] = Math.round(performance.now() - startedAt));
    const certificate = await ensureServerCertificate({
      certsDir,
      applicationUri: settings.applicationUri,
      applicationName: settings.applicationName,
      ipAddresses: isSpecificAddress(this.options.host) ? [this.options.host] : [],
      logger: this.logger,
    });

    phaseDone('certificate_ms');
    const certificateStore = new ClientCertificateStore(join(certsDir, PKI_FOLDER), (rejected) => this.auditRejectedCertificate(rejected));
    await certificateStore.initialize();
    // Without a store of its own, node-opcua would create one in the user's home folder.
    const userCertificateStore = new OPCUACertificateManager({ rootFolder: join(certsDir, USER_PKI_FOLDER), automaticallyAcceptUnknownCertificate: false });

    const securityPolicies = settings.allowSecurityNone ? [SecurityPolicy.None, ...SECURE_POLICIES] : SECURE_POLICIES;
    const securityModes = settings.allowSecurityNone
      ? [MessageSecurityMode.None, MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt]
      : [MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt];
    const server = new OPCUAServer({
      host: this.options.host,
      // Clients connect to the URL in the endpoint description, so it names the bound address
      // when there is one. On a wildcard address node-opcua uses the host's FQDN.
      hostname: isSpecificAddress(this.options.host) ? this.options.host : undefined,
      port: this.options.port,
      certificateFile: certificate.certificateFile,
      privateKeyFile: certificate.privateKeyFile,
      serverCertificateManager: certificateStore,
      userCertificateManager: userCertificateStore,
      securityPolicies,
      securityModes,
      allowAnonymous: settings.allowAnonymous,
      userManager: this.sessions,
      serverInfo: {
        applicationUri: settings.applicationUri,
        productUri: 'urn:calejo:control-adapter',
        applicationName: { text: settings.applicationName, locale: 'en' },
      },
      buildInfo: { productName: 'Calejo Control Adapter', manufacturerName: 'Calejo', softwareVersion: this.options.version },
      serverCapabilities: {
        maxSessions: settings.maxSessions,
        maxSubscriptionsPerSession: settings.maxSubscriptionsPerSession,
        maxSubscriptions: settings.maxSessions * settings.maxSubscriptionsPerSession,
        maxMonitoredItemsPerSubscription: settings.maxMonitoredItemsPerSubscription,
        maxMonitoredItems: settings.maxSessions * settings.maxSubscriptionsPerSession * settings.maxMonitoredItemsPerSubscription,
        // Exception-based sampling: a changed value is queued for the next publish at once.
        minSupportedSampleRate: 0,
      },
      // Room for clients whose sessions are refused, so that they get BadTooManySessions instead
      // of a closed socket.
      maxConnectionsPerEndpoint: settings.maxSessions + 10,
      registerServerMethod: RegisterServerMethod.HIDDEN,
      // The adapter writes its own audit rows; node-opcua's audit events would only add load.
      isAuditing: false,
    });
    this.server = server;
    server.on('response', (response) => countOpcUaResponse(response as Parameters<typeof countOpcUaResponse>[0]));

    try {
      await server.initialize();
      phaseDone('initialize_ms');
      this.buildAddressSpace(server);
      phaseDone('address_space_ms');
      await server.start();
      phaseDone('listen_ms');
    } catch (error) {
      this.unsubscribe?.();
      this.unsubscribe = null;
      this.server = null;
      // The start error is the one to report. shutdown() skips a server that never started, so
      // the stores are disposed here too, or their folder watchers would outlive the server.
      await server.shutdown(0).catch(() => undefined);
      await Promise.allSettled([certificateStore.dispose(), userCertificateStore.dispose()]);
      const code = (error as NodeJS.ErrnoException).code;
      throw code ? listenFailedError(error as NodeJS.ErrnoException, this.options.host, this.options.port, OPCUA_LISTENER) : error;
    }

    server.on('session_closed', (session) => {
      this.logger.debug({ session_name: session.sessionName, remote_address: session.channel?.remoteAddress }, 'OPC UA session closed');
    });
    const port = server.endpoints[0]?.port ?? this.options.port;
    const endpointUrl = server.getEndpointUrl();
    const policyNames = securityPolicies.map((policy) => policy.split('#')[1] ?? policy);
    this.logger.info(
      {
        endpoint_url: endpointUrl,
        address: this.options.host,
        port,
        security_policies: policyNames,
        security_modes: securityModes.map((mode) => MessageSecurityMode[mode]),
        allow_anonymous: settings.allowAnonymous,
        certificate_thumbprint: certificate.thumbprint,
        certificate_not_after: certificate.notAfter.toISOString(),
        start_ms: phases.listen_ms,
        start_phases_ms: phases,
      },
      `OPC UA server listening on ${endpointUrl} (bound to ${this.options.host}:${port}) with security policies ${policyNames.join(', ')}`,
    );
    return { endpointUrl, address: this.options.host, port, securityPolicies: policyNames, certificateThumbprint: certificate.thumbprint };
  }

  /** Closes every session and the listener. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = null;
    const server = this.server;
    this.server = null;
    if (!server) return;
    await server.shutdown(0);
    this.logger.info('OPC UA server stopped');
  }

  private buildAddressSpace(server: OPCUAServer): void {
    const addressSpace = server.engine.addressSpace;
    if (!addressSpace) throw new Error('node-opcua created no address space during initialize()');
    const commands = new StationCommandHandler({
      stations: this.options.registry,
      sessions: this.sessions,
      credentials: this.options.credentials,
      getDatabase: this.options.getDatabase,
      logger: this.logger,
    });
    const nodes: Map<string, StationNodes> = buildStationNodes(this.options.stations, {
      namespace: addressSpace.getOwnNamespace(),
      objectsFolder: addressSpace.rootFolder.objects,
      commands,
      feedback: this.feedback,
      // NOTE: node-opcua calls this synchronously, so it uses the role's permissions from the session's login; a role change applies to writes at the next login.
      canWriteFeedback: (context: ISessionContext) => {
        const principal = this.sessions.principalOf(context.session);
        return principal?.kind === 'user' && principal.identity.permissions.includes(FEEDBACK_PERMISSION);
      },
    });
    // The registry calls back synchronously with every station's current snapshot first.
    this.unsubscribe = this.options.registry.subscribe((snapshot) => nodes.get(snapshot.stationId)?.apply(snapshot));
  }

  private auditRejectedCertificate(rejected: RejectedCertificate): void {
    this.logger.warning(
      { thumbprint: rejected.thumbprint, subject: rejected.subject, application_uri: rejected.applicationUri, status: rejected.status, suppressed_repeats: rejected.suppressedRepeats },
      `OPC UA client certificate ${rejected.thumbprint} (${rejected.applicationUri ?? rejected.subject}) rejected with ${rejected.status}; to trust it, move its file from ${join(this.options.certsDir, PKI_FOLDER, 'rejected')} to ${join(this.options.certsDir, PKI_FOLDER, 'trusted', 'certs')}`,
    );
    const database = this.options.getDatabase();
    if (!database) return;
    writeAuditEvent(database, {
      eventType: 'OPCUA_CERTIFICATE_REJECTED',
      severity: 'MEDIUM',
      source: 'opcua',
      actor: rejected.applicationUri ?? rejected.subject,
      details: { thumbprint: rejected.thumbprint, subject: rejected.subject, application_uri: rejected.applicationUri, status: rejected.status, suppressed_repeats: rejected.suppressedRepeats },
    }).catch((error: unknown) => this.logger.error({ err: error, thumbprint: rejected.thumbprint }, 'writing the OPCUA_CERTIFICATE_REJECTED audit row failed'));
  }
}

function isSpecificAddress(host: string): boolean {
  return host !== '0.0.0.0' && host !== '::' && /^[0-9a-fA-F:.]+$/.test(host);
}
