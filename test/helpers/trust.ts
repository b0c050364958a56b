// Histories with commits Timebox made, built locally as GitHub builds them: a merge commit whose author is
// Timebox's bot and which GitHub signed (here with a web-flow key of the test's own), and the timebox.yaml
// `audit` settings that make the audit believe exactly those (docs/audit.md).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Octokit } from '@octokit/rest';
import { type Config, DEFAULT_CONFIG } from '../../src/core/model.js';
import { FakeGitHub } from '../../src/forge/fake-github.js';
import { createWebFlowKey, type WebFlowKey } from '../../src/forge/web-flow.js';
import { addCommitSignature, type PublicKey, readPublicKeys } from '../../src/repo/openpgp.js';
import { MANIFEST } from './github.js';
import { ROOT, write } from './repo.js';

/** GitHub's "web-flow" for local histories: one key per test process. */
export const WEB_FLOW: WebFlowKey = await createWebFlowKey(new Date('2017-08-16T00:00:00Z'));
export const WEB_FLOW_KEYS: PublicKey[] = await readPublicKeys(WEB_FLOW.publicKey);

/** The identity GitHub writes as the author of the App's merges. */
export const TIMEBOX_BOT = { name: 'timebox[bot]', email: '1001+timebox[bot]@users.noreply.github.com' };

/** The config that trusts `timebox[bot]`'s merges signed by WEB_FLOW. */
export const TRUSTING: Config = {
  ...DEFAULT_CONFIG,
  audit: { timebox: ['timebox[bot]'], signing_keys: ['.github/web-flow.gpg'] },
};

/** timebox.yaml's `audit` block, as the access repo writes it. */
export const AUDIT_YAML = 'audit:\n  timebox: ["timebox[bot]"]\n  signing_keys: [.github/web-flow.gpg]\n';

/** Writes the key file and `audit` settings into a working tree (`extra`: more timebox.yaml). */
export function writeTrust(dir: string, extra = '', key: WebFlowKey = WEB_FLOW): void {
  write(dir, '.github/web-flow.gpg', key.publicKey);
  write(dir, 'timebox.yaml', `${extra}${AUDIT_YAML}`);
}

/** Replaces HEAD with the same commit signed by `key` (as GitHub signs what it commits); returns the sha. */
export async function signHead(dir: string, key: WebFlowKey = WEB_FLOW): Promise<string> {
  const git = (args: string[], input?: Buffer) =>
    execFileSync('git', ['-C', dir, ...args], input ? { input } : {});
  const old = git(['rev-parse', 'HEAD']).toString().trim();
  const raw = git(['cat-file', 'commit', old]);
  const signed = addCommitSignature(raw, await key.sign(raw, new Date()));
  const sha = git(['hash-object', '-t', 'commit', '-w', '--stdin'], signed).toString().trim();
  git(['update-ref', 'HEAD', sha, old]);
  return sha;
}

/**
 * A fake GitHub holding `acme/access` as the audit trusts it (timebox.yaml's `audit`, the fake's web-flow key,
 * the example QA policy) plus `files`, and a client with the App's permissions.
 */
export async function trustingAccessRepo(
  files: Record<string, string> = {},
): Promise<{ fake: FakeGitHub; gh: Octokit }> {
  const fake = await FakeGitHub.start();
  await fake.createRepo('acme/access', {
    author: 'admin',
    files: {
      'timebox.yaml': AUDIT_YAML,
      '.github/web-flow.gpg': fake.webFlowKey,
      'policies/qa.yaml': readFileSync(join(ROOT, 'policies/qa.yaml'), 'utf8'),
      ...files,
    },
  });
  return { fake, gh: new Octokit({ baseUrl: fake.url, auth: fake.token(MANIFEST.default_permissions) }) };
}
