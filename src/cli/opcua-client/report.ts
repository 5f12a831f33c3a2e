import type { CheckFailure } from './check-failure.js';
import type { CertificateSummary } from './certificate-summary.js';
import type { ClientPki } from './client-pki.js';
import type { Discovery } from './discovery.js';
import type { SessionStatus } from './session-check.js';

/** Results of one run. A step that failed or did not run leaves its part null. */
export interface CheckReport {
  endpointUrl: string;
  discovery: Discovery | null;
  session: SessionStatus | null;
  /** The client store, once it was opened; the text report names it only for a session. */
  pki: ClientPki | null;
  failure: CheckFailure | null;
}

/** Formats the report as one JSON document with snake_case keys, as the other CLIs print. */
export function formatJson(report: CheckReport): string {
  const { discovery, session, pki, failure } = report;
  const document = {
    ok: failure === null,
    endpoint_url: report.endpointUrl,
    server: discovery
      ? { application_name: discovery.server.applicationName, application_uri: discovery.server.applicationUri, product_uri: discovery.server.productUri }
      : null,
    server_certificate: discovery?.certificate ? certificateJson(discovery.certificate) : null,
    endpoints: discovery
      ? discovery.endpoints.map((endpoint) => ({
          endpoint_url: endpoint.endpointUrl,
          security_policy: endpoint.securityPolicy,
          security_mode: endpoint.securityMode,
          security_level: endpoint.securityLevel,
          user_token_types: endpoint.userTokenTypes,
        }))
      : null,
    session: session
      ? {
          username: session.username,
          security_policy: session.securityPolicy,
          security_mode: session.securityMode,
          server_state: session.serverState,
          current_time: session.currentTime?.toISOString() ?? null,
          start_time: session.startTime?.toISOString() ?? null,
          clock_offset_ms: session.clockOffsetMs,
          software_version: session.softwareVersion,
        }
      : null,
    client_certificate: pki ? { file: pki.certificateFile, pki_dir: pki.rootDir, ...certificateJson(pki.certificate), created: pki.created } : null,
    error: failure ? { code: failure.code, message: failure.message } : null,
  };
  return `${JSON.stringify(document)}\n`;
}

function certificateJson(certificate: CertificateSummary) {
  return {
    subject: certificate.subject,
    thumbprint: certificate.thumbprint,
    not_before: certificate.notBefore.toISOString(),
    not_after: certificate.notAfter.toISOString(),
    days_left: certificate.daysLeft,
  };
}

/** Formats what the check found as aligned text lines; failures go to stderr separately. */
export function formatText(report: CheckReport): string {
  const lines: string[] = [];
  const row = (label: string, value: string) => lines.push(`${`${label}:`.padEnd(18)}${value}`);
  const { discovery, session, pki } = report;

  if (discovery) {
    row('Server', discovery.server.applicationName);
    row('Application URI', discovery.server.applicationUri);
    if (discovery.certificate) {
      row('Certificate', discovery.certificate.subject);
      row('  SHA-1', discovery.certificate.thumbprint);
      row('  Expires', `${discovery.certificate.notAfter.toISOString()} (${daysLeftText(discovery.certificate.daysLeft)})`);
    } else {
      row('Certificate', 'none sent');
    }
    const urls = new Set(discovery.endpoints.map((endpoint) => endpoint.endpointUrl));
    const sharedUrl = urls.size === 1 ? ` at ${[...urls][0]}` : '';
    lines.push(`Endpoints (${discovery.endpoints.length})${sharedUrl}:`);
    lines.push(`  ${'security policy'.padEnd(24)}${'mode'.padEnd(16)}user tokens`);
    for (const endpoint of discovery.endpoints) {
      const url = sharedUrl ? '' : `  ${endpoint.endpointUrl}`;
      lines.push(`  ${endpoint.securityPolicy.padEnd(24)}${endpoint.securityMode.padEnd(16)}${endpoint.userTokenTypes.join(', ') || '-'}${url}`);
    }
  }

  if (session) {
    row('Session', `${session.username}, ${session.securityPolicy} ${session.securityMode}`);
    row('Server state', session.serverState);
    const offset = session.clockOffsetMs === null ? '' : ` (clock offset ${session.clockOffsetMs >= 0 ? '+' : ''}${session.clockOffsetMs} ms)`;
    row('Current time', `${session.currentTime?.toISOString() ?? 'not reported'}${offset}`);
    row('Started', session.startTime?.toISOString() ?? 'not reported');
    if (session.softwareVersion) row('Software version', session.softwareVersion);
    if (pki) row('Client cert', `${pki.certificateFile} (SHA-1 ${pki.certificate.thumbprint})`);
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

function daysLeftText(daysLeft: number): string {
  if (daysLeft < 0) return `EXPIRED ${-daysLeft} days ago`;
  return `${daysLeft} days left`;
}
