// The break-glass and on-call record (docs/decisions.md "Break-glass: the engine side"): the trailers Timebox
// writes on its merge of an emergency request and on the revert that settles its ratification are read back
// by the ledger as `break_glass`, `ratified` (one event per ratifier, at the time recorded) and `unratified`
// events; an on-call step names the schedule and the shift. Written with the real message builders, parsed
// by git's own trailer reader, believed only in commits Timebox made.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { buildLedger, type HistoryCommit } from '../../src/core/ledger.js';
import type { Decision } from '../../src/core/model.js';
import { type CommitMessage, mergeMessage, revertMessage } from '../../src/core/trailers.js';
import { TRUSTING } from '../helpers/trust.js';

const FILE = 'requests/alice/orders.yaml';
const TEXT =
  'requester: alice\nresource: orders-db\nrole: read-only\nduration: 1h\nreason: INC-7 orders stuck\nemergency: true\n';
const MERGED = '2026-03-01T03:00:00Z';
const RATIFY_BY = '2026-03-01T07:00:00Z';

/** The trailers git reads from a message, lower-cased keys → values. */
function trailersOf(m: CommitMessage): Record<string, string[]> {
  const out = execFileSync('git', ['interpret-trailers', '--parse', '--no-divider'], {
    input: `${m.title}\n\n${m.body}`,
    encoding: 'utf8',
  });
  const t: Record<string, string[]> = {};
  for (const line of out.split('\n').filter(Boolean)) {
    const i = line.indexOf(': ');
    const k = line.slice(0, i).toLowerCase();
    t[k] = [...(t[k] ?? []), line.slice(i + 2)];
  }
  return t;
}

let n = 0;
function commit(time: string, m: CommitMessage, change: HistoryCommit['changes'][number], ours = true) {
  n += 1;
  return {
    sha: `${String(n).padStart(4, '0')}${'a'.repeat(36)}`,
    parents: ours ? ['p1', 'p2'] : ['p1'],
    time,
    authoredAt: time,
    author: ours ? 'timebox[bot] <1001+timebox[bot]@users.noreply.github.com>' : 'mallory <m@example.com>',
    committer: 'GitHub <noreply@github.com>',
    subject: m.title,
    trailers: trailersOf(m),
    changes: [change],
    signature: { status: 'valid' as const, signer: 'web-flow' },
  };
}

function emergency(onCall = false): Decision {
  const steps = [{ from: ['@acme/qa-leads'], count: 1, approvers: [], candidates: ['carol'] }];
  const filled = {
    from: ['@acme/sre'],
    count: 1,
    approvers: [],
    candidates: [],
    on_call: 'schedules/primary.yaml',
    filled: {
      reason: 'on_call' as const,
      schedule: 'schedules/primary.yaml',
      login: 'alice',
      layer: 'weekly',
      from: '2026-03-01T00:00:00Z',
      to: '2026-03-08T00:00:00Z',
    },
  };
  const approvals = {
    satisfied: false,
    steps: onCall ? [...steps, filled] : steps,
    codeowners: { owners: [], satisfied: true },
    ignored: [],
  };
  return {
    file: FILE,
    status: 'approved',
    change: 'added',
    request: {
      requester: 'alice',
      resource: 'orders-db',
      role: 'read-only',
      duration: '1h',
      reason: 'INC-7',
      emergency: true,
    } as Decision['request'],
    rule: 'qa-read',
    errors: [],
    reasons: [],
    approvals,
    window: { starts_at: MERGED, expires_at: '2026-03-01T04:00:00Z' },
    break_glass: {
      rule: 'qa-read',
      max_duration: '1h',
      ratify_within: '4h',
      ratify_by: RATIFY_BY,
      ratification: approvals,
    },
  };
}

const merge = (d: Decision, ours = true) =>
  commit(
    MERGED,
    mergeMessage({ pull: 7, author: 'alice', decisions: [d] }),
    { status: 'added', path: FILE, content: TEXT },
    ours,
  );
const glass = { file: FILE, rule: 'qa-read', ratify_by: RATIFY_BY };

describe('break-glass in the ledger', () => {
  it('break_glass at the merge, then ratified by each ratifier at the time recorded on the revert', () => {
    const revert = commit(
      '2026-03-01T06:00:00Z',
      revertMessage({
        file: FILE,
        reason: 'expired',
        pull: 7,
        glass: { ...glass, ratified: { by: ['carol', 'dave'], at: '2026-03-01T05:30:00Z' } },
      }),
      { status: 'removed', path: FILE },
    );
    const ledger = buildLedger([merge(emergency()), revert], TRUSTING, new Date('2026-03-02T00:00:00Z'));
    const events = ledger.events.map((e) => [e.type, e.actor, e.time, e.reason ?? '']);
    expect(events).toContainEqual(['break_glass', 'alice', MERGED, `rule qa-read; ratify by ${RATIFY_BY}`]);
    expect(events.filter((e) => e[0] === 'ratified')).toEqual([
      ['ratified', 'carol', '2026-03-01T05:30:00Z', 'break-glass ratified (rule qa-read)'],
      ['ratified', 'dave', '2026-03-01T05:30:00Z', 'break-glass ratified (rule qa-read)'],
    ]);
    expect(events.some((e) => e[0] === 'unratified' || e[0] === 'approved')).toBe(false);
    expect(ledger.grants[0]?.break_glass?.ratified?.commit).toBe(revert.sha);
  });

  it('unratified at ratify_by, recorded by the revert that revoked it (reason unratified)', () => {
    const revert = commit(
      RATIFY_BY,
      revertMessage({ file: FILE, reason: 'unratified', pull: 7, glass: { ...glass, unratified: true } }),
      { status: 'removed', path: FILE },
    );
    const ledger = buildLedger([merge(emergency()), revert], TRUSTING, new Date('2026-03-02T00:00:00Z'));
    const types = ledger.events.map((e) => e.type);
    expect(types).toEqual(['requested', 'break_glass', 'granted', 'expired', 'unratified', 'revoked']);
    expect(ledger.events.find((e) => e.type === 'unratified')).toMatchObject({
      time: RATIFY_BY,
      actor: null,
      reason: `not ratified by ${RATIFY_BY}`,
      commit: revert.sha,
    });
    expect(ledger.events.find((e) => e.type === 'revoked')?.reason).toBe('unratified');
  });

  it('before the settlement only break_glass shows; a commit Timebox did not make records nothing', () => {
    const open = buildLedger([merge(emergency())], TRUSTING, new Date('2026-03-01T03:30:00Z'));
    expect(open.events.map((e) => e.type)).toEqual(['requested', 'break_glass', 'granted']);
    // A person's squash merge claiming break-glass, and their own "revert" claiming a ratification.
    const forged = commit(
      '2026-03-01T05:00:00Z',
      revertMessage({
        file: FILE,
        reason: 'expired',
        glass: { ...glass, ratified: { by: ['mallory'], at: '2026-03-01T05:00:00Z' } },
      }),
      { status: 'removed', path: FILE },
      false,
    );
    const ledger = buildLedger(
      [merge(emergency(), false), forged],
      TRUSTING,
      new Date('2026-03-02T00:00:00Z'),
    );
    expect(ledger.events.some((e) => ['break_glass', 'ratified', 'unratified'].includes(e.type))).toBe(false);
    expect(ledger.notes.map((x) => x.message).join('\n')).toContain('Timebox-Ratified-By');
  });

  it('an on-call step: the approved event names the schedule and the shift', () => {
    const ledger = buildLedger([merge(emergency(true))], TRUSTING, new Date('2026-03-01T03:30:00Z'));
    expect(ledger.events.find((e) => e.type === 'approved')).toMatchObject({
      actor: 'alice',
      reason:
        'on call in schedules/primary.yaml, shift 2026-03-01T00:00:00Z to 2026-03-08T00:00:00Z (weekly)',
    });
  });
});
