import { Piscina } from 'piscina';
import type { MappingResult, MappingTask } from './register-mapping.js';

/**
 * The worker pool for register mapping. Run from dist/, the workers load the compiled
 * register-mapping.js; run from the TypeScript sources, they load it through tsx-entry.mjs.
 */
export class MappingPool {
  private readonly pool: Piscina<MappingTask, MappingResult>;

  constructor(options: { maxThreads?: number; idleTimeoutMs?: number } = {}) {
    const fromSources = import.meta.url.endsWith('.ts');
    const entry = new URL(fromSources ? './tsx-entry.mjs' : './register-mapping.js', import.meta.url);
    this.pool = new Piscina({
      filename: entry.href,
      minThreads: 0,
      maxThreads: options.maxThreads ?? 1,
      // Workers exit after a quiet spell, so a pool that is rarely needed keeps no threads.
      idleTimeout: options.idleTimeoutMs ?? 30_000,
    });
  }

  run(task: MappingTask): Promise<MappingResult> {
    return this.pool.run(task);
  }

  get threadCount(): number {
    return this.pool.threads.length;
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
