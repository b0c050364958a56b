// The engine over a second forge and with a second notifier, each registered in one place: the memory forge
// (test/examples/forge-memory) drives real engine flows — a stale request closed, an expired file reverted —
// and the recording notifier (test/examples/notifier-recording) hears every notice the PR comments get.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/core/clock.js';
import { noticesFor } from '../../src/engine/notices/index.js';
import { revertRequest } from '../../src/engine/revert.js';
import { closeStalePulls } from '../../src/engine/stale.js';
import { requestYaml } from '../helpers/github.js';
import { ROOT } from '../helpers/repo.js';
import { MemoryForge } from './forge-memory/index.js';
import { RecordingNotifier } from './notifier-recording/index.js';

const BOT = 'timebox[bot]';
const DAY = 24 * 3_600_000;

function accessRepo(): MemoryForge {
  const forge = new MemoryForge(() => new Date('2026-03-01T12:00:00Z'));
  forge.commit('main', {
    'timebox.yaml': 'pending_ttl: 1d\n',
    'policies/qa.yaml': readFileSync(join(ROOT, 'policies/qa.yaml'), 'utf8'),
  });
  forge.teams.set('@acme/qa', ['alice']);
  forge.teams.set('@acme/qa-leads', ['carol']);
  forge.permissions.set('carol', 'write');
  return forge;
}

describe('a second forge (in memory) and a second notifier', () => {
  it('closes an unapproved request left past pending_ttl, saying why on the PR and to every notifier', async () => {
    const forge = accessRepo();
    forge.commit('b-old', { 'requests/alice/old.yaml': requestYaml('alice') });
    const old = forge.openPull('b-old', 'alice', '2026-03-01T00:00:00Z');
    forge.commit('b-docs', { 'README.md': 'hello\n' });
    const docs = forge.openPull('b-docs', 'alice', '2026-03-01T00:00:00Z');
    const recorder = new RecordingNotifier();

    const r = await closeStalePulls(forge, {
      botLogin: BOT,
      defaultBranch: 'main',
      clock: fixedClock(Date.parse('2026-03-01T00:00:00Z') + 2 * DAY),
      notices: noticesFor(forge, BOT, [recorder]),
    });

    expect(r).toEqual({ closed: [old], kept: 1 });
    expect((await forge.pull(old)).state).toBe('closed');
    expect((await forge.pull(docs)).state).toBe('open');
    expect((await forge.comments(old))[0]?.body).toContain('waited more than 1d without being approved');
    expect(recorder.kinds()).toEqual(['stale-closed']);
    expect(recorder.seen[0]?.text).toBe(`closed #${old}: unapproved for more than 1d`);
  });

  it('removes an expired request file through its own pull request, merged at the commit it made', async () => {
    const forge = accessRepo();
    forge.commit('main', { 'requests/alice/done.yaml': requestYaml('alice') });
    const recorder = new RecordingNotifier();
    const out = await revertRequest(forge, noticesFor(forge, BOT, [recorder]), {
      file: 'requests/alice/done.yaml',
      reason: 'expired',
      defaultBranch: 'main',
      botLogin: BOT,
    });
    expect(out.merged).toBeDefined();
    expect(await forge.blobAt('requests/alice/done.yaml', 'main')).toBeNull();
    expect(recorder.kinds()).toEqual(['reverted']);
    // The revert PR is itself the record on the forge: the reverted notice posts no comment there.
    expect(forge.comments_).toEqual([]);
  });
});
