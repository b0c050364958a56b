// Loading the governance side of an access repo (timebox.yaml, policies, the on-call schedules their steps
// name, CODEOWNERS) from a RepoSource.
import { type CodeOwners, findCodeOwners } from '../core/codeowners.js';
import { type Config, DEFAULT_CONFIG, type FileProblem } from '../core/model.js';
import { loadPolicies, type PolicyLoad } from '../core/policy.js';
import { validateSchema } from '../core/schemas.js';
import { loadYaml } from '../core/yaml-loader.js';
import { SCHEDULES_DIR } from '../oncall/load.js';
import { providerDefinitions } from '../providers/registry.js';
import type { RepoSource } from './source.js';

export interface AccessRepo {
  source: string;
  config: Config;
  policies: PolicyLoad['policies'];
  codeowners: CodeOwners | null;
  /** Problems that make the repo unusable (exit 2). */
  errors: FileProblem[];
  warnings: FileProblem[];
}

export async function loadConfig(source: RepoSource): Promise<{ config: Config; errors: FileProblem[] }> {
  const text = await source.read('timebox.yaml');
  if (text === null) return { config: DEFAULT_CONFIG, errors: [] };
  const loaded = loadYaml(text, { scalars: 'core' });
  const problems = loaded.errors.length > 0 ? loaded.errors : validateSchema('config', loaded.value, loaded);
  const errors = problems.map((e) => ({ file: 'timebox.yaml', ...e }));
  if (errors.length > 0) return { config: DEFAULT_CONFIG, errors };
  const raw = (loaded.value ?? {}) as Partial<Config>;
  return {
    config: { ...DEFAULT_CONFIG, ...raw, paths: { ...DEFAULT_CONFIG.paths, ...(raw.paths ?? {}) } },
    errors: [],
  };
}

export async function loadAccessRepo(source: RepoSource): Promise<AccessRepo> {
  const { config, errors } = await loadConfig(source);
  const dir = config.paths.policies;
  const policyPaths = (await source.list(dir)).filter((p) => /^[^/]+\.ya?ml$/.test(p.slice(dir.length + 1)));
  const files = await Promise.all(
    policyPaths.map(async (path) => ({ path, text: (await source.read(path)) ?? '' })),
  );
  // On-call schedules come from the same source as the policies: with `check --base` and in the App, the base.
  const schedulePaths = (await source.list(SCHEDULES_DIR)).filter((p) =>
    /^[^/]+\.ya?ml$/.test(p.slice(SCHEDULES_DIR.length + 1)),
  );
  const schedules = await Promise.all(
    schedulePaths.map(async (path) => ({ path, text: (await source.read(path)) ?? '' })),
  );
  const loaded = loadPolicies(files, providerDefinitions, schedules);
  if (policyPaths.length === 0) {
    errors.push({
      file: `${dir}/`,
      line: 1,
      column: 1,
      path: '$',
      message: `no policy files found in ${dir}/ (${source.label})`,
    });
  }
  const codeowners = await findCodeOwners((path) => source.read(path));
  const warnings = [
    ...loaded.warnings,
    ...(codeowners?.warnings.map((w) => ({
      file: codeowners?.path ?? '',
      line: w.line,
      column: 1,
      path: '$',
      message: w.message,
    })) ?? []),
  ];
  return {
    source: source.label,
    config,
    policies: loaded.policies,
    codeowners,
    errors: [...errors, ...loaded.errors],
    warnings,
  };
}
