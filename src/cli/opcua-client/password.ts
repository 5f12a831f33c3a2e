import { CheckFailure } from './check-failure.js';

export const PASSWORD_VARIABLE = 'OPCUA_PASSWORD';

/**
 * Returns the password for `username` from OPCUA_PASSWORD, or from a prompt without echo when
 * stdin is a terminal. The command line takes no password, because shell history and the
 * process list would show it.
 */
export async function readPassword(username: string, environment: NodeJS.ProcessEnv = process.env): Promise<string> {
  requirePasswordSource(username, environment);
  return environment[PASSWORD_VARIABLE] ?? promptWithoutEcho(`Password for ${username}: `);
}

/** Throws PASSWORD_MISSING when neither OPCUA_PASSWORD nor a terminal can supply the password. */
export function requirePasswordSource(username: string, environment: NodeJS.ProcessEnv = process.env): void {
  const fromEnvironment = environment[PASSWORD_VARIABLE];
  if (fromEnvironment === '') throw new CheckFailure('PASSWORD_MISSING', `${PASSWORD_VARIABLE} is set but empty; put the password of user "${username}" in it`);
  if (fromEnvironment === undefined && !process.stdin.isTTY) {
    throw new CheckFailure(
      'PASSWORD_MISSING',
      `no password for user "${username}": set ${PASSWORD_VARIABLE}, or run the command in a terminal to be prompted (stdin is not a terminal)`,
    );
  }
}

/** Reads one line from the terminal in raw mode, so the typed characters are not shown. */
function promptWithoutEcho(question: string): Promise<string> {
  const input = process.stdin;
  // Raw mode before the prompt appears, or a fast typist's first characters are echoed.
  input.setRawMode(true);
  input.setEncoding('utf8');
  input.resume();
  process.stderr.write(question);
  return new Promise((resolve, reject) => {
    let typed = '';
    const finish = (error: CheckFailure | null) => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (chunk: string) => {
      for (const character of chunk) {
        if (character === '\r' || character === '\n') return finish(null);
        // Ctrl-C, or Ctrl-D on an empty line, cancels as it would in a shell.
        if (character === '\u0003' || (character === '\u0004' && typed === '')) {
          return finish(new CheckFailure('PASSWORD_MISSING', 'password prompt cancelled; no session was opened'));
        }
        if (character === '\u007f' || character === '\b') typed = typed.slice(0, -1);
        else if (character >= ' ') typed += character;
      }
    };
    input.on('data', onData);
  });
}
