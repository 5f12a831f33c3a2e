import type { SecurityPolicy } from '../config/load.js';

/**
 * Length over composition, as NIST SP 800-63B advises: a long password is required, and the
 * obvious guesses (the username, one repeated character) are refused. Returns the problem, or null.
 */
export function passwordProblem(password: string, username: string, policy: Pick<SecurityPolicy, 'passwordMinLength'>): string | null {
  if ([...password].length < policy.passwordMinLength) return `must be at least ${policy.passwordMinLength} characters long`;
  if (password.length > 1024) return 'must be at most 1024 characters long';
  if (password.toLowerCase().includes(username.toLowerCase())) return 'must not contain the username';
  if (new Set(password).size < 4) return 'must use at least 4 different characters';
  return null;
}
