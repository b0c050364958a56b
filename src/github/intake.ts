// The webhook intake: what stands between the internet and the App's handlers. Probot's middleware read
// every body (up to 25 MB) into memory before it looked at the signature, with no bound on how many at
// once, and logged each refused body whole. Here:
// - no `X-Hub-Signature-256` (or not `sha256=` and 64 hex digits): 401 at once, the body never read;
// - a bounded number of deliveries in flight and a byte budget for their bodies: 503 beyond, at once
//   (a declared Content-Length is reserved before a byte is read);
// - the body goes through the HMAC as it arrives, never more than `maxBodyBytes` held; a mismatch is 401;
// - a refused delivery is logged by its size in bytes and nothing else (no header, no payload);
// - a signed body that is not JSON, or not the shape the handlers read, is 400 with a plain message;
//   a handler's failure is 500 "internal error" (its details go to the log, not to the caller);
// - with replicas (`durable`), a verified delivery is stored as a job and answered 200 at once; when it
//   cannot be stored (the state database is down) it is 503, so GitHub records the failure.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ValidateFunction } from 'ajv';
import type { Logger } from 'pino';
import type { Clock, Timer } from '../core/clock.js';
import { compileSchema } from '../core/schemas.js';

export interface IntakeLimits {
  /** The largest body accepted; GitHub caps webhook payloads at 25 MB. */
  maxBodyBytes: number;
  /** Deliveries being read or handled at once; more are answered 503 without being read. */
  maxConcurrent: number;
  /** Bytes of bodies held at once, across deliveries (at least `maxBodyBytes`); beyond, 503. */
  maxBytesInFlight: number;
  /** A handler still running after this long is answered 202 and goes on (GitHub waits 10 s). */
  responseTimeoutMs: number;
}

export const DEFAULT_INTAKE_LIMITS: IntakeLimits = {
  maxBodyBytes: 25 * 1024 * 1024,
  maxConcurrent: 32,
  maxBytesInFlight: 100 * 1024 * 1024,
  responseTimeoutMs: 9_000,
};

export interface WebhookEvent {
  id: string;
  name: string;
  payload: Record<string, unknown>;
}

export interface IntakeOptions {
  secret: string;
  log: Logger;
  /** The 202 timer and the pace of refusal lines. */
  clock: Clock;
  limits?: Partial<IntakeLimits>;
  /** Runs the handlers of a verified, well-formed delivery (Probot's `receive`), or stores it (`durable`). */
  receive(event: WebhookEvent): Promise<void>;
  /**
   * Replicas (`TIMEBOX_DATABASE_URL`): `receive` stores the delivery as a job rather than handling it. The
   * answer is 200 once it is stored, and 503 with `Retry-After` when storing fails or takes longer than
   * `responseTimeoutMs`: GitHub records a failed delivery, which the redelivery sweep sends again.
   */
  durable?: boolean;
}

export interface IntakeState {
  /** Deliveries being read or handled now. */
  requests: number;
  /** Bytes reserved for their bodies now. */
  bytes: number;
}

export interface Intake {
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  state(): IntakeState;
  readonly limits: IntakeLimits;
}

const SIGNATURE = /^sha256=([0-9a-f]{64})$/i;
const EVENT = /^[a-z_]{1,64}$/;
const DELIVERY = /^[A-Za-z0-9_-]{1,128}$/;
const JSON_TYPE = /^\s*application\/json\s*(?:;|$)/i;

export function webhookIntake(opts: IntakeOptions): Intake {
  const limits = { ...DEFAULT_INTAKE_LIMITS, ...opts.limits };
  limits.maxBytesInFlight = Math.max(limits.maxBytesInFlight, limits.maxBodyBytes);
  const current: IntakeState = { requests: 0, bytes: 0 };
  const refusals = refusalLog(opts.log, opts.clock);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const signature = SIGNATURE.exec(header(req, 'x-hub-signature-256') ?? '')?.[1]?.toLowerCase();
    if (!signature) {
      refusals.note('unsigned');
      return refuse(res, 401, 'a webhook needs a valid X-Hub-Signature-256 header');
    }
    if (!JSON_TYPE.test(header(req, 'content-type') ?? '')) {
      return refuse(res, 415, 'Content-Type must be application/json');
    }
    const name = header(req, 'x-github-event') ?? '';
    const id = header(req, 'x-github-delivery') ?? '';
    if (!EVENT.test(name) || !DELIVERY.test(id)) {
      return refuse(res, 400, 'X-GitHub-Event and X-GitHub-Delivery are required');
    }
    const declared = declaredLength(req);
    if (declared === 'invalid') return refuse(res, 400, 'Content-Length is not a number');
    if (declared !== null && declared > limits.maxBodyBytes) {
      refusals.note('too large', declared);
      return refuse(res, 413, `payload larger than ${limits.maxBodyBytes} bytes`);
    }
    // The gate: a slot, and room for the declared body, or 503 before a byte is read.
    const reserve = declared ?? 0;
    if (current.requests >= limits.maxConcurrent || current.bytes + reserve > limits.maxBytesInFlight) {
      refusals.note('busy', declared ?? undefined);
      res.setHeader('retry-after', '5');
      return refuse(res, 503, 'too many webhook deliveries in flight; retry later');
    }
    current.requests += 1;
    current.bytes += reserve;
    let held = reserve;
    try {
      const body = await readSigned(req, opts.secret, {
        max: limits.maxBodyBytes,
        // Bytes beyond the declared length (chunked bodies) are reserved as they come.
        grow: (size) => {
          if (size <= held) return true;
          if (current.bytes + (size - held) > limits.maxBytesInFlight) return false;
          current.bytes += size - held;
          held = size;
          return true;
        },
      });
      if (body.outcome !== 'read') {
        if (body.outcome === 'aborted') return;
        refusals.note(body.outcome, body.size);
        if (body.outcome === 'too large') {
          return refuse(res, 413, `payload larger than ${limits.maxBodyBytes} bytes`);
        }
        res.setHeader('retry-after', '5');
        return refuse(res, 503, 'too many webhook bytes in flight; retry later');
      }
      if (!safeEqualHex(body.digest, signature)) {
        refusals.note('bad signature', body.size);
        return refuse(res, 401, 'the signature does not match the payload');
      }
      let payload: unknown;
      try {
        payload = JSON.parse(body.text);
      } catch {
        return reply(res, 400, { error: 'the payload is not valid JSON' });
      }
      const problem = shapeProblem(name, payload);
      if (problem) return reply(res, 400, { error: `the payload is not a valid ${name} event: ${problem}` });
      const event = { id, name, payload: payload as Record<string, unknown> };
      if (opts.durable) {
        return await respondWhenStored(res, opts.clock, limits.responseTimeoutMs, () =>
          opts.receive(event),
        ).catch((err: unknown) => {
          opts.log.error(
            { delivery: id, event: name, err: summary(err) },
            `storing ${name} ${id} failed; answered 503`,
          );
          if (!res.headersSent) {
            res.setHeader('retry-after', '30');
            reply(res, 503, { error: 'the state database is unavailable; retry later' });
          }
        });
      }
      await respondWhenHandled(res, opts.clock, limits.responseTimeoutMs, () => opts.receive(event)).catch(
        (err: unknown) => {
          opts.log.error({ delivery: id, event: name, err: summary(err) }, `handling ${name} ${id} failed`);
          if (!res.headersSent) reply(res, 500, { error: 'internal error' });
        },
      );
    } finally {
      current.requests -= 1;
      current.bytes -= held;
    }
  };
  return { handle, state: () => ({ ...current }), limits };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function declaredLength(req: IncomingMessage): number | null | 'invalid' {
  const v = req.headers['content-length'];
  if (v === undefined) return null;
  return /^\d{1,15}$/.test(v) ? Number(v) : 'invalid';
}

/** Answer and close the connection: whatever the client still sends is not read. */
function refuse(res: ServerResponse, status: number, error: string): void {
  res.setHeader('connection', 'close');
  reply(res, status, { error });
}

export function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

type ReadResult =
  | { outcome: 'read'; text: string; digest: string; size: number }
  | { outcome: 'too large' | 'busy' | 'aborted'; size: number };

/** The body, HMAC'd as it arrives; stops reading (and holds nothing) as soon as a limit is passed. */
function readSigned(
  req: IncomingMessage,
  secret: string,
  opts: { max: number; grow: (size: number) => boolean },
): Promise<ReadResult> {
  return new Promise((resolve) => {
    const hmac = createHmac('sha256', secret);
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (result: ReadResult) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      chunks.length = 0;
      if (result.outcome !== 'read') req.pause();
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > opts.max) return finish({ outcome: 'too large', size });
      if (!opts.grow(size)) return finish({ outcome: 'busy', size });
      hmac.update(chunk);
      chunks.push(chunk);
    };
    const onEnd = () =>
      finish({
        outcome: 'read',
        text: Buffer.concat(chunks).toString('utf8'),
        digest: hmac.digest('hex'),
        size,
      });
    const onError = () => finish({ outcome: 'aborted', size });
    const onClose = () => {
      if (!req.complete) finish({ outcome: 'aborted', size });
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

function safeEqualHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** 200 when the handlers are done; 202 if they take longer than `ms` (they go on). Rejects on failure. */
async function respondWhenHandled(
  res: ServerResponse,
  clock: Clock,
  ms: number,
  work: () => Promise<void>,
): Promise<void> {
  let timer: Timer | undefined;
  const late = new Promise<void>((resolve) => {
    timer = clock
      .after(ms, () => {
        if (!res.headersSent) reply(res, 202, { ok: true, note: 'still processing' });
        resolve();
      })
      .unref();
  });
  const done = work().then(() => {
    if (!res.headersSent) {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 3 });
      res.end('ok\n');
    }
  });
  try {
    await Promise.race([done, late]);
    await done;
  } finally {
    timer?.cancel();
  }
}

/** 200 once `store` resolved; rejects when it fails or is not done within `ms` (the caller answers 503). */
async function respondWhenStored(
  res: ServerResponse,
  clock: Clock,
  ms: number,
  store: () => Promise<void>,
): Promise<void> {
  let timer: Timer | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = clock.after(ms, () => reject(new Error(`not stored within ${ms} ms`))).unref();
  });
  const stored = store();
  // Late or not, its own failure is logged by nobody else: keep it from being an unhandled rejection.
  stored.catch(() => undefined);
  try {
    await Promise.race([stored, late]);
  } finally {
    timer?.cancel();
  }
  reply(res, 200, { ok: true, stored: true });
}

// ---- the shape the handlers read ------------------------------------------------------------------------

const repository = {
  type: 'object',
  required: ['name', 'owner'],
  properties: {
    name: { type: 'string', minLength: 1 },
    owner: { type: 'object', required: ['login'], properties: { login: { type: 'string', minLength: 1 } } },
    default_branch: { type: 'string' },
  },
};
const installation = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'integer', minimum: 1 } },
};
const sha = { type: 'string', pattern: '^[0-9a-f]{40}(?:[0-9a-f]{24})?$' };
const pullEvent = {
  type: 'object',
  required: ['action', 'repository', 'pull_request'],
  properties: {
    action: { type: 'string' },
    repository,
    installation,
    pull_request: {
      type: 'object',
      required: ['number'],
      properties: { number: { type: 'integer', minimum: 1 } },
    },
  },
};
const SHAPES: Record<string, object> = {
  pull_request: pullEvent,
  pull_request_review: pullEvent,
  push: {
    type: 'object',
    required: ['ref', 'before', 'after', 'repository'],
    properties: { ref: { type: 'string' }, before: sha, after: sha, repository, installation },
  },
};
let compiled: Map<string, ValidateFunction> | undefined;
const anyObject = { type: 'object' };

/** What is wrong with a payload for the handlers of `name`, in a line; null when nothing. */
function shapeProblem(name: string, payload: unknown): string | null {
  compiled ??= new Map(
    [...Object.entries(SHAPES), ['*', anyObject] as const].map(([k, s]) => [k, compileSchema(s)]),
  );
  const validate = (compiled.get(name) ?? compiled.get('*')) as ValidateFunction;
  if (validate(payload)) return null;
  const e = validate.errors?.[0];
  return e ? `${e.instancePath || 'the payload'} ${e.message ?? 'is invalid'}` : 'invalid';
}

/** A handler's error for the log: messages and stacks, never the event (its payload) attached to it. */
function summary(err: unknown): { message: string; stack?: string }[] {
  const list = err instanceof AggregateError ? err.errors : [err];
  return list.map((e) =>
    e instanceof Error
      ? { message: e.message, ...(e.stack ? { stack: e.stack } : {}) }
      : { message: String(e) },
  );
}

/**
 * Refused deliveries in the log: a fixed message, the reason and the size in bytes, nothing the sender
 * wrote. For each reason one line at once, then at most one a minute with the count of those not logged
 * in between (a flood does not flood the log).
 */
function refusalLog(log: Logger, clock: Clock): { note(reason: string, bytes?: number): void } {
  const EVERY = 60_000;
  const last = new Map<string, { at: number; quiet: number }>();
  return {
    note(reason, bytes) {
      const now = clock.nowMs();
      const seen = last.get(reason);
      if (seen && now - seen.at < EVERY) {
        seen.quiet += 1;
        return;
      }
      const quiet = seen?.quiet ?? 0;
      last.set(reason, { at: now, quiet: 0 });
      log.warn(
        { reason, ...(bytes !== undefined ? { bytes } : {}), ...(quiet > 0 ? { also_refused: quiet } : {}) },
        'refused a webhook delivery',
      );
    },
  };
}
