import { Agent, request } from 'node:http';

export interface TimedResponse {
  status: number;
  body: Record<string, unknown>;
  /** performance.now() just before the request's last byte was handed to the socket. */
  sentAt: number;
  /** performance.now() when the complete response had arrived. */
  receivedAt: number;
}

/**
 * Sends JSON requests over one kept-alive connection, so that no TCP handshake falls inside a
 * measured interval.
 */
export class RestClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });

  constructor(
    private readonly port: number,
    private readonly token: string,
  ) {}

  /** Sends the request; `onSent` runs right after the time that counts as sending is taken. */
  send(method: string, path: string, body: unknown, onSent?: (sentAt: number) => void): Promise<TimedResponse> {
    const payload = Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const outgoing = request(
        {
          host: '127.0.0.1',
          port: this.port,
          method,
          path,
          agent: this.agent,
          headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json', 'content-length': payload.length },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const receivedAt = performance.now();
            const text = Buffer.concat(chunks).toString();
            resolve({ status: response.statusCode ?? 0, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, sentAt, receivedAt });
          });
        },
      );
      outgoing.on('error', reject);
      const sentAt = performance.now();
      onSent?.(sentAt);
      outgoing.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
