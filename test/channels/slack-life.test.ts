// A request's whole life in Slack, from the engine's notices through the server's channels (timebox.yaml
// `notify:`, secrets from the environment) to the Slack double: one message, edited in place from opened to
// expired, the requester mentioned through `users:`; alarms also said as a broadcast reply in its thread; after
// a restart, the same message found again through its metadata.
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RepoChannels } from '../../src/channels/repos.js';
import { ManualClock } from '../../src/core/clock.js';
import type { Forge } from '../../src/engine/forge.js';
import { noticesFor } from '../../src/engine/notices/index.js';
import type { Notice } from '../../src/engine/notices/notice.js';
import { SlackDouble } from '../doubles/slack.js';
import { AT, FILE, GRANT, granted as grantedWith, reminder, reverted, summary } from '../helpers/notices.js';
import { RecordingLogger } from './log.js';

const TOKEN = 'xoxb-life-0000-timebox';
const CHANNEL = 'C0ACCESS01';
const SEALED =
  '-----BEGIN AGE ENCRYPTED FILE-----\nYWdlLWVuY3J5cHRpb24ub3JnL3YxCg\n-----END AGE ENCRYPTED FILE-----';

let slack: SlackDouble;
beforeEach(async () => {
  slack = await new SlackDouble({ token: TOKEN, channels: [CHANNEL] }).start();
});
afterEach(async () => {
  expect(slack.violations).toEqual([]);
  await slack.stop();
});

const CONFIG = `notify:\n  - channel: slack\n    to: ${CHANNEL}\n    users: { Alice: U0ALICE001 }\n`;

const REQUEST = 'requester: alice\nresource: prod-db\nrole: read\nduration: 2h\nreason: INC-7 totals\n';

/** Serves timebox.yaml on main and the request file at the base of the revert pull request #57. */
function forge(): Forge {
  const sha = (t: string) => createHash('sha1').update(t).digest('hex');
  const files = new Map([
    ['timebox.yaml@main', CONFIG],
    [`${FILE}@base57`, REQUEST],
  ]);
  const texts = new Map([...files.values()].map((t) => [sha(t), t]));
  return {
    repo: { owner: 'acme', repo: 'access' },
    pull: async (n: number) => ({ number: n, base: { ref: 'main', sha: `base${n}` } }),
    blobAt: async (path: string, ref: string) => {
      const t = files.get(`${path}@${ref}`);
      return t === undefined ? null : sha(t);
    },
    readBlob: async (s: string) => texts.get(s) ?? '',
    // The forge notifier runs first: comments and alarm issues go nowhere here.
    comments: async () => [],
    createComment: async () => 1,
    updateComment: async () => {},
    openIssues: async () => [],
    createIssue: async () => 1,
    closeIssue: async () => {},
  } as unknown as Forge;
}

function server() {
  const log = new RecordingLogger();
  const channels = new RepoChannels({
    env: { TIMEBOX_SLACK_TOKEN: TOKEN, TIMEBOX_SLACK_API_URL: slack.url },
    clock: new ManualClock(AT),
    logger: log,
  });
  const notices = noticesFor(forge(), 'timebox[bot]', [channels]);
  return { channels, log, emit: (n: Notice) => notices.emit(n) };
}

const granted = grantedWith(SEALED);
const expired = reverted;

const topLevel = () => slack.messages(CHANNEL).filter((m) => !m.thread_ts);
const calls = (method: string) => slack.calls.filter((c) => c.method === method);

describe('a request’s life in Slack', () => {
  it('is one message, edited in place from opened to expired, mentioning the requester', async () => {
    const { channels, emit } = server();
    const seen: string[] = [];
    for (const n of [summary('pending'), summary('approved'), granted, reminder, expired]) {
      await emit(n);
      await channels.idle();
      seen.push(topLevel()[0]?.text ?? '');
    }
    expect(seen.map((t) => t.split(':')[0])).toEqual([
      'Access requested',
      'Access approved',
      'Access granted',
      'Access ends soon',
      'Access expired',
    ]);
    const [message] = topLevel();
    expect(slack.messages(CHANNEL)).toHaveLength(1);
    expect(message?.text).toContain('<@U0ALICE001>');
    expect(message?.metadata?.event_payload).toEqual({
      key: `acme/access#42:${FILE}`,
      event: 'expired',
      file_key: `acme/access:${FILE}`,
    });
    // The message posted once is the one every later notice edited.
    expect(calls('chat.postMessage')).toHaveLength(1);
    expect(calls('chat.update').map((c) => c.params.ts)).toEqual(Array(4).fill(message?.ts));
    // Only the first notice looked for a message from before a restart; the rest used the ts in memory.
    expect(calls('conversations.history')).toHaveLength(1);
    expect(JSON.stringify(slack.calls)).not.toContain('AGE ENCRYPTED');
    await channels.close();
  });

  it('says a break-glass and its going unratified in the request’s thread, broadcast to the channel', async () => {
    const { channels, emit } = server();
    const breakGlass: Notice = {
      kind: 'break-glass',
      pull: 42,
      grant: GRANT,
      rule: 'sre-emergency',
      reason: 'INC-9 orders stuck',
      ratifyBy: AT + 4 * 3600_000,
      ratifiers: ['@acme/dba'],
      at: AT,
    };
    const unratified: Notice = {
      kind: 'unratified',
      pull: 42,
      grant: GRANT,
      rule: 'sre-emergency',
      ratifyBy: AT + 4 * 3600_000,
      missing: ['1 of @acme/dba'],
      at: AT + 4 * 3600_000,
    };
    for (const n of [summary('approved'), granted, breakGlass, unratified]) await emit(n);
    await channels.idle();
    const [root, ...replies] = slack.messages(CHANNEL);
    expect(root?.text).toMatch(/^Break-glass access not ratified: alice/);
    expect(replies.map((r) => [r.thread_ts, r.subtype, r.text.split(':')[0]])).toEqual([
      [root?.ts, 'thread_broadcast', 'Break-glass access'],
      [root?.ts, 'thread_broadcast', 'Break-glass access not ratified'],
    ]);
    // Replies carry no metadata, so after a restart the request's message is still the one found.
    expect(replies.every((r) => r.metadata === undefined)).toBe(true);
    await channels.close();
  });

  it('after a restart, finds the request’s message again and edits it', async () => {
    const first = server();
    for (const n of [summary('approved'), granted]) await first.emit(n);
    await first.channels.close();
    const [root] = topLevel();

    // The notice names its request: found by its key.
    const second = server();
    await second.emit(reminder);
    await second.channels.idle();
    expect(slack.messages(CHANNEL)).toHaveLength(1);
    expect(topLevel()[0]).toMatchObject({ ts: root?.ts });
    expect(topLevel()[0]?.text).toMatch(/^Access ends soon: alice → prod-db \(read\)/);
    await second.channels.close();

    // The notice names only the file (as the engine's revert does): the request is read at the revert pull
    // request's base, and the file's newest message is the one edited.
    const third = server();
    await third.emit(expired);
    await third.channels.idle();
    expect(slack.messages(CHANNEL)).toHaveLength(1);
    expect(topLevel()[0]).toMatchObject({ ts: root?.ts });
    expect(topLevel()[0]?.text).toMatch(/^Access expired: alice → prod-db \(read\) \(<@U0ALICE001>\)/);
    await third.channels.close();
  });
});
