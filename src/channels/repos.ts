// The channels of `timebox serve`: every repository's notices go where that repository's timebox.yaml
// `notify:` says, with the secrets of the server's environment. One notifier is registered in the engine's
// list; `forRepo` (src/engine/notices/notifier.ts) hands it each repository's forge, and it keeps per
// repository the `notify:` it last read, the router built from it and what was already sent.
//
// Nothing here makes the engine wait: `notify` queues the notice and returns; reading timebox.yaml and
// dispatching happen after, one notice at a time per repository (so `opened` is dispatched before `approved`).
import type { ConnectionOptions } from 'node:tls';
import type { Clock } from '../core/clock.js';
import { loadYaml } from '../core/yaml-loader.js';
import type { Forge } from '../engine/forge.js';
import type { Notice } from '../engine/notices/notice.js';
import type { Notifier } from '../engine/notices/notifier.js';
import { createChannelRouter } from './config.js';
import {
  type NoticeContext,
  RequestMemory,
  type RequestRef,
  SentEvents,
  toChannelMessages,
  unresolvedFile,
} from './notices.js';
import type { ChannelLogger, ChannelRouter, ChannelRouterOptions } from './router.js';
import { describe } from './router.js';

const CONFIG_FILE = 'timebox.yaml';

export interface RepoChannelsOptions {
  /** Where the secrets come from (TIMEBOX_SLACK_TOKEN, TIMEBOX_SMTP_URL, webhook secrets…). */
  env: Record<string, string | undefined>;
  clock: Clock;
  logger: ChannelLogger;
  /** TLS settings for SMTP (tests pin their CA). */
  smtpTls?: ConnectionOptions;
  /** The forge's web address, for links in messages. Default https://github.com. */
  webUrl?: string;
  /** How long a repository's `notify:` is used before timebox.yaml is looked at again. Default 1 minute. */
  configTtlMs?: number;
  /** Retries, timeouts and queue sizes of every router (src/channels/router.ts). */
  router?: Partial<Omit<ChannelRouterOptions, 'routes' | 'clock' | 'logger'>>;
}

interface RepoState {
  /** The branch timebox.yaml is read from: the base of the request pull requests (the default branch). */
  ref?: string;
  /** The blob of timebox.yaml the router was built from (null: no file), and when it was looked up. */
  blob?: string | null;
  checkedAt: number;
  router?: ChannelRouter;
  sent: SentEvents;
  /** The request each file was last seen as. */
  requests: RequestMemory;
  /** The notices of this repository, handled one after the other. */
  chain: Promise<void>;
  /** Notices queued or being handled. */
  pending: number;
}

export class RepoChannels implements Notifier {
  readonly name = 'channels';
  readonly #o: RepoChannelsOptions;
  readonly #repos = new Map<string, RepoState>();
  /** Routers replaced by a changed `notify:`, still draining. */
  readonly #retired = new Set<ChannelRouter>();
  #closed = false;

  constructor(options: RepoChannelsOptions) {
    this.#o = options;
  }

  /** Without a repository there is no `notify:` to route by: nothing is sent. */
  async notify(): Promise<undefined> {
    return undefined;
  }

  forRepo(forge: Forge): Notifier {
    return {
      name: this.name,
      notify: async (notice) => {
        this.#queue(forge, notice);
        return undefined;
      },
    };
  }

  /** Resolves when every queued notice is dispatched and every router has drained (tests). */
  async idle(): Promise<void> {
    for (;;) {
      const states = [...this.#repos.values()];
      await Promise.all(states.map((s) => s.chain));
      await Promise.all([
        ...states.map((s) => s.router?.drain()),
        ...[...this.#retired].map((r) => r.drain()),
      ]);
      if (states.every((s) => s.pending === 0)) return;
    }
  }

  /**
   * Stops taking notices and drains every router for at most `withinMs` (a channel that is down would
   * otherwise hold a shutdown for its whole backoff); what is still queued then is logged and dropped.
   */
  async close(withinMs = 10_000): Promise<void> {
    this.#closed = true;
    const states = [...this.#repos.values()];
    const closing = Promise.all(states.map((s) => s.chain)).then(() =>
      Promise.all([...states.map((s) => s.router?.close()), ...[...this.#retired].map((r) => r.close())]),
    );
    let timedOut = false;
    await new Promise<void>((resolve) => {
      const timer = this.#o.clock
        .after(withinMs, () => {
          timedOut = true;
          resolve();
        })
        .unref();
      void closing.then(() => {
        timer.cancel();
        resolve();
      });
    });
    if (timedOut) this.#o.logger.warn({ withinMs }, 'notifications still queued at shutdown were dropped');
  }

  #queue(forge: Forge, notice: Notice): void {
    const ctx: NoticeContext = { repo: fullName(forge), ...this.#webUrl() };
    if (this.#closed || toChannelMessages(notice, ctx).length === 0) return;
    const state = this.#state(forge);
    state.requests.learn(notice, ctx);
    state.pending++;
    state.chain = state.chain
      .then(async () => {
        const router = await this.#router(forge, state, notice);
        if (!router) return;
        const file = unresolvedFile(notice);
        const read =
          file === undefined || state.requests.get(file)
            ? undefined
            : await this.#readRequest(forge, state, notice, file);
        const request = (f: string) => (f === file && read ? read : state.requests.get(f));
        for (const m of toChannelMessages(notice, { ...ctx, request }))
          if (state.sent.fresh(m)) router.dispatch(m);
      })
      .catch((error: unknown) =>
        this.#o.logger.error(
          { repo: fullName(forge), notice: notice.kind, error: describe(error) },
          'notification not routed',
        ),
      )
      .finally(() => {
        state.pending--;
      });
  }

  #state(forge: Forge): RepoState {
    const key = fullName(forge);
    let state = this.#repos.get(key);
    if (!state) {
      state = {
        checkedAt: Number.NEGATIVE_INFINITY,
        sent: new SentEvents(),
        requests: new RequestMemory(),
        chain: Promise.resolve(),
        pending: 0,
      };
      this.#repos.set(key, state);
    }
    return state;
  }

  /**
   * The request `file` was, read from the forge when this process has not seen it (a restart): for a revert, at
   * the revert pull request's base (where the file still was); otherwise on the default branch. Its request
   * pull request is not known then, so Slack posts a new message rather than editing the old one.
   */
  async #readRequest(
    forge: Forge,
    state: RepoState,
    notice: Notice,
    file: string,
  ): Promise<RequestRef | undefined> {
    try {
      const ref = notice.kind === 'reverted' ? (await forge.pull(notice.pull)).base.sha : state.ref;
      if (!ref) return undefined;
      const blob = await forge.blobAt(file, ref);
      if (blob === null) return undefined;
      const loaded = loadYaml(await forge.readBlob(blob, file), { scalars: 'strings' });
      const v = loaded.value as Record<string, unknown> | null;
      const str = (k: string) => (v && typeof v === 'object' && typeof v[k] === 'string' ? v[k] : '');
      if (!str('resource')) return undefined;
      const found: RequestRef = {
        key: `${fullName(forge)}:${file}`,
        resource: str('resource'),
        requester: str('requester'),
        role: str('role'),
      };
      state.requests.set(file, found);
      return found;
    } catch (error) {
      this.#o.logger.warn(
        { repo: fullName(forge), file, error: describe(error) },
        'cannot read the request a notice is about; routed without its resource',
      );
      return undefined;
    }
  }

  /** The repository's router, rebuilt when its timebox.yaml changed (looked at once per `configTtlMs`). */
  async #router(forge: Forge, state: RepoState, notice: Notice): Promise<ChannelRouter | undefined> {
    const now = this.#o.clock.nowMs();
    if (state.blob !== undefined && now - state.checkedAt < (this.#o.configTtlMs ?? 60_000))
      return state.router;
    if (!state.ref) {
      const pull = 'pull' in notice && typeof notice.pull === 'number' ? notice.pull : undefined;
      if (pull === undefined) return state.router;
      state.ref = (await forge.pull(pull)).base.ref;
    }
    const blob = await forge.blobAt(CONFIG_FILE, state.ref);
    state.checkedAt = now;
    if (blob === state.blob) return state.router;
    const text = blob === null ? null : await forge.readBlob(blob, CONFIG_FILE);
    const notify = text === null ? undefined : notifySection(text);
    const { router, errors } = createChannelRouter(notify, {
      ...this.#o.router,
      env: this.#o.env,
      clock: this.#o.clock,
      logger: this.#o.logger,
      ...(this.#o.smtpTls ? { smtpTls: this.#o.smtpTls } : {}),
    });
    if (errors.length > 0)
      this.#o.logger.warn(
        { repo: fullName(forge), errors },
        `some notify: entries of ${fullName(forge)} are not used`,
      );
    const old = state.router;
    if (old) {
      this.#retired.add(old);
      void old.close().finally(() => this.#retired.delete(old));
    }
    state.blob = blob;
    state.router = router;
    return router;
  }

  #webUrl(): { webUrl?: string } {
    return this.#o.webUrl ? { webUrl: this.#o.webUrl } : {};
  }
}

/** The raw `notify:` of a timebox.yaml (checked by parseNotify when the router is built), or undefined. */
export function notifySection(text: string): unknown {
  const loaded = loadYaml(text, { scalars: 'core' });
  if (loaded.errors.length > 0) throw new Error(`${CONFIG_FILE}: ${loaded.errors[0]?.message ?? 'not YAML'}`);
  const value = loaded.value;
  return value && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>).notify
    : undefined;
}

const fullName = (forge: Forge): string => `${forge.repo.owner}/${forge.repo.repo}`;
