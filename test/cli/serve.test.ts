// `timebox serve` configuration: every required variable is named when missing, and bad values are
// refused with the cause before anything listens.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SERVE_ENV_HELP, serveOptionsFromEnv } from '../../src/cli/serve.js';
import { run, tempDir, write } from '../helpers/repo.js';

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PEM = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
const GOOD = { APP_ID: '123', PRIVATE_KEY: PEM, WEBHOOK_SECRET: 's3cret' };

describe('timebox serve configuration', () => {
  it('names every missing variable, and exits 2 without listening', async () => {
    const r = await run(['serve'], { cwd: tempDir(), env: {} });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('APP_ID, PRIVATE_KEY (or PRIVATE_KEY_PATH), WEBHOOK_SECRET');
  });

  it('never runs without a webhook secret (Probot would default to "development")', () => {
    expect(() => serveOptionsFromEnv({ APP_ID: '1', PRIVATE_KEY: PEM }, '/')).toThrow(/WEBHOOK_SECRET/);
  });

  it('accepts a key with literal \\n escapes, or from PRIVATE_KEY_PATH', () => {
    const escaped = serveOptionsFromEnv({ ...GOOD, PRIVATE_KEY: PEM.replace(/\n/g, '\\n') }, '/');
    expect(escaped.privateKey).toBe(PEM);
    const dir = tempDir();
    write(dir, 'key.pem', PEM);
    const { PRIVATE_KEY: _, ...rest } = GOOD;
    expect(serveOptionsFromEnv({ ...rest, PRIVATE_KEY_PATH: 'key.pem' }, dir).privateKey).toBe(PEM);
    expect(() => serveOptionsFromEnv({ ...rest, PRIVATE_KEY_PATH: 'nope.pem' }, dir)).toThrow(
      /cannot read PRIVATE_KEY_PATH nope\.pem: ENOENT/,
    );
  });

  it('refuses a key that is not a private key, a non-numeric app id, a bad port or API URL', () => {
    expect(() => serveOptionsFromEnv({ ...GOOD, PRIVATE_KEY: 'hello' }, '/')).toThrow(
      /not a PEM private key/,
    );
    expect(() => serveOptionsFromEnv({ ...GOOD, APP_ID: 'timebox' }, '/')).toThrow(/numeric id/);
    expect(() => serveOptionsFromEnv({ ...GOOD, PORT: '99999' }, '/')).toThrow(/PORT/);
    expect(() => serveOptionsFromEnv({ ...GOOD, GITHUB_API_URL: 'file:///etc' }, '/')).toThrow(
      /GITHUB_API_URL/,
    );
  });

  it('takes the webhook intake limits, and refuses what is not a whole number above 0', () => {
    expect(
      serveOptionsFromEnv(
        { ...GOOD, TIMEBOX_WEBHOOK_MAX_CONCURRENT: '8', TIMEBOX_WEBHOOK_MAX_BYTES: '67108864' },
        '/',
      ).intake,
    ).toEqual({ maxConcurrent: 8, maxBytesInFlight: 67_108_864 });
    expect(serveOptionsFromEnv(GOOD, '/').intake).toBeUndefined();
    for (const bad of ['0', '-1', '1e6', 'lots', '8.5'])
      expect(() => serveOptionsFromEnv({ ...GOOD, TIMEBOX_WEBHOOK_MAX_CONCURRENT: bad }, '/')).toThrow(
        /TIMEBOX_WEBHOOK_MAX_CONCURRENT must be a whole number above 0/,
      );
  });

  it('takes PORT, HOST and GITHUB_API_URL (trailing slash dropped; github.com is the default)', () => {
    const o = serveOptionsFromEnv(
      { ...GOOD, PORT: '8080', HOST: '127.0.0.1', GITHUB_API_URL: 'https://ghe.example.com/api/v3/' },
      '/',
    );
    expect(o).toMatchObject({ port: 8080, host: '127.0.0.1', baseUrl: 'https://ghe.example.com/api/v3' });
    expect(
      serveOptionsFromEnv({ ...GOOD, GITHUB_API_URL: 'https://api.github.com' }, '/').baseUrl,
    ).toBeUndefined();
  });

  it('hands the environment to the notification channels, and names their variables in --help', () => {
    const env = { ...GOOD, TIMEBOX_WEBHOOK_SECRET: 'hook', TIMEBOX_SLACK_TOKEN: 'xoxb-1' };
    expect(serveOptionsFromEnv(env, '/').channels?.env).toBe(env);
    for (const name of [
      'TIMEBOX_SLACK_TOKEN',
      'TIMEBOX_SMTP_URL',
      'TIMEBOX_SMTP_FROM',
      'TIMEBOX_WEBHOOK_SECRET',
    ])
      expect(SERVE_ENV_HELP).toContain(name);
    expect(SERVE_ENV_HELP).toContain('chat:write');
  });
});
