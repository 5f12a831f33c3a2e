import { UAUserManagerBase, type ServerSession } from 'node-opcua-server';
import { MessageSecurityMode } from 'node-opcua-secure-channel';
import { UserNameIdentityToken } from 'node-opcua-types';
import type { NodeId } from 'node-opcua-nodeid';
import type { CredentialService, UserIdentity } from '../auth/credentials.js';
import { isAdapterError } from '../errors.js';
import type { AdapterLogger } from '../log.js';

/** The principal of a session, which authorizes its writes and method calls. */
export type SessionPrincipal =
  | { kind: 'user'; identity: UserIdentity; sourceAddress: string | null }
  /** Anonymous sessions and sessions on a SecurityPolicy None channel: they may read, nothing else. */
  | { kind: 'read_only'; reason: 'anonymous' | 'security_none'; username: string | null; sourceAddress: string | null };

/** The part of a session that a method or write context passes to the adapter. */
interface SessionLike {
  userIdentityToken?: unknown;
  channel?: { securityMode: MessageSecurityMode; remoteAddress?: string };
}

/**
 * Checks UserNameIdentityTokens against the adapter's users through the CredentialService, with
 * the same password hashes, lockout and audit rows as the REST login, and remembers each
 * session's identity for later authorization.
 */
export class SessionDirectory extends UAUserManagerBase {
  private readonly identities = new WeakMap<object, UserIdentity>();

  constructor(
    private readonly credentials: CredentialService,
    private readonly logger: AdapterLogger,
  ) {
    super();
  }

  override async isValidUser(session: ServerSession, username: string, password: string): Promise<boolean> {
    const sourceAddress = session.channel?.remoteAddress ?? null;
    try {
      const identity = await this.credentials.login(username, password, { source: 'opcua', sourceAddress });
      this.identities.set(session, identity);
      this.logger.info({ username, role: identity.role, remote_address: sourceAddress }, `OPC UA session activated for user ${username}`);
      return true;
    } catch (error) {
      // The CredentialService has audited the failure; the client gets BadUserAccessDenied or
      // BadIdentityTokenRejected from node-opcua either way.
      if (isAdapterError(error, 'INVALID_CREDENTIALS') || isAdapterError(error, 'TOO_MANY_REQUESTS')) {
        this.logger.info({ username, remote_address: sourceAddress, code: error.code }, `OPC UA login rejected for user ${username}`);
      } else {
        this.logger.error({ err: error, username, remote_address: sourceAddress }, `OPC UA login for user ${username} failed`);
      }
      return false;
    }
  }

  override getUserRoles(_username: string): NodeId[] {
    // Authorization uses the adapter's own permissions (see principalOf), not OPC UA role sets.
    return [];
  }

  /** Returns who `session` acts for; null when it has no session, as for in-process calls. */
  principalOf(session: SessionLike | undefined): SessionPrincipal | null {
    if (!session) return null;
    const sourceAddress = session.channel?.remoteAddress ?? null;
    const token = session.userIdentityToken;
    const username = token instanceof UserNameIdentityToken ? token.userName : null;
    if (session.channel?.securityMode === MessageSecurityMode.None) {
      return { kind: 'read_only', reason: 'security_none', username, sourceAddress };
    }
    // A session re-activated with another token must not keep the identity of the first one.
    const identity = this.identities.get(session);
    if (username === null || identity === undefined || identity.username !== username) {
      return { kind: 'read_only', reason: 'anonymous', username, sourceAddress };
    }
    return { kind: 'user', identity, sourceAddress };
  }
}
