/**
 * Minimal emergency-stop service, the reference for bench/estop: one
 * Node process with an HTTP server and a Modbus TCP server. A POST sets bit 0 of the status word,
 * writes one committed row to PostgreSQL and then responds, and a DELETE clears the bit the same
 * way. There is no routing framework, no user lookup, no state machine, no audit chain and no OPC
 * UA server. The bench runs its cycles against this process first, on the same machine and
 * database, so the adapter's figures can be read as a ratio to it.
 *
 * Usage: tsx bench/estop/reference-server.ts DATABASE_URL TOKEN. It prints one JSON line with
 * the bound ports once both servers listen, and runs until it is killed.
 */
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import pg from 'pg';

const [databaseUrl, token] = process.argv.slice(2);
if (!databaseUrl || !token) {
  process.stderr.write('usage: tsx bench/estop/reference-server.ts DATABASE_URL TOKEN\n');
  process.exit(2);
}

const MBAP_LENGTH = 7;
const FUNCTION_READ_HOLDING_REGISTERS = 3;
let statusWord = 0;

const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
await pool.query('CREATE TABLE IF NOT EXISTS estop_reference (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at timestamptz NOT NULL, kind text NOT NULL, reason text)');

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

const http = createHttpServer((request, response) => {
  void (async () => {
    const body = JSON.parse((await readBody(request)) || '{}') as { reason?: string };
    if (request.headers.authorization !== `Bearer ${token}`) {
      response.writeHead(401).end();
      return;
    }
    const stop = request.method === 'POST';
    // The switch comes before the write, as in the adapter.
    statusWord = stop ? statusWord | 1 : statusWord & ~1;
    await pool.query('INSERT INTO estop_reference (at, kind, reason) VALUES (now(), $1, $2)', [stop ? 'stop' : 'clear', body.reason ?? null]);
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ persistence: 'committed' }));
  })().catch((error: unknown) => {
    response.writeHead(500).end(String(error));
  });
});

/** Responds to FC3 requests with the status word in every requested register, and to any other function with exception 01. */
function serveModbus(socket: Socket): void {
  socket.setNoDelay(true);
  let buffered = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= MBAP_LENGTH + 1) {
      const frameLength = MBAP_LENGTH - 1 + buffered.readUInt16BE(4);
      if (buffered.length < frameLength) return;
      const frame = buffered.subarray(0, frameLength);
      buffered = buffered.subarray(frameLength);
      const functionCode = frame[MBAP_LENGTH] ?? 0;
      let pdu: Buffer;
      if (functionCode === FUNCTION_READ_HOLDING_REGISTERS) {
        const count = frame.readUInt16BE(MBAP_LENGTH + 3);
        pdu = Buffer.alloc(2 + count * 2);
        pdu[0] = functionCode;
        pdu[1] = count * 2;
        for (let index = 0; index < count; index += 1) pdu.writeUInt16BE(statusWord, 2 + index * 2);
      } else {
        pdu = Buffer.from([functionCode | 0x80, 0x01]);
      }
      const header = Buffer.alloc(MBAP_LENGTH);
      frame.copy(header, 0, 0, 4);
      header.writeUInt16BE(pdu.length + 1, 4);
      header[6] = frame[6] ?? 0;
      socket.write(Buffer.concat([header, pdu]));
    }
  });
  socket.on('error', () => socket.destroy());
}

const modbus = createTcpServer(serveModbus);

function listen(server: Server | ReturnType<typeof createHttpServer>): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

const ports = { http: await listen(http), modbus: await listen(modbus) };
process.stdout.write(`${JSON.stringify(ports)}\n`);
process.on('SIGTERM', () => {
  http.close();
  modbus.close();
  void pool.end().then(() => process.exit(0));
});
