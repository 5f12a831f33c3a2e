import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { AdapterError } from '../errors.js';

const ISSUER = 'calejo-control-adapter';
const AUDIENCE = 'calejo-api';

export interface TokenClaims {
  userId: string;
  role: string;
  /** When the token was issued, in milliseconds; `iat` has only whole seconds. */
  issuedAtMs?: number;
}

/** Maximum number of verified tokens kept. Only tokens that this adapter signed get in, so the bound is a backstop. */
const MAX_VERIFIED_TOKENS = 10_000;

export class TokenService {
  private readonly key: Uint8Array;
  /**
   * Claims of tokens whose signature was checked, by the token's exact text. The check runs on
   * the thread pool (WebCrypto), and an emergency stop should not wait for it on every request.
   * A token's claims cannot change, so only its expiry is checked again.
   */
  private readonly verified = new Map<string, { claims: TokenClaims; expiresAtMs: number }>();

  constructor(
    secret: string,
    private readonly ttlSeconds: number,
  ) {
    this.key = new TextEncoder().encode(secret);
  }

  async issue(claims: TokenClaims): Promise<{ token: string; expiresAt: Date }> {
    const issuedAt = Math.floor(Date.now() / 1000);
    const expiresAt = new Date((issuedAt + this.ttlSeconds) * 1000);
    const token = await new SignJWT({ role: claims.role, iat_ms: Date.now() })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(claims.userId)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt(issuedAt)
      .setExpirationTime(expiresAt)
      .sign(this.key);
    return { token, expiresAt };
  }

  /** Verifies signature, issuer, audience and expiry; throws AUTHENTICATION_REQUIRED otherwise. */
  async verify(token: string): Promise<TokenClaims> {
    const known = this.verified.get(token);
    if (known) {
      if (Date.now() < known.expiresAtMs) return known.claims;
      this.verified.delete(token);
    }
    try {
      const { payload } = await jwtVerify(token, this.key, { issuer: ISSUER, audience: AUDIENCE, algorithms: ['HS256'], requiredClaims: ['exp', 'sub'] });
      if (typeof payload.sub !== 'string' || typeof payload.role !== 'string') {
        throw new AdapterError('AUTHENTICATION_REQUIRED', 'token has no subject or role; log in again');
      }
      const issuedAtMs = typeof payload.iat_ms === 'number' ? payload.iat_ms : (payload.iat ?? 0) * 1000;
      const claims = { userId: payload.sub, role: payload.role, issuedAtMs };
      if (this.verified.size >= MAX_VERIFIED_TOKENS) this.verified.clear();
      // jwtVerify required exp, so it is a number here.
      this.verified.set(token, { claims, expiresAtMs: (payload.exp ?? 0) * 1000 });
      return claims;
    } catch (error) {
      if (error instanceof AdapterError) throw error;
      const reason = error instanceof joseErrors.JWTExpired ? 'token expired' : 'token invalid';
      throw new AdapterError('AUTHENTICATION_REQUIRED', `${reason}; log in again with POST /api/v1/auth/login`, { cause: error });
    }
  }
}
