import { z } from 'zod';
import { AdapterError } from '../errors.js';

/** Builds a request string schema that rejects NUL here, because PostgreSQL text cannot store it. */
export function requestText(maxLength: number) {
  return z.string().max(maxLength).refine((value) => !value.includes('\u0000'), 'must not contain NUL characters');
}

/** Parses a request body with a zod schema; the error names the first invalid field. */
export function parseBody<Schema extends z.ZodType>(schema: Schema, body: unknown): z.infer<Schema> {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue?.path.join('.') || (issue?.code === 'unrecognized_keys' ? issue.keys.join(', ') : '(body)');
  const message = issue?.code === 'unrecognized_keys' ? `unknown field ${issue.keys.map((key) => `"${key}"`).join(', ')}; remove it` : issue?.message ?? 'invalid';
  throw new AdapterError('VALIDATION_FAILED', `invalid field ${field}: ${message}`, {
    details: { invalid_params: result.error.issues.map((each) => ({ name: each.path.join('.') || field, reason: each.message })) },
  });
}
