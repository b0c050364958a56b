// The webhook intake cannot be flooded (issue 21.3): the real `timebox serve` server (startServer), driven
// over raw sockets so that the test decides exactly which bytes are sent and when. Every measure is a
// count (bytes sent, deliveries in flight), never a time.
import { generateKeyPairSync } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook } from '../../src/forge/webhooks.js';
import { type RunningServer, startServer, WEBHOOK_PATH } from '../../src/github/server.js';
import { tempDir } from '../helpers/repo.js';

const SECRET = 'intake-secret';
const MIB = 1024 * 1024;
const MARKER = 'PAYLOAD-MARKER-7f3a';
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PEM = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();

const logLines: string[] = [];
let server: RunningServer;

beforeAll(async () => {
  const sink = new Writable({
    write(chunk, _enc, done) {
      logLines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  server = await startServer({
    appId: '4242',
    privateKey: PEM,
    webhookSecret: SECRET,
    port: 0,
    host: '127.0.0.1',
    // Nothing listens there: a handler that asks GitHub anything fails.
    baseUrl: 'http://127.0.0.1:9',
    maxBodyBytes: 25 * MIB,
    intake: { maxConcurrent: 3, maxBytesInFlight: 50 * MIB },
    log: pino({ level: 'info' }, sink),
    sweepIntervalMs: 0,
    stateDir: tempDir('timebox-intake-'),
    providerEnv: {},
  });
}, 30_000);

afterAll(async () => {
  await server?.close();
});

interface Response {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** One HTTP/1.1 request on its own socket: headers now, the body only when the test sends it. */
class RawRequest {
  readonly socket: Socket;
  readonly response: Promise<Response>;
  /** Body bytes handed to the socket before the response arrived. */
  sentBeforeResponse = -1;
  sent = 0;
  #answered = false;

  constructor(headers: Record<string, string | number>) {
    const { hostname, port } = new URL(server.url);
    this.socket = connect(Number(port), hostname);
    this.socket.on('error', () => undefined); // the server may close while we still send
    const lines = [`POST ${WEBHOOK_PATH} HTTP/1.1`, `Host: ${hostname}:${port}`, 'Connection: close'];
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    this.socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    this.response = new Promise((resolve, reject) => {
      let raw = Buffer.alloc(0);
      const done = () => {
        const text = raw.toString('utf8');
        const end = text.indexOf('\r\n\r\n');
        if (end < 0) return reject(new Error(`no response (${text.length} bytes)`));
        const [statusLine = '', ...rest] = text.slice(0, end).split('\r\n');
        const headerMap: Record<string, string> = {};
        for (const l of rest) {
          const i = l.indexOf(':');
          headerMap[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
        }
        resolve({ status: Number(statusLine.split(' ')[1]), headers: headerMap, body: text.slice(end + 4) });
      };
      this.socket.on('data', (d: Buffer) => {
        if (!this.#answered) {
          this.#answered = true;
          this.sentBeforeResponse = this.sent;
        }
        raw = Buffer.concat([raw, d]);
      });
      this.socket.on('close', done);
    });
    this.response.catch(() => undefined); // a test that closes the socket itself does not wait for it
  }

  get answered(): boolean {
    return this.#answered;
  }

  /** Send `bytes` of body in 64 KiB writes, waiting for each to drain; stops once answered. */
  async send(bytes: number, fill = 'x'): Promise<void> {
    const chunk = Buffer.alloc(64 * 1024, fill);
    while (bytes > 0 && !this.#answered && !this.socket.destroyed) {
      const part = chunk.subarray(0, Math.min(chunk.length, bytes));
      const drained = this.socket.write(part);
      this.sent += part.length;
      bytes -= part.length;
      if (!drained) await new Promise<void>((r) => this.socket.once('drain', r).once('close', r));
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

const webhookHeaders = (extra: Record<string, string | number> = {}) => ({
  'Content-Type': 'application/json',
  'X-GitHub-Event': 'pull_request',
  'X-GitHub-Delivery': 'd-intake',
  ...extra,
});

/** A complete signed delivery of `body` (as GitHub sends it), its response. */
async function signed(body: string, event = 'pull_request', signature = signWebhook(SECRET, body)) {
  const r = new RawRequest(
    webhookHeaders({
      'X-GitHub-Event': event,
      'X-Hub-Signature-256': signature,
      'Content-Length': Buffer.byteLength(body),
    }),
  );
  r.socket.write(body);
  return r.response;
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setImmediate(r));
}

describe('unsigned deliveries are refused before their body is read', () => {
  it('no X-Hub-Signature-256: 401 before a byte of a 24 MiB body is sent', async () => {
    const r = new RawRequest(webhookHeaders({ 'Content-Length': 24 * MIB }));
    const res = await r.response;
    expect(res.status).toBe(401);
    expect(r.sentBeforeResponse).toBe(0);
    expect(JSON.parse(res.body)).toEqual({ error: 'a webhook needs a valid X-Hub-Signature-256 header' });
  });

  it('16 concurrent unsigned 24 MiB bodies: each 401 before its body, nothing held, no payload logged', async () => {
    const before = logLines.length;
    const flood = Array.from(
      { length: 16 },
      () => new RawRequest(webhookHeaders({ 'Content-Length': 24 * MIB })),
    );
    const responses = await Promise.all(flood.map((r) => r.response));
    expect(responses.map((r) => r.status)).toEqual(Array(16).fill(401));
    expect(flood.map((r) => r.sentBeforeResponse)).toEqual(Array(16).fill(0));
    expect(server.intake.state()).toEqual({ requests: 0, bytes: 0 });
    for (const line of logLines.slice(before)) expect(line).not.toContain('x'.repeat(64));
  });

  it('a malformed signature header is the same as none', async () => {
    for (const bad of ['sha256=', 'sha1=abc', `sha256=${'z'.repeat(64)}`, `sha256=${'a'.repeat(63)}`]) {
      const r = new RawRequest(webhookHeaders({ 'Content-Length': 24 * MIB, 'X-Hub-Signature-256': bad }));
      expect((await r.response).status).toBe(401);
      expect(r.sentBeforeResponse).toBe(0);
    }
  });
});

describe('signed-looking deliveries are bounded while they are read', () => {
  it('beyond the deliveries in flight: 503 at once, with Retry-After; the held ones end 401 and free their slots', async () => {
    const forged = `sha256=${'0'.repeat(64)}`;
    const held = Array.from(
      { length: 3 },
      () => new RawRequest(webhookHeaders({ 'Content-Length': 2 * MIB, 'X-Hub-Signature-256': forged })),
    );
    await Promise.all(held.map((r) => r.send(MIB)));
    await until(() => server.intake.state().requests === 3);
    expect(server.intake.state().bytes).toBe(6 * MIB);

    const extra = new RawRequest(webhookHeaders({ 'Content-Length': 10, 'X-Hub-Signature-256': forged }));
    const busy = await extra.response;
    expect(busy.status).toBe(503);
    expect(busy.headers['retry-after']).toBe('5');
    expect(extra.sentBeforeResponse).toBe(0);

    // The held ones finish: the HMAC over what they sent does not match.
    await Promise.all(held.map((r) => r.send(MIB)));
    expect((await Promise.all(held.map((r) => r.response))).map((r) => r.status)).toEqual([401, 401, 401]);
    await until(() => server.intake.state().requests === 0);
    expect(server.intake.state()).toEqual({ requests: 0, bytes: 0 });
  });

  it('beyond the byte budget: 503 before the body (declared length) or as soon as it passes (chunked)', async () => {
    const forged = `sha256=${'1'.repeat(64)}`;
    // Two deliveries declare 25 MiB each: the whole 50 MiB budget is theirs, reserved before they send it.
    const big = Array.from(
      { length: 2 },
      () => new RawRequest(webhookHeaders({ 'Content-Length': 25 * MIB, 'X-Hub-Signature-256': forged })),
    );
    await Promise.all(big.map((r) => r.send(64 * 1024)));
    await until(() => server.intake.state().requests === 2);
    expect(server.intake.state().bytes).toBe(50 * MIB);

    const declared = new RawRequest(webhookHeaders({ 'Content-Length': 1, 'X-Hub-Signature-256': forged }));
    expect((await declared.response).status).toBe(503);
    expect(declared.sentBeforeResponse).toBe(0);

    // Chunked: no length to reserve, so the budget is checked as bytes arrive; the first chunk is too many.
    const chunked = new RawRequest(
      webhookHeaders({ 'Transfer-Encoding': 'chunked', 'X-Hub-Signature-256': forged }),
    );
    chunked.socket.write(`${(1024).toString(16)}\r\n${'y'.repeat(1024)}\r\n`);
    expect((await chunked.response).status).toBe(503);

    for (const r of big) r.close();
    await until(() => server.intake.state().requests === 0);
    expect(server.intake.state()).toEqual({ requests: 0, bytes: 0 });
  });

  it('a body over maxBodyBytes is 413 as soon as it passes the limit, not after it is all read', async () => {
    const forged = `sha256=${'2'.repeat(64)}`;
    const declared = new RawRequest(
      webhookHeaders({ 'Content-Length': 25 * MIB + 1, 'X-Hub-Signature-256': forged }),
    );
    expect((await declared.response).status).toBe(413);
    expect(declared.sentBeforeResponse).toBe(0);

    const chunked = new RawRequest(
      webhookHeaders({ 'Transfer-Encoding': 'chunked', 'X-Hub-Signature-256': forged }),
    );
    const piece = `${MIB.toString(16)}\r\n${'z'.repeat(MIB)}\r\n`;
    for (let i = 0; i < 40 && !chunked.answered; i++) {
      if (!chunked.socket.write(piece))
        await new Promise((r) => chunked.socket.once('drain', r).once('close', r));
    }
    expect((await chunked.response).status).toBe(413);
    // Answered after 25 MiB and a little (what the socket buffers held), far before the 40 MiB on offer.
    expect(chunked.answered).toBe(true);
    await until(() => server.intake.state().requests === 0);
  });

  it('a refused delivery is logged by its size only: no payload, no header the sender wrote', async () => {
    const before = logLines.length;
    const body = JSON.stringify({ action: 'opened', secret: MARKER, padding: MARKER.repeat(1000) });
    const r = await signed(body, 'pull_request', `sha256=${'3'.repeat(64)}`);
    expect(r.status).toBe(401);
    const unsigned = new RawRequest(
      webhookHeaders({ 'Content-Length': body.length, 'X-GitHub-Delivery': MARKER, 'User-Agent': MARKER }),
    );
    unsigned.socket.write(body);
    expect((await unsigned.response).status).toBe(401);
    for (const line of logLines.slice(before)) expect(line).not.toContain(MARKER);
    // Every refusal so far (one line per reason a minute, the rest counted): a reason and numbers only.
    const refused = logLines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'refused a webhook delivery');
    expect(new Set(refused.map((l) => l.reason))).toEqual(
      new Set(['unsigned', 'bad signature', 'busy', 'too large']),
    );
    expect(typeof refused.find((l) => l.reason === 'bad signature')?.bytes).toBe('number');
    for (const l of refused) {
      const { level: _l, time: _t, pid: _p, hostname: _h, msg: _m, reason, bytes, also_refused, ...rest } = l;
      expect(rest).toEqual({});
      expect(typeof reason).toBe('string');
      if (bytes !== undefined) expect(typeof bytes).toBe('number');
      if (also_refused !== undefined) expect(typeof also_refused).toBe('number');
    }
  });
});

describe('signed deliveries', () => {
  const INTERNAL = /SyntaxError|TypeError|Error:|\n\s+at |Unexpected token|undefined/;

  it('not JSON: 400 with a plain message', async () => {
    const r = await signed('{"action": "opened", ');
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toEqual({ error: 'the payload is not valid JSON' });
    expect(r.body).not.toMatch(INTERNAL);
  });

  it('JSON of the wrong shape: 400 naming what is wrong, no handler runs', async () => {
    const before = logLines.length;
    const cases: [string, string, string][] = [
      [
        'pull_request',
        '{}',
        "the payload is not a valid pull_request event: the payload must have required property 'action'",
      ],
      [
        'pull_request',
        JSON.stringify({
          action: 'opened',
          repository: { name: 'a', owner: { login: 'o' } },
          pull_request: { number: '5' },
        }),
        'the payload is not a valid pull_request event: /pull_request/number must be integer',
      ],
      ['push', '[1, 2]', 'the payload is not a valid push event: the payload must be object'],
      [
        'pull_request_review',
        'null',
        'the payload is not a valid pull_request_review event: the payload must be object',
      ],
      ['ping', '"zen"', 'the payload is not a valid ping event: the payload must be object'],
    ];
    for (const [event, body, error] of cases) {
      const r = await signed(body, event);
      expect({ status: r.status, body: JSON.parse(r.body) }).toEqual({ status: 400, body: { error } });
      expect(r.body).not.toMatch(/SyntaxError|TypeError|\n\s+at /);
    }
    // No handler ran: nothing failed, nothing was logged as an error.
    expect(logLines.slice(before).filter((l) => JSON.parse(l).level >= 50)).toEqual([]);
  });

  it('a handler that fails: 500 "internal error", the details only in the log', async () => {
    const before = logLines.length;
    const payload = {
      action: 'opened',
      repository: { name: 'access', owner: { login: 'acme' } },
      pull_request: { number: 1 },
      installation: { id: 1 },
      marker: MARKER,
    };
    const r = await signed(JSON.stringify(payload));
    expect({ status: r.status, body: JSON.parse(r.body) }).toEqual({
      status: 500,
      body: { error: 'internal error' },
    });
    const failed = logLines
      .slice(before)
      .map((l) => JSON.parse(l))
      .find((l) => l.msg === 'handling pull_request d-intake failed');
    expect(failed?.err?.[0]?.message).toBeTruthy();
    expect(JSON.stringify(failed)).not.toContain(MARKER);
  });

  it('a valid signed delivery still works', async () => {
    const r = await signed(JSON.stringify({ zen: 'Keep it logically awesome.', hook_id: 1 }), 'ping');
    expect(r.status).toBe(200);
    expect(r.body).toBe('ok\n');
    expect(server.intake.state()).toEqual({ requests: 0, bytes: 0 });
  });
});
