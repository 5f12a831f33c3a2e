import { execFile } from 'node:child_process';

export interface MbpollResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /**
   * Printed values by reference number, such as 1 for holding register 40001. mbpoll (Debian package 1.4.11) prints a
   * 16-bit register as unsigned and adds the signed value in brackets when it is negative.
   */
  values: Map<number, string>;
}

/** Runs mbpoll once against the server. With `writeValues`, mbpoll writes them instead of reading. */
export function runMbpoll(port: number, args: string[], writeValues: string[] = []): Promise<MbpollResult> {
  const commandLine = ['-m', 'tcp', ...args, '-1', '-o', '2', '-p', String(port), '127.0.0.1', ...writeValues];
  return new Promise((resolve, reject) => {
    execFile('mbpoll', commandLine, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(error);
        return;
      }
      const values = new Map<number, string>();
      for (const match of stdout.matchAll(/^\[(\d+)\]:\s+(.+?)\s*$/gm)) {
        values.set(Number(match[1]), match[2] ?? '');
      }
      resolve({ exitCode: typeof error?.code === 'number' ? error.code : 0, stdout, stderr, values });
    });
  });
}

export function checkMbpollInstalled(): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('mbpoll', ['-V'], (error) => {
      if (error && (error as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new Error('mbpoll is not installed, but the Modbus interoperability tests need it: run `apt-get install mbpoll` (Debian or Ubuntu)'));
        return;
      }
      resolve();
    });
  });
}

