import { readFileSync } from 'node:fs';
import { WebClient } from '@slack/web-api';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SLACK_METADATA_TYPE, SlackChannel } from '../../src/channels/slack.js';
import { SlackDouble } from '../doubles/slack.js';
import { deliveryFailure as failure } from '../helpers/notices.js';
import { LIFE, message } from './fixtures.js';

const TOKEN = 'xoxb-test-0000-timebox';
const CHANNEL = 'C0ACCESS01';

let slack: SlackDouble;
beforeEach(async () => {
  slack = await new SlackDouble({ token: TOKEN, channels: [CHANNEL, 'C0OTHER001'] }).start();
});
afterEach(async () => {
  // Every request the channel made and every response the double sent matched Slack's OpenAPI description.
  expect(slack.violations).toEqual([]);
  await slack.stop();
});

function channel(extra: Partial<ConstructorParameters<typeof SlackChannel>[0]> = {}) {
  return new SlackChannel({ channel: CHANNEL, token: TOKEN, slackApiUrl: slack.url, ...extra });
}

describe('Slack channel', () => {
  it('keeps one message per request and edits it in place as the request moves', async () => {
    const c = channel();
    for (const event of LIFE) await c.deliver(message(event));
    const messages = slack.messages(CHANNEL);
    expect(messages).toHaveLength(1);
    expect(messages[0]?.text).toContain('Access expired');
    expect(messages[0]?.metadata).toEqual({
      event_type: SLACK_METADATA_TYPE,
      event_payload: { key: 'acme/access#42', event: 'expired' },
    });
    expect(slack.calls.map((c) => c.method)).toEqual([
      'conversations.history', // not in memory: is there a message from before a restart?
      'chat.postMessage',
      'chat.update',
      'chat.update',
      'chat.update',
    ]);
    expect(JSON.stringify(messages[0]?.blocks)).toContain('https://github.com/acme/access/pull/42|');
  });

  it('gives each request its own message', async () => {
    const c = channel();
    await c.deliver(message('opened'));
    await c.deliver(message('opened', { key: 'acme/access#43', requester: 'carol' }));
    await c.deliver(message('granted'));
    expect(slack.messages(CHANNEL).map((m) => m.text)).toEqual([
      expect.stringContaining('Access granted'),
      expect.stringContaining('(carol)'),
    ]);
  });

  it('mentions the requester when the login has a Slack user, and only then', async () => {
    await channel({ users: { Alice: 'U0ALICE001' } }).deliver(message('opened'));
    await channel().deliver(message('opened', { key: 'acme/access#43', requester: 'dave' }));
    const [mapped, unmapped] = slack.messages(CHANNEL);
    expect(mapped?.text).toContain('<@U0ALICE001>');
    expect(JSON.stringify(mapped?.blocks)).toContain('<@U0ALICE001>');
    expect(unmapped?.text).toContain('(dave)');
    expect(unmapped?.text).not.toContain('<@');
  });

  it('escapes Slack control characters so a title cannot mention @channel or forge a link', async () => {
    await channel().deliver(message('opened', { title: 'x <!channel> & <https://evil.test|click>' }));
    const [m] = slack.messages(CHANNEL);
    expect(m?.text).toContain('x &lt;!channel&gt; &amp; &lt;https://evil.test|click&gt;');
  });

  it('finds its message again after a restart through the metadata marker, paging through history', async () => {
    await channel().deliver(message('opened'));
    // 250 later messages (people talking, another request) push it onto the second page of history.
    await channel().deliver(message('opened', { key: 'acme/access#43' }));
    for (let i = 0; i < 250; i++) slack.say(CHANNEL, 'U0PERSON01', `chatter ${i}`);
    const before = slack.messages(CHANNEL).length;
    slack.calls.length = 0;

    const restarted = channel();
    await restarted.deliver(message('granted'));
    expect(slack.messages(CHANNEL)).toHaveLength(before);
    expect(slack.messages(CHANNEL)[0]?.text).toContain('Access granted');
    expect(slack.calls.map((c) => c.method)).toEqual([
      'conversations.history',
      'conversations.history',
      'chat.update',
    ]);
  });

  it('without a history scope, posts instead of looking up (and does not ask again)', async () => {
    const c = channel();
    slack.failNext('conversations.history', { error: 'missing_scope' });
    await c.deliver(message('opened'));
    await c.deliver(message('opened', { key: 'acme/access#43' }));
    await c.deliver(message('granted'));
    expect(slack.calls.map((x) => x.method)).toEqual([
      'conversations.history',
      'chat.postMessage',
      'chat.postMessage',
      'chat.update',
    ]);
  });

  it('posts a fresh message when the old one was deleted', async () => {
    const c = channel();
    await c.deliver(message('opened'));
    slack.channels.set(CHANNEL, []);
    await c.deliver(message('approved'));
    expect(slack.messages(CHANNEL).map((m) => m.text)).toEqual([expect.stringContaining('Access approved')]);
  });

  it('says which failures are worth retrying', async () => {
    const c = channel();
    slack.failNext('conversations.history', { status: 503 });
    expect((await failure(c.deliver(message('opened')))).retryable).toBe(true);

    slack.failNext('conversations.history', { status: 429, retryAfter: 3 });
    const limited = await failure(c.deliver(message('opened')));
    expect([limited.retryable, limited.retryAfterMs]).toEqual([true, 3000]);

    // The spec's (older) spelling; the live API also answers `ratelimited`, which counts the same.
    slack.failNext('chat.postMessage', { error: 'rate_limited' });
    expect((await failure(c.deliver(message('opened')))).retryable).toBe(true);

    expect((await failure(channel({ token: 'xoxb-wrong' }).deliver(message('opened')))).message).toBe(
      'Slack: invalid_auth',
    );
    const missing = await failure(channel({ channel: 'C0MISSING01' }).deliver(message('opened')));
    expect([missing.message, missing.retryable]).toEqual(['Slack: channel_not_found', false]);

    await c.deliver(message('opened'));
    expect(slack.messages(CHANNEL)).toHaveLength(1);
  });

  it('never sends the token anywhere but the Authorization header', async () => {
    await channel().deliver(message('opened'));
    expect(JSON.stringify(slack.calls)).not.toContain(TOKEN);
  });
});

describe('where Slack’s OpenAPI description lags the live API (the double’s documented patches)', () => {
  // The unpatched description, to show each lag the double works around is real.
  const spec = JSON.parse(
    readFileSync(new URL('../doubles/specs/slack/slack_web_openapi_v2.json', import.meta.url), 'utf8'),
  ) as {
    paths: Record<
      string,
      Record<string, { parameters: { name: string }[]; responses: Record<string, { schema: object }> }>
    >;
  };
  const ajv = new Ajv({ strict: false, allErrors: true, logger: false });
  addFormats.default(ajv);
  ajv.addSchema({ ...spec, $id: 'raw-slack' });
  const response = (path: string, method: string) =>
    ajv.compile({ $ref: `raw-slack#/paths/~1${path}/${method}/responses/200/schema` });
  const message = { type: 'message', ts: '1764000001.000001', text: 'x', user: 'U0TIMEBOX01' };

  it('has no message metadata, neither as a parameter nor on messages', () => {
    const params = (path: string, method: string) =>
      spec.paths[`/${path}`]?.[method]?.parameters.map((p) => p.name);
    expect(params('chat.postMessage', 'post')).not.toContain('metadata');
    expect(params('chat.update', 'post')).not.toContain('metadata');
    expect(params('conversations.history', 'get')).not.toContain('include_all_metadata');
    const history = response('conversations.history', 'get');
    const page = {
      ok: true,
      has_more: false,
      pin_count: 0,
      channel_actions_ts: null,
      channel_actions_count: 0,
    };
    expect(history({ ...page, messages: [message] })).toBe(true);
    expect(
      history({ ...page, messages: [{ ...message, metadata: { event_type: 't', event_payload: {} } }] }),
    ).toBe(false);
    // An empty channel (the live API answers `messages: []`) and a next page cursor are not allowed either.
    expect(history({ ...page, messages: [] })).toBe(false);
    expect(history({ ...page, messages: [message], response_metadata: { next_cursor: 'x' } })).toBe(false);
  });

  it('describes chat.update’s message.blocks as an object; the live API returns an array', () => {
    const update = response('chat.update', 'post');
    const ok = { ok: true, channel: 'C0ACCESS01', ts: message.ts, text: 'x' };
    expect(update({ ...ok, message: { text: 'x', blocks: [{ type: 'section' }] } })).toBe(false);
    expect(update({ ...ok, message: { text: 'x', blocks: {} } })).toBe(true);
  });
});

describe('Slack double', () => {
  const client = () =>
    new WebClient(TOKEN, {
      slackApiUrl: slack.url,
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
    });

  it('rejects a request with a parameter the spec does not describe', async () => {
    await expect(
      client().apiCall('chat.postMessage', { channel: CHANNEL, text: 'hi', colour: 'red' }),
    ).rejects.toMatchObject({ data: { error: 'invalid_arg_name' } });
    expect(slack.violations).toEqual([expect.stringContaining('must NOT have additional properties')]);
    slack.violations.length = 0;
  });

  it('rejects a request missing a required parameter or with a mistyped one', async () => {
    await expect(client().apiCall('chat.update', { channel: CHANNEL, text: 'x' })).rejects.toMatchObject({
      data: { error: 'invalid_arg_name' },
    });
    await expect(
      client().apiCall('conversations.history', { channel: CHANNEL, limit: 'many' }),
    ).rejects.toMatchObject({ data: { error: 'invalid_arg_name' } });
    expect(slack.violations).toEqual([
      expect.stringContaining("must have required property 'ts'"),
      expect.stringContaining('/limit must be integer'),
    ]);
    slack.violations.length = 0;
  });

  it('rejects blocks and metadata that are not what Slack takes (where the spec lags, by the documented rules)', async () => {
    await expect(
      client().chat.postMessage({ channel: CHANNEL, text: 'x', blocks: [{ text: 'no type' } as never] }),
    ).rejects.toMatchObject({ data: { error: 'invalid_arg_name' } });
    await expect(
      client().chat.postMessage({
        channel: CHANNEL,
        text: 'x',
        metadata: { event_type: 'has spaces', event_payload: {} },
      }),
    ).rejects.toMatchObject({ data: { error: 'invalid_arg_name' } });
    expect(slack.violations).toEqual([
      expect.stringContaining("blocks /0 must have required property 'type'"),
      expect.stringContaining('metadata /event_type must match pattern'),
    ]);
    slack.violations.length = 0;
  });

  it('checks the bearer token', async () => {
    await expect(
      new WebClient(undefined, { slackApiUrl: slack.url, retryConfig: { retries: 0 } }).auth.test(),
    ).rejects.toMatchObject({
      data: { error: 'not_authed' },
    });
    await expect(
      new WebClient('xoxb-other', { slackApiUrl: slack.url, retryConfig: { retries: 0 } }).auth.test(),
    ).rejects.toMatchObject({ data: { error: 'invalid_auth' } });
    await expect(client().auth.test()).resolves.toMatchObject({ ok: true, user_id: 'U0TIMEBOX01' });
  });

  it('refuses to send a response the spec does not allow', async () => {
    slack.failNext('chat.postMessage', { error: 'not_an_error_slack_documents' });
    await expect(client().chat.postMessage({ channel: CHANNEL, text: 'x' })).rejects.toMatchObject({
      statusCode: 500,
    });
    expect(slack.violations).toEqual([
      expect.stringContaining('chat.postMessage response: /error must be equal to one of the allowed values'),
    ]);
    slack.violations.length = 0;
  });
});
