// Who is locked out of break-glass (SPEC "Break-glass"): Timebox's open `timebox-alarm` issue for an unratified
// access locks its requester; closing it releases them only when a code owner of `policies/` closed it (a team
// owner counts through its members); an issue anyone else opened with the same title and label locks nobody.
// Over the example in-memory forge, through the engine's own reader and gatherFacts.
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../src/core/model.js';
import { unratifiedAlarms } from '../../src/engine/break-glass-alarms.js';
import { asksEmergency, gatherFacts } from '../../src/engine/gather.js';
import { ALARM_LABEL } from '../../src/engine/notices/markers.js';
import { unratifiedTitle } from '../../src/engine/notices/render.js';
import { MemoryForge } from '../examples/forge-memory/index.js';

function forgeWithOwners(): MemoryForge {
  const forge = new MemoryForge();
  forge.commit('main', {
    'policies/qa.yaml': 'resources: []\n',
    '.github/CODEOWNERS': '/policies/ @acme/security @dana\n',
  });
  forge.teams.set('@acme/security', ['sec-sam']);
  return forge;
}

async function alarm(forge: MemoryForge, login: string, file = `requests/${login}/x.yaml`) {
  return forge.createIssue({
    title: unratifiedTitle(login, file),
    body: 'unratified',
    labels: [ALARM_LABEL],
  });
}

const closeAs = (forge: MemoryForge, number: number, who: string) => {
  const issue = forge.issues.find((i) => i.number === number);
  if (!issue) throw new Error(`no issue #${number}`);
  issue.open = false;
  issue.closedBy = who;
};

const locked = async (forge: MemoryForge, who?: string) =>
  (
    await unratifiedAlarms(forge, {
      ...(who ? { who } : {}),
      ownBot: 'timebox[bot]',
      base: () => forge.source('main'),
    })
  ).logins;

describe('unratified break-glass alarms', () => {
  it('an open alarm locks its requester; only a code owner of policies/ releases it by closing', async () => {
    const forge = forgeWithOwners();
    const n = await alarm(forge, 'alice');
    expect(await locked(forge, 'alice')).toEqual(['alice']);
    expect(await locked(forge, 'bob')).toEqual([]);

    // alice closes her own alarm: still locked.
    closeAs(forge, n, 'alice');
    const r = await unratifiedAlarms(forge, { who: 'alice', base: () => forge.source('main') });
    expect(r.logins).toEqual(['alice']);
    expect(r.problems.join('\n')).toMatch(/closed by alice, not a code owner/);

    // A member of the owning team closes it: released. So does a code owner named as a person.
    closeAs(forge, n, 'sec-sam');
    expect(await locked(forge, 'alice')).toEqual([]);
    closeAs(forge, n, 'dana');
    expect(await locked(forge, 'alice')).toEqual([]);
  });

  it('a look-alike issue someone else opened locks nobody', async () => {
    const forge = forgeWithOwners();
    const n = await alarm(forge, 'bob');
    const issue = forge.issues.find((i) => i.number === n);
    if (issue) issue.user = { login: 'mallory', type: 'User' };
    expect(await locked(forge)).toEqual([]);
  });

  it('gatherFacts carries the lock into the decision facts, only when a request asks for an emergency', async () => {
    const forge = forgeWithOwners();
    await alarm(forge, 'alice');
    forge.commit('access/alice', { 'requests/alice/x.yaml': 'requester: alice\n' });
    const pull = await forge.pull(forge.openPull('access/alice', 'alice', '2026-01-01T00:00:00Z'));
    const asked = await gatherFacts(forge, pull, [], { ownBot: 'timebox[bot]', emergency: true });
    expect(asked.facts.unratifiedAlarms).toEqual(['alice']);
    const calm = await gatherFacts(forge, pull, [], { ownBot: 'timebox[bot]', emergency: false });
    expect(calm.facts.unratifiedAlarms).toBeUndefined();

    const text = (e: string) =>
      `requester: alice\nresource: db\nrole: ro\nduration: 1h\nreason: INC-1 outage\n${e}`;
    const file = (e: string) => [
      { path: 'requests/alice/x.yaml', status: 'added' as const, content: text(e) },
    ];
    expect(asksEmergency(file('emergency: true\n'), DEFAULT_CONFIG)).toBe(true);
    expect(asksEmergency(file(''), DEFAULT_CONFIG)).toBe(false);
  });
});
