import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/**
 * Returns the default store folder, below the user's configuration folder ($XDG_CONFIG_HOME or
 * ~/.config) so that the check never writes into the folder it runs in.
 */
export function defaultPkiDir(environment: NodeJS.ProcessEnv = process.env): string {
  const configHome = environment.XDG_CONFIG_HOME && isAbsolute(environment.XDG_CONFIG_HOME) ? environment.XDG_CONFIG_HOME : join(homedir(), '.config');
  return join(configHome, 'calejo', 'opcua-client', 'pki');
}
