import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Finds the package root, the folder with package.json, so that shipped files such as the demo
 * configuration and the SQL migrations resolve the same way from `src/` (tests) and `dist/src/`.
 */
function findPackageRoot(start: string): string {
  let folder = start;
  while (!existsSync(join(folder, 'package.json'))) {
    const parent = dirname(folder);
    if (parent === folder) {
      throw new Error(`no package.json found above ${start}; run the adapter from its installed package`);
    }
    folder = parent;
  }
  return folder;
}

export const PACKAGE_ROOT = findPackageRoot(dirname(fileURLToPath(import.meta.url)));
