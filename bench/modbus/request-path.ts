/**
 * CPU cost of the FC3 request path alone, without sockets: `handleRequestPdu` over a register
 * image with 12 pumps, 10 registers per request, then `encodeMbapFrame`, plus `countRequest`
 * where the tree has it. It prints ns per request for five rounds of 2 million requests.
 *
 * Run it with `npx tsx bench/modbus/request-path.ts [ROOT]`. ROOT is the repository to load the
 * modules from (default: this one), so that an older checkout, for example from
 * `git archive <commit> src test/modbus/station-fixture.ts | tar -x -C /tmp/old`, can be measured
 * with the same script.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(process.argv[2] ?? resolve(dirname(fileURLToPath(import.meta.url)), '..', '..'));
const REQUESTS_PER_ROUND = 2_000_000;

const { handleRequestPdu } = (await import(`${root}/src/modbus/pdu.ts`)) as typeof import('../../src/modbus/pdu.js');
const { RegisterImage } = (await import(`${root}/src/modbus/register-image.ts`)) as typeof import('../../src/modbus/register-image.js');
const { encodeMbapFrame } = (await import(`${root}/src/modbus/frame.ts`)) as typeof import('../../src/modbus/frame.js');
const { makePump, makeStation } = (await import(`${root}/test/modbus/station-fixture.ts`)) as typeof import('../../test/modbus/station-fixture.js');
let countRequest: typeof import('../../src/modbus/metrics.js').countRequest | null = null;
try {
  countRequest = ((await import(`${root}/src/modbus/metrics.ts`)) as typeof import('../../src/modbus/metrics.js')).countRequest;
} catch {
  // Trees from before the request metrics have no metrics module, and their path has no counting.
}

const image = new RegisterImage();
image.setStation(makeStation({ pumps: Array.from({ length: 12 }, (_, index) => makePump({ pumpId: `pump-${index}` })) }));
const request = Buffer.from([0x03, 0x00, 0x00, 0x00, 0x0a]);

function serveOnce(): Buffer {
  const result = handleRequestPdu(image, 1, request);
  countRequest?.(3, 1, true, 'ok');
  return encodeMbapFrame(1, 1, result.pdu);
}

for (let index = 0; index < REQUESTS_PER_ROUND; index += 1) serveOnce();
const rounds: string[] = [];
for (let round = 0; round < 5; round += 1) {
  const started = process.hrtime.bigint();
  for (let index = 0; index < REQUESTS_PER_ROUND; index += 1) serveOnce();
  rounds.push((Number(process.hrtime.bigint() - started) / REQUESTS_PER_ROUND).toFixed(1));
}
console.log(`${root}: ${rounds.join(' ')} ns per request`);
