/**
 * The reference for bench/http: a Koa app with @koa/router that returns fixed JSON bodies of the
 * adapter's shape on the same two paths. The difference to the adapter is the adapter's own
 * work per request: request ids, logging, metrics, authentication and the database probe.
 */
import Koa from 'koa';
import Router from '@koa/router';

const app = new Koa();
const router = new Router();
router.get('/api/v1/health', (context) => {
  context.body = { status: 'healthy', version: '0.0.0', checks: { database: { status: 'up', latency_ms: 0.2 }, supervisor: 'supervising', protocols_down: [] } };
});
router.get('/api/v1/pump-stations/:id/emergency-stop-status', (context) => {
  context.body = { station_id: context.params.id, active: false, state: 'operational', persistence_pending: false };
});
app.use(router.routes());

const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
