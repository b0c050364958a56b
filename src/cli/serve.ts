// `timebox serve`: the GitHub App. Configuration comes from the environment, as Probot apps do.
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { githubEnv } from '../github/env.js';
import { type ServerOptions, startServer } from '../github/server.js';
import type { Io } from './context.js';
import { EXIT, UsageError } from './errors.js';

export { SERVE_ENV_HELP } from './serve-help.js';

export function serveOptionsFromEnv(env: NodeJS.ProcessEnv, cwd: string): ServerOptions {
  const missing: string[] = [];
  const appId = env.APP_ID?.trim();
  if (!appId) missing.push('APP_ID');
  let privateKey = env.PRIVATE_KEY;
  if (!privateKey && env.PRIVATE_KEY_PATH) {
    try {
      privateKey = readFileSync(resolve(cwd, env.PRIVATE_KEY_PATH), 'utf8');
    } catch (err) {
      throw new UsageError(
        `cannot read PRIVATE_KEY_PATH ${env.PRIVATE_KEY_PATH}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      );
    }
  }
  if (!privateKey) missing.push('PRIVATE_KEY (or PRIVATE_KEY_PATH)');
  const webhookSecret = env.WEBHOOK_SECRET;
  if (!webhookSecret) missing.push('WEBHOOK_SECRET');
  if (missing.length > 0 || !appId || !privateKey || !webhookSecret) {
    throw new UsageError(`timebox serve needs ${missing.join(', ')} in the environment (see --help)`);
  }
  if (!/^\d+$/.test(appId))
    throw new UsageError(`APP_ID must be the App's numeric id, not ${JSON.stringify(appId)}`);
  // Keys pasted into one-line variables often carry literal "\n".
  const pem = privateKey.includes('\\n') ? privateKey.replace(/\\n/g, '\n') : privateKey;
  try {
    createPrivateKey(pem);
  } catch (err) {
    throw new UsageError(`PRIVATE_KEY is not a PEM private key: ${(err as Error).message}`);
  }
  const port = env.PORT ? Number(env.PORT) : 3000;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`PORT must be a port number, not ${JSON.stringify(env.PORT)}`);
  }
  const baseUrl = githubEnv(env).apiUrl?.replace(/\/+$/, '');
  if (baseUrl && !/^https?:\/\/[^\s]+$/.test(baseUrl)) {
    throw new UsageError(`GITHUB_API_URL must be an http(s) URL, not ${JSON.stringify(env.GITHUB_API_URL)}`);
  }
  const server = env.GITHUB_SERVER_URL?.replace(/\/+$/, '');
  if (server && !/^https?:\/\/[^\s]+$/.test(server)) {
    throw new UsageError(
      `GITHUB_SERVER_URL must be an http(s) URL, not ${JSON.stringify(env.GITHUB_SERVER_URL)}`,
    );
  }
  const intake = {
    ...positive(env, 'TIMEBOX_WEBHOOK_MAX_CONCURRENT', 'maxConcurrent'),
    ...positive(env, 'TIMEBOX_WEBHOOK_MAX_BYTES', 'maxBytesInFlight'),
  };
  const databaseUrl = env.TIMEBOX_DATABASE_URL?.trim();
  if (databaseUrl && !/^postgres(?:ql)?:\/\/\S+$/.test(databaseUrl)) {
    throw new UsageError('TIMEBOX_DATABASE_URL must be a postgresql:// URL (docs/deployment.md, "Replicas")');
  }
  return {
    appId,
    privateKey: pem,
    // Replicas: webhooks, revocations, reminders and periodic work as jobs in this database.
    ...(databaseUrl ? { databaseUrl } : {}),
    ...(Object.keys(intake).length > 0 ? { intake } : {}),
    webhookSecret,
    port,
    ...(server ? { gitUrl: server } : {}),
    ...(env.TIMEBOX_STATE_DIR ? { stateDir: resolve(cwd, env.TIMEBOX_STATE_DIR) } : {}),
    ...(env.HOST ? { host: env.HOST } : {}),
    ...(baseUrl && baseUrl !== 'https://api.github.com' ? { baseUrl } : {}),
    // Slack, e-mail and webhook secrets are read from here when a repository's `notify:` names a channel.
    channels: { env },
  };
}

function positive<K extends string>(env: NodeJS.ProcessEnv, name: string, key: K): { [k in K]?: number } {
  const v = env[name];
  if (v === undefined || v === '') return {};
  if (!/^[1-9]\d{0,14}$/.test(v))
    throw new UsageError(`${name} must be a whole number above 0, not ${JSON.stringify(v)}`);
  return { [key]: Number(v) } as { [k in K]?: number };
}

/** Serve until SIGINT/SIGTERM (or `stop` resolves, for tests). */
export async function runServe(io: Io, stop?: Promise<void>): Promise<number> {
  const options = serveOptionsFromEnv(io.env, io.cwd);
  // The App's one clock: the CLI's (the wall clock), passed down to everything the server decides and schedules
  // (the channels' retries too). `close` drains the notifications still queued.
  const server = await startServer({ ...options, clock: io.clock });
  io.stderr(`timebox serve: listening on ${server.url}/api/github/webhooks\n`);
  await new Promise<void>((done) => {
    const finish = () => done();
    process.once('SIGINT', finish);
    process.once('SIGTERM', finish);
    stop?.then(finish);
  });
  await server.close();
  return EXIT.ok;
}
