// Issue 14.5: messages a newcomer meets say what is wrong, where, and what to do.
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.js';
import { systemClock } from '../../src/core/clock.js';
import { exampleRepo, git, run, tempDir, write } from '../helpers/repo.js';

const REQUEST = `requester: alice
resource: orders-db
role: read-only
duration: 2h
reason: Reproduce BUG-1234, EU order totals off by VAT
`;

describe('a rule naming a resource that does not exist', () => {
  it('is a configuration error for verify and check: exit 2, file:line and a suggestion', async () => {
    const dir = exampleRepo();
    write(dir, 'policies/typo.yaml', 'rules:\n  - name: typo\n    resources: [order-db]\n');
    write(dir, 'requests/alice/orders.yaml', REQUEST);
    for (const argv of [['verify'], ['check', '--teams', 'teams.yaml']]) {
      const r = await run(argv, { cwd: dir });
      expect(r.code, argv[0]).toBe(2);
      expect(r.stderr).toContain(
        'policies/typo.yaml:3:17: rule `typo` names resource `order-db`, which does not exist (did you mean `orders-db`?)',
      );
    }
  });
});

describe('outside an access repo', () => {
  it('every command that reads one says so and suggests --repo', async () => {
    const dir = tempDir();
    for (const argv of [['check'], ['verify'], ['status'], ['audit'], ['plan'], ['apply'], ['new']]) {
      const r = await run(argv, { cwd: dir });
      expect(r.code, argv[0]).toBe(2);
      expect(r.stderr, argv[0]).toBe(
        `timebox: ${dir} is not an access repo (it has no policies/, requests/ or timebox.yaml): run timebox in your access repo, or pass --repo DIR\n`,
      );
    }
    // status and audit read only history: a git checkout whose requests were all removed is fine.
    git(dir, 'init', '-q', '-b', 'main');
    expect((await run(['audit', '--json'], { cwd: dir })).stderr).not.toContain('not an access repo');
    expect((await run(['check'], { cwd: dir })).stderr).toContain('not an access repo');
    const given = await run(['status', '--repo', 'elsewhere'], { cwd: dir });
    expect(given.code).toBe(2);
    expect(given.stderr).toContain(`--repo elsewhere: ${dir}/elsewhere is not an access repo`);
    // From inside the folder, --repo reaches the access repo.
    const repo = exampleRepo();
    const ok = await run(['verify', '--repo', repo], { cwd: dir });
    expect(ok.code).toBe(0);
  });
});

describe('timebox audit', () => {
  it('--json is --format json', async () => {
    const dir = exampleRepo();
    const json = await run(['audit', '--json'], { cwd: dir });
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ events: [] });
    const both = await run(['audit', '--json', '--format', 'csv'], { cwd: dir });
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("option '--json' cannot be used with option '--format <format>'");
  });

  it('a bad --since or --until names that option', async () => {
    const dir = exampleRepo();
    for (const flag of ['--since', '--until']) {
      const r = await run(['audit', flag, 'yesterday'], { cwd: dir });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`timebox: ${flag} must be an RFC 3339 time`);
      expect(r.stderr).not.toContain('--at');
    }
  });
});

describe('--repo', () => {
  it('every command takes it, or its help says it does not', () => {
    let out = '';
    const io = {
      stdout: (t: string) => {
        out += t;
      },
      stderr: () => {},
      color: false,
      isTTY: false,
      cwd: '/',
      env: {},
      clock: systemClock,
    };
    const program = buildProgram(io, () => {});
    const commands = program.commands.map((c) => c.name());
    expect(commands.length).toBeGreaterThan(8);
    for (const cmd of program.commands) {
      out = '';
      cmd.outputHelp();
      expect(out.includes('--repo <dir>') || out.includes('it takes no --repo'), cmd.name()).toBe(true);
    }
  });
});
