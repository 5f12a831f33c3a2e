import { createServer, type Server } from 'node:http';
import type { AdapterConfig } from '../config/load.js';
import { HTTP_LISTENER, listenFailedError } from '../net/listen-error.js';
import type { AdapterLogger } from '../log.js';
import type { ChildHandle, ChildSpec } from '../actors/supervisor.js';
import { createHttpApp } from '../http/app.js';
import type { HttpDependencies } from '../http/dependencies.js';

/** Creates the http child, which serves the Koa REST API on HTTP_PORT. */
export function httpChild(options: { config: AdapterConfig; logger: AdapterLogger; dependencies: HttpDependencies; onListening: (port: number) => void }): ChildSpec {
  const logger = options.logger.child({ component: 'http' });
  return {
    id: 'http',
    async start(): Promise<ChildHandle> {
      const app = createHttpApp(options.dependencies);
      const server = createServer(app.callback());
      server.headersTimeout = 10_000;
      server.requestTimeout = 30_000;
      await listen(server, options.config.bindAddress, options.config.httpPort);
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : options.config.httpPort;
      logger.info({ address: options.config.bindAddress, port }, `REST API listening on http://${options.config.bindAddress}:${port}`);
      options.onListening(port);

      return {
        stop: () =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeIdleConnections();
            setTimeout(() => server.closeAllConnections(), 2000).unref();
          }),
      };
    },
  };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(listenFailedError(error, host, port, HTTP_LISTENER)));
    server.listen(port, host, () => resolve());
  });
}
