// Small builders for core tests: policies from YAML text, PR facts, request text.
import { stringify } from 'yaml';
import { parseCodeOwners } from '../../src/core/codeowners.js';
import type { CheckInput } from '../../src/core/decide.js';
import {
  type Config,
  DEFAULT_CONFIG,
  type Policies,
  type PullFacts,
  type Review,
} from '../../src/core/model.js';
import { loadPolicies } from '../../src/core/policy.js';
import { providerDefinitions } from '../../src/providers/registry.js';

export const HEAD = 'head-sha';
export const OLD = 'old-sha';

export function policies(yaml: string): Policies {
  const loaded = loadPolicies([{ path: 'policies/test.yaml', text: yaml }], providerDefinitions);
  if (loaded.errors.length > 0) throw new Error(`test policy is invalid: ${JSON.stringify(loaded.errors)}`);
  return loaded.policies;
}

export const TEAMS: PullFacts['teams'] = {
  '@acme/qa': ['alice', 'bob'],
  '@acme/qa-leads': ['carol', 'lead2'],
  '@acme/dba': ['dave', 'dba2'],
  '@acme/both': ['carol', 'dave'],
  '@acme/security': ['sam'],
};

export function approve(login: string, extra: Partial<Review> = {}): Review {
  return { login, state: 'APPROVED', commitId: HEAD, submittedAt: '2026-01-07T09:00:00Z', ...extra };
}

/** PR facts where every named reviewer has write access unless `permissions` says otherwise. */
export function pull(reviews: Review[] = [], extra: Partial<PullFacts> = {}): PullFacts {
  const permissions: PullFacts['permissions'] = {};
  for (const r of reviews) permissions[r.login.toLowerCase()] = 'write';
  return {
    headSha: HEAD,
    reviews,
    pushers: [],
    permissions,
    teams: TEAMS,
    ...extra,
    ...(extra.permissions ? { permissions: { ...permissions, ...extra.permissions } } : {}),
  };
}

export function requestText(fields: Record<string, string>): string {
  return stringify(fields);
}

export const BASE_REQUEST = {
  requester: 'alice',
  resource: 'orders-db',
  role: 'read-only',
  duration: '2h',
  reason: 'Reproduce BUG-1234, totals off',
};

export function input(
  pol: Policies,
  files: { path: string; text: string }[],
  over: Partial<Omit<CheckInput, 'files' | 'policies'>> & { codeownersText?: string; config?: Config } = {},
): CheckInput {
  const { codeownersText, ...rest } = over;
  return {
    files: files.map((f) => ({ path: f.path, status: 'added' as const, content: f.text })),
    changedPaths: files.map((f) => f.path),
    pull: pull(),
    policies: pol,
    codeowners: codeownersText === undefined ? null : parseCodeOwners(codeownersText, '.github/CODEOWNERS'),
    config: DEFAULT_CONFIG,
    at: new Date('2026-01-07T10:00:00Z'),
    ...rest,
  };
}
