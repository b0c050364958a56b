// `timebox new --emergency`: writes `emergency: true` where a rule allows break-glass, refuses (and writes
// nothing) where none does, or for longer than the rule's max_duration; its --help says what it means.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exampleRepo, run, write } from '../helpers/repo.js';

const INCIDENT = `resources:
  incident-db:
    provider: postgres
    connection: incident
    roles:
      read-write: { grant: [incident_write] }
      read-only: { grant: [incident_read] }
rules:
  - name: incident
    requesters: ["@acme/sre"]
    resources: [incident-db]
    roles: [read-write]
    break_glass: { max_duration: 1h, ratify_within: 4h }
    approvals:
      - { from: ["@acme/qa-leads"], count: 1 }
  - name: incident-read
    requesters: ["@acme/sre"]
    resources: [incident-db]
    roles: [read-only]
    approvals:
      - { from: ["@acme/qa-leads"], count: 1 }
`;

function repo(): string {
  const dir = exampleRepo();
  write(dir, 'policies/incident.yaml', INCIDENT);
  return dir;
}

const flags = (role: string, duration = '30m') => [
  'new',
  '--requester',
  'erin',
  '--resource',
  'incident-db',
  '--role',
  role,
  '--duration',
  duration,
  '--reason',
  'INC-42 orders stuck in checkout',
  '--emergency',
];

describe('timebox new --emergency', () => {
  it('writes emergency: true, and check approves it by break-glass before any approval', async () => {
    const dir = repo();
    const r = await run([...flags('read-write'), '--file', 'requests/erin/inc-42.yaml'], { cwd: dir });
    expect(r.stderr).not.toContain('cannot');
    expect(r.code).toBe(0);
    const text = readFileSync(join(dir, 'requests/erin/inc-42.yaml'), 'utf8');
    expect(text).toMatch(/\nemergency: true\n$/);
    const check = await run(['check', 'requests/erin/inc-42.yaml', '--teams', 'teams.yaml', '--json'], {
      cwd: dir,
    });
    expect(JSON.parse(check.stdout).results[0]).toMatchObject({
      status: 'approved',
      break_glass: { rule: 'incident', ratify_within: '4h' },
    });
    // Without the flag the same request waits for its approval: the flag is what makes it break-glass.
    const plain = await run(
      [...flags('read-write').filter((f) => f !== '--emergency'), '--file', 'requests/erin/plain.yaml'],
      { cwd: dir },
    );
    expect(readFileSync(join(dir, 'requests/erin/plain.yaml'), 'utf8')).not.toContain('emergency');
    expect(plain.code).toBe(0);
    const waits = await run(['check', 'requests/erin/plain.yaml', '--teams', 'teams.yaml', '--json'], {
      cwd: dir,
    });
    expect(JSON.parse(waits.stdout).results[0].status).toBe('pending');
  });

  it('--json carries emergency in the request', async () => {
    const r = await run([...flags('read-write'), '--json'], { cwd: repo() });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).request).toMatchObject({ requester: 'erin', emergency: true });
  });

  it('refuses, writing nothing, where no allow rule for the resource and role has break_glass', async () => {
    const dir = repo();
    const r = await run([...flags('read-only'), '--file', 'requests/erin/x.yaml'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      '--emergency: no allow rule for `incident-db` role `read-only` has `break_glass`, so an emergency request would just wait for its approvals',
    );
    expect(existsSync(join(dir, 'requests/erin/x.yaml'))).toBe(false);
    const other = await run(
      [
        'new',
        '--requester',
        'alice',
        '--resource',
        'orders-db',
        '--role',
        'read-only',
        '--duration',
        '1h',
        '--reason',
        'Reproduce BUG-1234 now',
        '--emergency',
      ],
      { cwd: dir },
    );
    expect(other.code).toBe(2);
    expect(other.stderr).toContain('no allow rule for `orders-db` role `read-only` has `break_glass`');
  });

  it('refuses a window longer than the rule’s max_duration (it would be denied)', async () => {
    const dir = repo();
    const r = await run([...flags('read-write', '2h'), '--file', 'requests/erin/long.yaml'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      '--duration: an emergency request may last at most 1h under rule incident; 2h would be denied',
    );
    expect(existsSync(join(dir, 'requests/erin/long.yaml'))).toBe(false);
    expect((await run([...flags('read-write', '1h'), '--json'], { cwd: dir })).code).toBe(0);
  });

  it('--help says what it means', async () => {
    const r = await run(['new', '--help'], { cwd: repo() });
    const help = (r.stdout + r.stderr).replace(/\s+/g, ' ');
    expect(help).toContain('--emergency');
    expect(help).toContain('break-glass: writes `emergency: true`');
    expect(help).toContain('must ratify it on the merged pull request');
    expect(help).toContain('Refused where no rule for the resource and role has break_glass');
  });
});
