// Small pieces of the demo that are not the story: the throwaway keys, the server's log sink, an admin query.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import type { Clock, Timer } from '../core/clock.js';
import { encodeSshPublicKeyBlob } from '../creds/ssh-keys.js';
import type { JsonObject } from '../forge/fake-github.js';

/** `p`'s value, or `fallback` when it has not settled within `ms` (real) milliseconds. */
export async function within<T>(clock: Clock, ms: number, p: Promise<T>, fallback: T): Promise<T> {
  let timer: Timer | undefined;
  const late = new Promise<T>((resolveLate) => {
    timer = clock.after(ms, () => resolveLate(fallback));
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    timer?.cancel();
  }
}

/** A CA for the example's `ca: prod` when ssh-keygen is there (the ssh provider signs with it). */
export function demoCa(work: string): Record<string, string> {
  const key = join(work, 'ssh-ca');
  try {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'timebox-demo-ca', '-f', key], {
      stdio: 'ignore',
    });
  } catch {
    return {};
  }
  return { TIMEBOX_SSH_PROD_CA_KEY: key, TIMEBOX_SSH_PROD_KRL: join(work, 'ssh-revoked.krl') };
}

/** An ed25519 key pair as GitHub shows it (public line) and as `timebox creds` reads it (PEM). */
export function demoKey(comment: string): { publicLine: string; privatePem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(String(publicKey.export({ format: 'jwk' }).x), 'base64url');
  const blob = encodeSshPublicKeyBlob({ type: 'ssh-ed25519', publicKey: new Uint8Array(raw) });
  return {
    publicLine: `ssh-ed25519 ${Buffer.from(blob).toString('base64')} ${comment}`,
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

export function sinkInto(lines: JsonObject[]): Writable {
  return new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) {
        try {
          lines.push(JSON.parse(line) as JsonObject);
        } catch {
          // not JSON: ignore
        }
      }
      done();
    },
  });
}

export async function adminQuery(
  url: string,
  sql: string,
  params: unknown[],
): Promise<Record<string, unknown>[]> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows;
  } finally {
    await c.end().catch(() => {});
  }
}
