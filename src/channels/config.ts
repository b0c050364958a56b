// From the `notify:` section of timebox.yaml (schemas/notify.schema.json) and the environment to routes.
// Secrets (the Slack token, the SMTP login, webhook secrets) are read from the environment only; an entry
// whose secret is missing is reported, and the other entries still work.
import { createRequire } from 'node:module';
import type { ConnectionOptions } from 'node:tls';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import type { Clock } from '../core/clock.js';
import { EmailChannel, SMTP_FROM_ENV, SMTP_URL_ENV } from './email.js';
import type { NotifyEvent } from './message.js';
import { type ChannelLogger, ChannelRouter, type ChannelRouterOptions, type Route } from './router.js';
import { SLACK_TOKEN_ENV, SlackChannel } from './slack.js';
import { WEBHOOK_SECRET_ENV, WebhookChannel } from './webhook.js';

/** Points the Slack client elsewhere (the demo's and tests' Slack double); unset in production. */
export const SLACK_API_URL_ENV = 'TIMEBOX_SLACK_API_URL';

interface Common {
  resources?: string[];
  events?: NotifyEvent[];
}
export type NotifyEntry =
  | (Common & { channel: 'slack'; to: string; users?: Record<string, string> })
  | (Common & { channel: 'email'; to: string | string[]; from?: string })
  | (Common & { channel: 'webhook'; to: string; secret_env?: string });

const require = createRequire(import.meta.url);
// src/channels and dist/channels are both two levels below the package root.
export const notifySchema: Record<string, unknown> = require('../../schemas/notify.schema.json');

let validate: ReturnType<Ajv['compile']> | undefined;

/** Checks `raw` against the schema; errors are `/0/to must match pattern …` lines. */
export function parseNotify(raw: unknown): { entries: NotifyEntry[]; errors: string[] } {
  if (raw === undefined || raw === null) return { entries: [], errors: [] };
  if (!validate) {
    const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false });
    addFormats.default(ajv);
    validate = ajv.compile(notifySchema);
  }
  if (validate(raw)) return { entries: raw as NotifyEntry[], errors: [] };
  const errors = (validate.errors ?? [])
    .filter((e) => e.keyword !== 'if')
    .map((e) => `notify${e.instancePath} ${e.message ?? 'is invalid'}`);
  return { entries: [], errors: [...new Set(errors)] };
}

export interface BuildOptions {
  env: Record<string, string | undefined>;
  /** TLS settings for SMTP (tests pin their CA). */
  smtpTls?: ConnectionOptions;
}

/** One route per entry; entries that cannot work (a missing secret) are left out and explained in `errors`. */
export function buildRoutes(
  entries: NotifyEntry[],
  options: BuildOptions,
): { routes: Route[]; errors: string[] } {
  const { env } = options;
  const routes: Route[] = [];
  const errors: string[] = [];
  entries.forEach((entry, i) => {
    const where = `notify[${i}] (${entry.channel})`;
    const filters = {
      ...(entry.resources ? { resources: entry.resources } : {}),
      ...(entry.events ? { events: entry.events } : {}),
    };
    try {
      if (entry.channel === 'slack') {
        const token = env[SLACK_TOKEN_ENV];
        if (!token) throw new Error(`${SLACK_TOKEN_ENV} is not set`);
        const slackApiUrl = env[SLACK_API_URL_ENV];
        routes.push({
          channel: new SlackChannel({
            channel: entry.to,
            token,
            ...(entry.users ? { users: entry.users } : {}),
            ...(slackApiUrl ? { slackApiUrl } : {}),
          }),
          ...filters,
        });
      } else if (entry.channel === 'email') {
        const url = env[SMTP_URL_ENV];
        if (!url) throw new Error(`${SMTP_URL_ENV} is not set`);
        const from = entry.from ?? env[SMTP_FROM_ENV];
        if (!from) throw new Error(`no sender: set \`from:\` or ${SMTP_FROM_ENV}`);
        const to = typeof entry.to === 'string' ? [entry.to] : entry.to;
        routes.push({
          channel: new EmailChannel({ to, from, url, ...(options.smtpTls ? { tls: options.smtpTls } : {}) }),
          ...filters,
        });
      } else {
        const name = entry.secret_env ?? WEBHOOK_SECRET_ENV;
        const secret = env[name];
        if (!secret) throw new Error(`${name} is not set`);
        routes.push({ channel: new WebhookChannel({ url: entry.to, secret }), ...filters });
      }
    } catch (error) {
      errors.push(`${where}: ${error instanceof Error ? error.message : String(error)}`);
    }
  });
  return { routes, errors };
}

/**
 * The router for a `notify:` section: the entry point's one call. Problems are returned (and logged) but
 * never thrown: a misconfigured channel must not stop grants and revocations.
 */
export function createChannelRouter(
  notify: unknown,
  options: BuildOptions & { clock: Clock; logger: ChannelLogger } & Partial<
      Omit<ChannelRouterOptions, 'routes'>
    >,
): { router: ChannelRouter; errors: string[] } {
  const { env, smtpTls, ...rest } = options;
  const parsed = parseNotify(notify);
  const built = buildRoutes(parsed.entries, { env, ...(smtpTls ? { smtpTls } : {}) });
  const errors = [...parsed.errors, ...built.errors];
  for (const error of errors) options.logger.error({ error }, 'notification channel not configured');
  return { router: new ChannelRouter({ ...rest, routes: built.routes }), errors };
}
