import { createServer, type Server } from 'node:http';
import type { AdapterConfig } from '../config/load.js';
import { AdapterError } from '../errors.js';
import type { AdapterLogger } from '../log.js';
import type { ChildHandle, ChildSpec } from '../actors/supervisor.js';
import { createHttpApp } from '../http/app.js';
import type { HttpDependencies } from '../http/dependencies.js';

/** The http child: the Koa REST API on HTTP_PORT. */
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
    server.once('error', (error: NodeJS.ErrnoException) => {
      const hint =
        error.code === 'EACCES'
          ? 'ports below 1024 need root or CAP_NET_BIND_SERVICE; run as root or set HTTP_PORT to a port of 1024 or above'
          : error.code === 'EADDRINUSE'
            ? 'the port is in use; stop the other process or set HTTP_PORT to a free port'
            : error.message;
      reject(new AdapterError('LISTEN_FAILED', `cannot listen on ${host}:${port} for the REST API: ${hint}`, { cause: error }));
    });
    server.listen(port, host, () => resolve());
  });
}
