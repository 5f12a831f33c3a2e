import { Readable } from 'node:stream';
import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { writeAuditEvent } from '../../audit/audit-log.js';
import { AUDIT_FIELDS, queryAuditLog, toCsvLine, type AuditFilter } from '../../audit/audit-query.js';
import { verificationReport, verifyAuditChain } from '../../audit/verify-chain.js';
import type { Queryable } from '../../db/database.js';
import { AdapterError } from '../../errors.js';
import { requirePermission } from '../authenticate.js';
import type { AuthenticatedUser, HttpDependencies } from '../dependencies.js';
import { requireDatabase } from '../require-database.js';
import { parseBody, requestText } from '../validate.js';

const SEVERITIES = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;
const EXPORT_PAGE = 1000;

const isoTime = requestText(40).pipe(
  z.iso.datetime({ offset: true, error: 'must be an ISO 8601 time with a zone, such as 2026-12-04T08:00:00Z' }).transform((text) => new Date(text)),
);
const commaList = <Item extends z.ZodType<string, string>>(item: Item) =>
  requestText(2000)
    .transform((text) => text.split(',').map((each) => each.trim()).filter((each) => each.length > 0))
    .pipe(z.array(item).max(50));

const filterSchema = z
  .object({
    from: isoTime.optional(),
    to: isoTime.optional(),
    event_type: commaList(z.string().regex(/^[A-Z_]{1,64}$/, 'event types are upper case with underscores, such as EMERGENCY_STOP_ACTIVATED')).optional(),
    severity: commaList(z.enum(SEVERITIES, { error: `must be one of ${SEVERITIES.join(', ')}` })).optional(),
    station_id: requestText(64).optional(),
    actor: requestText(128).optional(),
  })
  .strict();

export const pageSchema = filterSchema
  .extend({
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    cursor: z
      .string()
      .regex(/^\d{1,18}$/, 'pass the next_cursor value of the previous page unchanged')
      .transform(Number)
      .optional(),
  })
  .strict();

export const exportSchema = filterSchema.extend({ format: z.enum(['csv', 'jsonl'], { error: 'must be csv or jsonl' }).default('jsonl') }).strict();

function toFilter(query: z.infer<typeof filterSchema>): AuditFilter {
  if (query.from && query.to && query.from >= query.to) {
    throw new AdapterError('VALIDATION_FAILED', 'invalid field from: must be before to', { details: { invalid_params: [{ name: 'from', reason: 'must be before to' }] } });
  }
  return { from: query.from, to: query.to, eventType: query.event_type, severity: query.severity, stationId: query.station_id, actor: query.actor };
}

/** Query strings repeat a key as an array; each filter takes one value. */
function singleValuedQuery(context: Context): Record<string, string> {
  const query: Record<string, string> = {};
  for (const [key, value] of Object.entries(context.query)) {
    if (Array.isArray(value)) throw new AdapterError('VALIDATION_FAILED', `invalid query parameter ${key}: give it once; list several values comma-separated`);
    if (value !== undefined) query[key] = value;
  }
  return query;
}

async function* exportLines(database: Queryable, filter: AuditFilter, format: 'csv' | 'jsonl'): AsyncGenerator<string> {
  if (format === 'csv') yield `${AUDIT_FIELDS.join(',')}\r\n`;
  let afterPosition: number | undefined;
  for (;;) {
    const page = await queryAuditLog(database, { ...filter, afterPosition }, EXPORT_PAGE);
    for (const entry of page) yield format === 'csv' ? `${toCsvLine(entry)}\r\n` : `${JSON.stringify(entry)}\n`;
    if (page.length < EXPORT_PAGE) return;
    afterPosition = page.at(-1)?.chain_position;
  }
}

export function registerAuditLogRoutes(router: Router, dependencies: HttpDependencies): void {
  const viewAuditLog = requirePermission(dependencies, 'view_audit_log');
  const unavailable = 'the audit log cannot be read';

  router.get('/api/v1/audit-log', viewAuditLog, async (context) => {
    const query = parseBody(pageSchema, singleValuedQuery(context));
    const database = requireDatabase(dependencies, unavailable);
    const entries = await queryAuditLog(database, { ...toFilter(query), afterPosition: query.cursor }, query.limit);
    const last = entries.at(-1);
    context.body = { entries, next_cursor: entries.length === query.limit && last ? String(last.chain_position) : null };
  });

  router.get('/api/v1/audit-log/export', viewAuditLog, async (context) => {
    const query = parseBody(exportSchema, singleValuedQuery(context));
    const database = requireDatabase(dependencies, unavailable);
    const caller = context.state.user as AuthenticatedUser;
    const filter = toFilter(query);
    await writeAuditEvent(database, {
      eventType: 'AUDIT_LOG_EXPORTED',
      severity: 'MEDIUM',
      source: 'rest',
      actor: caller.username,
      actorRole: caller.role,
      sourceAddress: context.ip,
      details: { format: query.format, filter: { ...query, format: undefined } },
    });
    const stamp = new Date().toISOString().replaceAll(':', '').slice(0, 15);
    context.type = query.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8';
    context.set('Content-Disposition', `attachment; filename="audit-log-${stamp}.${query.format}"`);
    context.body = Readable.from(exportLines(database, filter, query.format));
  });

  router.get('/api/v1/audit-log/verify', viewAuditLog, async (context) => {
    context.body = verificationReport(await verifyAuditChain(requireDatabase(dependencies, unavailable)));
  });
}
