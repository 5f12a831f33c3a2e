import type Router from '@koa/router';
import { z } from 'zod';
import type { HttpDependencies } from '../dependencies.js';
import { parseBody, requestText } from '../validate.js';

export const loginSchema = z
  .object({
    username: requestText(128).pipe(z.string().min(1)),
    password: requestText(1024).pipe(z.string().min(1)),
  })
  .strict();

export function registerLoginRoute(router: Router, dependencies: HttpDependencies): void {
  router.post('/api/v1/auth/login', async (context) => {
    const body = parseBody(loginSchema, context.request.body);
    const identity = await dependencies.credentials.login(body.username, body.password, { source: 'rest', sourceAddress: context.ip });
    const issued = await dependencies.tokens.issue({ userId: identity.userId, role: identity.role });
    context.body = { token: issued.token, expires_at: issued.expiresAt.toISOString() };
  });
}
