// Trailers count only in commits Timebox made (docs/audit.md, "What the record trusts"): real git histories
// where a person writes Timebox's trailers into their own commits (a squash merge, a merge from the web UI,
// a pushed commit made to look like Timebox's) — none is believed, each is noted by commit — while
// Timebox's own merge (authored by its bot, two parents, signed with the web-flow key) still counts.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { buildLedger, type Ledger } from '../../src/core/ledger.js';
import { type Config, DEFAULT_CONFIG } from '../../src/core/model.js';
import { createWebFlowKey, type WebFlowKey } from '../../src/forge/web-flow.js';
import { readHistory } from '../../src/repo/history.js';
import { gitAt, type Person } from '../helpers/git-at.js';
import { run, tempDir, write } from '../helpers/repo.js';
import { signHead, TIMEBOX_BOT, TRUSTING, WEB_FLOW_KEYS, writeTrust } from '../helpers/trust.js';

const ALICE: Person = { name: 'alice', email: 'alice@example.com' };
const GITHUB: Person = { name: 'GitHub', email: 'noreply@github.com' };

// GitHub commits what it merges; a person's push may claim it too.
const gitAs = (dir: string, author: Person, when: string, ...args: string[]) =>
  gitAt(dir, { when, author, committer: GITHUB }, ...args);

const hasGpg = spawnSync('gpg', ['--version']).status === 0;

/** A web-flow key kept by gpg (in a home of its own), and its revocation: the public key with gpg's
 * revocation certificate imported. */
function gpgWebFlow(): WebFlowKey & { revoke(): string } {
  const home = tempDir();
  const gpg = (args: string[], input?: string | Buffer) =>
    execFileSync(
      'gpg',
      ['--batch', '--homedir', home, '--pinentry-mode', 'loopback', '--passphrase', '', ...args],
      {
        ...(input === undefined ? { stdio: ['ignore', 'pipe', 'pipe'] } : { input }),
        encoding: 'utf8',
      },
    );
  gpg(['--quick-gen-key', 'GitHub <noreply@github.com>', 'ed25519', 'sign', 'never']);
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(gpg(['--with-colons', '--list-keys']))?.[1] as string;
  onTestFinished(() => {
    spawnSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']);
  });
  return {
    fingerprint,
    publicKey: gpg(['--armor', '--export', fingerprint]),
    sign: async (data) => gpg(['--armor', '--detach-sign', '--local-user', fingerprint], data),
    revoke: () => {
      const cert = readFileSync(join(home, 'openpgp-revocs.d', `${fingerprint}.rev`), 'utf8');
      gpg(['--import'], cert.replace(/^:-----BEGIN/m, '-----BEGIN'));
      return gpg(['--armor', '--export', fingerprint]);
    },
  };
}

const request = (requester: string) =>
  `requester: ${requester}\nresource: orders-db\nrole: read-only\nduration: 2h\nreason: Reproduce BUG-1234\n`;

function repo(): string {
  const dir = tempDir();
  gitAs(dir, ALICE, '2026-01-01T00:00:00Z', 'init', '-q', '-b', 'main');
  write(dir, 'README.md', '# access\n');
  gitAs(dir, ALICE, '2026-01-01T00:00:00Z', 'add', '-A');
  gitAs(dir, ALICE, '2026-01-01T00:00:00Z', 'commit', '-q', '-m', 'init');
  return dir;
}

function stage(dir: string, files: Record<string, string | null>): void {
  for (const [path, text] of Object.entries(files)) {
    if (text === null) execFileSync('git', ['rm', '-q', path], { cwd: dir });
    else write(dir, path, text);
  }
  execFileSync('git', ['add', '-A'], { cwd: dir });
}

interface Made {
  /** Who GitHub writes as the author. */
  author: Person;
  /** `merge`: a two-parent merge commit; `squash`: one commit on main (squash, rebase, or a push). */
  shape: 'merge' | 'squash';
  /** Who signed it: GitHub's web-flow key, another key, none; `tampered`: signed, then changed. */
  signed: 'web-flow' | 'other-key' | 'none' | 'tampered';
}

/** Lands `files` on main at `when` with `message`, made as `how` describes. Returns the commit on main. */
async function land(
  dir: string,
  when: string,
  files: Record<string, string | null>,
  message: string,
  how: Made,
): Promise<string> {
  if (how.shape === 'merge') {
    gitAs(dir, ALICE, when, 'switch', '-q', '-c', `pr-${Math.random().toString(36).slice(2)}`);
    stage(dir, files);
    gitAs(dir, ALICE, when, 'commit', '-q', '-m', 'request');
    gitAs(dir, how.author, when, 'switch', '-q', 'main');
    gitAs(dir, how.author, when, 'merge', '-q', '--no-ff', '-', '-m', message);
  } else {
    stage(dir, files);
    gitAs(dir, how.author, when, 'commit', '-q', '-m', message);
  }
  const other: WebFlowKey = await createWebFlowKey(new Date('2017-08-16T00:00:00Z'));
  if (how.signed === 'web-flow' || how.signed === 'tampered') await signHead(dir);
  if (how.signed === 'other-key') await signHead(dir, other);
  if (how.signed === 'tampered') {
    // The signed object with its message changed: what someone gets by editing a signed commit by hand.
    const sha = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: dir, encoding: 'utf8' }).trim();
    const raw = execFileSync('git', ['cat-file', 'commit', sha], { cwd: dir }).toString('latin1');
    const changed = Buffer.from(
      raw.replace('Timebox-Approved-By: dave', 'Timebox-Approved-By: carol'),
      'latin1',
    );
    const forged = execFileSync('git', ['hash-object', '-t', 'commit', '-w', '--stdin'], {
      cwd: dir,
      input: changed,
      encoding: 'utf8',
    }).trim();
    execFileSync('git', ['update-ref', 'HEAD', forged, sha], { cwd: dir });
  }
  return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: dir, encoding: 'utf8' }).trim();
}

const TIMEBOX: Made = { author: TIMEBOX_BOT, shape: 'merge', signed: 'web-flow' };

async function ledgerOf(dir: string, now: string, config: Config = TRUSTING): Promise<Ledger> {
  return buildLedger(
    await readHistory(dir, 'HEAD', 'requests', undefined, WEB_FLOW_KEYS),
    config,
    new Date(now),
  );
}

const FILE = 'requests/mallory/prod.yaml';
const FORGED = 'Timebox-Requested-By: carol\nTimebox-Approved-By: carol';

describe('Timebox-* trailers in commits Timebox did not make', () => {
  it('a person’s squash merge naming carol as approver is not believed, and is noted; Timebox’s own merge counts', async () => {
    const dir = repo();
    const ours = await land(
      dir,
      '2026-01-05T09:00:00Z',
      { 'requests/alice/a.yaml': request('alice') },
      `Grant read-only on orders-db to alice (#1)\n\nTimebox-Request: requests/alice/a.yaml\nTimebox-Requested-By: alice\nTimebox-Approved-By: dave`,
      TIMEBOX,
    );
    // GitHub signs a squash merge made in the web UI too: the signature alone proves nothing about who.
    const theirs = await land(
      dir,
      '2026-01-05T10:00:00Z',
      { [FILE]: request('mallory') },
      `Add my request (#2)\n\n${FORGED}`,
      { author: { name: 'mallory', email: 'mallory@example.com' }, shape: 'squash', signed: 'web-flow' },
    );
    // mallory removes the file early, claiming the removal was Timebox's revert at expiry.
    const removal = await land(
      dir,
      '2026-01-05T10:30:00Z',
      { [FILE]: null },
      'Done (#3)\n\nTimebox-Revocation-Reason: expired\nTimebox-Activity: 0 statements',
      { author: { name: 'mallory', email: 'mallory@example.com' }, shape: 'squash', signed: 'web-flow' },
    );
    const l = await ledgerOf(dir, '2026-01-05T11:00:00Z');

    const mine = l.grants.find((g) => g.file === FILE);
    expect(mine?.approvers).toEqual([]);
    expect(mine?.requested_by).toBe('mallory');
    expect(mine?.revocation_reason).toBe('request file removed before expiry');
    expect(mine?.activity).toBeUndefined();
    const events = l.events.filter((e) => e.file === FILE);
    expect(events.some((e) => e.actor === 'carol')).toBe(false);
    expect(events.find((e) => e.type === 'approved')).toMatchObject({
      actor: null,
      reason: 'unknown: Timebox-Approved-By in a commit Timebox did not make was ignored',
    });
    expect(events.find((e) => e.type === 'revoked')?.reason).toBe('request file removed before expiry');
    expect(l.notes).toContainEqual({
      commit: theirs,
      message: expect.stringMatching(
        /^Timebox-Requested-By, Timebox-Approved-By in a commit Timebox did not make: ignored \(authored by mallory <mallory@example\.com>; not a merge commit\)$/,
      ),
    });
    expect(l.notes).toContainEqual({
      commit: removal,
      message: expect.stringContaining(
        'Timebox-Revocation-Reason, Timebox-Activity in a commit Timebox did not make',
      ),
    });

    // Timebox's merge: believed, and not noted.
    expect(l.grants.find((g) => g.file === 'requests/alice/a.yaml')?.approvers).toEqual(['dave']);
    expect(l.events).toContainEqual(
      expect.objectContaining({ type: 'approved', actor: 'dave', commit: ours }),
    );
    expect(l.notes.some((n) => n.commit === ours)).toBe(false);
  });

  // Each way of faking one of the three facts, with the other two genuine.
  const cases: [string, Made][] = [
    ['unsigned (pushed, not made by GitHub)', { ...TIMEBOX, signed: 'none' }],
    ['signed by a key that is not GitHub’s', { ...TIMEBOX, signed: 'other-key' }],
    ['signed by GitHub, then changed', { ...TIMEBOX, signed: 'tampered' }],
    ['one parent (a person squash-merged or rebased Timebox’s PR)', { ...TIMEBOX, shape: 'squash' }],
    ['merged by a person in the web UI', { ...TIMEBOX, author: ALICE }],
    [
      'an author named timebox[bot] with another address',
      { ...TIMEBOX, author: { ...ALICE, name: 'timebox[bot]' } },
    ],
    [
      'timebox[bot] at another domain',
      { ...TIMEBOX, author: { name: 'x', email: 'timebox[bot]@evil.example' } },
    ],
    [
      'a look-alike no-reply address',
      { ...TIMEBOX, author: { name: 'x', email: '1001+timebox[bot]@users.noreply.github.com.evil.example' } },
    ],
    [
      'another bot',
      { ...TIMEBOX, author: { name: 'x', email: '49699333+dependabot[bot]@users.noreply.github.com' } },
    ],
  ];
  for (const [name, how] of cases) {
    it(`not believed: ${name}`, async () => {
      const dir = repo();
      const sha = await land(
        dir,
        '2026-01-05T10:00:00Z',
        { [FILE]: request('mallory') },
        'Merge pull request #2\n\nTimebox-Approved-By: dave',
        how,
      );
      const l = await ledgerOf(dir, '2026-01-05T11:00:00Z');
      expect(l.grants[0]?.approvers).toEqual([]);
      expect(l.events.filter((e) => e.type === 'approved').map((e) => e.actor)).toEqual([null]);
      expect(l.notes).toContainEqual({
        commit: sha,
        message: expect.stringContaining('Timebox-Approved-By in a commit Timebox did not make: ignored'),
      });
    });
  }

  it('without audit settings no commit is Timebox’s, not even its real merges: one note says so', async () => {
    const dir = repo();
    const first = await land(
      dir,
      '2026-01-05T10:00:00Z',
      { [FILE]: request('mallory') },
      'Merge\n\nTimebox-Approved-By: dave',
      TIMEBOX,
    );
    await land(
      dir,
      '2026-01-05T10:30:00Z',
      { 'requests/alice/a.yaml': request('alice') },
      'Merge\n\nTimebox-Approved-By: dave',
      TIMEBOX,
    );
    const genuine = await ledgerOf(dir, '2026-01-05T11:00:00Z');
    expect(genuine.grants.map((g) => g.approvers)).toEqual([['dave'], ['dave']]);
    const noKeys: Config = { ...DEFAULT_CONFIG, audit: { timebox: ['timebox[bot]'] } };
    for (const [config, unset] of [
      [DEFAULT_CONFIG, 'audit.timebox'],
      [noKeys, 'audit.signing_keys'],
    ] as const) {
      const l = await ledgerOf(dir, '2026-01-05T11:00:00Z', config);
      expect(l.grants.map((g) => g.approvers)).toEqual([[], []]);
      expect(l.events.filter((e) => e.type === 'approved').map((e) => e.actor)).toEqual([null, null]);
      // One note for every such commit (a history of thousands of merges gets one line, not thousands).
      expect(l.notes).toEqual([
        {
          commit: first,
          message: `Timebox-* trailers ignored in 2 commits (this one and later): timebox.yaml sets no ${unset}, so no commit is known to be Timebox's (docs/audit.md)`,
        },
      ]);
    }
  });
});

describe('timebox audit from a clone', () => {
  it('reads audit.timebox and audit.signing_keys from timebox.yaml; forged trailers appear only as a note', async () => {
    const dir = repo();
    writeTrust(dir);
    gitAs(dir, ALICE, '2026-01-01T00:00:00Z', 'add', '-A');
    gitAs(dir, ALICE, '2026-01-01T00:00:00Z', 'commit', '-q', '-m', 'trust');
    await land(
      dir,
      '2026-01-05T09:00:00Z',
      { 'requests/alice/a.yaml': request('alice') },
      'Merge\n\nTimebox-Approved-By: dave',
      TIMEBOX,
    );
    const theirs = await land(
      dir,
      '2026-01-05T10:00:00Z',
      { [FILE]: request('mallory') },
      `Mine (#2)\n\n${FORGED}`,
      {
        author: { name: 'mallory', email: 'mallory@example.com' },
        shape: 'squash',
        signed: 'web-flow',
      },
    );
    const out = await run(['audit', '--no-cache'], { cwd: dir });
    expect(out.code, out.stderr).toBe(0);
    const audit = JSON.parse(out.stdout) as {
      events: { type: string; file: string; actor: string | null }[];
      notes: { commit: string; message: string }[];
    };
    expect(audit.events.filter((e) => e.type === 'approved').map((e) => [e.file, e.actor])).toEqual([
      ['requests/alice/a.yaml', 'dave'],
      [FILE, null],
    ]);
    expect(audit.notes).toEqual([
      {
        commit: theirs,
        message: expect.stringContaining('Timebox-Approved-By in a commit Timebox did not make'),
      },
    ]);
    expect(out.stderr).toContain(`note: ${theirs.slice(0, 12)}: Timebox-Requested-By, Timebox-Approved-By`);
    // The cached fold answers the same; a different key set is not answered from it.
    expect((await run(['audit'], { cwd: dir })).stdout).toBe((await run(['audit'], { cwd: dir })).stdout);
    write(dir, '.github/web-flow.gpg', (await createWebFlowKey(new Date('2017-08-16T00:00:00Z'))).publicKey);
    const rekeyed = JSON.parse((await run(['audit'], { cwd: dir })).stdout) as typeof audit;
    expect(rekeyed.events.filter((e) => e.type === 'approved').map((e) => e.actor)).toEqual([null, null]);
  });

  it.skipIf(!hasGpg)(
    'a key file that now carries the key’s revocation is not answered from the caches',
    async () => {
      const key = gpgWebFlow();
      const dir = repo();
      writeTrust(dir, '', key);
      gitAs(dir, ALICE, '2026-01-01T00:00:00Z', 'add', '-A');
      gitAs(dir, ALICE, '2026-01-01T00:00:00Z', 'commit', '-q', '-m', 'trust');
      await land(
        dir,
        '2026-01-05T09:00:00Z',
        { 'requests/alice/a.yaml': request('alice') },
        'Merge\n\nTimebox-Approved-By: dave',
        { ...TIMEBOX, signed: 'none' },
      );
      await signHead(dir, key);
      const actors = async () =>
        (
          JSON.parse((await run(['audit'], { cwd: dir })).stdout) as {
            events: { type: string; actor: string }[];
          }
        ).events
          .filter((e) => e.type === 'approved')
          .map((e) => e.actor);
      expect(await actors()).toEqual(['dave']);
      expect(await actors()).toEqual(['dave']);
      // The same key (same fingerprint), now revoked: its signatures no longer make a commit Timebox's.
      write(dir, '.github/web-flow.gpg', key.revoke());
      expect(await actors()).toEqual([null]);
    },
  );

  it('a signing key file that is missing or not a key is a configuration error', async () => {
    const dir = repo();
    write(dir, 'timebox.yaml', 'audit:\n  timebox: ["timebox[bot]"]\n  signing_keys: [keys/web-flow.gpg]\n');
    const missing = await run(['audit'], { cwd: dir });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('keys/web-flow.gpg does not exist');
    write(dir, 'keys/web-flow.gpg', 'not a key\n');
    const wrong = await run(['status'], { cwd: dir });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('not an OpenPGP public key');
  });
});
