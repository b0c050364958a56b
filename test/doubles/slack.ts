// A stateful Slack Web API double for the methods Timebox uses (chat.postMessage, chat.update,
// conversations.history, auth.test). Every request it receives and every response it sends is validated
// against Slack's published OpenAPI 2.0 description (test/doubles/specs/slack/, vendored from ../shared/specs/slack/; see
// ../shared/specs/README.md). A request that violates it is answered `invalid_arg_name` (Slack's own code
// for a bad argument) and recorded in `violations`; a response that violates it becomes an HTTP 500 and is
// recorded too, so a test fails loudly either way.
//
// Slack stopped updating that file; where it lags the live API the double follows the live API and says
// so here (and only here), in loadSpec and REQUEST_LAGS:
//  - `token`: described as a `token` header/query parameter; the live API and @slack/web-api send
//    `Authorization: Bearer xoxb-…`. The double requires the bearer header.
//  - GET methods (conversations.history, auth.test) are described with query parameters; @slack/web-api
//    POSTs every method form-encoded, which Slack accepts. Parameters are validated wherever they come from.
//  - `metadata` (chat.postMessage, chat.update) and `include_all_metadata` (conversations.history) are
//    missing from the parameters, and `metadata` from the message object (message metadata, 2022).
//  - `blocks` is described only as "a JSON-based array" string and, in the message object, as a loose
//    array of `{ type }`; the double validates the parsed array against that loose definition only, so
//    Block Kit's element rules (e.g. ≤ 10 section fields) are not checked by the spec — the double checks
//    the two limits Timebox relies on itself (see BLOCK_LIMITS).
//  - chat.update's response describes `message.blocks` as an object; the live API returns an array.
//  - conversations.history's response requires `messages` to have at least one item (an empty channel
//    returns `[]`) and has no `response_metadata.next_cursor` (cursor pagination, 2018).
// Failures injected with `failNext({ status })` are HTTP-level (a 5xx, a 429 with Retry-After): the
// description has nothing to say about them, so they are sent as they are; `failNext({ error })` answers
// are Slack error bodies and are validated like any other response.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

const SPEC_PATH = fileURLToPath(new URL('./specs/slack/slack_web_openapi_v2.json', import.meta.url));
const SPEC_ID = 'https://slack.test/slack_web_openapi_v2.json';

export const BOT_ID = 'B0TIMEBOX01';
export const BOT_USER = 'U0TIMEBOX01';
export const TEAM_ID = 'T0TIMEBOX';

interface Param {
  name: string;
  in: string;
  type?: string;
  required?: boolean;
}
type Json = Record<string, unknown>;

/** Parameters the spec lacks but the live API takes (see the header comment). */
const REQUEST_LAGS: Record<string, Record<string, Json>> = {
  'chat.postMessage': { metadata: { type: 'string' } },
  'chat.update': { metadata: { type: 'string' } },
  'conversations.history': { include_all_metadata: { type: 'boolean' } },
};

/** Message metadata, as documented at https://api.slack.com/reference/metadata (not in the spec). */
const METADATA_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['event_type', 'event_payload'],
  properties: {
    event_type: { type: 'string', pattern: '^[A-Za-z0-9_]+$' },
    event_payload: { type: 'object' },
  },
};

/** Block Kit limits not in the spec that Timebox's messages must respect. */
const BLOCK_LIMITS = { maxBlocks: 50, maxSectionFields: 10, maxSectionText: 3000, maxFieldText: 2000 };

/** The spec, patched where it lags the live API (see the header comment). */
function loadSpec(): Json {
  const spec = JSON.parse(readFileSync(SPEC_PATH, 'utf8')) as Json & {
    definitions: Record<string, Json & { properties: Json }>;
    paths: Record<
      string,
      Record<string, { responses: Record<string, { schema: Json & { properties: Json } }> }>
    >;
  };
  const message = spec.definitions.objs_message;
  if (!message) throw new Error('spec: no objs_message');
  message.properties.metadata = METADATA_SCHEMA;
  const history = spec.paths['/conversations.history']?.get?.responses['200']?.schema;
  if (!history) throw new Error('spec: no conversations.history response');
  delete (history.properties.messages as Json).minItems;
  history.properties.response_metadata = {
    type: 'object',
    additionalProperties: false,
    properties: { next_cursor: { type: 'string' } },
  };
  const update = spec.paths['/chat.update']?.post?.responses['200']?.schema;
  if (!update) throw new Error('spec: no chat.update response');
  ((update.properties.message as Json).properties as Json).blocks = { $ref: '#/definitions/blocks' };
  return spec;
}

interface Operation {
  method: string;
  httpMethod: string;
  params: Param[];
  request: ValidateFunction;
  responses: Map<string, ValidateFunction>;
}

class SpecValidator {
  readonly #ajv = new Ajv({ strict: false, allErrors: true, logger: false, allowUnionTypes: true });
  readonly #form = new Ajv({ strict: false, allErrors: true, logger: false, coerceTypes: true });
  readonly #ops = new Map<string, Operation>();
  readonly #spec: Json & { paths: Record<string, Record<string, Json>> };
  readonly blocks: ValidateFunction;
  readonly metadata: ValidateFunction;

  constructor() {
    this.#spec = loadSpec() as Json & { paths: Record<string, Record<string, Json>> };
    addFormats.default(this.#ajv);
    this.#ajv.addSchema({ ...this.#spec, $id: SPEC_ID });
    this.blocks = this.#ajv.compile({ $ref: `${SPEC_ID}#/definitions/blocks` });
    this.metadata = this.#ajv.compile(METADATA_SCHEMA);
  }

  operation(method: string): Operation | undefined {
    const cached = this.#ops.get(method);
    if (cached) return cached;
    const path = this.#spec.paths[`/${method}`];
    if (!path) return undefined;
    const [httpMethod, raw] = Object.entries(path)[0] as [string, { parameters?: Param[]; responses: Json }];
    // The token is checked as a bearer header (see the header comment), not as a parameter.
    const params = (raw.parameters ?? []).filter((p) => p.name !== 'token');
    const properties: Json = { ...REQUEST_LAGS[method] };
    for (const p of params) properties[p.name] = p.type ? { type: p.type } : {};
    const request = this.#form.compile({
      type: 'object',
      additionalProperties: false,
      properties,
      required: params.filter((p) => p.required).map((p) => p.name),
    });
    const pointer = `/${method}`.replace(/~/g, '~0').replace(/\//g, '~1');
    const responses = new Map<string, ValidateFunction>();
    for (const status of Object.keys(raw.responses))
      responses.set(
        status,
        this.#ajv.compile({ $ref: `${SPEC_ID}#/paths/${pointer}/${httpMethod}/responses/${status}/schema` }),
      );
    const op = { method, httpMethod, params, request, responses };
    this.#ops.set(method, op);
    return op;
  }

  errors(v: ValidateFunction): string {
    return (v.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ');
  }
}

let sharedValidator: SpecValidator | undefined;

export interface SlackMessage {
  type: 'message';
  ts: string;
  text: string;
  user: string;
  bot_id?: string;
  blocks?: Json[];
  metadata?: { event_type: string; event_payload: Json };
  /** A reply: the ts of the message it answers. */
  thread_ts?: string;
  /** `thread_broadcast`: a reply also shown in the channel (`reply_broadcast: true`). */
  subtype?: string;
}

export type SlackFailure = { status: number; retryAfter?: number } | { error: string };

export interface SlackCall {
  method: string;
  params: Record<string, unknown>;
}

export class SlackDouble {
  readonly token: string;
  readonly channels = new Map<string, SlackMessage[]>();
  /** Every request received, in order. */
  readonly calls: SlackCall[] = [];
  /** Spec violations, in requests or in the double's own responses; a passing test leaves this empty. */
  readonly violations: string[] = [];
  readonly #failures = new Map<string, SlackFailure[]>();
  readonly #server: Server;
  readonly #validator: SpecValidator;
  #tsSeq = 0;
  url = '';

  constructor(options: { token: string; channels: string[] }) {
    this.token = options.token;
    for (const c of options.channels) this.channels.set(c, []);
    sharedValidator ??= new SpecValidator();
    this.#validator = sharedValidator;
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((error) => {
        this.violations.push(`double crashed: ${String(error)}`);
        res.writeHead(500).end();
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/api/`;
    return this;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** The next call of `method` fails this way (queued: call again for more). */
  failNext(method: string, failure: SlackFailure): void {
    const list = this.#failures.get(method) ?? [];
    list.push(failure);
    this.#failures.set(method, list);
  }

  /** A person's message in `channel` (no metadata, not the bot's). */
  say(channel: string, user: string, text: string): void {
    this.channels.get(channel)?.push({ type: 'message', ts: this.#nextTs(), text, user });
  }

  messages(channel: string): SlackMessage[] {
    return this.channels.get(channel) ?? [];
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://slack.test');
    const method = url.pathname.replace(/^\/api\//, '');
    const body = await readBody(req);
    const params = this.#params(req, url, body);
    this.calls.push({ method, params });
    const op = this.#validator.operation(method);
    if (!op) {
      this.violations.push(`${method}: not in the spec`);
      return send(res, 404, { ok: false, error: 'unknown_method' });
    }
    const reply = (status: number, payload: Json, headers: Record<string, string> = {}) =>
      this.#reply(res, op, status, payload, headers);

    const auth = req.headers.authorization;
    if (!auth) return reply(200, { ok: false, error: 'not_authed' });
    if (auth !== `Bearer ${this.token}`) return reply(200, { ok: false, error: 'invalid_auth' });

    const problem = this.#checkRequest(op, params);
    if (problem) {
      this.violations.push(`${method} request: ${problem}`);
      return reply(200, { ok: false, error: 'invalid_arg_name' });
    }
    const failure = this.#failures.get(method)?.shift();
    if (failure) {
      if ('error' in failure) return reply(200, { ok: false, error: failure.error });
      const headers: Record<string, string> =
        failure.retryAfter === undefined ? {} : { 'retry-after': String(failure.retryAfter) };
      res.writeHead(failure.status, headers).end();
      return;
    }
    return reply(200, this.#perform(method, params));
  }

  #params(req: IncomingMessage, url: URL, body: string): Record<string, unknown> {
    const params: Record<string, unknown> = Object.fromEntries(url.searchParams);
    const type = req.headers['content-type'] ?? '';
    if (type.startsWith('application/json') && body) Object.assign(params, JSON.parse(body));
    else if (body) Object.assign(params, Object.fromEntries(new URLSearchParams(body)));
    return params;
  }

  #checkRequest(op: Operation, params: Record<string, unknown>): string | undefined {
    const copy = { ...params };
    if (!op.request(copy)) return this.#validator.errors(op.request);
    for (const name of ['blocks', 'attachments', 'metadata']) {
      const raw = params[name];
      if (raw === undefined) continue;
      let parsed: unknown;
      try {
        parsed = typeof raw === 'string' ? JSON.parse(raw) : raw;
      } catch {
        return `${name} is not JSON`;
      }
      if (name === 'blocks') {
        if (!this.#validator.blocks(parsed))
          return `blocks ${this.#validator.errors(this.#validator.blocks)}`;
        const limit = blockLimitProblem(parsed as Json[]);
        if (limit) return `blocks: ${limit}`;
      }
      if (name === 'attachments' && !Array.isArray(parsed)) return 'attachments is not an array';
      if (name === 'metadata' && !this.#validator.metadata(parsed))
        return `metadata ${this.#validator.errors(this.#validator.metadata)}`;
    }
    return undefined;
  }

  #reply(res: ServerResponse, op: Operation, status: number, payload: Json, headers: Record<string, string>) {
    const validate = op.responses.get(payload.ok === true ? '200' : 'default');
    if (!validate?.(payload)) {
      const why = validate ? this.#validator.errors(validate) : 'no response schema';
      this.violations.push(`${op.method} response: ${why}`);
      res
        .writeHead(500, { 'content-type': 'text/plain' })
        .end(`the double's response violates the spec: ${why}`);
      return;
    }
    send(res, status, payload, headers);
  }

  #perform(method: string, p: Record<string, unknown>): Json {
    switch (method) {
      case 'auth.test':
        return {
          ok: true,
          url: 'https://timebox-test.slack.com/',
          team: 'Timebox test',
          user: 'timebox',
          team_id: TEAM_ID,
          user_id: BOT_USER,
          bot_id: BOT_ID,
        };
      case 'chat.postMessage':
        return this.#post(p);
      case 'chat.update':
        return this.#update(p);
      case 'conversations.history':
        return this.#history(p);
      default:
        return { ok: false, error: 'invalid_arg_name' };
    }
  }

  #post(p: Record<string, unknown>): Json {
    const channel = String(p.channel);
    const list = this.channels.get(channel);
    if (!list) return { ok: false, error: 'channel_not_found' };
    const blocks = parseJson(p.blocks) as Json[] | undefined;
    if (!p.text && !blocks?.length) return { ok: false, error: 'no_text' };
    const message: SlackMessage = {
      type: 'message',
      ts: this.#nextTs(),
      text: String(p.text ?? ''),
      user: BOT_USER,
      bot_id: BOT_ID,
      ...(blocks ? { blocks } : {}),
      ...(p.metadata ? { metadata: parseJson(p.metadata) as SlackMessage['metadata'] } : {}),
    };
    if (typeof p.thread_ts === 'string' && p.thread_ts) {
      message.thread_ts = p.thread_ts;
      if (p.reply_broadcast === true || p.reply_broadcast === 'true') message.subtype = 'thread_broadcast';
    }
    list.push(message);
    return { ok: true, channel, ts: message.ts, message: { ...message } };
  }

  #update(p: Record<string, unknown>): Json {
    const channel = String(p.channel);
    const list = this.channels.get(channel);
    if (!list) return { ok: false, error: 'channel_not_found' };
    const message = list.find((m) => m.ts === p.ts);
    if (!message) return { ok: false, error: 'message_not_found' };
    if (message.bot_id !== BOT_ID) return { ok: false, error: 'cant_update_message' };
    if (p.text !== undefined) message.text = String(p.text);
    const blocks = parseJson(p.blocks) as Json[] | undefined;
    if (blocks) message.blocks = blocks;
    if (p.metadata) message.metadata = parseJson(p.metadata) as SlackMessage['metadata'];
    return {
      ok: true,
      channel,
      ts: message.ts,
      text: message.text,
      message: { text: message.text, ...(message.blocks ? { blocks: message.blocks } : {}) },
    };
  }

  #history(p: Record<string, unknown>): Json {
    const list = this.channels.get(String(p.channel));
    if (!list) return { ok: false, error: 'channel_not_found' };
    const limit = Math.min(Number(p.limit ?? 100), 999);
    const offset = typeof p.cursor === 'string' && p.cursor ? Number(p.cursor.replace(/^page:/, '')) : 0;
    const withMetadata = p.include_all_metadata === true || p.include_all_metadata === 'true';
    // As Slack: a channel's history holds its messages and the replies broadcast to it, not the other replies.
    const newestFirst = [...list].filter((m) => !m.thread_ts || m.subtype === 'thread_broadcast').reverse();
    const page = newestFirst.slice(offset, offset + limit).map((m) => {
      const { metadata, ...rest } = m;
      return withMetadata && metadata ? { ...rest, metadata } : rest;
    });
    const more = offset + limit < newestFirst.length;
    return {
      ok: true,
      messages: page,
      has_more: more,
      pin_count: 0,
      channel_actions_ts: null,
      channel_actions_count: 0,
      ...(more ? { response_metadata: { next_cursor: `page:${offset + limit}` } } : {}),
    };
  }

  /** Slack's `ts`: seconds and a 6-digit sequence; made up, never read from the clock, so tests repeat. */
  #nextTs(): string {
    this.#tsSeq++;
    return `${1_764_000_000 + this.#tsSeq}.${String(this.#tsSeq).padStart(6, '0')}`;
  }
}

function blockLimitProblem(blocks: Json[]): string | undefined {
  if (blocks.length > BLOCK_LIMITS.maxBlocks) return `more than ${BLOCK_LIMITS.maxBlocks} blocks`;
  for (const b of blocks) {
    if (b.type !== 'section') continue;
    const fields = (b.fields as { text?: string }[] | undefined) ?? [];
    if (fields.length > BLOCK_LIMITS.maxSectionFields) return 'a section with more than 10 fields';
    if (fields.some((f) => (f.text ?? '').length > BLOCK_LIMITS.maxFieldText))
      return 'a field over 2000 chars';
    const text = (b.text as { text?: string } | undefined)?.text ?? '';
    if (text.length > BLOCK_LIMITS.maxSectionText) return 'a section text over 3000 chars';
  }
  return undefined;
}

function parseJson(value: unknown): unknown {
  if (value === undefined) return undefined;
  return typeof value === 'string' ? JSON.parse(value) : value;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(
  res: ServerResponse,
  status: number,
  payload: Json,
  headers: Record<string, string> = {},
): void {
  res
    .writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers })
    .end(JSON.stringify(payload));
}
