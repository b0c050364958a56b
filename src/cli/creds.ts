// `timebox creds FILE|PR`: open credentials sealed to you (an armored age file, `apply --json` output, or
// the credentials comment Timebox posted on a pull request).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CredsError } from '../creds/errors.js';
import { openWith } from '../creds/seal.js';
import type { ForgeComment, RepoRef } from '../engine/forge.js';
import { CREDENTIALS_PREFIX, ours } from '../engine/notices/markers.js';
import { githubEnv, parseRepoName } from '../github/env.js';
import type { Io } from './context.js';
import { EXIT, UsageError } from './errors.js';

const ARMORED = /-----BEGIN AGE ENCRYPTED FILE-----[\s\S]*?-----END AGE ENCRYPTED FILE-----\n?/g;

/** Every sealed block in the input, with the file it is for when the input is `apply --json` output. */
export function sealedBlocks(text: string): { file: string | null; armored: string }[] {
  try {
    const doc = JSON.parse(text) as { granted?: { file?: string; credentials?: string }[] };
    if (Array.isArray(doc.granted)) {
      return doc.granted
        .filter((g) => typeof g.credentials === 'string')
        .map((g) => ({ file: g.file ?? null, armored: g.credentials as string }));
    }
  } catch {
    // not JSON: look for armored blocks
  }
  return [...text.matchAll(ARMORED)].map((m) => ({ file: null, armored: m[0] }));
}

export async function runCreds(io: Io, input: string, opts: { identity?: string[] }): Promise<number> {
  const pull = pullReference(input);
  const text =
    input === '-'
      ? readFileSync(0, 'utf8')
      : pull && !existsSync(resolve(io.cwd, input))
        ? await fromPullRequest(io, pull)
        : readInput(resolve(io.cwd, input), input);
  const blocks = sealedBlocks(text);
  if (blocks.length === 0)
    throw new UsageError(`${input} holds no sealed credentials (-----BEGIN AGE ENCRYPTED FILE-----)`);
  const home = io.env.HOME ?? homedir();
  const identities = (
    opts.identity?.length
      ? opts.identity.map((p) => resolve(io.cwd, p))
      : ['id_ed25519', 'id_rsa'].map((k) => join(home, '.ssh', k))
  ).filter((p) => existsSync(p));
  if (identities.length === 0)
    throw new UsageError('no SSH private key found: pass --identity ~/.ssh/id_ed25519');
  // age opens an armored age file (what offline `apply` writes), not JSON or a pull request comment around one.
  const plainAge = input !== '-' && !pull && blocks.length === 1 && text.trim() === blocks[0]?.armored.trim();
  let failed = 0;
  for (const [index, block] of blocks.entries()) {
    let opened: string | null = null;
    let identity = '';
    const reasons: string[] = [];
    for (const path of identities) {
      try {
        opened = await openWith(block.armored, readFileSync(path, 'utf8'));
        identity = path;
        break;
      } catch (err) {
        reasons.push(
          err instanceof CredsError && err.code === 'passphrase-protected'
            ? `${path}: ${passphraseAdvice(input, path, plainAge, block.file ? index : null)}`
            : `${path}: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
    if (opened === null) {
      failed++;
      io.stderr(
        `timebox: cannot open the credentials${block.file ? ` for ${block.file}` : ''}:\n  ${reasons.join('\n  ')}\n`,
      );
      continue;
    }
    if (block.file) io.stderr(`# ${block.file}\n`);
    io.stdout(opened.endsWith('\n') ? opened : `${opened}\n`);
    const installed = installCertificate(opened, identity);
    if (installed)
      io.stderr(`installed the SSH certificate as ${installed} (ssh uses it with ${identity})\n`);
  }
  return failed > 0 ? EXIT.failed : EXIT.ok;
}

/**
 * A passphrase-protected key: timebox asks for no passphrase, age does. age reads only an armored age file, so
 * for `apply --json` output or a pull request comment the advice first takes the block out.
 */
function passphraseAdvice(input: string, key: string, plainAge: boolean, jsonIndex: number | null): string {
  const intro =
    'the SSH private key is protected by a passphrase, and timebox does not ask for passphrases; ';
  if (plainAge) return `${intro}age prompts for it: age -d -i ${key} ${input}`;
  if (jsonIndex !== null)
    return `${intro}age prompts for it, given the armored block alone (age cannot read the JSON around it): jq -r '.granted[${jsonIndex}].credentials' ${input} | age -d -i ${key}`;
  return `${intro}age prompts for it, given the armored block alone: save the lines from -----BEGIN AGE ENCRYPTED FILE----- to -----END AGE ENCRYPTED FILE----- to a file and run age -d -i ${key} FILE`;
}

function readInput(path: string, given: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${given}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** `12`, `#12` or a pull request URL; null for anything else (a file name). */
export function pullReference(input: string): { number: number; repo?: RepoRef } | null {
  const n = /^#?(\d{1,9})$/.exec(input);
  if (n) return { number: Number(n[1]) };
  const url = /^https?:\/\/[^/]+\/([^/]+)\/([^/]+)\/pull\/(\d{1,9})(?:[/?#].*)?$/.exec(input);
  if (url) return { number: Number(url[3]), repo: { owner: url[1] as string, repo: url[2] as string } };
  return null;
}

/** Timebox's bot as GitHub names it: TIMEBOX_BOT_LOGIN, else the App's usual name or the Actions bot. */
export function credentialBots(env: NodeJS.ProcessEnv): string[] {
  return env.TIMEBOX_BOT_LOGIN ? [env.TIMEBOX_BOT_LOGIN] : ['timebox[bot]', 'github-actions[bot]'];
}

/**
 * The latest credentials comment Timebox posted on the pull request. Only Timebox's own comments count (the
 * one rule, src/engine/notices/markers.ts): anyone can paste a sealed block into a comment, and credentials
 * that open are not proof of who sent them.
 */
async function fromPullRequest(io: Io, pull: { number: number; repo?: RepoRef }): Promise<string> {
  const env = githubEnv(io.env);
  const token = env.token;
  if (!token)
    throw new UsageError(
      'reading a pull request needs GITHUB_TOKEN or GH_TOKEN in the environment (for example GH_TOKEN=$(gh auth token) timebox creds 12)',
    );
  const repo = pull.repo ?? repoFromEnvOrRemote(io, env.repository);
  const [{ statusOf, tokenClient }, { githubForge }] = await Promise.all([
    import('../github/client.js'),
    import('../github/forge.js'),
  ]);
  let comments: ForgeComment[];
  try {
    comments = await githubForge(tokenClient(token, env.apiUrl), repo).comments(pull.number);
  } catch (err) {
    throw new UsageError(
      `cannot read the comments of ${repo.owner}/${repo.repo}#${pull.number}: ${statusOf(err) ?? ''} ${(err as Error).message}`.trim(),
    );
  }
  const bots = credentialBots(io.env);
  const latest = ours(comments, bots, CREDENTIALS_PREFIX).at(-1);
  if (!latest)
    throw new UsageError(
      `no credentials from Timebox (${bots.join(' or ')}) on ${repo.owner}/${repo.repo}#${pull.number} (yet): it comments once the request is merged and granted; if Timebox's GitHub App has another name, set TIMEBOX_BOT_LOGIN`,
    );
  io.stderr(`credentials posted by ${latest.user?.login} on ${latest.created_at}\n`);
  return latest.body;
}

/** GITHUB_REPOSITORY, else the `origin` remote of the current directory's git repository. */
function repoFromEnvOrRemote(io: Io, fromEnv: string | undefined): RepoRef {
  if (fromEnv) {
    try {
      return parseRepoName(fromEnv);
    } catch (err) {
      throw new UsageError(`GITHUB_REPOSITORY: ${(err as Error).message}`);
    }
  }
  let url = '';
  try {
    url = execFileSync('git', ['remote', 'get-url', 'origin'], { cwd: io.cwd, encoding: 'utf8' }).trim();
  } catch {
    // no repository or no origin: said below
  }
  const m = /[/:]([^/:]+)\/([^/]+?)(?:\.git)?\/?$/.exec(url);
  if (!m)
    throw new UsageError('which repository? set GITHUB_REPOSITORY=owner/name, or pass the pull request URL');
  return { owner: m[1] as string, repo: m[2] as string };
}

/**
 * SSH certificates (the ssh provider's credentials) go beside the key they certify, where ssh looks for
 * them (`~/.ssh/id_ed25519-cert.pub`). The matching one is found by fingerprint; returns its path, or null.
 */
function installCertificate(opened: string, identity: string): string | null {
  const certs = opened.split('\n').filter((l) => /^[a-z0-9-]+-cert-v01@openssh\.com /.test(l));
  if (certs.length === 0 || !identity) return null;
  const fingerprint = (file: string) =>
    execFileSync('ssh-keygen', ['-l', '-f', file], { encoding: 'utf8' }).split(' ')[1] ?? '';
  let want: string;
  try {
    want = fingerprint(identity);
  } catch {
    return null;
  }
  const dir = mkdtempSync(join(tmpdir(), 'timebox-creds-'));
  try {
    for (const cert of certs) {
      writeFileSync(join(dir, 'cert.pub'), `${cert}\n`);
      if (fingerprint(join(dir, 'cert.pub')) !== want) continue;
      const path = `${identity}-cert.pub`;
      writeFileSync(path, `${cert}\n`, { mode: 0o644 });
      return path;
    }
    return null;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
