// Sealing to GitHub keys by account, adversarially, against the fake GitHub: the keys of a login are read only
// while it belongs to the account that requested; a rename while they are read, two accounts behind one
// login, or no recorded account all refuse (an identity refusal, not "no keys").
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Octokit } from '@octokit/rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ForgeSealerOptions, forgeSealer } from '../../src/engine/keys.js';
import { FakeGitHub } from '../../src/forge/fake-github.js';
import type { GitHub } from '../../src/github/client.js';
import { githubForge } from '../../src/github/forge.js';
import { tempDir } from '../helpers/repo.js';

let fake: FakeGitHub;

beforeAll(async () => {
  fake = await FakeGitHub.start();
});

afterAll(async () => {
  await fake?.close();
});

function key(comment: string): string {
  const dir = tempDir('timebox-keys-');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', join(dir, 'k')]);
  return readFileSync(join(dir, 'k.pub'), 'utf8').trim();
}

const client = () => new Octokit({ baseUrl: fake.url, auth: fake.token() });
/** The sealer over GitHub as a Forge (keys and accounts are not per repository). */
const githubSealer = (gh: GitHub, opts?: ForgeSealerOptions) =>
  forgeSealer(githubForge(gh, { owner: 'acme', repo: 'access' }), opts);

describe('githubSealer with recorded accounts', () => {
  it("reads the login's keys while it belongs to the recorded account", async () => {
    const k = key('ann');
    fake.setUserKeys('ann', [k]);
    const id = Number(fake.user('ann').id);
    const sealer = githubSealer(client(), { accountsOf: () => [id] });
    expect(await sealer.canSeal('ann')).toBeNull();
    expect(await sealer.publicKeys('ann')).toEqual([k.split(' ').slice(0, 2).join(' ')]);
    expect(sealer.refusedIdentities.size).toBe(0);
  });

  it('refuses a login renamed away and taken by someone else, naming both accounts', async () => {
    fake.setUserKeys('ben', [key('ben')]);
    const id = Number(fake.user('ben').id);
    fake.renameUser('ben', 'ben2');
    fake.setUserKeys('ben', [key('impostor')]);
    const sealer = githubSealer(client(), { accountsOf: () => [id] });
    const refusal = await sealer.canSeal('ben');
    expect(refusal).toMatch(new RegExp(`id ${id}\\) is now @ben2, and @ben belongs to another account`));
    expect(sealer.refusedIdentities.get('ben')).toBe(refusal);
    await expect(sealer.seal('ben', 'secret')).rejects.toThrow(/never sealed to anyone else/);
    await expect(sealer.publicKeys('ben')).rejects.toThrow(/never sealed to anyone else/);
  });

  it('refuses a login renamed while its keys were being read (checked again after)', async () => {
    fake.setUserKeys('cy', [key('cy')]);
    const id = Number(fake.user('cy').id);
    const real = client();
    // Between reading the keys and the check after, cy becomes cy2 and someone claims `cy` with a key.
    const racing: GitHub = {
      paginate: real.paginate,
      request: (async (route: string, params?: Record<string, unknown>) => {
        const out = await real.request(route, params);
        if (route === 'GET /users/{username}/keys') {
          fake.renameUser('cy', 'cy2');
          fake.setUserKeys('cy', [key('impostor')]);
        }
        return out;
      }) as GitHub['request'],
    };
    const sealer = githubSealer(racing, { accountsOf: () => [id] });
    expect(await sealer.canSeal('cy')).toMatch(/is now @cy2, and @cy belongs to another account/);
  });

  it('refuses when two accounts requested under one login, or no account was recorded', async () => {
    fake.setUserKeys('dee', [key('dee')]);
    const id = Number(fake.user('dee').id);
    const both = githubSealer(client(), { accountsOf: () => [id, id + 1] });
    expect(await both.canSeal('dee')).toMatch(/opened by different GitHub accounts/);
    const unknown = githubSealer(client(), { accountsOf: () => [] });
    expect(await unknown.canSeal('dee')).toMatch(/does not know which GitHub account/);
    const ghost = githubSealer(client(), { accountsOf: () => [-1] });
    expect(await ghost.canSeal('dee')).toMatch(/does not know which GitHub account/);
  });

  it('refuses a login that, after the rename, names nobody', async () => {
    fake.setUserKeys('eve', [key('eve')]);
    const id = Number(fake.user('eve').id);
    fake.renameUser('eve', 'eve2');
    expect(await githubSealer(client(), { accountsOf: () => [id] }).canSeal('eve')).toMatch(
      /is now @eve2, and @eve belongs to nobody/,
    );
  });
});
