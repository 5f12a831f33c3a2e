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

export class TokenService {
  private readonly key: Uint8Array;

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
    try {
      const { payload } = await jwtVerify(token, this.key, { issuer: ISSUER, audience: AUDIENCE, algorithms: ['HS256'], requiredClaims: ['exp', 'sub'] });
      if (typeof payload.sub !== 'string' || typeof payload.role !== 'string') {
        throw new AdapterError('AUTHENTICATION_REQUIRED', 'token has no subject or role; log in again');
      }
      const issuedAtMs = typeof payload.iat_ms === 'number' ? payload.iat_ms : (payload.iat ?? 0) * 1000;
      return { userId: payload.sub, role: payload.role, issuedAtMs };
    } catch (error) {
      if (error instanceof AdapterError) throw error;
      const reason = error instanceof joseErrors.JWTExpired ? 'token expired' : 'token invalid';
      throw new AdapterError('AUTHENTICATION_REQUIRED', `${reason}; log in again with POST /api/v1/auth/login`, { cause: error });
    }
  }
}
