// The GitHub requests of a pull request's events, counted (never timed): the warm 1-file event (a review
// after the open) must not cost more than it does now (docs/decisions.md, "GitHub API economy").
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { lifecycle } from '../../bench/webhook-api.js';
import { FakeGitHub } from '../../src/forge/fake-github.js';
import { exampleAccessRepo } from '../helpers/serve.js';

const REPO = 'acme/access';
let fake: FakeGitHub;
let pem: string;

beforeAll(async () => {
  fake = await FakeGitHub.start();
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  fake.registerApp({
    id: 1,
    slug: 'timebox',
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    permissions: { checks: 'write', contents: 'read', pull_requests: 'write', members: 'read' },
  });
  await exampleAccessRepo(fake, REPO);
  fake.install(REPO, 1);
  fake.setTeam('@acme/dba', ['dave']);
  fake.setTeam('@acme/sre', ['erin']);
});

afterAll(async () => {
  await fake?.close();
});

it('a review after the open costs 9 requests (2 writes), none of them files, blobs, commits or policies', async () => {
  const request = (n: number) =>
    `requester: alice\nresource: orders-db\nrole: read-only\nduration: 2h\nreason: Reproduce BUG-${1000 + n}\n`;
  const cost = await lifecycle({ fake, privateKey: pem, secret: 's', repo: REPO, request }, 1, 'budget');
  const warm = cost.reviewWarm;
  // pull, reviews, activity, permission, 2 teams (the matching rule's), comments; check run, comment update.
  expect(warm.requests, warm.list.join('\n')).toBeLessThanOrEqual(9);
  expect(warm.writes).toBe(2);
  expect(warm.list.filter((l) => /\/(files|commits|git\/blobs|git\/trees)\b/.test(l))).toEqual([]);
  expect(warm.list.filter((l) => l.includes('/teams/')).length).toBe(2);
  fake.assertClean();
}, 60_000);
